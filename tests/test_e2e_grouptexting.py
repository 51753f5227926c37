"""The whole loop against the Group Texting simulator on loopback, with real Celery workers:
texts go out through the provider's HTTP API and come in through its webhooks."""

from collections import Counter

import pytest

from groups.models import Group, Membership
from messaging import actions
from messaging.models import Delivery
from simulators.grouptexting import GroupTextingSimulator
from tests.conftest import OWNER, make_active_group
from tests.workers import purge_queues, running_worker, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

USER, PASSWORD, SECRET = "sim-user", "sim-pass", "hook-secret"


@pytest.fixture
def simulator():
    purge_queues()
    with GroupTextingSimulator(
        user=USER, password=PASSWORD, credits=10_000, rate_limit=False
    ) as sim:
        yield sim
    purge_queues()


def gateway_env(simulator, **extra):
    return {
        "GROUPFLIER_SMS_GATEWAY": "messaging.gateways.grouptexting.GroupTextingGateway",
        "GROUPTEXTING_USER": USER,
        "GROUPTEXTING_PASSWORD": PASSWORD,
        "GROUPTEXTING_BASE_URL": simulator.url,
        "GROUPTEXTING_RATE": "off",
        **extra,
    }


def group_of(size: int, owner=OWNER):
    members = [(f"Fan {n}", f"+1415555{7000 + n:04d}") for n in range(size - 1)]
    return make_active_group("Team", "Coach", owner, members)


def group_texts_at(simulator, subject="Coach"):
    """(10-digit number, text) of each group message the simulator accepted, not welcomes."""
    return [
        (m["phonenumber"], m["message"])
        for m in simulator.messages
        if m["subject"] == subject and m["kind"] != "autoreply"
    ]


def test_with_a_503_to_every_third_call_everything_arrives_once(simulator, settings, tmp_path):
    settings.GROUPFLIER_MAX_GROUP_MEMBERS = 100
    created = group_of(31)
    simulator.fail_every(3, status=503)
    with running_worker(log_path=tmp_path / "worker.log", **gateway_env(simulator)):
        actions.post(created.group, created.creator, "Bus leaves at 8")
        wait_until(
            lambda: (
                not Delivery.objects.exclude(status__in=Delivery.FINAL).exists()
                and Delivery.objects.count() == 30
            ),
            timeout=120,
            what="every delivery to end",
        )
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}
    received = Counter(phone for phone, _ in group_texts_at(simulator))
    assert len(received) == 30 and set(received.values()) == {1}
    assert simulator.state()["rate_limited"] == 0  # the 503s were the injected ones
    assert any(d.attempts > 1 for d in Delivery.objects.all())  # and they were retried


def test_a_members_text_enters_by_webhook_and_reaches_every_other_member_once(
    simulator, live_server, settings, tmp_path
):
    settings.GROUPTEXTING_WEBHOOK_SECRET = SECRET
    created = group_of(6)
    simulator.webhook_inbox_url = f"{live_server.url}/webhooks/grouptexting/{SECRET}/inbox"
    sender = created.group.memberships.exclude(member_id=created.group.owner_id).first()
    others = {
        str(m.member.number)[2:]
        for m in Membership.objects.filter(group=created.group).exclude(pk=sender.pk)
    }
    with running_worker(log_path=tmp_path / "worker.log", **gateway_env(simulator)):
        record = simulator.deliver_inbound(str(sender.member.number), "Who has the ball?")
        assert record["route"] == "inbox" and record["calls"][0]["status"] == 200
        wait_until(
            lambda: len(group_texts_at(simulator, subject=sender.name)) >= len(others),
            timeout=60,
            what="the group message at the simulator",
        )
    received = Counter(phone for phone, _ in group_texts_at(simulator, subject=sender.name))
    assert set(received) == others and set(received.values()) == {1}
    assert Group.objects.get().messages.get().text == "Who has the ball?"
