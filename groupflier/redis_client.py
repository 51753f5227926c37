"""One Redis client per process for the operations code (health checks, metrics).

Django's Redis cache builds a client object per call and cannot pipeline; redis-py keeps a
connection pool in its client, so one per process is what we want. Short timeouts: a probe
or a scrape that waits on a dead Redis should fail fast and say so.
"""

from functools import cache

import redis
from django.conf import settings


@cache
def for_url(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def shared() -> redis.Redis | None:
    """The client for ``REDIS_URL``, or None in the embedded mode (no Redis)."""
    return for_url(settings.REDIS_URL) if settings.REDIS_URL else None
