"""What the admin shows at the top of every page while something needs an operator.

``ALERT_SOURCES`` is the one list of sources: each is a function that returns an alert (text,
or HTML made with ``format_html``) or None, and is called only when an admin page is drawn.
Add a source by adding it here.
"""

from collections.abc import Callable

from django.urls import reverse
from django.utils.html import format_html


def gateway_paused() -> str | None:
    """The configured SMS gateway is paused: what it said and how sending resumes."""
    from messaging.gateways.base import get_gateway
    from messaging.models import GatewayState

    name = get_gateway().name
    state = GatewayState.objects.filter(gateway=name, paused=True).first()
    if state is None:
        return None
    return format_html(
        "Sending is paused on the {} gateway: {}. Texts wait, queued; none is lost. "
        "Fix the cause (credentials, credits at the provider), then use "
        '<a href="{}">Gateway states</a> \u203a \u201cResume sending\u201d; a credit check that '
        "finds credits resumes it by itself.",
        name,
        state.reason or "no reason given",
        reverse("admin:messaging_gatewaystate_changelist"),
    )


def numbers_paused() -> str | None:
    """Some of the configured gateway's sending numbers are paused (a phone stopped
    answering): their texts wait, the other numbers send."""
    from messaging.gateways.base import get_gateway
    from messaging.gateways.state import paused_numbers

    gateway = get_gateway()
    paused = paused_numbers(gateway)
    if not paused:
        return None
    prefix = len(gateway.name) + 1
    return format_html(
        "Sending is paused on {} of the {} gateway's numbers ({}): {}. Their texts wait, "
        "queued, and go out when the number answers again; the other numbers send. "
        '<a href="{}">Gateway states</a> \u203a \u201cResume sending\u201d resumes one at once.',
        len(paused),
        gateway.name,
        ", ".join(state.gateway[prefix:] for state in paused),
        paused[0].reason or "no reason given",
        reverse("admin:messaging_gatewaystate_changelist"),
    )


def system_text_cap() -> str | None:
    """The service-wide cap on system texts holds texts back (SPEC §6)."""
    from texts.actions import cap_alert

    return cap_alert()


ALERT_SOURCES: list[Callable[[], str | None]] = [
    gateway_paused,
    numbers_paused,
    system_text_cap,
]


def current_alerts() -> list[str]:
    alerts = []
    for source in ALERT_SOURCES:
        alert = source()
        if alert:
            alerts.append(alert)
    return alerts


def context(request):
    """Template context: ``operator_alerts``, evaluated only by a template that shows it."""
    return {"operator_alerts": current_alerts}
