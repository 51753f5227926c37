"""The whole loop against the Android gateway simulator (the cloud relay, several phones) on
loopback, with real Celery workers: texts go out from the phone and SIM of each member's group
number, receipts and texts come back through the signed webhooks registered as the README says,
a silent phone holds back its own number's texts while the others go out and then sends them
all, and a worker killed mid-fan-out loses nothing and sends nothing twice, counted at the
simulator."""

import base64
import json
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest

from groups.models import Group, Membership
from messaging import actions
from messaging.gateways.android.simulator import (
    DEFAULT_KEY,
    DEFAULT_PASSWORD,
    DEFAULT_USER,
    AndroidGatewaySimulator,
)
from messaging.gateways.state import is_number_paused
from messaging.models import Delivery, GatewayState
from tests.conftest import make_active_group
from tests.gateways.android.helpers import PHONES, SENDERS, event, gateway_env, signed_headers
from tests.gateways.fanout import all_final, all_receipted, kill_a_worker_mid_fan_out
from tests.gateways.twilio.helpers import spread_group
from tests.workers import purge_queues, running_worker, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
Status = Delivery.Status
EVENTS = ("sms:received", "sms:sent", "sms:delivered", "sms:failed")


@pytest.fixture
def simulator():
    purge_queues()
    with AndroidGatewaySimulator(phones=PHONES, event_delay=0.02) as sim:
        yield sim
    purge_queues()


