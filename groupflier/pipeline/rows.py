"""The row pipeline: how every kind of row the service sends goes out (SPEC §3 "Delivery
guarantees"). Group deliveries, system texts and pushes are each a ``Pipeline``: a model whose
rows have ``status``, ``attempts``, ``handoff`` and ``updated_at``, and how one row is handed
over. The engine does the rest, the same way for each:

    claim      one committed UPDATE takes a batch QUEUED -> SENDING under a hand-off token
    hand off   each part recorded in the hand-off log just before it goes (one Redis round trip)
    record     successes written back together, about once a second and at the end; a failure
               at once, before the next part begins (the log's rules depend on it)
    retry      transient errors back to QUEUED and sent again after ``backoff_seconds``; a
               paused provider or a held budget gives back the rest without spending attempts;
               a paused sending number holds back its own parts only, the rest go on
    sweep      a dead worker's batch resolved from the log; QUEUED rows whose task was lost
               queued again

A worker that loses Redis or its database connection is not a dead worker: it writes back what
it knows (reconnecting to the database), gives back what it did not start and queues it again,
so ``unknown`` is left only by a process that died during a hand-off (SPEC §3).

The statuses and what may follow what are each model's own (its docstring); the engine only
moves rows along those edges, each with a conditional UPDATE, so a task run twice acts once.
"""

import contextvars
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.db.models import F
from django.utils import timezone

from groupflier import sql
from groupflier.pipeline import handoff

logger = logging.getLogger("groupflier.pipeline")

QUEUED, SENDING, SENT, FAILED, SKIPPED, UNKNOWN = (
    "queued",
    "sending",
    "sent",
    "failed",
    "skipped",
    "unknown",
)
# Successes are written back about this often (and at the end of a batch), so the admin's view
# of a slow batch (a rate-limited gateway) stays current and the sweep sees the batch alive.
FLUSH_SECONDS = 1.0
MAX_BACKOFF = 60
# How long a worker keeps trying to write its outcomes when the database went away: a
# terminated connection is back at once, a restarting server within seconds.
DB_RETRY_DELAYS = (0, 0.2, 1, 2, 4, 8)


def backoff_seconds(attempt: int, retry_after: int | None = None) -> int:
    """The wait before attempt ``attempt + 1``: exponential, no sooner than the provider asked,
    at most a minute (a long countdown on Redis outlives the broker's visibility timeout)."""
    return min(max(2**attempt, retry_after or 0), MAX_BACKOFF)


_handing_over: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "handing_over", default=None
)


def handing_over() -> str | None:
    """The row being handed over now, as ``"<kind>:<id>"`` (``"deliveries:42"``), or None
    outside a hand-off. Stable across the row's attempts and unique among rows, so a provider
    that takes a message id of ours and refuses a second with the same id (the Android app)
    can be given one derived from it: a part handed over again is then never sent twice."""
    return _handing_over.get()


@contextmanager
def hand_over_as(name: str):
    """What ``handing_over`` answers inside: the engine's name for the row it hands over."""
    token = _handing_over.set(name)
    try:
        yield
    finally:
        _handing_over.reset(token)


