"""The whole loop against the Group Texting simulator on loopback, with real Celery workers:
texts go out through the provider's HTTP API and come in through its webhooks."""

from collections import Counter

import pytest

from groups.models import Group, Membership
from messaging import actions
from messaging.gateways.grouptexting.simulator import GroupTextingSimulator
from messaging.models import Delivery
from messaging.tasks import sweep_deliveries
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


def test_a_worker_killed_mid_fan_out_sends_nothing_twice_at_the_provider(simulator, tmp_path):
    """SIGKILL during a 1,000-member fan-out through the Group Texting backend, counted at the
    provider: each number gets the text at most once, every part ends sent or unknown, at most
    one unknown per worker process, and a part recorded sent did reach the provider."""
    import signal
    import time

    from tests.test_e2e_messaging import big_group
    from tests.workers import stop

    concurrency = 2
    group = big_group(1000)
    owner = group.memberships.get(member_id=group.owner_id)
    simulator.response_delay = 0.002  # hand-offs long enough to be killed in the middle of
    env = gateway_env(
        simulator,
        GROUPFLIER_DELIVERY_UNKNOWN_AFTER=3,
        GROUPFLIER_DELIVERY_REDRIVE_AFTER=3,
        # No connection cap: the killed processes' places would hold it until their leases
        # run out (minutes), which is the limiter's own business, tested on its own.
        GROUPTEXTING_MAX_CONNECTIONS=0,
    )
    log = tmp_path / "worker.log"
    with running_worker(concurrency=concurrency, log_path=log, **env) as worker:
        actions.post(group, owner, "Gates open at 6")
        wait_until(
            lambda: len(group_texts_at(simulator, subject="Owner")) >= 200,
            timeout=60,
            what="the fan-out to be well under way",
        )
        stop(worker, signal.SIGKILL)
    assert Delivery.objects.exclude(status__in=Delivery.FINAL).exists(), "killed too late"

    time.sleep(3.5)  # past the sweep's threshold
    with running_worker(concurrency=concurrency, name="w2", log_path=log, **env):

        def all_final():
            sweep_deliveries.delay()
            return not Delivery.objects.exclude(status__in=Delivery.FINAL).exists()

        wait_until(all_final, timeout=180, interval=2, what="every delivery to end")

    statuses = Counter(Delivery.objects.values_list("status", flat=True))
    assert set(statuses) <= {Delivery.Status.SENT, Delivery.Status.UNKNOWN}
    assert statuses[Delivery.Status.UNKNOWN] <= concurrency
    received = Counter(phone for phone, _ in group_texts_at(simulator, subject="Owner"))
    assert max(received.values()) == 1, "a member got the text twice"
    sent = {
        number.removeprefix("+1")
        for number in Delivery.objects.filter(status=Delivery.Status.SENT).values_list(
            "to_number", flat=True
        )
    }
    assert sent <= set(received)  # "sent" is never a guess
    assert len(received) >= statuses[Delivery.Status.SENT]


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
