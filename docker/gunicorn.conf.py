"""Gunicorn's settings for the web service (docker/compose.yaml), from the environment.

gunicorn -c docker/gunicorn.conf.py groupflier.wsgi
"""

import os

from groupflier.logs import RedactingLogger

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_WORKERS", "3"))
# A request that takes longer than this is stuck: the worker is replaced.
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
# Behind the TLS proxy: trust its X-Forwarded-* headers (the proxy is the only peer).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")
accesslog = "-"
# The path without its query string, which may carry a sid, PIN or card number.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'


class JsonWhenAsked(RedactingLogger):
    """Gunicorn's own error and access lines, without a query string or the webhook secret,
    as one JSON object each under LOG_FORMAT=json (the application's lines follow
    settings.LOGGING)."""

    def setup(self, cfg):
        super().setup(cfg)
        if os.environ.get("LOG_FORMAT", "plain").strip() == "json":
            from groupflier.logs import json_formatter

            for handler in [*self.error_log.handlers, *self.access_log.handlers]:
                handler.setFormatter(json_formatter())


logger_class = JsonWhenAsked