class Skip(Exception):  # noqa: N818 - an outcome, not a failure
    """Raised by ``Pipeline.hand_off``: this row is not to be sent after all (``reason``)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Wait(Exception):  # noqa: N818 - an outcome, not a failure
    """Raised by ``Pipeline.hand_off`` before anything left: not now (a budget is spent, the
    provider is paused). The row and the rest of the batch go back to QUEUED, no attempt
    spent, and are queued again after ``seconds`` (never, for None: a resume re-queues them)."""

    def __init__(self, reason: str, seconds: float | None):
        super().__init__(reason)
        self.reason = reason
        self.seconds = seconds


class Pipeline:
    """One kind of row that is sent. Subclasses name the model and the columns a hand-off
    needs, and implement ``hand_off``; the hooks default to doing nothing."""

    kind: str  # the registry's name for it, and the Celery task's argument
    model: type
    columns: tuple[str, ...] = ()  # read by the claim, as attributes of each part
    reason_field = "reason"
    ref_field = "provider_ref"
    errors: tuple[type[Exception], ...] = ()  # what hand_off raises for a failed hand-off

    def max_attempts(self) -> int:
        return settings.GROUPFLIER_DELIVERY_MAX_ATTEMPTS

    def batch_size(self) -> int:
        return settings.GROUPFLIER_DELIVERY_BATCH

    def paused(self) -> bool:
        """True while nothing should be handed over (the gateway is paused)."""
        return False

    def prepare(self, parts: list):
        """What the batch's hand-offs share, read once (passed to each ``hand_off``)."""
        return None

    def hand_off(self, part, shared) -> str:
        """Hand ``part`` to the provider; return its reference. Raise one of ``errors``,
        ``Skip`` or ``Wait``."""
        raise NotImplementedError

    def after_sent(self, sent: list[tuple[int, str]]) -> None:
        """Parts just written back as SENT (committed), with their references."""

    def after_failed(self, part, error: Exception | None) -> None:
        """A part just written back as FAILED (``error`` None: its attempts ran out)."""

    def after_skipped(self, part) -> None:
        """A part just written back as SKIPPED."""

    def extra_sweep(self, now) -> None:
        """Anything else of this kind a lost task can leave behind (run by the sweep)."""


_PIPELINES: dict[str, Pipeline] = {}


def register(pipeline: Pipeline) -> Pipeline:
    _PIPELINES[pipeline.kind] = pipeline
    return pipeline


def pipelines() -> list[Pipeline]:
    return list(_PIPELINES.values())


def get(kind: str) -> Pipeline:
    return _PIPELINES[kind]


# --- Queueing ----------------------------------------------------------------------------------


def queue(pipeline: Pipeline, ids: list[int], *, countdown: float = 0) -> bool:
    """Queue ``ids`` for sending, one task a batch. False when the broker cannot be reached:
    the rows stay QUEUED in the database and the sweep queues them again, so this never
    raises (it runs after commit, when the caller has answered OK already)."""
    from groupflier.pipeline.tasks import send_rows

    size = pipeline.batch_size()
    try:
        for start in range(0, len(ids), size):
            send_rows.apply_async((pipeline.kind, ids[start : start + size]), countdown=countdown)
    except Exception as exc:  # noqa: BLE001 - any broker failure: the sweep re-drives
        logger.warning(
            "Could not queue %s %s for sending (%s); the sweep will", len(ids), pipeline.kind, exc
        )
        return False
    return True


# --- Sending a batch ---------------------------------------------------------------------------


@dataclass
class BatchResult:
    sent: int = 0
    retry: list[int] = field(default_factory=list)  # transient failures, to try again later
    countdown: int = 0  # when to try them
    waiting: list[int] = field(default_factory=list)  # given back, not now
    wait_seconds: float | None = None  # when to queue ``waiting`` again (None: not by us)
    again: list[int] = field(default_factory=list)  # given back at once: queue them again now
    held: list[int] = field(default_factory=list)  # their sending number is paused
    held_seconds: float = MAX_BACKOFF  # when to look at them again: the soonest asked


def send_batch(pipeline: Pipeline, ids: list[int]) -> BatchResult:
    """Claim ``ids`` (those still QUEUED), hand them over one at a time, record the outcomes."""
    result = BatchResult()
    if pipeline.paused():
        result.waiting = list(ids)
        return result
    token = handoff.open_batch()
    parts = with_database(lambda: claim(pipeline, sorted(ids), token))
    if parts:
        Batch(pipeline, token, parts, result).run()
    return result


def process(pipeline: Pipeline, ids: list[int]) -> BatchResult:
    """A send task's body: send the batch, then queue what must go again."""
    result = send_batch(pipeline, ids)
    if result.retry:
        queue(pipeline, result.retry, countdown=result.countdown)
    if result.again:
        queue(pipeline, result.again)
    if result.held:
        # Their number's backend says when it tries the number again; a resume queues them
        # at once (gateway_resumed).
        queue(pipeline, result.held, countdown=result.held_seconds)
    if result.waiting and result.wait_seconds is not None:
        # At most a minute ahead, then it looks again: a long ETA on Redis outlives the
        # broker's visibility timeout.
        queue(pipeline, result.waiting, countdown=min(result.wait_seconds, MAX_BACKOFF))
    return result


