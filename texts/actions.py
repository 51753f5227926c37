"""Queueing the service's own texts (SPEC §3, §6): each is an ``OutboundSms`` row, recorded
skipped with the reason when it must not go (the number texted STOP, a budget is spent), else
queued for the row pipeline once the caller's transaction commits. They are free (SPEC §5), and
the whole service's are held to ``GROUPFLIER_BUDGET_SYSTEM_TEXTS`` (``within_cap``): past it
they wait, never dropped, and the admin shows an alert (``cap_alert``).
"""

import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from groupflier.api import throttles
from groupflier.api.throttles import consume, parse_rate
from groupflier.pipeline import rows
from members.models import Member
from texts.models import OutboundSms

CAP_ALERT_KEY = "alert:system-text-cap"
# Texts the budget of SPEC §6 holds per destination number; PINs have their own.
NOTICE_KINDS = (OutboundSms.Kind.WELCOME, OutboundSms.Kind.NOTICE)


def queue_system_sms(to: str, text: str, kind: str, *, from_number: str = "") -> OutboundSms:
    """Record the text and queue its sending once the surrounding transaction commits; or
    record it skipped, with the reason, when it must not go."""
    sms = OutboundSms.objects.create(to=to, text=text, kind=kind, from_number=from_number)
    reason = why_not_send(to, kind)
    if reason is not None:
        OutboundSms.objects.filter(pk=sms.pk).update(
            status=OutboundSms.Status.SKIPPED, error=reason[:200]
        )
        sms.status, sms.error = OutboundSms.Status.SKIPPED, reason[:200]
        return sms
    # The pipeline is messaging's (it holds the gateway): named, not imported, from down here.
    transaction.on_commit(lambda: rows.queue(rows.get("texts"), [sms.pk]))
    return sms


def why_not_send(to: str, kind: str) -> str | None:
    """Why a system text to ``to`` is held back (SPEC §3, §6), or None when it may go. (A
    text to one of the service's own numbers is held back at the hand-off, where the pool is
    known: ``messaging.sms``.)"""
    if kind != OutboundSms.Kind.STOP_CONFIRMATION and blocked(to):
        return "the number has opted out (STOP)"
    if kind in NOTICE_KINDS:
        return throttles.notice_refusal(to)
    return None


def blocked(number: str) -> bool:
    return Member.objects.filter(number=number, blocked=True).exists()


def cap_alert() -> str | None:
    """The admin's alert while the service-wide cap on system texts holds texts back."""
    return cache.get(CAP_ALERT_KEY)


def within_cap() -> float | None:
    """Take one text of the service-wide budget; None when taken, else the seconds until the
    budget's next window."""
    rate = settings.GROUPFLIER_BUDGET_SYSTEM_TEXTS
    if rate == "off":
        return None
    if consume("system-texts", "all", rate):
        return None
    count, period = parse_rate(rate)
    wait = period - time.time() % period
    cache.set(
        CAP_ALERT_KEY,
        f"System texts are held back: more than {count} in {period} s "
        f"(GROUPFLIER_BUDGET_SYSTEM_TEXTS={rate}). They go out as the budget allows; raise "
        "the setting if this traffic is expected, or look for a pumping attack.",
        timeout=period * 2,
    )
    return wait
