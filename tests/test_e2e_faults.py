"""Fault injection, end to end (SPEC §3 "Delivery guarantees"): an operator's bad day, played
against real PostgreSQL, Redis and Celery worker processes, with the Group Texting simulator on
loopback as the gateway. Texts are counted where they arrive, at the gateway:

- lost: a recipient the gateway never got the text for, though its part is not ``unknown``;
- duplicated: a recipient the gateway got the text for more than once;
- unknown: parts the service cannot vouch for, at most one per process killed (none when no
  process died: a broker, cache or database connection that fails under a live worker is not
  a death).

Every case must end with 0 lost, 0 duplicated and no more ``unknown`` than processes killed.
The faults: the broker down when a message or a PIN is accepted, Redis restarted empty in the
middle of a fan-out, a worker's database connections terminated while it sends, a worker
process SIGKILLed, and a 503 to every third call. Tests that stop or empty Redis run their own
``redis-server``; the sweep runs every second from beat, with short thresholds.
"""

import os
import re
import signal
import time
from collections import Counter
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.actions import open_account
from accounts.models import Account
from devices.models import Device, PushAttempt, PushOutboxEntry
from members.models import Member
from messaging import actions
from messaging.gateways.grouptexting.simulator import GroupTextingSimulator
from messaging.models import Delivery, Message
from tests.conftest import OWNER, login_as, make_active_group
from tests.test_e2e_messaging import big_group
from tests.workers import (
    RedisServer,
    call,
    database_url,
    pool_children,
    purge_queues,
    running_beat,
    running_web,
    running_worker,
    wait_until,
)
from texts.models import OutboundSms

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

USER, PASSWORD = "sim-user", "sim-pass"
Status = Delivery.Status
# The sweep every second; a part queued 3 s with no task is queued again; a claimed batch that
# shows no life for 5 s is resolved from the hand-off log.
FAST_SWEEP = {
    "GROUPFLIER_SWEEP_EVERY": 1,
    "GROUPFLIER_DELIVERY_REDRIVE_AFTER": 3,
    "GROUPFLIER_DELIVERY_UNKNOWN_AFTER": 5,
}
LARGEST = 5000  # GROUPFLIER_MAX_GROUP_MEMBERS here
WORKER_DB = "gf-fault-worker"  # application_name of the workers' database connections


@pytest.fixture
def simulator():
    purge_queues()
    with GroupTextingSimulator(
        user=USER, password=PASSWORD, credits=100_000, rate_limit=False
    ) as sim:
        yield sim
    purge_queues()


@pytest.fixture(autouse=True)
def _large_groups(settings):
    """Groups of thousands, whose owners' accounts open well funded, so that every part of a
    fan-out is billed without the account running dry."""
    settings.GROUPFLIER_MAX_GROUP_MEMBERS = LARGEST
    settings.GROUPFLIER_TRIAL_BALANCE = 100_000


def pipeline_env(simulator, **extra) -> dict:
    """Workers, beat and web sending through the simulator, with a fast sweep."""
    return {
        "GROUPFLIER_SMS_GATEWAY": "messaging.gateways.grouptexting.GroupTextingGateway",
        "GROUPTEXTING_USER": USER,
        "GROUPTEXTING_PASSWORD": PASSWORD,
        "GROUPTEXTING_BASE_URL": simulator.url,
        "GROUPTEXTING_RATE": "off",
        # No connection cap: a killed process's place would be held until its lease ends,
        # which is the limiter's business, tested on its own.
        "GROUPTEXTING_MAX_CONNECTIONS": 0,
        "GROUPFLIER_MAX_GROUP_MEMBERS": LARGEST,
        **FAST_SWEEP,
        **extra,
    }


def ten_digits(number) -> str:
    return str(number).removeprefix("+1")


def arrivals(simulator, subject: str) -> Counter:
    """How many times each number got a text from ``subject`` at the gateway."""
    with simulator.lock:
        return Counter(
            m["phonenumber"]
            for m in simulator.messages
            if m["subject"] == subject and m["kind"] != "autoreply"
        )


def recipients_of(message: Message) -> set[str]:
    """The numbers a group message is for: everyone in the group but its sender."""
    memberships = message.group.memberships.exclude(pk=message.sender_id)
    return {ten_digits(number) for number in memberships.values_list("member__number", flat=True)}


def fanned_out(message: Message, expected: int):
    """True once the message has ``expected`` parts and none of them is still on its way."""

    def check():
        deliveries = Delivery.objects.filter(message=message)
        return (
            deliveries.count() == expected
            and not deliveries.exclude(status__in=Delivery.FINAL).exists()
        )

    return check


