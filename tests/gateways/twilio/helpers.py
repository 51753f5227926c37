"""Shared by the Twilio tests and bench/ratelimit: the worker settings for the simulator, and
a large group whose members are spread over the pool as ``choose_address`` spreads them."""

from groups.addresses import choose_address
from groups.models import Group, Membership
from members.models import Member


def gateway_env(simulator, **extra) -> dict:
    """The environment a worker needs to send through ``simulator``."""
    return {
        "GROUPFLIER_SMS_GATEWAY": "messaging.gateways.twilio.Gateway",
        "TWILIO_ACCOUNT_SID": simulator.account_sid,
        "TWILIO_AUTH_TOKEN": simulator.auth_token,
        "TWILIO_API_BASE": simulator.url,
        **extra,
    }


def spread_group(size: int, owner_number: str = "+14155550101", first: int = 5000000) -> Group:
    """An active group of ``size`` members, each given their number by ``choose_address``,
    made without the welcome texts (which would go through the gateway too)."""
    owner = Member.objects.create(number=owner_number)
    group = Group.objects.create(name="Stadium", owner=owner, status=Group.Status.ACTIVE)
    members = [owner] + Member.objects.bulk_create(
        Member(number=f"+1415{first + n:07d}") for n in range(size - 1)
    )
    for n, member in enumerate(members):
        Membership.objects.create(
            group=group,
            member=member,
            name="Owner" if member == owner else f"Fan {n}",
            address=choose_address(member, group),
        )
    return group