def claim(pipeline: Pipeline, ids: list[int], token: str) -> list:
    """Mark the queued ones among ``ids`` as being handed over, under ``token``, and commit
    that before any of them leaves; in id order, the order they go in. One statement in
    autocommit: committed when it returns, in one round trip."""
    model = pipeline.model
    table = connection.ops.quote_name(model._meta.db_table)
    columns = [model._meta.get_field(name).column for name in pipeline.columns]
    returning = ", ".join(["id", "attempts", *(connection.ops.quote_name(c) for c in columns)])
    statement = (
        f"UPDATE {table} SET status = %s, attempts = attempts + 1, handoff = %s, "
        f"updated_at = %s WHERE status = %s AND id IN ({sql.placeholders(ids)}) "
        f"RETURNING {returning}"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [SENDING, token, _now(), QUEUED, *ids])
        rows = cursor.fetchall()
    names = ("id", "attempts", *pipeline.columns)
    parts = [SimpleNamespace(**dict(zip(names, row, strict=True))) for row in rows]
    return sorted(parts, key=lambda part: part.id)


def _now():
    """Now, as the ORM would store it (on SQLite a naive UTC text: an aware datetime passed to
    a statement written out would be stored with its offset, unlike the ORM's own writes)."""
    return connection.ops.adapt_datetimefield_value(timezone.now())


def with_database(write, delays=DB_RETRY_DELAYS):
    """Run ``write`` (a database write whose outcome matters), reconnecting and trying again
    while the connection is down: a worker that lost its connection still writes what it
    knows. Raises the last error when the database stays away."""
    for attempt, delay in enumerate(delays):
        if delay:
            time.sleep(delay)
        try:
            return write()
        except (OperationalError, InterfaceError) as exc:
            if connection.in_atomic_block or attempt == len(delays) - 1:
                raise
            logger.warning("Database write failed (%s); reconnecting", exc)
            connection.close()
    raise AssertionError("unreachable")


def rows_of(pipeline: Pipeline, ids, token: str | None = None):
    """The rows among ``ids`` still SENDING (and under ``token``): every move of the engine
    is a conditional UPDATE on these."""
    rows = pipeline.model.objects.filter(pk__in=ids, status=SENDING)
    return rows.filter(handoff=token) if token is not None else rows


def move(pipeline: Pipeline, ids, to: str, reason: str = "", *, token=None, **fields) -> int:
    return with_database(
        lambda: rows_of(pipeline, ids, token).update(
            status=to,
            updated_at=timezone.now(),
            **{pipeline.reason_field: reason[:200]},
            **fields,
        )
    )


def give_back(pipeline: Pipeline, ids: list[int], token: str) -> int:
    """Claimed parts that were never begun go back to QUEUED, the attempt not counted."""
    if not ids:
        return 0
    return with_database(
        lambda: rows_of(pipeline, ids, token).update(
            status=QUEUED, attempts=F("attempts") - 1, updated_at=timezone.now()
        )
    )


def record_sent(pipeline: Pipeline, token: str, sent: list[tuple[int, str]]) -> int:
    """Mark parts SENT (those still SENDING under ``token``) with their references."""
    if not sent:
        return 0
    references = {pk: ref[:100] for pk, ref in sent if ref}
    changed = with_database(lambda: _mark_sent(pipeline, token, [pk for pk, _ in sent], references))
    if changed:
        pipeline.after_sent(sent)
    return changed