def settle() -> None:
    """A few sweeps more, so that a late second hand-off would show at the gateway."""
    time.sleep(3 * FAST_SWEEP["GROUPFLIER_SWEEP_EVERY"] + 1)


def assert_once_each(simulator, message: Message, *, killed: int = 0) -> Counter:
    """Lost 0 and duplicated 0 at the gateway; unknown at most ``killed``; every part that
    is not unknown sent. Returns the parts' statuses."""
    wanted = recipients_of(message)
    received = arrivals(simulator, message.sender_name)
    statuses = Counter(Delivery.objects.filter(message=message).values_list("status", flat=True))
    unknown = {
        ten_digits(number)
        for number in Delivery.objects.filter(message=message, status=Status.UNKNOWN).values_list(
            "to_number", flat=True
        )
    }
    duplicated = sorted(number for number, times in received.items() if times > 1)
    lost = sorted(wanted - set(received) - unknown)
    assert not duplicated, f"{len(duplicated)} duplicated, e.g. {duplicated[:5]}"
    assert not lost, f"{len(lost)} lost, e.g. {lost[:5]} ({dict(statuses)})"
    assert set(received) <= wanted, "a text reached someone it was not for"
    never_arrived = len(unknown - set(received))
    assert statuses[Status.UNKNOWN] <= killed, (
        f"{dict(statuses)} with {killed} process(es) killed; {never_arrived} of the unknown"
        " parts never reached the gateway"
    )
    assert set(statuses) <= {Status.SENT, Status.UNKNOWN}, dict(statuses)
    sent = {
        ten_digits(number)
        for number in Delivery.objects.filter(message=message, status=Status.SENT).values_list(
            "to_number", flat=True
        )
    }
    assert sent <= set(received), "a part recorded sent never reached the gateway"
    return statuses


def assert_billed(owner: Member, received: Counter) -> None:
    """The owner paid for each part the gateway took, once (their one message since the
    account opened), and the balance is the sum of the ledger."""
    account = Account.objects.get(member=owner)
    paid = settings.GROUPFLIER_TRIAL_BALANCE - account.balance
    assert paid == received.total() * settings.GROUPFLIER_SMS_PRICE, (paid, received.total())
    assert account.balance == sum(account.ledger.values_list("amount", flat=True))


def with_apps(group, every: int) -> set[str]:
    """An Android app registered (verified) for every ``every``-th fan; their tokens."""
    numbers = (
        group.memberships.exclude(member_id=group.owner_id)
        .order_by("id")
        .values_list("member__number", flat=True)
    )
    devices = Device.objects.bulk_create(
        Device(
            number=number,
            type=Device.Type.ANDROID,
            token=f"fault-test-token-{n}",
            verified=True,
            registered_at=timezone.now(),
        )
        for n, number in enumerate(numbers[::every])
    )
    return {device.token for device in devices}


def pushed(expected: int):
    """True once ``expected`` pushes are planned and none is still on its way."""

    def check():
        attempts = PushAttempt.objects.all()
        return (
            attempts.count() == expected
            and not attempts.filter(
                status__in=(PushAttempt.Status.QUEUED, PushAttempt.Status.SENDING)
            ).exists()
        )

    return check


def assert_pushed_once(tokens: set[str]) -> None:
    """Each device got the push once at the push service (the log backend's outbox)."""
    received = Counter(PushOutboxEntry.objects.values_list("token", flat=True))
    assert set(received) == tokens, f"{len(tokens - set(received))} devices got no push"
    assert set(received.values()) == {1}, "a device got the push twice"
    statuses = set(PushAttempt.objects.values_list("status", flat=True))
    assert statuses == {PushAttempt.Status.SENT}, statuses


def terminate_connections(application_name: str) -> int:
    """End the database sessions of the processes that connect as ``application_name``, the
    way an administrator or a failover does; how many there were."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s"
            " AND pid <> pg_backend_pid()",
            [application_name],
        )
        return cursor.fetchone()[0]


def stadium(size: int):
    """A group of ``size`` (an owner and ``size - 1`` fans) whose owner has an account, made
    in bulk: through the actions, with a welcome text each, 2,000 members take 15 s."""
    group = big_group(size)
    open_account(group.owner)
    return group, group.memberships.get(member_id=group.owner_id)


@contextmanager
def pipeline(simulator, tmp_path, concurrency=2, **env):
    """A worker and beat (the sweep every second) sending through the simulator; yields the
    worker's process."""
    env = pipeline_env(simulator, **env)
    with (
        running_worker(concurrency=concurrency, log_path=tmp_path / "worker.log", **env) as w,
        running_beat(tmp_path / "beat-schedule", log_path=tmp_path / "beat.log", **env),
    ):
        yield w


