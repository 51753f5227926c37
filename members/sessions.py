"""API sessions (SPEC §2): a random sid of 256 bits, stored only as its SHA-256, sliding expiry.

Every call of a polling client starts by turning its sid into a member, so with Redis the
answer is kept there for a few minutes, shared by every web process: the member's id and
number, which never change for a session. Whatever ends a session (a logout, the idle expiry,
the admin, the member's removal) deletes its row, and the row's ``post_delete`` writes a
tombstone that a lookup reads in the same round trip as the entry: the very next request, in
any process, finds the session gone, even if a lookup racing with the logout had just put it
back. A tombstone that cannot be written undoes the deletion, so a cached session never
outlives its row. Without Redis (the embedded mode) every lookup reads the database.
"""

import hashlib
import logging
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from groupflier import phones, redis_client
from members.models import ApiSession, Member

logger = logging.getLogger(__name__)

# Writing last_used_at on every call would turn each read into a write; minutes are enough
# precision for an expiry counted in days.
TOUCH_INTERVAL = timedelta(minutes=5)
# A cached session lives no longer than that, so last_used_at is written as before.
CACHED_FOR = int(TOUCH_INTERVAL.total_seconds())
# Longer than any cached entry that a lookup racing with the deletion could write.
TOMBSTONE_FOR = 2 * CACHED_FOR


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def _keys(key_hash: str) -> tuple[str, str]:
    """The cached entry's key and the tombstone's (Redis shared with another service keeps
    them apart by CACHE_KEY_PREFIX)."""
    prefix = f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:session"
    return f"{prefix}:{key_hash}", f"{prefix}-ended:{key_hash}"


def create_session(member: Member, source: str = "") -> str:
    sid = secrets.token_urlsafe(32)
    ApiSession.objects.create(
        member=member, key_hash=_hash(sid), source=source[:100], last_used_at=timezone.now()
    )
    return sid


# After Redis failed, lookups read the database alone for this long rather than wait on it
# again each time. Always safe: the database is the truth, and no session is deleted without
# its tombstone reaching Redis.
SKIP_CACHE_AFTER_FAILURE = 30  # seconds
_cache_failed_at = None


def member_for_sid(sid: str) -> Member | None:
    global _cache_failed_at
    key_hash = _hash(sid)
    client = redis_client.shared()
    if client is None or (
        _cache_failed_at is not None
        and time.monotonic() - _cache_failed_at < SKIP_CACHE_AFTER_FAILURE
    ):
        return _member_from_database(key_hash)
    entry_key, tombstone_key = _keys(key_hash)
    try:
        entry, tombstone = client.mget(entry_key, tombstone_key)
    except Exception as exc:  # noqa: BLE001 - the database alone answers while Redis is away
        logger.warning("Session cache unreachable, reading the database: %s", exc)
        _cache_failed_at = time.monotonic()
        return _member_from_database(key_hash)
    _cache_failed_at = None
    if tombstone is not None:
        return None
    if entry is not None:
        member_id, number = entry.decode().split(" ", 1)
        return _member(int(member_id), number)
    member = _member_from_database(key_hash)
    if member is not None:
        try:
            client.set(entry_key, f"{member.pk} {member.number}", ex=CACHED_FOR, nx=True)
        except Exception as exc:  # noqa: BLE001 - the next lookup reads the database again
            logger.warning("Session cache unreachable: %s", exc)
    return member


def _member_from_database(key_hash: str) -> Member | None:
    session = (
        ApiSession.objects.filter(key_hash=key_hash)
        .annotate(number=phones.stored("member__number"))
        .values_list("pk", "member_id", "number", "last_used_at")
        .first()
    )
    if session is None:
        return None
    pk, member_id, number, last_used_at = session
    now = timezone.now()
    if last_used_at < now - settings.GROUPFLIER_SESSION_IDLE_TIMEOUT:
        try:
            ApiSession.objects.filter(pk=pk).delete()
        except Exception as exc:  # noqa: BLE001 - the lapsed row answers None all the same
            logger.warning("A lapsed session could not be deleted now: %s", exc)
        return None
    if last_used_at < now - TOUCH_INTERVAL:
        ApiSession.objects.filter(pk=pk).update(last_used_at=now)
    return _member(member_id, number)


def _member(member_id: int, number: str) -> Member:
    """The session's member, with its other fields (``blocked``...) read from the database
    only if asked for, so nothing that may change is ever taken from the cache."""
    return Member.from_db(Member.objects.db, ["id", "number"], [member_id, phones.parsed(number)])


def end_session(sid: str) -> None:
    ApiSession.objects.filter(key_hash=_hash(sid)).delete()


def session_ended(sender, instance: ApiSession, **kwargs) -> None:
    """``post_delete`` of a session, in the deleting transaction: the tombstone that hides any
    cached copy. Raising here (the cache unreachable) rolls the deletion back, so a session is
    never left usable from the cache after it was reported ended."""
    client = redis_client.shared()
    if client is not None:
        client.set(_keys(instance.key_hash)[1], 1, ex=TOMBSTONE_FOR)
