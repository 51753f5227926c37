"""Messaging end to end on PostgreSQL and Redis with real Celery worker (and beat) processes
(SPEC §3 delivery guarantees, scheduled messages)."""

import signal
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from groups.models import Group, Membership, PoolNumber
from members.models import Member
from messaging import actions
from messaging.inbound import Inbound, receive
from messaging.models import Delivery, Message, OutboxMessage, ScheduledMessage
from messaging.tasks import sweep_deliveries
from tests.conftest import MEMBER, OUTSIDER, OWNER, assert_ok, login_as, make_active_group
from tests.workers import purge_queues, running_beat, running_worker, stop, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FINAL = set(Delivery.FINAL)


@pytest.fixture(autouse=True)
def _empty_broker():
    purge_queues()
    yield
    purge_queues()


def texts_from(sender_name, to):
    """The group messages from ``sender_name`` that reached ``to`` (not welcomes and such)."""
    return list(
        OutboxMessage.objects.filter(to=to, text__startswith=f"{sender_name}: ").values_list(
            "text", flat=True
        )
    )


def test_api_to_broker_to_worker_to_gateway(tmp_path):
    created = make_active_group("Family", "Mom", OWNER, [("Dad", MEMBER), ("Kid", OUTSIDER)])
    address = str(created.creator.address.number)
    client = Client()
    with running_worker(log_path=tmp_path / "worker.log"):
        body = assert_ok(
            client.post(
                "/message/send", {"sid": login_as(OWNER), "number": address, "message": "Hi all"}
            )
        )
        assert body["id"] == 1
        wait_until(
            lambda: Delivery.objects.filter(status=Delivery.Status.SENT).count() == 2,
            timeout=30,
            what="both deliveries",
        )
    assert texts_from("Mom", MEMBER) == texts_from("Mom", OUTSIDER) == ["Mom: Hi all"]


def test_an_inbound_text_fans_out_through_the_worker(tmp_path):
    created = make_active_group("Family", "Mom", OWNER, [("Dad", MEMBER), ("Kid", OUTSIDER)])
    dad_address = str(created.group.memberships.get(member__number=MEMBER).address.number)
    with running_worker(log_path=tmp_path / "worker.log"):
        receive(Inbound(sender=MEMBER, to_number=dad_address, text="Running late"))
        wait_until(
            lambda: texts_from("Dad", OWNER) and texts_from("Dad", OUTSIDER),
            timeout=30,
            what="the texts to Mom and Kid",
        )
    assert texts_from("Dad", OWNER) == ["Dad: Running late"]
    assert texts_from("Dad", MEMBER) == []


def test_fifty_parallel_sends_get_ids_one_to_fifty(settings):
    created = make_active_group("Family", "Mom", OWNER, [("Dad", MEMBER)])
    address = str(created.creator.address.number)
    sid = login_as(OWNER)
    ids, errors = [], []
    start = threading.Barrier(50)

    def send(n):
        try:
            start.wait()
            response = Client().post(
                "/message/send", {"sid": sid, "number": address, "message": f"message {n}"}
            )
            ids.append(response.json()["id"])
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(ids) == list(range(1, 51))
    stored = Message.objects.filter(group=created.group).values_list("seq", flat=True)
    assert sorted(stored) == list(range(1, 51))


def big_group(size: int) -> Group:
    """A group of ``size`` members, made in bulk (the API's group limit is not the point)."""
    owner = Member.objects.create(number=OWNER)
    group = Group.objects.create(name="Stadium", owner=owner, status=Group.Status.ACTIVE)
    address = PoolNumber.objects.order_by("id").first()
    members = Member.objects.bulk_create(
        Member(number=f"+1415{5000000 + n:07d}") for n in range(size - 1)
    )
    Membership.objects.bulk_create(
        [Membership(group=group, member=owner, name="Owner", address=address)]
        + [
            Membership(group=group, member=m, name=f"Fan {n}", address=address)
            for n, m in enumerate(members)
        ]
    )
    return group


def test_a_worker_killed_mid_fan_out_loses_nothing_and_sends_nothing_twice(tmp_path):
    concurrency = 2
    group = big_group(2000)
    owner = group.memberships.get(member_id=group.owner_id)
    # Short thresholds so the sweep finds what the killed worker left within the test.
    fast_sweep = {
        "GROUPFLIER_DELIVERY_UNKNOWN_AFTER": 3,
        "GROUPFLIER_DELIVERY_REDRIVE_AFTER": 3,
    }
    log = tmp_path / "worker.log"
    with running_worker(concurrency=concurrency, log_path=log, **fast_sweep) as worker:
        actions.post(group, owner, "Goal!")
        wait_until(
            lambda: Delivery.objects.filter(status=Delivery.Status.SENT).count() >= 300,
            timeout=60,
            what="the fan-out to be well under way",
        )
        stop(worker, signal.SIGKILL)
    # Each worker process had a batch claimed (SENDING), but only one part of it in hand.
    assert Delivery.objects.exclude(status__in=FINAL).count() > 0, "killed too late to matter"

    time.sleep(3.5)  # let the stuck claims pass the sweep's threshold
    with running_worker(concurrency=concurrency, name="w2", log_path=log, **fast_sweep):

        def all_final():
            sweep_deliveries.delay()
            return not Delivery.objects.exclude(status__in=FINAL).exists()

        wait_until(all_final, timeout=180, interval=2, what="every delivery to end")

    statuses = Counter(Delivery.objects.values_list("status", flat=True))
    assert set(statuses) <= {Delivery.Status.SENT, Delivery.Status.UNKNOWN}
    assert statuses[Delivery.Status.UNKNOWN] <= concurrency
    assert sum(statuses.values()) == 1999
    at_gateway = Counter(OutboxMessage.objects.values_list("to", flat=True))
    assert max(at_gateway.values()) == 1, "a member received a part twice"
    sent = set(
        Delivery.objects.filter(status=Delivery.Status.SENT).values_list("to_number", flat=True)
    )
    assert sent <= set(at_gateway)


def test_scheduled_messages_go_once_within_five_seconds_with_two_workers_and_two_beats(
    tmp_path,
):
    created = make_active_group("Family", "Mom", OWNER, [("Dad", MEMBER)])
    log = tmp_path / "celery.log"
    with (
        running_worker(name="w1", log_path=log),
        running_worker(name="w2", log_path=log),
        running_beat(tmp_path / "beat1", log_path=log),
        running_beat(tmp_path / "beat2", log_path=log),
    ):
        soon = timezone.now() + timedelta(seconds=4)
        ScheduledMessage.objects.bulk_create(
            ScheduledMessage(
                group=created.group,
                author=created.creator,
                text=f"reminder {n}",
                when=soon + timedelta(seconds=n),
            )
            for n in range(5)
        )
        wait_until(
            lambda: (
                not ScheduledMessage.objects.filter(status=ScheduledMessage.Status.PENDING).exists()
            ),
            timeout=60,
            what="the scheduled messages",
        )
        time.sleep(4)  # a duplicate, if any, would show up now
    messages = Message.objects.filter(group=created.group).order_by("seq")
    assert [m.text for m in messages] == [f"reminder {n}" for n in range(5)]
    for item in ScheduledMessage.objects.select_related("message"):
        assert item.status == ScheduledMessage.Status.SENT
        lateness = (item.message.created_at - item.when).total_seconds()
        assert 0 <= lateness <= 5, f"{item.text} went {lateness:.1f}s after its time"