# --- The broker down when a text is accepted --------------------------------------------------


def texts_at(simulator, number: str, containing: str) -> list[str]:
    """The texts the gateway took for ``number`` (any form) with ``containing`` in them."""
    with simulator.lock:
        return [
            m["message"]
            for m in simulator.messages
            if m["phonenumber"] == ten_digits(number) and containing in m["message"]
        ]


def test_a_message_accepted_while_the_broker_is_down_reaches_everyone_once_it_is_back(
    simulator, tmp_path
):
    kids = [(f"Kid {n}", f"+1415555{7100 + n:04d}") for n in range(20)]
    created = make_active_group("Family", "Mom", OWNER, kids)
    address = str(created.creator.address.number)
    with RedisServer(tmp_path) as broker:
        env = pipeline_env(simulator, REDIS_URL=broker.url)
        with running_web(log_path=tmp_path / "web.log", **env) as web:
            broker.kill()
            sid = login_as(OWNER)
            answer = call(web, "message/send", sid=sid, number=address, message="Practice at 5")
            assert answer["status"] == "OK" and answer["id"] == 1, answer
        message = Message.objects.get(group=created.group, seq=1)
        assert message.text == "Practice at 5"

        broker.start()  # back, and empty
        with pipeline(simulator, tmp_path, REDIS_URL=broker.url):
            wait_until(fanned_out(message, 20), timeout=60, what="all 20 texts to end")
            settle()
    assert assert_once_each(simulator, message) == {Status.SENT: 20}


def test_welcomes_of_a_group_created_while_the_broker_is_down_arrive_once_it_is_back(
    simulator, tmp_path
):
    make_active_group("Family", "Mom", OWNER, [("Dad", "+14155550102")])
    coaches = {f"number_{n}": f"+1415555{7200 + n:04d}" for n in range(5)}
    names = {f"name_{n}": f"Coach {n}" for n in range(5)}
    with RedisServer(tmp_path) as broker:
        env = pipeline_env(simulator, REDIS_URL=broker.url)
        with running_web(log_path=tmp_path / "web.log", **env) as web:
            broker.kill()
            answer = call(
                web, "group/create", sid=login_as(OWNER), group="Team", name="Mom",
                number=OWNER, **names, **coaches,
            )  # fmt: skip
            assert answer["status"] == "OK", answer

        broker.start()  # back, and empty
        welcomed = [OWNER, *coaches.values()]
        with pipeline(simulator, tmp_path, REDIS_URL=broker.url):
            wait_until(
                lambda: all(texts_at(simulator, number, "group Team") for number in welcomed),
                timeout=60,
                what="the welcomes at the gateway",
            )
            settle()
    assert [len(texts_at(simulator, number, "group Team")) for number in welcomed] == [1] * 6
    assert set(OutboundSms.objects.values_list("status", flat=True)) == {OutboundSms.Status.SENT}


def test_a_pin_asked_for_while_the_broker_is_down_arrives_once_it_is_back(simulator, tmp_path):
    make_active_group("Family", "Mom", OWNER, [("Dad", "+14155550102")])
    with RedisServer(tmp_path) as broker:
        env = pipeline_env(simulator, REDIS_URL=broker.url)
        with running_web(log_path=tmp_path / "web.log", **env) as web:
            broker.kill()
            answer = call(web, "member/find", number=OWNER)
            assert answer["status"] == "OK", answer
        assert OutboundSms.objects.filter(to=OWNER, kind=OutboundSms.Kind.PIN).count() == 1

        broker.start()

        def pins():
            return texts_at(simulator, OWNER, "PIN")

        with pipeline(simulator, tmp_path, REDIS_URL=broker.url):
            wait_until(pins, timeout=60, what="the PIN at the gateway")
            settle()
    assert len(pins()) == 1 and re.search(r"\b\d{6}\b", pins()[0])
    pin = OutboundSms.objects.get(to=OWNER, kind=OutboundSms.Kind.PIN)
    assert pin.status == OutboundSms.Status.SENT


# --- Faults under a live fan-out ----------------------------------------------------------------


