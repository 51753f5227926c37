"""The whole loop against the Twilio simulator on loopback, with real Celery workers: texts
go out through the Messages API From each member's group number, receipts and texts come back
through the signed webhooks, the rate per number holds with several worker processes, and a
worker killed mid-fan-out loses nothing and sends nothing twice, counted at the simulator."""

import time
from collections import Counter

import pytest

from groups.models import Group, Membership, PoolNumber
from messaging import actions
from messaging.gateways.twilio.simulator import TwilioSimulator
from messaging.models import Delivery
from tests.conftest import make_active_group
from tests.gateways.fanout import all_final, all_receipted, kill_a_worker_mid_fan_out
from tests.gateways.twilio.helpers import gateway_env, spread_group
from tests.workers import purge_queues, running_worker, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
Status = Delivery.Status


@pytest.fixture
def pool():
    return [str(n) for n in PoolNumber.objects.filter(active=True).values_list("number", flat=True)]


@pytest.fixture
def simulator(pool):
    purge_queues()
    with TwilioSimulator(numbers=pool, callback_delay=0.02) as sim:
        yield sim
    purge_queues()


@pytest.fixture
def webhooks(simulator, live_server, settings):
    """The service's public address is the live server's; Twilio's callbacks reach it."""
    settings.GROUPFLIER_PUBLIC_URL = live_server.url
    settings.TWILIO_AUTH_TOKEN = simulator.auth_token
    simulator.inbound_url = f"{live_server.url}/webhooks/twilio/inbound"
    return live_server.url


def group_texts(simulator, prefix):
    return [m for m in simulator.messages if m["body"].startswith(prefix)]


def test_a_message_goes_out_from_each_members_number_and_comes_back_delivered(
    simulator, webhooks, tmp_path
):
    created = make_active_group(
        "Team", "Coach", "+14155550101", [(f"Fan {n}", f"+1415555{7000 + n:04d}") for n in range(5)]
    )
    unlucky = "+14155557004"
    simulator.set_outcome(unlucky, "undelivered", "30003")
    env = gateway_env(simulator, GROUPFLIER_PUBLIC_URL=webhooks)
    with running_worker(log_path=tmp_path / "worker.log", **env):
        actions.post(created.group, created.creator, "Bus leaves at 8")
        wait_until(all_receipted(5), timeout=60, what="every receipt")
    statuses = dict(Delivery.objects.values_list("to_number", "status"))
    assert statuses.pop(unlucky) == Status.UNDELIVERED
    assert set(statuses.values()) == {Status.DELIVERED}
    assert Delivery.objects.get(to_number=unlucky).reason.startswith("30003")
    sent = group_texts(simulator, "Coach: Bus leaves at 8")
    assert len(sent) == 5
    for message in sent:
        membership = Membership.objects.get(group=created.group, member__number=message["to"])
        assert message["from"] == str(membership.address.number)
        assert message["sid"] == Delivery.objects.get(to_number=message["to"]).provider_ref
    callbacks = Counter(c["http_status"] for c in simulator.callbacks)
    assert callbacks == {200: 10}  # sent and the outcome, for each; none refused


def test_a_members_text_comes_in_signed_and_reaches_the_others_from_their_numbers(
    simulator, webhooks, tmp_path
):
    created = make_active_group(
        "Team", "Coach", "+14155550101", [(f"Fan {n}", f"+1415555{7000 + n:04d}") for n in range(3)]
    )
    sender = Membership.objects.get(group=created.group, member__number="+14155557000")
    env = gateway_env(simulator, GROUPFLIER_PUBLIC_URL=webhooks)
    with running_worker(log_path=tmp_path / "worker.log", **env):
        record = simulator.deliver_inbound(
            "+14155557000", str(sender.address.number), "Who has the ball?"
        )
        assert record["http_status"] == 200 and "<Response/>" in record["answer"]
        wait_until(
            lambda: len(group_texts(simulator, "Fan 0: ")) == 3,
            timeout=60,
            what="the message at the other members",
        )
    assert Group.objects.get().messages.get().text == "Who has the ball?"
    assert {m["to"] for m in group_texts(simulator, "Fan 0: ")} == {
        "+14155550101",
        "+14155557001",
        "+14155557002",
    }


def test_a_forged_callback_is_refused(simulator, webhooks):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"{webhooks}/webhooks/twilio/inbound",
        data=b"From=%2B14155557000&To=%2B12025550100&Body=hi&MessageSid=SMx",
        headers={"X-Twilio-Signature": "Zm9yZ2Vk"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403


def test_the_rate_per_number_holds_with_four_worker_processes(simulator, pool, settings, tmp_path):
    settings.GROUPFLIER_MAX_GROUP_MEMBERS = 100
    group = spread_group(4 * len(pool) + 1)  # four parts for each number
    owner = group.memberships.get(member_id=group.owner_id)
    env = gateway_env(simulator, GROUPFLIER_DELIVERY_BATCH=3)  # tasks for every process
    started = time.monotonic()
    with running_worker(concurrency=4, log_path=tmp_path / "worker.log", **env):
        actions.post(group, owner, "Gates open at 6")
        wait_until(all_final(4 * len(pool)), timeout=90, what="every part to be sent")
    elapsed = time.monotonic() - started
    assert set(Delivery.objects.values_list("status", flat=True)) == {Status.SENT}
    assert simulator.stats["rate_limited"] == 0
    by_number = {}
    for message in simulator.messages:
        by_number.setdefault(message["from"], []).append(message["time"])
    assert sorted(by_number) == sorted(pool)  # every number did its share
    assert sum(len(arrivals) for arrivals in by_number.values()) == 4 * len(pool)
    for arrivals in by_number.values():
        arrivals.sort()
        assert all(
            later - earlier >= 1.0 for earlier, later in zip(arrivals, arrivals[1:], strict=False)
        )
    assert elapsed < 30  # the numbers sent side by side, not one after another (20 s)


def test_a_worker_killed_mid_fan_out_loses_nothing_and_sends_nothing_twice(
    simulator, pool, tmp_path
):
    simulator.rate_limit = False  # the guarantees are the point here, not the rate
    env = gateway_env(
        simulator,
        TWILIO_RATE_PER_NUMBER="off",
        GROUPFLIER_DELIVERY_UNKNOWN_AFTER=3,
        GROUPFLIER_DELIVERY_REDRIVE_AFTER=3,
    )
    kill_a_worker_mid_fan_out(
        spread_group(601),
        simulator,
        env,
        lambda: Counter(m["to"] for m in group_texts(simulator, "Owner: Gates open at 6")),
        tmp_path / "worker.log",
    )
