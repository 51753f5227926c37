"""Gunicorn's settings for the web service (docker/compose.yaml), from the environment.

gunicorn -c docker/gunicorn.conf.py groupflier.wsgi
"""

import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_WORKERS", "3"))
# A request that takes longer than this is stuck: the worker is replaced.
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
# Behind the TLS proxy: trust its X-Forwarded-* headers (the proxy is the only peer).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")
accesslog = "-"
# The path without its query string, which may carry a sid, PIN or card number.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'