def test_redis_restarted_empty_mid_fan_out_of_2000_loses_nothing_and_bills_every_part(
    simulator, tmp_path
):
    """Broker, cache and hand-off log all in the Redis that restarts, no process killed: the
    workers record what they sent and give back what they had not started. A fifth of the
    fans have the app, so pushes are on their way too."""
    group, owner = stadium(2001)
    tokens = with_apps(group, every=5)
    address = str(owner.address.number)
    simulator.response_delay = 0.002  # hand-offs slow enough to be caught in the middle
    with RedisServer(tmp_path) as redis_server:
        env = {"REDIS_URL": redis_server.url}
        with (
            running_web(log_path=tmp_path / "web.log", **pipeline_env(simulator, **env)) as web,
            pipeline(simulator, tmp_path, **env),
        ):
            sid = login_as(OWNER)
            answer = call(web, "message/send", sid=sid, number=address, message="Kick-off at 3")
            assert answer["status"] == "OK", answer
            message = Message.objects.get(group=group, seq=answer["id"])
            wait_until(
                lambda: arrivals(simulator, "Owner").total() >= 300,
                timeout=60,
                what="a few hundred texts at the gateway",
            )
            redis_server.restart_empty(down_for=1)
            assert arrivals(simulator, "Owner").total() < 2000, "restarted too late"
            wait_until(fanned_out(message, 2000), timeout=90, what="all 2,000 texts to end")
            wait_until(pushed(len(tokens)), timeout=30, what="every push to end")
            settle()
    assert assert_once_each(simulator, message) == {Status.SENT: 2000}
    assert_billed(group.owner, arrivals(simulator, "Owner"))
    assert_pushed_once(tokens)


def test_worker_database_connections_terminated_mid_fan_out_lose_nothing(simulator, tmp_path):
    """Every 0.3 s, the workers' database sessions are terminated (a failover, an
    administrator's pg_terminate_backend) while they claim, send and write back."""
    group, owner = stadium(1001)
    simulator.response_delay = 0.005  # a fan-out long enough for several rounds of it
    with pipeline(simulator, tmp_path, DATABASE_URL=database_url(WORKER_DB)):
        message = actions.post(group, owner, "Doors at 7")
        wait_until(
            lambda: arrivals(simulator, "Owner").total() >= 50,
            timeout=60,
            what="the fan-out to be under way",
        )
        rounds = 0  # with at least one session ended, the fan-out still going
        done = fanned_out(message, 1000)
        while rounds < 8 and not done():
            rounds += terminate_connections(WORKER_DB) > 0
            time.sleep(0.3)
        assert rounds >= 3, f"sessions ended only {rounds} times: the fan-out ran away"
        wait_until(done, timeout=90, what="all 1,000 texts to end")
        settle()
    assert assert_once_each(simulator, message) == {Status.SENT: 1000}
    assert_billed(group.owner, arrivals(simulator, "Owner"))


def test_a_worker_process_killed_mid_fan_out_leaves_at_most_one_unknown(simulator, tmp_path):
    """One pool process SIGKILLed during its batch; the worker goes on with a new one."""
    group, owner = stadium(1001)
    simulator.response_delay = 0.002
    with pipeline(simulator, tmp_path) as worker:
        message = actions.post(group, owner, "Gates open at 6")
        wait_until(
            lambda: arrivals(simulator, "Owner").total() >= 200,
            timeout=60,
            what="the fan-out to be well under way",
        )
        os.kill(pool_children(worker)[0], signal.SIGKILL)
        assert arrivals(simulator, "Owner").total() < 1000, "killed too late"
        wait_until(fanned_out(message, 1000), timeout=90, what="all 1,000 texts to end")
        settle()
    assert_once_each(simulator, message, killed=1)


def test_a_503_to_every_third_call_loses_nothing(simulator, tmp_path):
    """A third of the gateway's answers are HTTP 503: retried (attempts are not what is tested
    here, so there are plenty) until every text is through, once."""
    group, owner = stadium(1001)
    simulator.fail_every(3, status=503)
    with pipeline(simulator, tmp_path, GROUPFLIER_DELIVERY_MAX_ATTEMPTS=30):
        message = actions.post(group, owner, "Rain check")
        wait_until(fanned_out(message, 1000), timeout=90, what="all 1,000 texts to end")
        settle()
    assert assert_once_each(simulator, message) == {Status.SENT: 1000}
    # With every third call answered 503, 1,000 texts took at least 1,499 calls.
    assert simulator.state()["requests"] >= 1499
    assert_billed(group.owner, arrivals(simulator, "Owner"))
