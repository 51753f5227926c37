"""Logs an operator can read: one line per event, no chatter from frequent periodic tasks,
and a task's failure told with the ids of what it was working on.

``settings.LOGGING`` names the filter and formatters here; ``groupflier.celery`` makes the
worker and beat use that same configuration (Celery would otherwise install its own).
"""

import logging

from django.conf import settings

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


def json_formatter():
    """python-json-logger's formatter: one JSON object per line, a traceback as one field."""
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        timestamp=False,
    )


task_logger = logging.getLogger("groupflier.tasks")


def describe_task_args(task_name: str, args) -> str:
    """What a failed task was working on, by id: tasks take ids only, never content."""
    args = list(args or ())
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
