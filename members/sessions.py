"""API sessions (SPEC §2): a random sid of 256 bits, stored only as its SHA-256, sliding expiry."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from members.models import ApiSession, Member

# Writing last_used_at on every call would turn each read into a write; minutes are enough
# precision for an expiry counted in days.
TOUCH_INTERVAL = timedelta(minutes=5)


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def create_session(member: Member, source: str = "") -> str:
    sid = secrets.token_urlsafe(32)
    ApiSession.objects.create(
        member=member, key_hash=_hash(sid), source=source[:100], last_used_at=timezone.now()
    )
    return sid


def member_for_sid(sid: str) -> Member | None:
    session = ApiSession.objects.select_related("member").filter(key_hash=_hash(sid)).first()
    if session is None:
        return None
    now = timezone.now()
    if session.last_used_at < now - settings.GROUPFLIER_SESSION_IDLE_TIMEOUT:
        session.delete()
        return None
    if session.last_used_at < now - TOUCH_INTERVAL:
        ApiSession.objects.filter(pk=session.pk).update(last_used_at=now)
    return session.member


def end_session(sid: str) -> None:
    ApiSession.objects.filter(key_hash=_hash(sid)).delete()
