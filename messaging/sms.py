"""The service's own texts (PINs, welcomes, notices, replies): queued as ``OutboundSms`` rows
and sent by the row pipeline (``groupflier.pipeline.rows``) like group messages, with the same
claim, retry, hand-off log and sweep. They are free (SPEC §5), and held to a service-wide cap
(SPEC §6, ``GROUPFLIER_BUDGET_SYSTEM_TEXTS``): past it they wait, never dropped, and the admin
shows an alert. A PIN's stored text is masked once the gateway has it (SPEC §6).
"""

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from groupflier.api import throttles
from groupflier.api.throttles import consume, parse_rate
from groupflier.pipeline import rows
from groups.models import PoolNumber
from members.models import Member
from messaging.gateways.base import GatewayError, get_gateway
from messaging.gateways.state import apply_recipient_effect, is_paused
from messaging.models import OutboundSms

logger = logging.getLogger(__name__)
MASKED_PIN = "Your GroupFlier PIN is ******"
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
    transaction.on_commit(lambda: rows.queue(PIPELINE, [sms.pk]))
    return sms


def why_not_send(to: str, kind: str) -> str | None:
    """Why a system text to ``to`` is held back (SPEC §3, §6), or None when it may go."""
    if PoolNumber.objects.filter(number=to).exists():
        return "a service pool number: texting it would loop"
    if Member.objects.filter(number=to, blocked=True).exists():
        return "the number has opted out (STOP)"
    if kind in NOTICE_KINDS:
        return throttles.notice_refusal(to)
    return None


def cap_alert() -> str | None:
    """The admin's alert while the service-wide cap on system texts holds texts back."""
    return cache.get(CAP_ALERT_KEY)


def _within_cap() -> float | None:
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


class SystemTextPipeline(rows.Pipeline):
    kind = "texts"
    model = OutboundSms
    columns = ("to", "from_number", "text", "kind")
    reason_field = "error"
    errors = (GatewayError,)

    def paused(self) -> bool:
        return is_paused(get_gateway())

    def prepare(self, parts):
        return get_gateway()

    def hand_off(self, part, gateway) -> str:
        if Member.objects.filter(number=part.to, blocked=True).exists():
            raise rows.Skip("the number has opted out (STOP)")
        wait = _within_cap()
        if wait is not None:
            raise rows.Wait("the service-wide cap on system texts holds it", wait)
        return gateway.send(part.to, part.text, from_number=part.from_number)

    def after_sent(self, sent):
        # The gateway has the PIN now: the only copy left is on the member's phone.
        OutboundSms.objects.filter(pk__in=[pk for pk, _ in sent], kind=OutboundSms.Kind.PIN).update(
            text=MASKED_PIN
        )

    def after_failed(self, part, error):
        member = Member.objects.filter(number=part.to).first()
        if error is not None and member is not None:
            apply_recipient_effect(error, member)

    def extra_sweep(self, now):
        # A PIN that ended any other way than sent (failed, unknown, skipped) is masked too.
        OutboundSms.objects.filter(
            kind=OutboundSms.Kind.PIN,
            status__in=[rows.FAILED, rows.UNKNOWN, rows.SKIPPED],
        ).exclude(text=MASKED_PIN).update(text=MASKED_PIN)


PIPELINE = rows.register(SystemTextPipeline())
