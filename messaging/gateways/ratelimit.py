"""A provider's sending budgets, shared by every worker process and machine.

Providers limit what reaches them: Group Texting 2 connections a second from all our
processes together (503 beyond), Twilio about 1 SMS part a second per sending number and,
where set, a rate for the whole account (429 / 20429 beyond). Each such budget is a ``Limit``,
and a request takes a place in every limit it counts against (its number's and its
account's), all of them or none; a caller waits (sleeps) for them rather than failing:

- a rate, ``"N/period"`` (``"2/second"``): at most N requests in any span of one period *as
  the provider sees them*. A window over request starts, as rate-limit libraries keep, cannot
  promise that: a request that needs a new connection (TLS handshake: 100 ms and more) reaches
  the provider late, the next one on a warm connection early, and the provider sees three in
  a second. So a request holds one of N places from its start until one period after its
  answer: whatever its delays, the provider saw it before the place is free again. The
  price is throughput N / (period + request time), 1.99/s on loopback;
- a cap on requests at once (``max_concurrent``).

A provider that counts SMS parts rather than requests is counted right when each request
carries one part (the gateways split texts so).

With Redis (``REDIS_URL``) the places are sorted sets (two per limit) changed by Lua scripts on
Redis' clock, so machines share them whatever their own clocks say. Without Redis (the
embedded service, one machine) they are a small file under an exclusive lock. Either way a
place is a lease: a worker killed mid-request frees it when the lease ends.
"""

import fcntl
import json
import random
import re
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

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


@dataclass(frozen=True)
class Limit:
    """One budget a request must fit in: at most ``count`` requests in any span of
    ``period`` seconds as the provider sees them (0: no rate) and ``max_concurrent`` at once
    (0: no cap). ``key`` names it within its store: ``""`` for a provider's one budget,
    ``"number:+12025550100"`` or ``"account:AC..."`` for keyed ones."""

    key: str
    count: int = 0
    period: float = 0.0
    max_concurrent: int = 0

    @classmethod
    def of(cls, key: str, rate: str | None, max_concurrent: int = 0) -> "Limit | None":
        """The limit ``rate`` (``"1/second"``, ``"off"``) sets; None when it limits nothing."""
        count, period = parse_rate(rate) or (0, 0.0)
        if not (count or max_concurrent):
            return None
        return cls(key, count, period, max_concurrent)


class RateLimiter:
    """Hands out places under one or more limits at once: a request takes a place in every
    limit it counts against (its sending number's and its account's), all or none, so that
    waiting for one never holds a place in another."""

    def __init__(self, store, *, max_wait: float, lease_seconds: float):
        self.store = store
        self.max_wait = max_wait
        self.lease_seconds = lease_seconds

    @contextmanager
    def slot(self, *limits: Limit | None):
        """Wait for a place in each limit, hold them while the request runs, then let each
        cool for its period. ``None`` limits are ignored."""
        limits = [limit for limit in limits if limit is not None]
        if not limits:
            yield
            return
        token = self._acquire(limits)
        try:
            yield
        finally:
            try:
                self.store.release(token, limits=limits)
            except self.store.errors:
                pass  # the lease runs out by itself

    def _acquire(self, limits: list[Limit]) -> str:
        token = uuid.uuid4().hex
        deadline = time.monotonic() + self.max_wait
        while True:
            try:
                wait = self.store.try_acquire(
                    token, limits=limits, lease_seconds=self.lease_seconds
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


class ConnectionLimiter(RateLimiter):
    """A provider's one budget (Group Texting's): every request takes a place in it."""

    def __init__(
        self,
        store,
        *,
        rate: str | None,
        max_concurrent: int,
        max_wait: float,
        lease_seconds: float,
    ):
        super().__init__(store, max_wait=max_wait, lease_seconds=lease_seconds)
        self.limit = Limit.of("", rate, max_concurrent)

    @property
    def enabled(self) -> bool:
        return self.limit is not None

    def slot(self):
        return super().slot(self.limit)

    def _acquire(self, limits=None) -> str:
        return super()._acquire(limits or [self.limit])


# KEYS: per limit, running (score: lease end) and cooling (score: end of cool-down).
# ARGV: token, lease seconds, poll seconds, then per limit its count (0: no rate) and its cap
# (0: none). Takes a place in every limit or in none. Returns nil when the places are taken,
# else seconds to wait (as a string: Lua numbers would come back as integers).
_ACQUIRE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1e6
local wait = 0
for i = 1, #KEYS / 2 do
    local run, cool = KEYS[2 * i - 1], KEYS[2 * i]
    redis.call('zremrangebyscore', run, '-inf', now)
    redis.call('zremrangebyscore', cool, '-inf', now)
    local running = redis.call('zcard', run)
    local cooling = redis.call('zcard', cool)
    local count, cap = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
    if not ((count == 0 or running + cooling < count) and (cap == 0 or running < cap)) then
        -- Held to the rate, a place frees only when a cool-down ends: sleep until the soonest
        -- does. Held to the cap, or all places running, it frees when a request ends: poll.
        local this = tonumber(ARGV[3])
        local soonest = redis.call('zrange', cool, 0, 0, 'WITHSCORES')
        if count > 0 and running + cooling >= count and soonest[2] then
            this = tonumber(soonest[2]) - now
        end
        if this > wait then wait = this end
    end
end
if wait > 0 then
    return tostring(wait)
end
for i = 1, #KEYS / 2 do
    redis.call('zadd', KEYS[2 * i - 1], now + tonumber(ARGV[2]), ARGV[1])
    redis.call('expire', KEYS[2 * i - 1], math.ceil(tonumber(ARGV[2])) + 1)
end
return nil
"""

# KEYS: per limit, running and cooling. ARGV: token, then per limit its cool-down seconds.
_RELEASE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1e6
for i = 1, #KEYS / 2 do
    redis.call('zrem', KEYS[2 * i - 1], ARGV[1])
    local cool = tonumber(ARGV[1 + i])
    if cool > 0 then
        redis.call('zadd', KEYS[2 * i], now + cool, ARGV[1])
        redis.call('expire', KEYS[2 * i], math.ceil(cool) + 1)
    end
end
return 1
"""


class RedisStore:
    """The places in Redis, for processes on any number of machines. ``key`` names the
    provider's budgets (``grouptexting:HOST``, ``twilio:AC...``); a limit's key follows it."""

    def __init__(self, redis_url: str, key: str):
        import redis

        self.errors = (redis.RedisError,)
        client = redis.Redis.from_url(redis_url)
        self.prefix = f"groupflier:connections:{key}"
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)

    def _keys(self, limits: list[Limit]) -> list[str]:
        keys = []
        for limit in limits:
            base = f"{self.prefix}:{limit.key}" if limit.key else self.prefix
            keys += [f"{base}:running", f"{base}:cooling"]
        return keys

    def try_acquire(self, token, *, limits, lease_seconds) -> float | None:
        args = [token, lease_seconds, POLL_SECONDS]
        for limit in limits:
            args += [limit.count, limit.max_concurrent]
        wait = self._acquire(keys=self._keys(limits), args=args)
        return None if wait is None else max(float(wait), 0.001)

    def release(self, token, *, limits) -> None:
        cool = [limit.period if limit.count else 0 for limit in limits]
        self._release(keys=self._keys(limits), args=[token, *cool])


