"""A provider's connection budget, shared by every worker process and machine.

Group Texting allows 2 connections a second from all our processes together and answers 503
beyond. Two limits keep within it, and a caller waits (sleeps) for them rather than failing:

- a rate, ``"N/period"`` (``"2/second"``): at most N requests in any span of one period *as
  the provider sees them*. A window over request starts, as rate-limit libraries keep, cannot
  promise that: a request that needs a new connection (TLS handshake: 100 ms and more) reaches
  the provider late, the next one on a warm connection early, and the provider sees three in
  a second. So a request holds one of N places from its start until one period after its
  answer: whatever its delays, the provider saw it before the place is free again. The
  price is throughput N / (period + request time), 1.99/s on loopback;
- a cap on requests at once (``max_concurrent``).

With Redis (``REDIS_URL``) the places are two sorted sets changed by Lua scripts on Redis'
clock, so machines share them whatever their own clocks say. Without Redis (the embedded
service, one machine) they are a small file under an exclusive lock. Either way a place is a
lease: a worker killed mid-request frees it when the lease ends.
"""

import fcntl
import json
import random
import re
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

POLL_SECONDS = 0.01
JITTER_SECONDS = 0.002
PERIODS = {"second": 1, "minute": 60, "hour": 3600}
_RATE = re.compile(r"\s*(\d+)\s*(?:/|per)\s*(\d*)\s*(second|minute|hour)s?\s*", re.IGNORECASE)


class LimiterError(Exception):
    """No place could be had: waited too long, or the store is unreachable."""


def parse_rate(rate: str | None) -> tuple[int, float] | None:
    """``"2/second"``, ``"2 per second"``, ``"10/5 seconds"`` as (count, period in seconds);
    None for no rate (``""``, ``"off"``, ``None``)."""
    if rate is None or rate.strip().lower() in ("", "off", "none", "0"):
        return None
    match = _RATE.fullmatch(rate)
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"a rate is like '2/second', not {rate!r}")
    count, multiple, unit = match.groups()
    return int(count), int(multiple or 1) * PERIODS[unit.lower()]


class ConnectionLimiter:
    """Hands out places to make one request to one provider."""

    def __init__(
        self,
        store,
        *,
        rate: str | None,
        max_concurrent: int,
        max_wait: float,
        lease_seconds: float,
    ):
        self.store = store
        self.count, self.period = parse_rate(rate) or (0, 0.0)
        self.max_concurrent = max_concurrent
        self.max_wait = max_wait
        self.lease_seconds = lease_seconds

    @property
    def enabled(self) -> bool:
        return bool(self.count or self.max_concurrent)

    @contextmanager
    def slot(self):
        """Wait for a place, hold it while the request runs, then let it cool for a period."""
        if not self.enabled:
            yield
            return
        token = self._acquire()
        try:
            yield
        finally:
            try:
                self.store.release(token, cool_seconds=self.period)
            except self.store.errors:
                pass  # the lease runs out by itself

    def _acquire(self) -> str:
        token = uuid.uuid4().hex
        deadline = time.monotonic() + self.max_wait
        while True:
            try:
                wait = self.store.try_acquire(
                    token,
                    lease_seconds=self.lease_seconds,
                    count=self.count,
                    max_concurrent=self.max_concurrent,
                )
            except self.store.errors as exc:
                raise LimiterError(f"the connection budget is unreachable: {exc}") from exc
            if wait is None:
                return token
            # A little jitter, so the workers one expiry wakes do not all ask at once.
            wait += random.uniform(0, JITTER_SECONDS)
            if time.monotonic() + wait > deadline:
                raise LimiterError(f"no connection place within {self.max_wait:g} s")
            time.sleep(wait)


