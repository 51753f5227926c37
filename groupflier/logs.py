"""Log lines an operator can read, with nothing in them that must stay secret.

- No secret, PIN, sid or card number in a log line (SPEC §5, §6): a GET may carry a sid, a PIN
  or a card number in its query string, and Group Texting's webhook secret sits in the
  webhook's path; every line passes through ``redact``: the formatters of ``LOGGING`` (which
  also serve ``manage.py runserver``'s request log) and gunicorn's ``RedactingLogger``.
- One line per event, no chatter from frequent periodic tasks, a task's failure told with the
  ids of what it was working on. ``groupflier.celery`` makes the worker and beat use
  ``settings.LOGGING`` (Celery would otherwise install its own).
"""

import logging
import re

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

try:
    from gunicorn import glogging
except ImportError:  # gunicorn is only needed where it runs
    glogging = None

MASK = "***"
# A query string after a path: dropped whole, since any parameter may be a secret.
_QUERY = re.compile(r"((?:^|[\s\"'])/[^\s\"'?]*)\?[^\s\"']*")
# name=value pairs of the parameters that are secrets, wherever they appear.
_SECRET_PARAM = re.compile(
    r"\b(sid|pin|password|new_password|cc_number|cc_cvv|payment_method|secret|token)"
    r"=[^&\s\"']*",
    re.IGNORECASE,
)
_WEBHOOK_SECRET = re.compile(r"(/webhooks/grouptexting/)[^/\s\"'?]+")
# The login PIN text (messaging: "Your GroupFlier PIN is 123456"), e.g. in the console
# gateway's log line.
_PIN_TEXT = re.compile(r"(\bPIN is )\d+", re.IGNORECASE)


def redact(text: str) -> str:
    text = _QUERY.sub(r"\1", text)
    text = _SECRET_PARAM.sub(rf"\1={MASK}", text)
    text = _WEBHOOK_SECRET.sub(rf"\g<1>{MASK}", text)
    text = _PIN_TEXT.sub(rf"\g<1>{MASK}", text)
    secret = _webhook_secret()
    if len(secret) >= 4:  # a tiny one would mask ordinary words
        text = text.replace(secret, MASK)
    return text


def _webhook_secret() -> str:
    try:
        from groupflier.backends import provider_setting

        return provider_setting("GROUPTEXTING_WEBHOOK_SECRET", "") or ""
    except ImproperlyConfigured:  # gunicorn's master logs before Django is set up
        return ""


class RedactingFormatter(logging.Formatter):
    """The whole line, traceback included, passes through ``redact``."""

    def format(self, record):
        return redact(super().format(record))


def json_formatter():
    """python-json-logger's formatter: one JSON object per line, a traceback as one field,
    the whole of it through ``redact``."""
    from pythonjsonlogger.json import JsonFormatter

    class RedactingJsonFormatter(JsonFormatter):
        def format(self, record):
            return redact(super().format(record))

    return RedactingJsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        timestamp=False,
    )


class RedactedLine(logging.Filter):
    """Passes a record's whole formatted message through ``redact``, once."""

    def filter(self, record):
        record.msg, record.args = redact(record.getMessage()), None
        return True


if glogging is not None:

    class RedactingLogger(glogging.Logger):
        """gunicorn's logger, with each access-log line passed through ``redact`` and the query
        string left out.

        The finished line is redacted once, rather than each atom: gunicorn's atoms hold every
        request header and environ entry (some forty values), and redacting each one cost as
        much as a bare Django request (bench/api).
        """

        def setup(self, cfg):
            super().setup(cfg)
            if not any(isinstance(f, RedactedLine) for f in self.access_log.filters):
                self.access_log.addFilter(RedactedLine())

        def atoms(self, resp, req, environ, request_time):
            atoms = super().atoms(resp, req, environ, request_time)
            for key in ("q", "{query_string}e"):
                if key in atoms:
                    atoms[key] = ""
            return atoms


#: Tasks beat sends more often than this (seconds) are "frequent": their routine lines go.
FREQUENT_BELOW = 60

_TASK_LOGGERS = ("celery.app.trace", "celery.worker.strategy")


def frequent_tasks() -> frozenset[str]:
    return frozenset(
        entry["task"]
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if isinstance(entry.get("schedule"), (int, float)) and entry["schedule"] < FREQUENT_BELOW
    )


class QuietPeriodicTasks(logging.Filter):
    """Drops the INFO lines beat and the worker write for every run of a frequent periodic task
    ("Scheduler: Sending due task ...", "Task ... received", "Task ... succeeded"): with
    scheduled messages checked every 2 seconds they would bury everything else. What such a
    task finds worth saying it logs itself, at WARNING; its failures still show."""

    def __init__(self, name=""):
        super().__init__(name)
        self._frequent = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        if self._frequent is None:
            self._frequent = frequent_tasks()
        if record.name == "celery.beat" and isinstance(record.args, tuple):
            if str(record.msg).startswith("Scheduler: Sending due task") and len(record.args) > 1:
                return record.args[1] not in self._frequent
        if record.name in _TASK_LOGGERS and isinstance(record.args, dict):
            return record.args.get("name") not in self._frequent
        return True


task_logger = logging.getLogger("groupflier.tasks")


def describe_task_args(task_name: str, args) -> str:
    """What a failed task was working on, by id: tasks take ids only, never content."""
    args = list(args or ())
    if task_name.endswith(".send_rows") and len(args) == 2 and isinstance(args[1], list):
        kind, ids = args  # a batch of the row pipeline: "deliveries", "texts" or "pushes"
        if kind == "deliveries":
            return f"deliveries {_ids(ids)} of message(s) {_ids(_messages_of(ids))}"
        return f"{kind} {_ids(ids)}"
    if task_name.endswith(".send_deliveries") and args and isinstance(args[0], list):
        ids = args[0]
        return f"deliveries {_ids(ids)} of message(s) {_ids(_messages_of(ids))}"
    if task_name.endswith(".fan_out") and args:
        return f"message {args[0]}"
    if task_name.endswith(".send_outbound_sms") and args:
        return f"system text {args[0]}"
    return f"args {args!r}"[:300]


def _ids(ids) -> str:
    ids = list(ids)
    shown = ",".join(str(i) for i in ids[:20])
    return shown + (f",... ({len(ids)} in all)" if len(ids) > 20 else "")


def _messages_of(delivery_ids) -> list[int]:
    from messaging.models import Delivery

    try:
        return sorted(
            Delivery.objects.filter(pk__in=delivery_ids)
            .values_list("message_id", flat=True)
            .distinct()
        )
    except Exception:  # the database may be why the task failed
        return []


def log_task_failure(sender=None, task_id=None, exception=None, args=None, **kwargs):
    """Celery's ``task_failure`` signal: its own line names the task but not its ids."""
    name = getattr(sender, "name", str(sender))
    task_logger.error(
        "Task %s[%s] failed on %s: %s: %s",
        name,
        task_id,
        describe_task_args(name, args),
        type(exception).__name__,
        exception,
    )
