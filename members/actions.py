"""Finding members, texting them a login PIN, logging them in (SPEC §2)."""

import hmac
import secrets

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from groupflier.api import throttles
from groupflier.api.errors import ApiError, ErrorType
from members import sessions
from members.models import LoginGuard, LoginPin, Member
from texts.actions import queue_system_sms
from texts.models import OutboundSms


def get_or_create_member(number: str) -> Member:
    member, _ = Member.objects.get_or_create(number=number)
    return member


def _pin_hash(member: Member, pin: str) -> str:
    # Keyed with SECRET_KEY: a leaked table does not give 6-digit PINs away by brute force.
    return salted_hmac("groupflier.login-pin", f"{member.pk}:{pin}", algorithm="sha256").hexdigest()


def send_login_pin(member: Member) -> None:
    """Text a fresh PIN, within the per-destination budget that stops SMS pumping."""
    throttles.check_pin_destination(str(member.number))
    pin = f"{secrets.randbelow(10**6):06d}"
    LoginPin.objects.create(
        member=member,
        pin_hash=_pin_hash(member, pin),
        expires_at=timezone.now() + settings.GROUPFLIER_PIN_TTL,
    )
    minutes = int(settings.GROUPFLIER_PIN_TTL.total_seconds() // 60)
    queue_system_sms(
        str(member.number),
        f"Your GroupFlier PIN is {pin}. It expires in {minutes} minutes.",
        OutboundSms.Kind.PIN,
    )


@transaction.atomic
def find_member(number: str) -> Member:
    """/member/find: the member exists; a PIN goes to them. Answers whether they have a password."""
    member = Member.objects.filter(number=number).first()
    if member is None:
        raise ApiError(ErrorType.NOT_FOUND)
    if member.blocked:
        raise ApiError(ErrorType.BLOCKED_NUMBER, number)
    send_login_pin(member)
    return member


def has_password(member: Member) -> bool:
    account = getattr(member, "account", None)
    return bool(account and account.has_password)


def check_pin(member: Member, pin: str) -> bool:
    """Use up a matching, unexpired PIN of ``member``. True if there was one."""
    candidate = _pin_hash(member, pin)
    for login_pin in LoginPin.objects.select_for_update().filter(
        member=member, used_at__isnull=True, expires_at__gt=timezone.now()
    ):
        if hmac.compare_digest(login_pin.pin_hash, candidate):
            login_pin.used_at = timezone.now()
            login_pin.save(update_fields=["used_at"])
            return True
    return False


def _password_matches(member: Member, password: str) -> bool:
    account = getattr(member, "account", None)
    return bool(account and account.password and check_password(password, account.password))


def login(number: str, secret: str, source: str = "") -> str:
    """/member/login with a PIN or the account password; returns a new sid."""
    with transaction.atomic():
        guard, _ = LoginGuard.objects.select_for_update().get_or_create(number=number)
        now = timezone.now()
        if guard.locked_until and guard.locked_until > now:
            raise ApiError(ErrorType.LOCKOUT)
        member = Member.objects.filter(number=number).first()
        if member and (check_pin(member, secret) or _password_matches(member, secret)):
            guard.failures, guard.window_started_at, guard.locked_until = 0, None, None
            guard.save()
            return sessions.create_session(member, source or "")
        _record_failure(guard, now)
    raise ApiError(ErrorType.INVALID_PIN)


def _record_failure(guard: LoginGuard, now) -> None:
    window = settings.GROUPFLIER_LOGIN_FAILURE_WINDOW
    if guard.window_started_at is None or guard.window_started_at < now - window:
        guard.failures, guard.window_started_at = 0, now
    guard.failures += 1
    if guard.failures >= settings.GROUPFLIER_LOGIN_MAX_FAILURES:
        guard.locked_until = now + settings.GROUPFLIER_LOGIN_LOCKOUT
        guard.failures, guard.window_started_at = 0, None
    guard.save()