def _mark_sent(pipeline: Pipeline, token: str, ids: list[int], references: dict) -> int:
    # One statement written out, as the claim is: built by the ORM it cost a batch more than
    # its database work (bench/fanout).
    model = pipeline.model
    quote = connection.ops.quote_name
    reason, ref = (
        quote(model._meta.get_field(name).column)
        for name in (pipeline.reason_field, pipeline.ref_field)
    )
    reference, params = "%s", [""]
    if references:
        reference = "CASE id " + "WHEN %s THEN %s " * len(references) + "ELSE '' END"
        params = [value for item in references.items() for value in item]
    statement = (
        f"UPDATE {quote(model._meta.db_table)} SET status = %s, updated_at = %s, {reason} = '', "
        f"{ref} = {reference} WHERE status = %s AND handoff = %s "
        f"AND id IN ({sql.placeholders(ids)})"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [SENT, _now(), *params, SENDING, token, *ids])
        return cursor.rowcount


class Batch:
    """One claimed batch on its way out."""

    def __init__(self, pipeline: Pipeline, token: str, parts: list, result: BatchResult):
        self.pipeline, self.token, self.parts, self.result = pipeline, token, parts, result
        self.pending: list[tuple[int, str]] = []  # sent, not yet written back
        self.begun: list[int] = []
        self.flushed_at = time.monotonic()

    def run(self) -> None:
        pipeline, result = self.pipeline, self.result
        self.shared = pipeline.prepare(self.parts)
        revoked = False
        for position, part in enumerate(self.parts):
            if result.waiting:  # the provider paused itself during this batch
                self.give_back_rest(position, result.waiting)
                break
            begin = handoff.begin(self.token, part.id)
            if begin is handoff.Begin.REVOKED:
                revoked = True  # the sweep took this batch back: the rest of it is the sweep's
                break
            if begin is handoff.Begin.LOST:
                logger.warning("The hand-off log lost batch %s; giving back its rest", self.token)
                self.flush()
                self.give_back_rest(position, result.again)
                break
            self.begun.append(part.id)
            if not self.hand_off(part, position):
                break
        self.flush()
        handoff.forget(self.token, self.begun, batch=not revoked)

    def rest(self, position: int) -> list[int]:
        """The ids of the part at ``position`` and those after it (listed only when needed:
        not once per part)."""
        return [later.id for later in self.parts[position:]]

    def give_back_rest(self, position: int, into: list[int]) -> None:
        """The part at ``position`` and those after it go back to QUEUED; their ids to ``into``."""
        rest = self.rest(position)
        give_back(self.pipeline, rest, self.token)
        into.extend(rest)

    def hand_off(self, part, position: int) -> bool:
        """Hand one part over and record what became of it; False to stop the batch."""
        pipeline = self.pipeline
        try:
            with hand_over_as(f"{pipeline.kind}:{part.id}"):
                reference = pipeline.hand_off(part, self.shared)
        except Skip as skip:
            self.flush()
            if move(pipeline, [part.id], SKIPPED, skip.reason, token=self.token):
                pipeline.after_skipped(part)
        except Wait as wait:
            # Nothing left: this part and the rest go back, to be queued when it is time.
            self.flush()
            self.give_back_rest(position, self.result.waiting)
            self.result.wait_seconds = wait.seconds
            return False
        except pipeline.errors as error:
            # Written before the next part begins: the log's rule that every begun part but
            # the last went through depends on it.
            self.flush()
            self.failed(part, error)
        else:
            self.pending.append((part.id, reference or ""))
            self.result.sent += 1
            if time.monotonic() - self.flushed_at >= FLUSH_SECONDS:
                self.flush()
                # The parts still to come show the batch is alive (the sweep reads updated_at).
                rest = self.rest(position + 1)
                with_database(
                    lambda: rows_of(pipeline, rest, self.token).update(updated_at=timezone.now())
                )
        return True

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        self.flushed_at = time.monotonic()
        try:
            record_sent(self.pipeline, self.token, pending)
        except (OperationalError, InterfaceError):
            # The database stays away: the log keeps what this worker knows for the sweep.
            handoff.mark_sent(self.token, [pk for pk, _ in pending])
            raise

    def failed(self, part, error: Exception) -> None:
        """Move a part on by what its error means (``effect``, as gateway errors say; an
        error without one is final when ``permanent``, retried otherwise)."""
        pipeline, result = self.pipeline, self.result
        effect = str(getattr(error, "effect", None) or ("fail" if error.permanent else "retry"))
        code = getattr(error, "code", None)
        reason = getattr(error, "reason", str(error))
        reason = f"{code}: {reason}" if code else reason
        if effect == "pause_gateway":
            # Not the recipient's fault: wait for the gateway without spending an attempt.
            move(pipeline, [part.id], QUEUED, reason, token=self.token, attempts=F("attempts") - 1)
            result.waiting.append(part.id)
        elif effect == "pause_number":
            # Only its sending number is paused: this part waits without spending an attempt,
            # and the batch goes on with the others.
            move(pipeline, [part.id], QUEUED, reason, token=self.token, attempts=F("attempts") - 1)
            result.held.append(part.id)
            wait = getattr(error, "retry_after", None) or MAX_BACKOFF
            result.held_seconds = min(result.held_seconds, wait)
        elif effect == "retry":
            if part.attempts >= pipeline.max_attempts():
                gave_up = f"gave up after {part.attempts} attempts: {reason}"
                if move(pipeline, [part.id], FAILED, gave_up, token=self.token):
                    pipeline.after_failed(part, None)
            else:
                move(pipeline, [part.id], QUEUED, reason, token=self.token)
                result.retry.append(part.id)
                wait = backoff_seconds(part.attempts, getattr(error, "retry_after", None))
                result.countdown = max(result.countdown, wait)
        elif effect == "outcome_unknown":
            move(pipeline, [part.id], UNKNOWN, reason, token=self.token)
        elif move(pipeline, [part.id], FAILED, reason, token=self.token):
            pipeline.after_failed(part, error)


