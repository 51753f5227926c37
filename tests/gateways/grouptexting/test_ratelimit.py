"""The shared connection budget: the simulator, enforcing the provider's 2-a-second rule with
503s, never sees more than 2 requests in a second nor more than 2 at once, whether the sends
come from threads or from processes, with Redis or with the embedded file store."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from messaging.gateways.base import GatewayError
from messaging.gateways.grouptexting.backend import GroupTextingGateway
from messaging.gateways.grouptexting.simulator import GroupTextingSimulator
from messaging.gateways.ratelimit import (
    ConnectionLimiter,
    LimiterError,
    RedisStore,
    parse_rate,
)

ROOT = Path(__file__).resolve().parents[3]

TO = "+14155550102"


@pytest.fixture
def sim():
    with GroupTextingSimulator(credits=1000) as simulator:  # answers 503 beyond 2 a second
        yield simulator


def new_gateway(sim, **options) -> GroupTextingGateway:
    return GroupTextingGateway(user="user", password="pass", base_url=sim.url, **options)


def assert_at_most_two_a_second(sim):
    assert sim.stats["rate_limited"] == 0
    arrivals = sorted(message["time"] for message in sim.messages)
    assert all(
        later - earlier >= 1.0 for earlier, later in zip(arrivals, arrivals[2:], strict=False)
    )


def send_from_threads(gateway, count):
    errors = []

    def send(number):
        try:
            gateway.send_part(TO, f"message {number}")
        except GatewayError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_rates_are_parsed():
    assert parse_rate("2/second") == (2, 1)
    assert parse_rate("2 per second") == (2, 1)
    assert parse_rate("10/5seconds") == (10, 5)
    assert parse_rate("30/minute") == (30, 60)
    for off in ("off", "", None, "0"):
        assert parse_rate(off) is None
    with pytest.raises(ValueError):
        parse_rate("fast")


def test_threads_of_one_process_keep_within_two_a_second(sim):
    started = time.monotonic()
    errors = send_from_threads(new_gateway(sim, rate="2/second"), 6)
    elapsed = time.monotonic() - started
    assert errors == []
    assert len(sim.messages) == 6
    assert_at_most_two_a_second(sim)
    assert 2.0 <= elapsed < 4.0  # 6 at 2 a second: starts at 0, 1 and 2 s, without dawdling


# A worker process of its own: a fresh interpreter, as a Celery worker on another machine
# would be (a fork of this multi-threaded test process could inherit a held lock).
SENDER = """
import os, sys, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "groupflier.settings")
django.setup()
from messaging.gateways.base import GatewayError
from messaging.gateways.grouptexting.backend import GroupTextingGateway
gateway = GroupTextingGateway(user="user", password="pass", base_url=sys.argv[1], rate="2/second")
for number in range(3):
    try:
        gateway.send_part(sys.argv[2], f"message {number}")
    except GatewayError as exc:
        sys.exit(f"failed: {exc.code}")
"""


def test_processes_share_the_budget_through_redis(sim, settings):
    env = {**os.environ, "REDIS_URL": settings.REDIS_URL, "LOG_LEVEL": "WARNING"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", SENDER, sim.url, TO], cwd=ROOT, env=env, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    outcomes = [(worker.wait(timeout=60), worker.stderr.read().decode()) for worker in workers]
    assert outcomes == [(0, "")] * 3
    assert len(sim.messages) == 9
    assert_at_most_two_a_second(sim)


def test_the_embedded_service_keeps_the_budget_in_a_file(sim, settings, tmp_path):
    settings.REDIS_URL = None
    settings.VAR_DIR = tmp_path
    gateway = new_gateway(sim, rate="2/second")
    errors = send_from_threads(gateway, 4)
    assert errors == []
    assert_at_most_two_a_second(sim)
    assert list((tmp_path / "ratelimit").iterdir())


def test_no_more_than_two_requests_run_at_once():
    with GroupTextingSimulator(rate_limit=False, response_delay=0.2) as slow:
        errors = send_from_threads(new_gateway(slow, rate="off", max_connections=2), 6)
        assert errors == []
        assert slow.stats["max_in_flight"] == 2


def test_the_rate_can_be_turned_off_for_fan_out_benchmarks():
    with GroupTextingSimulator(rate_limit=False) as free:
        gateway = new_gateway(free, rate="off", max_connections=0)
        gateway.send_part(TO, "warm up")  # the client's set-up is not what is measured
        started = time.monotonic()
        assert send_from_threads(gateway, 10) == []
        assert time.monotonic() - started < 1.0


def test_a_place_held_by_a_killed_worker_frees_itself_when_its_lease_ends(settings):
    store = RedisStore(settings.REDIS_URL, "lease-test")
    limiter = ConnectionLimiter(
        store, rate="1/second", max_concurrent=1, max_wait=5, lease_seconds=0.3
    )
    limiter._acquire()  # taken and never given back, as by a worker killed mid-request
    started = time.monotonic()
    with limiter.slot():
        pass
    assert 0.25 <= time.monotonic() - started < 1.0


def test_waiting_longer_than_allowed_is_a_transient_error(sim, settings):
    gateway = new_gateway(sim, rate="1/minute", max_wait=0.2)
    gateway.send_part(TO, "first")
    with pytest.raises(GatewayError) as caught:
        gateway.send_part(TO, "second")
    assert (caught.value.code, caught.value.permanent) == ("rate_limiter", False)
    assert len(sim.messages) == 1


def test_an_unreachable_budget_is_a_transient_error_and_nothing_is_sent(sim, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    with pytest.raises(GatewayError) as caught:
        new_gateway(sim).send_part(TO, "hello")
    assert (caught.value.code, caught.value.permanent) == ("rate_limiter", False)
    assert sim.stats["requests"] == 0


def test_a_limiter_error_names_the_wait():
    class Full:
        errors = ()

        def try_acquire(self, token, **kwargs):
            return 0.05

    limiter = ConnectionLimiter(
        Full(), rate="2/second", max_concurrent=2, max_wait=0.1, lease_seconds=1
    )
    with pytest.raises(LimiterError, match="within 0.1 s"):
        limiter._acquire()
