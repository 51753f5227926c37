"""Periodic work on the SMS gateway account (listed in CELERY_BEAT_SCHEDULE)."""

import logging

from celery import shared_task
from django.conf import settings

from messaging.gateways.base import BaseGateway, GatewayError, get_gateway
from messaging.gateways.state import record_credits, resume_gateway

logger = logging.getLogger("groupflier.sms.gateway")


@shared_task
def check_gateway_credits() -> int | None:
    """The configured gateway's credit check, every GROUPFLIER_GATEWAY_CREDIT_CHECK_SECONDS."""
    return refresh_credits(get_gateway())


def refresh_credits(gateway: BaseGateway) -> int | None:
    """Record ``gateway``'s credit balance, resume it when it can send again, warn when low.

    A gateway without a balance (the console) has nothing to check. Safe to run twice.
    """
    try:
        credits = gateway.check_credits()
    except GatewayError as exc:
        logger.warning("Credit check of SMS gateway %s failed: %s", gateway.name, exc.reason)
        return None
    if credits is None:
        return None
    record_credits(gateway, credits)
    if credits > 0:
        resume_gateway(gateway, by=f"the credit check found {credits} credits")
    if credits < settings.GROUPFLIER_GATEWAY_LOW_CREDITS:
        logger.warning(
            "SMS gateway %s is low on credits: %s left (warning below %s)",
            gateway.name,
            credits,
            settings.GROUPFLIER_GATEWAY_LOW_CREDITS,
        )
    return credits