# --- The sweep ---------------------------------------------------------------------------------


@dataclass
class Swept:
    sent: int = 0
    unknown: int = 0
    requeued: list[int] = field(default_factory=list)


def sweep(pipeline: Pipeline, now=None) -> Swept:
    """Recover what a lost task or a dead worker left behind (run periodically).

    Parts still SENDING long after their batch last showed life were claimed by a worker that
    died: the hand-off log says which went through (SENT), which was in its hands (UNKNOWN,
    never resent) and which it never reached (queued again). Parts QUEUED for a while with no
    task about to take them (a broker restart, a publish lost after commit) are queued again;
    the claim makes a duplicate task harmless.
    """
    now = now or timezone.now()
    limit = settings.GROUPFLIER_DELIVERY_SWEEP_LIMIT
    swept = Swept()
    stuck: dict[str, list[int]] = {}
    for pk, token in pipeline.model.objects.filter(
        status=SENDING, updated_at__lt=now - settings.GROUPFLIER_DELIVERY_UNKNOWN_AFTER
    ).values_list("pk", "handoff")[:limit]:
        stuck.setdefault(token, []).append(pk)
    for token, ids in stuck.items():
        outcome = handoff.resolve(token, ids)
        swept.sent += record_sent(pipeline, token, [(pk, "") for pk in outcome.sent])
        swept.unknown += move(
            pipeline,
            outcome.unknown,
            UNKNOWN,
            "the worker stopped during the hand-off; the provider may have it",
            token=token,
        )
        if give_back(pipeline, outcome.requeue, token):
            swept.requeued.extend(outcome.requeue)
    stale = pipeline.model.objects.filter(
        status=QUEUED, updated_at__lt=now - settings.GROUPFLIER_DELIVERY_REDRIVE_AFTER
    )
    stale_ids = list(stale.order_by("pk").values_list("pk", flat=True)[:limit])
    # Touched, so a row that still cannot go (a paused gateway) is queued again only once
    # per GROUPFLIER_DELIVERY_REDRIVE_AFTER, not at every sweep.
    pipeline.model.objects.filter(pk__in=stale_ids, status=QUEUED).update(updated_at=now)
    swept.requeued.extend(stale_ids)
    pipeline.extra_sweep(now)
    return swept
