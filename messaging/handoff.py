"""The hand-off log: which claimed part a worker was handing to the gateway when it stopped.

A worker claims a whole batch of deliveries in one committed UPDATE (status SENDING, one
``handoff`` token), hands the parts over one at a time, and writes the successes back together
(``messaging.fanout``). Before each hand-off it records the part here. If the worker dies, the
database says only "SENDING" for what it had claimed; this log tells the parts apart:

- a part the log never saw was not handed over: it is queued again;
- a part the log saw that is not the last one went through (a failure is written to the
  database before the next part starts): it is sent;
- the last part the log saw may or may not have reached the gateway: it is unknown, and never
  resent.

So a killed worker process leaves at most one part unknown, however large its batch, while a
part costs one Redis write instead of a committed database write before its hand-off.

The log lives in Redis (``REDIS_URL``; the file cache in embedded mode, which has no Redis),
one key per batch and one per part, each written with an atomic add. The sweep takes a part back
with the same add, so a worker that was only slow finds that part revoked and stops instead of
sending it. A batch whose key is gone (Redis lost its data, or the keys outlived ``KEEP``)
tells nothing: every part of it still SENDING becomes unknown.
"""

import secrets
import time
from dataclasses import dataclass, field
from functools import cache as once

import redis
from django.conf import settings
from django.core.cache import cache as django_cache

# How long the log keeps a batch: far longer than the sweep takes to find a dead worker.
KEEP = 7 * 24 * 3600
STARTED, REVOKED = "started", "revoked"


class RedisLog:
    """The log on Redis through one client per process. (Django's Redis cache builds a new
    client object for every call, which costs several times the call itself; this is the
    pipeline's one write per part.)"""

    def __init__(self, url: str):
        self.client = redis.Redis.from_url(url)

    def add(self, key: str, value: str, timeout: int) -> bool:
        return bool(self.client.set(key, value, ex=timeout, nx=True))

    def set(self, key: str, value, timeout: int) -> None:
        self.client.set(key, value, ex=timeout)

    def get(self, key: str) -> str | None:
        value = self.client.get(key)
        return None if value is None else value.decode()

    def delete_many(self, keys: list[str]) -> None:
        self.client.delete(*keys)


@once
def _log():
    return RedisLog(settings.REDIS_URL) if settings.REDIS_URL else django_cache


def _batch_key(token: str) -> str:
    return f"groupflier:handoff:{token}"


def _part_key(token: str, delivery_id: int) -> str:
    return f"groupflier:handoff:{token}:{delivery_id}"


def open_batch() -> str:
    """A new token, recorded before anything is claimed with it: a claim the log has no record
    of can only be one whose record was lost."""
    token = secrets.token_hex(8)
    _log().set(_batch_key(token), time.time(), KEEP)
    return token


def begin(token: str, delivery_id: int) -> bool:
    """Record that this part is about to be handed over. False when the sweep has taken it
    back: the worker must then leave it, and the rest of its batch, alone."""
    return _log().add(_part_key(token, delivery_id), STARTED, KEEP)


def forget(token: str, delivery_ids: list[int], *, batch: bool = False) -> None:
    """Drop the records of parts whose outcome is in the database (and of the batch)."""
    keys = [_part_key(token, delivery_id) for delivery_id in delivery_ids]
    if batch:
        keys.append(_batch_key(token))
    if keys:
        _log().delete_many(keys)


@dataclass
class Outcome:
    """What became of the parts of a dead worker's batch."""

    sent: list[int] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)
    requeue: list[int] = field(default_factory=list)


def resolve(token: str, stuck_ids: list[int]) -> Outcome:
    """Sort out ``stuck_ids``, the parts of batch ``token`` still SENDING in the database.

    Parts not yet begun are revoked first (so the worker, if it still runs, cannot begin
    them). Of the parts begun, all but the last went through; the last is unknown.
    """
    outcome = Outcome()
    log = _log()
    if not token or log.get(_batch_key(token)) is None:
        outcome.unknown = sorted(stuck_ids)
        return outcome
    begun = []
    for delivery_id in sorted(stuck_ids):
        key = _part_key(token, delivery_id)
        if log.add(key, REVOKED, KEEP) or log.get(key) == REVOKED:
            outcome.requeue.append(delivery_id)
        else:
            begun.append(delivery_id)
    if begun:
        outcome.sent, outcome.unknown = begun[:-1], begun[-1:]
    return outcome
