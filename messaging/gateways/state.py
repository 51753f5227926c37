"""What a gateway's answers change outside the one delivery: the gateway paused or resumed,
one of its sending numbers paused or resumed, its credit balance, and a recipient flagged
(opted out, blocked, bad number).

The pipeline calls ``is_paused`` before handing a part over and ``apply_recipient_effect``
after a permanent ``GatewayError``; backends call ``pause_gateway`` themselves when the
provider says the account cannot send, and the credit check calls ``record_credits``.

A gateway whose numbers fail one by one (an Android phone per number: one phone off, the
others fine) pauses just that number (``pause_number``) and raises ``PAUSE_NUMBER``: that
number's parts wait, queued, and the rest go on. Its state is a ``GatewayState`` row of its
own, named ``<gateway>:<number>``, so the admin lists it and resumes it like a gateway; the
backend itself looks now and then whether the number answers again (``take_probe``).
"""

import logging
from datetime import timedelta

from django.db import connection
from django.dispatch import Signal
from django.utils import timezone

from messaging.gateways.base import BaseGateway, ErrorEffect, GatewayError
from messaging.models import GatewayState

logger = logging.getLogger("groupflier.sms.gateway")

#: Sent with ``gateway`` (its name) when a paused gateway may send again, so the pipeline can
#: hand over the deliveries that waited.
gateway_resumed = Signal()


def _name(gateway: BaseGateway | str) -> str:
    return gateway if isinstance(gateway, str) else gateway.name


def is_paused(gateway: BaseGateway | str) -> bool:
    # Asked before every batch: written out, it costs a fifth of the ORM's exists().
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {GatewayState._meta.db_table} WHERE gateway = %s AND paused = %s",
            [_name(gateway), True],
        )
        return cursor.fetchone() is not None


def pause_gateway(gateway: BaseGateway | str, reason: str) -> bool:
    """Stop handing texts to ``gateway``; True when it was sending until now.

    The ERROR-level log is the alert: it is written once per pause, not once per refused text.
    """
    name = _name(gateway)
    GatewayState.objects.get_or_create(gateway=name)
    paused = GatewayState.objects.filter(gateway=name, paused=False).update(
        paused=True, reason=reason[:200]
    )
    if paused:
        logger.error("SMS gateway %s paused: %s. Texts wait until it is resumed.", name, reason)
    return bool(paused)


def resume_gateway(gateway: BaseGateway | str, *, by: str) -> bool:
    """Let ``gateway`` send again; True when it was paused. ``by`` says why, for the log."""
    name = _name(gateway)
    resumed = GatewayState.objects.filter(gateway=name, paused=True).update(paused=False, reason="")
    if resumed:
        logger.warning("SMS gateway %s resumed (%s)", name, by)
        gateway_resumed.send(sender=GatewayState, gateway=name)
    return bool(resumed)


def number_key(gateway: BaseGateway | str, number: str) -> str:
    """The ``GatewayState`` name of one of ``gateway``'s sending numbers."""
    return f"{_name(gateway)}:{number}"


def is_number_paused(gateway: BaseGateway | str, number: str) -> bool:
    return is_paused(number_key(gateway, number))


def pause_number(gateway: BaseGateway | str, number: str, reason: str) -> bool:
    """Stop handing ``gateway`` texts from ``number``; True when it was sending until now.
    Like ``pause_gateway``, the ERROR-level log is the alert, once per pause."""
    key = number_key(gateway, number)
    GatewayState.objects.get_or_create(gateway=key)
    paused = GatewayState.objects.filter(gateway=key, paused=False).update(
        paused=True, reason=reason[:200], updated_at=timezone.now()
    )
    if paused:
        logger.error(
            "SMS gateway %s: number %s paused: %s. Its texts wait; the other numbers send.",
            _name(gateway),
            number,
            reason,
        )
    return bool(paused)


def resume_number(gateway: BaseGateway | str, number: str, *, by: str) -> bool:
    """Let ``number`` send again; its waiting texts are handed over (``gateway_resumed``)."""
    return resume_gateway(number_key(gateway, number), by=by)


def take_probe(gateway: BaseGateway | str, number: str, every: float) -> float:
    """Whether this caller may try the paused ``number`` now: 0 when it may (and no other
    caller may for ``every`` seconds), else the seconds until the next try. A number that is
    not paused may always be tried (0)."""
    key = number_key(gateway, number)
    now = timezone.now()
    taken = GatewayState.objects.filter(
        gateway=key, paused=True, updated_at__lte=now - timedelta(seconds=every)
    ).update(updated_at=now)
    if taken:
        return 0.0
    since = (
        GatewayState.objects.filter(gateway=key, paused=True)
        .values_list("updated_at", flat=True)
        .first()
    )
    if since is None:
        return 0.0  # resumed meanwhile
    return max((since + timedelta(seconds=every) - now).total_seconds(), 0.01)


def paused_numbers(gateway: BaseGateway | str) -> list[GatewayState]:
    return list(
        GatewayState.objects.filter(gateway__startswith=f"{_name(gateway)}:", paused=True).order_by(
            "gateway"
        )
    )


def record_credits(gateway: BaseGateway | str, credits: int) -> GatewayState:
    state, _ = GatewayState.objects.update_or_create(
        gateway=_name(gateway), defaults={"credits": credits, "credits_checked_at": timezone.now()}
    )
    return state


def apply_recipient_effect(error: GatewayError, member) -> bool:
    """Flag ``member`` (a ``members.Member``) as ``error`` says; True when a flag changed.

    A global opt-out (Group Texting -104) blocks the number the way a STOP does.
    """
    number = str(member.number)
    members = type(member).objects.filter(pk=member.pk)
    match error.effect:
        case ErrorEffect.RECIPIENT_OPTED_OUT_LOCALLY:
            changed = members.filter(opted_out_locally=False).update(opted_out_locally=True)
        case ErrorEffect.RECIPIENT_OPTED_OUT_GLOBALLY:
            changed = members.filter(blocked=False).update(blocked=True, blocked_at=timezone.now())
        case ErrorEffect.BAD_NUMBER:
            changed = members.filter(bad_number=False).update(bad_number=True)
        case _:
            return False
    if changed:
        logger.info("%s flagged %s: %s", number, error.effect.value, error.reason)
    member.refresh_from_db(fields=["blocked", "blocked_at", "opted_out_locally", "bad_number"])
    return bool(changed)