# KEYS: running (score: lease end), cooling (score: end of cool-down).
# ARGV: token, lease seconds, count (0: no rate), max concurrent (0: no cap), poll seconds.
# Returns nil when the place is taken, else seconds to wait (as a string: Lua numbers
# would come back as integers).
_ACQUIRE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1e6
redis.call('zremrangebyscore', KEYS[1], '-inf', now)
redis.call('zremrangebyscore', KEYS[2], '-inf', now)
local running = redis.call('zcard', KEYS[1])
local cooling = redis.call('zcard', KEYS[2])
local count, cap = tonumber(ARGV[3]), tonumber(ARGV[4])
if (count == 0 or running + cooling < count) and (cap == 0 or running < cap) then
    redis.call('zadd', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
    redis.call('expire', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
    return nil
end
-- Held to the rate, a place frees only when a cool-down ends: sleep until the soonest does.
-- Held to the cap, or all places running, it frees when a request ends: poll.
local soonest = redis.call('zrange', KEYS[2], 0, 0, 'WITHSCORES')
if count > 0 and running + cooling >= count and soonest[2] then
    return tostring(tonumber(soonest[2]) - now)
end
return ARGV[5]
"""

# KEYS: running, cooling. ARGV: token, cool-down seconds.
_RELEASE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1e6
redis.call('zrem', KEYS[1], ARGV[1])
local cool = tonumber(ARGV[2])
if cool > 0 then
    redis.call('zadd', KEYS[2], now + cool, ARGV[1])
    redis.call('expire', KEYS[2], math.ceil(cool) + 1)
end
return 1
"""


class RedisStore:
    """The places in Redis, for processes on any number of machines."""

    def __init__(self, redis_url: str, key: str):
        import redis

        self.errors = (redis.RedisError,)
        client = redis.Redis.from_url(redis_url)
        self.keys = [
            f"groupflier:connections:{key}:running",
            f"groupflier:connections:{key}:cooling",
        ]
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)

    def try_acquire(self, token, *, lease_seconds, count, max_concurrent) -> float | None:
        args = [token, lease_seconds, count, max_concurrent, POLL_SECONDS]
        wait = self._acquire(keys=self.keys, args=args)
        return None if wait is None else max(float(wait), 0.001)

    def release(self, token, *, cool_seconds) -> None:
        self._release(keys=self.keys, args=[token, cool_seconds])


class FileStore:
    """The places in a file under an exclusive lock, for the processes of one machine."""

    errors = (OSError,)

    def __init__(self, directory: Path, key: str):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / ("".join(c if c.isalnum() else "_" for c in key) + ".json")

    @contextmanager
    def _state(self):
        with open(self.path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            try:
                state = json.loads(handle.read() or "{}")
            except ValueError:
                state = {}
            now = time.time()
            running = {t: end for t, end in state.get("running", {}).items() if end > now}
            cooling = {t: end for t, end in state.get("cooling", {}).items() if end > now}
            yield now, running, cooling
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({"running": running, "cooling": cooling}))

    def try_acquire(self, token, *, lease_seconds, count, max_concurrent) -> float | None:
        with self._state() as (now, running, cooling):
            if (not count or len(running) + len(cooling) < count) and (
                not max_concurrent or len(running) < max_concurrent
            ):
                running[token] = now + lease_seconds
                return None
            if count and len(running) + len(cooling) >= count and cooling:
                return max(min(cooling.values()) - now, 0.001)
            return POLL_SECONDS

    def release(self, token, *, cool_seconds) -> None:
        with self._state() as (now, running, cooling):
            running.pop(token, None)
            if cool_seconds:
                cooling[token] = now + cool_seconds


def connection_limiter(
    key: str,
    *,
    rate: str | None,
    max_concurrent: int,
    max_wait: float,
    lease_seconds: float,
    redis_url: str | None,
    lock_dir: Path,
) -> ConnectionLimiter:
    """The limiter for ``key`` (a provider's host), in Redis when there is one."""
    store = RedisStore(redis_url, key) if redis_url else FileStore(lock_dir, key)
    return ConnectionLimiter(
        store,
        rate=rate,
        max_concurrent=max_concurrent,
        max_wait=max_wait,
        lease_seconds=lease_seconds,
    )
