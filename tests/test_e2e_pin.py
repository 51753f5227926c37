"""End to end through a real Celery worker: the API queues a PIN on commit, Redis carries the
task, a worker process sends it through the console gateway, and the PIN logs the member in."""

import re

import pytest

from messaging.models import OutboxMessage
from tests.conftest import MEMBER, OWNER, assert_ok
from tests.workers import running_worker, wait_until
from texts.models import OutboundSms

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_pin_reaches_the_member_through_a_worker_and_logs_them_in(client, tmp_path):
    created = client.post(
        "/group/create",
        {"group": "Family", "name": "Mom", "number": OWNER, "name_0": "Dad", "number_0": MEMBER},
    )
    assert_ok(created)
    with running_worker(log_path=tmp_path / "worker.log"):
        assert_ok(client.post("/member/find", {"number": OWNER}))
        text = wait_until(
            lambda: OutboxMessage.objects.filter(to=OWNER).values_list("text", flat=True).first(),
            timeout=30,
            what="the PIN text",
        )
    assert OutboundSms.objects.get(to=OWNER).status == OutboundSms.Status.SENT
    pin = re.search(r"\d{6}", text).group(0)
    assert_ok(client.post("/member/login", {"number": OWNER, "pin": pin}))