class FileStore:
    """The places in a file under an exclusive lock, for the processes of one machine."""

    errors = (OSError,)

    def __init__(self, directory: Path, key: str):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / ("".join(c if c.isalnum() else "_" for c in key) + ".json")

    @contextmanager
    def _state(self):
        """Each limit's (running, cooling) places, by its key, without the ended ones."""
        with open(self.path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            try:
                saved = json.loads(handle.read() or "{}")
            except ValueError:
                saved = {}
            now = time.time()
            state = {
                key: tuple(
                    {t: end for t, end in places.get(kind, {}).items() if end > now}
                    for kind in ("running", "cooling")
                )
                for key, places in saved.items()
                if isinstance(places, dict)
            }
            yield now, state
            handle.seek(0)
            handle.truncate()
            kept = {
                key: {"running": running, "cooling": cooling}
                for key, (running, cooling) in state.items()
                if running or cooling
            }
            handle.write(json.dumps(kept))

    def try_acquire(self, token, *, limits, lease_seconds) -> float | None:
        with self._state() as (now, state):
            wait = 0.0
            for limit in limits:
                running, cooling = state.setdefault(limit.key, ({}, {}))
                if (not limit.count or len(running) + len(cooling) < limit.count) and (
                    not limit.max_concurrent or len(running) < limit.max_concurrent
                ):
                    continue
                this = POLL_SECONDS
                if limit.count and len(running) + len(cooling) >= limit.count and cooling:
                    this = max(min(cooling.values()) - now, 0.001)
                wait = max(wait, this)
            if wait:
                return wait
            for limit in limits:
                state[limit.key][0][token] = now + lease_seconds
            return None

    def release(self, token, *, limits) -> None:
        with self._state() as (now, state):
            for limit in limits:
                running, cooling = state.setdefault(limit.key, ({}, {}))
                running.pop(token, None)
                if limit.count and limit.period:
                    cooling[token] = now + limit.period


def limit_store(key: str):
    """Where the places of the budgets named ``key`` live: in Redis when the service has one
    (``REDIS_URL``), else in a file under ``var/ratelimit`` (the embedded service)."""
    if settings.REDIS_URL:
        return RedisStore(settings.REDIS_URL, key)
    return FileStore(settings.VAR_DIR / "ratelimit", key)


def connection_limiter(
    key: str, *, rate: str | None, max_concurrent: int, max_wait: float, lease_seconds: float
) -> ConnectionLimiter:
    """The limiter for ``key`` (a provider's host)."""
    return ConnectionLimiter(
        limit_store(key),
        rate=rate,
        max_concurrent=max_concurrent,
        max_wait=max_wait,
        lease_seconds=lease_seconds,
    )


class NumberRates:
    """The budgets of a provider that limits each sending number and, where set, the whole
    account (Twilio, an Android phone per number): ``slot(number)`` waits for a place in that
    number's and the account's at once. ``per_number`` and ``per_account`` are rates as
    ``parse_rate`` reads them (ValueError otherwise); ``key`` names the provider's budgets in
    their store. The limiter is made on first use (no connection while the service starts),
    its leases as long as a request may last (``timeout`` to connect and as much to read)."""

    def __init__(
        self,
        key: str,
        *,
        per_number: str | None,
        per_account: str | None,
        account_key: str = "account",
        max_wait: float,
        timeout: float,
    ):
        self.key = key
        self.per_number = parse_rate(per_number)
        self.per_account = Limit.of(account_key, per_account)
        self.max_wait, self.timeout = max_wait, timeout
        self._limiter: RateLimiter | None = None
        self._lock = threading.Lock()

    def number_limit(self, number: str) -> Limit | None:
        if self.per_number is None:
            return None
        count, period = self.per_number
        return Limit(f"number:{number}", count, period)

    def slot(self, number: str):
        return self.limiter.slot(self.number_limit(number), self.per_account)

    @property
    def limiter(self) -> RateLimiter:
        if self._limiter is None:
            with self._lock:
                self._limiter = self._limiter or RateLimiter(
                    limit_store(self.key),
                    max_wait=self.max_wait,
                    lease_seconds=2 * self.timeout + 5,
                )
        return self._limiter
