"""The hand-off log: which claimed part a worker was handing over when it stopped.

A worker claims a whole batch of rows in one committed UPDATE (status SENDING, one ``handoff``
token), hands the parts over one at a time, and writes the successes back together
(``groupflier.pipeline.rows``). Before each hand-off it records the part here. If the worker
dies, the database says only "SENDING" for what it had claimed; this log tells the parts apart:

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
tells nothing: every part of it still SENDING becomes unknown. A live worker therefore checks,
in the same round trip as each record, that its batch's key is still there: when Redis lost
it, the worker writes back what it knows and gives back the rest (``Begin.LOST``), so only a
worker that dies after such a loss leaves its batch unknown.

A live worker that cannot write its outcomes to the database (it went away for longer than
the worker retries) marks the parts it knows were sent here (``mark_sent``), so the sweep does
not take its last part for one in flight.
"""

import enum
import os
import secrets
import time
from dataclasses import dataclass, field

import redis
from django.conf import settings
from django.core.cache import cache as django_cache

# How long the log keeps a batch: far longer than the sweep takes to find a dead worker.
KEEP = 7 * 24 * 3600
STARTED, REVOKED, SENT = "started", "revoked", "sent"


class Begin(enum.Enum):
    GO = "go"  # recorded: hand it over
    REVOKED = "revoked"  # the sweep took the batch back: leave it and the rest alone
    LOST = "lost"  # the log lost the batch or cannot be reached: write back, give back


class RedisLog:
    """The log on Redis through one client per process, on one connection of its own.
    (Django's Redis cache builds a new client object for every call, which costs several
    times the call itself, and taking a connection from a pool and giving it back costs a
    third of it: this is the pipeline's one write per part.) ``_log`` makes one per process,
    so a forked worker never writes on its parent's socket."""

    # Add a part's record, unless its batch's record is gone: one command, one round trip.
    ADD_IF_PRESENT = """
        if redis.call('exists', KEYS[2]) == 0 then return -1 end
        if redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2], 'NX') then return 1 end
        return 0
    """

    def __init__(self, url: str):
        self.client = redis.Redis.from_url(url, single_connection_client=True)
        self._add_if_present = self.client.register_script(self.ADD_IF_PRESENT)

    def add(self, key: str, value: str, timeout: int) -> bool:
        return bool(self.client.set(key, value, ex=timeout, nx=True))

    def add_if_present(self, key: str, value: str, timeout: int, present: str) -> tuple[bool, bool]:
        """Add ``key`` if ``present`` exists; (added, ``present`` exists).

        The one command of every part, written and read on the client's connection directly:
        redis-py's machinery around a command (the script object, its retry wrapper and
        metrics) adds about a sixth to the round trip's CPU (bench/client_calls)."""
        script, connection = self._add_if_present, self.client.connection
        command = ("EVALSHA", script.sha, 2, key, present, value, timeout)
        with self.client.single_connection_lock:
            try:
                connection.send_command(*command)
                try:
                    answer = connection.read_response()
                except redis.exceptions.NoScriptError:
                    # Redis restarted without its scripts: this one did not run. Load it (its
                    # name is its hash, the same again), ask again.
                    self.client.script_load(script.script)
                    connection.send_command(*command)
                    answer = connection.read_response()
            except redis.exceptions.ResponseError:
                raise  # an error answer, read whole: the connection is in step
            except BaseException:
                # An answer may still come: it must never be read as the next command's.
                connection.disconnect()
                raise
        return answer == 1, answer != -1

    def set_many(self, keys: list[str], value: str, timeout: int) -> None:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.set(key, value, ex=timeout)
        pipe.execute()

    def set(self, key: str, value, timeout: int) -> None:
        self.client.set(key, value, ex=timeout)

    def get(self, key: str) -> str | None:
        value = self.client.get(key)
        return None if value is None else value.decode()

    def delete_many(self, keys: list[str]) -> None:
        self.client.delete(*keys)


class CacheLog:
    """The log on Django's cache: the embedded service's file cache (one machine, no Redis)."""

    def add(self, key, value, timeout):
        return django_cache.add(key, value, timeout)

    def add_if_present(self, key, value, timeout, present):
        return django_cache.add(key, value, timeout), django_cache.get(present) is not None

    def set(self, key, value, timeout):
        django_cache.set(key, value, timeout)

    def set_many(self, keys, value, timeout):
        django_cache.set_many(dict.fromkeys(keys, value), timeout)

    def get(self, key):
        return django_cache.get(key)

    def delete_many(self, keys):
        django_cache.delete_many(keys)


_logs: dict[int, "RedisLog | CacheLog"] = {}


def _log():
    """This process's log (a forked child makes its own)."""
    log = _logs.get(os.getpid())
    if log is None:
        _logs.clear()
        log = RedisLog(settings.REDIS_URL) if settings.REDIS_URL else CacheLog()
        _logs[os.getpid()] = log
    return log


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


def begin(token: str, delivery_id: int) -> Begin:
    """Record that this part is about to be handed over (see ``Begin`` for the answers)."""
    try:
        added, alive = _log().add_if_present(
            _part_key(token, delivery_id), STARTED, KEEP, _batch_key(token)
        )
    except Exception:  # noqa: BLE001 - any store error: the record cannot be trusted
        return Begin.LOST
    if not alive:
        return Begin.LOST
    return Begin.GO if added else Begin.REVOKED


def mark_sent(token: str, delivery_ids: list[int]) -> None:
    """Record that these begun parts went through, for a sweep that finds them SENDING."""
    _log().set_many([_part_key(token, delivery_id) for delivery_id in delivery_ids], SENT, KEEP)


def forget(token: str, delivery_ids: list[int], *, batch: bool = False) -> None:
    """Drop the records of parts whose outcome is in the database (and of the batch). A store
    that cannot be reached keeps them until they expire: they are no longer needed."""
    keys = [_part_key(token, delivery_id) for delivery_id in delivery_ids]
    if batch:
        keys.append(_batch_key(token))
    if keys:
        try:
            _log().delete_many(keys)
        except Exception:  # noqa: BLE001 - only tidying: the outcomes are written
            pass


@dataclass
class Outcome:
    """What became of the parts of a dead worker's batch."""

    sent: list[int] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)
    requeue: list[int] = field(default_factory=list)


def resolve(token: str, stuck_ids: list[int]) -> Outcome:
    """Sort out ``stuck_ids``, the parts of batch ``token`` still SENDING in the database.

    Parts not yet begun are revoked first (so the worker, if it still runs, cannot begin
    them). Of the parts begun, all but the last went through; the last is unknown, unless its
    worker marked it sent.
    """
    outcome = Outcome()
    log = _log()
    if not token or log.get(_batch_key(token)) is None:
        outcome.unknown = sorted(stuck_ids)
        return outcome
    begun = []
    for delivery_id in sorted(stuck_ids):
        key = _part_key(token, delivery_id)
        if log.add(key, REVOKED, KEEP):
            outcome.requeue.append(delivery_id)
            continue
        state = log.get(key)
        if state == REVOKED:
            outcome.requeue.append(delivery_id)
        elif state == SENT:
            outcome.sent.append(delivery_id)
        else:
            begun.append(delivery_id)
    if begun:
        outcome.sent += begun[:-1]
        outcome.unknown = begun[-1:]
    outcome.sent.sort()
    return outcome
