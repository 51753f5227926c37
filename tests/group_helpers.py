"""Helpers shared by the tests of groups and their members."""

import re

from groups.models import Group, Membership
from tests.conftest import texts_to


def membership_of(group: Group, number: str) -> Membership:
    return Membership.objects.select_related("group", "member", "address").get(
        group=group, member__number=number
    )


def roster(group: Group) -> dict[str, dict]:
    """Number -> the member's row as /member/groups would show it, read from the database."""
    return {
        str(m.member.number): {"name": m.name, "bye": m.bye, "sms": m.sms, "broadcast": m.broadcast}
        for m in Membership.objects.filter(group=group).select_related("member")
    }


def latest_pin(number: str) -> str:
    pins = [re.search(r"PIN is (\d{6})", text) for text in texts_to(number)]
    return [pin.group(1) for pin in pins if pin][-1]


def texts_from(number: str, address: str) -> list[str]:
    """What ``number`` received from the group number ``address``."""
    from messaging.models import OutboxMessage

    return list(
        OutboxMessage.objects.filter(to=number, from_number=address)
        .order_by("id")
        .values_list("text", flat=True)
    )
