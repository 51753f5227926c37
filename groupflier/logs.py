"""No secret, PIN, sid or card number in a log line (SPEC §5, §6; issue 12).

A GET may carry a sid, a PIN or a card number in its query string, and Group Texting's
webhook secret sits in the webhook's path; the dev server's request log and gunicorn's access
log would print both. Every log line of the web process goes through ``redact``: the
``RedactingFormatter`` of ``LOGGING`` (which also serves ``manage.py runserver``'s request
log) and gunicorn's ``RedactingLogger`` (``--logger-class``).
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
        return getattr(settings, "GROUPTEXTING_WEBHOOK_SECRET", "") or ""
    except ImproperlyConfigured:  # gunicorn's master logs before Django is set up
        return ""


class RedactingFormatter(logging.Formatter):
    """The whole line, traceback included, passes through ``redact``."""

    def format(self, record):
        return redact(super().format(record))


if glogging is not None:

    class RedactingLogger(glogging.Logger):
        """gunicorn's logger, with every access-log atom (path, request line, headers,
        environ) passed through ``redact`` and the query string left out."""

        def atoms(self, resp, req, environ, request_time):
            atoms = super().atoms(resp, req, environ, request_time)
            for key in ("q", "{query_string}e"):
                if key in atoms:
                    atoms[key] = ""
            return {
                key: redact(value) if isinstance(value, str) else value
                for key, value in atoms.items()
            }