@pytest.fixture
def webhooks(simulator, live_server, settings):
    """The service's webhook URL registered for each event through the app's API, as the
    README's curl lines do."""
    settings.ANDROID_GATEWAY_WEBHOOK_KEY = DEFAULT_KEY
    settings.ANDROID_GATEWAY_SENDERS = SENDERS
    url = f"{live_server.url}/webhooks/android/"
    token = base64.b64encode(f"{DEFAULT_USER}:{DEFAULT_PASSWORD}".encode()).decode()
    for name in EVENTS:
        request = urllib.request.Request(
            f"{simulator.cloud_url}/webhooks",
            data=json.dumps({"url": url, "event": name}).encode(),
            headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 201
    return url


def group_texts(simulator, prefix):
    return [m for m in simulator.messages if m["text"].startswith(prefix)]


def test_a_message_goes_out_from_each_members_phone_and_comes_back_delivered(
    simulator, webhooks, tmp_path
):
    created = make_active_group(
        "Team", "Coach", "+14155550101", [(f"Fan {n}", f"+1415555{7000 + n:04d}") for n in range(5)]
    )
    unlucky = "+14155557004"
    simulator.set_outcome(unlucky, "failed", "RESULT_ERROR_GENERIC_FAILURE")
    with running_worker(log_path=tmp_path / "worker.log", **gateway_env(simulator)):
        actions.post(created.group, created.creator, "Bus leaves at 8")
        wait_until(all_receipted(5), timeout=60, what="every receipt")
    statuses = dict(Delivery.objects.values_list("to_number", "status"))
    assert statuses.pop(unlucky) == Status.FAILED
    assert set(statuses.values()) == {Status.DELIVERED}
    assert "RESULT_ERROR_GENERIC_FAILURE" in Delivery.objects.get(to_number=unlucky).reason
    sent = group_texts(simulator, "Coach: Bus leaves at 8")
    assert len(sent) == 5
    for message in sent:
        membership = Membership.objects.get(group=created.group, member__number=message["to"])
        number = str(membership.address.number)
        assert message["from"] == number
        assert (message["deviceId"], message["sim"]) == (
            SENDERS[number]["device_id"],
            SENDERS[number]["sim"],
        )
        assert message["id"] == Delivery.objects.get(to_number=message["to"]).provider_ref
    callbacks = Counter((c["event"], c.get("http_status")) for c in simulator.callbacks)
    assert callbacks == {("sms:sent", 200): 4, ("sms:delivered", 200): 4, ("sms:failed", 200): 1}


def test_a_members_text_comes_in_signed_and_reaches_the_others_from_their_numbers(
    simulator, webhooks, tmp_path
):
    created = make_active_group(
        "Team", "Coach", "+14155550101", [(f"Fan {n}", f"+1415555{7000 + n:04d}") for n in range(3)]
    )
    sender = Membership.objects.get(group=created.group, member__number="+14155557000")
    with running_worker(log_path=tmp_path / "worker.log", **gateway_env(simulator)):
        [call] = simulator.deliver_inbound(
            "+14155557000", str(sender.address.number), "Who has the ball?"
        )
        assert call["http_status"] == 200
        wait_until(
            lambda: len(group_texts(simulator, "Fan 0: ")) == 3,
            timeout=60,
            what="the message at the other members",
        )
        # STOP is ours alone on this gateway: the app passes it on like any text.
        simulator.deliver_inbound("+14155557001", str(sender.address.number), "STOP")
        wait_until(
            lambda: simulator.received("+14155557001")[-1]["text"].startswith("You will get no"),
            timeout=60,
            what="the STOP confirmation",
        )
    assert Group.objects.get().messages.get().text == "Who has the ball?"
    assert {m["to"] for m in group_texts(simulator, "Fan 0: ")} == {
        "+14155550101",
        "+14155557001",
        "+14155557002",
    }


def test_a_forged_or_replayed_event_is_refused(simulator, webhooks):
    body = event("sms:received", {"message": "hi", "sender": "+14155557000"})
    old = signed_headers(body, timestamp=int(time.time()) - 6 * 60)
    for headers in ({"X-Signature": "00" * 32, "X-Timestamp": str(int(time.time()))}, old):
        request = urllib.request.Request(
            webhooks, data=body.encode(), headers={"Content-Type": "application/json", **headers}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 403


def test_a_silent_phone_holds_back_its_own_texts_and_sends_them_when_it_answers(
    simulator, webhooks, tmp_path
):
    group = spread_group(2 * len(PHONES) + 1)  # two members on each number
    owner = group.memberships.get(member_id=group.owner_id)
    silent = "+12025550102"
    simulator.set_silent(silent)
    env = gateway_env(simulator, ANDROID_GATEWAY_PAUSED_RETRY=2)
    with running_worker(log_path=tmp_path / "worker.log", **env):
        actions.post(group, owner, "Gates open at 6")
        waiting = Delivery.objects.filter(from_number=silent)
        others = Delivery.objects.exclude(from_number=silent)

        def the_others_delivered():
            return others.count() == 2 * len(PHONES) - 2 and set(
                others.values_list("status", flat=True)
            ) == {Status.DELIVERED}

        wait_until(the_others_delivered, timeout=60, what="the other numbers' texts")
        assert waiting.count() == 2
        assert set(waiting.values_list("status", flat=True)) <= {Status.QUEUED, Status.SENDING}
        assert is_number_paused("android", silent)
        assert "503" in GatewayState.objects.get(gateway=f"android:{silent}").reason
        assert not [m for m in simulator.messages if m["from"] == silent]

        simulator.set_silent(silent, False)
        wait_until(all_final(2 * len(PHONES)), timeout=60, what="the held texts")
        wait_until(
            lambda: set(Delivery.objects.values_list("status", flat=True)) == {Status.DELIVERED},
            timeout=30,
            what="their receipts",
        )
    assert not is_number_paused("android", silent)
    received = Counter(m["to"] for m in group_texts(simulator, "Owner: Gates open at 6"))
    assert len(received) == 2 * len(PHONES) and set(received.values()) == {1}


def test_a_worker_killed_mid_fan_out_loses_nothing_and_sends_nothing_twice(simulator, tmp_path):
    env = gateway_env(
        simulator,
        ANDROID_GATEWAY_RATE_PER_NUMBER="off",
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


def test_the_rate_per_phone_holds_with_four_worker_processes(simulator, settings, tmp_path):
    settings.GROUPFLIER_MAX_GROUP_MEMBERS = 100
    simulator.rate_per_phone = 1  # a phone past its rate holds texts back: counted as over_rate
    group = spread_group(4 * len(PHONES) + 1)  # four texts for each number
    owner = group.memberships.get(member_id=group.owner_id)
    env = gateway_env(
        simulator, ANDROID_GATEWAY_RATE_PER_NUMBER="1/second", GROUPFLIER_DELIVERY_BATCH=3
    )
    started = time.monotonic()
    with running_worker(concurrency=4, log_path=tmp_path / "worker.log", **env):
        actions.post(group, owner, "Gates open at 6")
        wait_until(all_final(4 * len(PHONES)), timeout=90, what="every text to be sent")
    elapsed = time.monotonic() - started
    assert set(Delivery.objects.values_list("status", flat=True)) == {Status.SENT}
    assert simulator.stats["over_rate"] == 0
    by_number = {}
    for message in simulator.messages:
        by_number.setdefault(message["from"], []).append(message["time"])
    assert sorted(by_number) == sorted(p.number for p in PHONES)
    for arrivals in by_number.values():
        arrivals.sort()
        assert len(arrivals) == 4
        assert all(b - a >= 1.0 for a, b in zip(arrivals, arrivals[1:], strict=False))
    assert elapsed < 30  # the phones sent side by side, not one after another (20 s)
