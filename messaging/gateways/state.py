"""What a gateway's answers change outside the one delivery: the gateway paused or resumed,
its credit balance, and a recipient flagged (opted out, blocked, bad number).

The pipeline calls ``is_paused`` before handing a part over and ``apply_recipient_effect``
after a permanent ``GatewayError``; backends call ``pause_gateway`` themselves when the
provider says the account cannot send, and the credit check calls ``record_credits``.
"""

import logging

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
    return GatewayState.objects.filter(gateway=_name(gateway), paused=True).exists()


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
