"""SPEC §3 "Workers": a plain `celery -A groupflier worker -B` (one process, no --queues) runs
everything, scheduled messages included."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from groupflier.celery import app as celery_app
from messaging.models import OutboxMessage, ScheduledMessage
from tests.conftest import MEMBER, OUTSIDER, OWNER, make_active_group
from tests.workers import purge_queues, running_worker, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _empty_broker():
    purge_queues()
    yield
    purge_queues()


def routed_queues() -> set[str]:
    """Every queue the service sends a task to: the default, beat's entries, task routes."""
    queues = {settings.CELERY_TASK_DEFAULT_QUEUE}
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        queues.add(entry.get("options", {}).get("queue", settings.CELERY_TASK_DEFAULT_QUEUE))
    for route in (getattr(settings, "CELERY_TASK_ROUTES", None) or {}).values():
        queues.add(route["queue"])
    return queues


def test_a_worker_started_without_queues_consumes_every_queue_the_service_routes_to(tmp_path):
    assert "scheduler" in routed_queues()  # the route issue 11 found unconsumed
    with running_worker(queues=None, name="plain", log_path=tmp_path / "worker.log"):
        replies = celery_app.control.inspect(timeout=5).active_queues() or {}
    consumed = {
        queue["name"]
        for host, queues in replies.items()
        if host.startswith("plain@")
        for queue in queues
    }
    assert routed_queues() <= consumed


def test_a_plain_worker_with_embedded_beat_sends_a_due_scheduled_message(tmp_path):
    created = make_active_group("Family", "Mom", OWNER, [("Dad", MEMBER), ("Kid", OUTSIDER)])
    ScheduledMessage.objects.create(
        group=created.group,
        author=created.creator,
        text="Dinner at six",
        when=timezone.now() + timedelta(seconds=2),
    )
    with running_worker(
        queues=None,
        name="plain",
        beat_schedule=tmp_path / "beat-schedule",
        log_path=tmp_path / "worker.log",
    ):
        wait_until(
            lambda: OutboxMessage.objects.filter(text="Mom: Dinner at six").count() == 2,
            timeout=60,
            what="the scheduled message at both members' phones",
        )
    assert ScheduledMessage.objects.get().status == ScheduledMessage.Status.SENT
    reached = set(
        OutboxMessage.objects.filter(text="Mom: Dinner at six").values_list("to", flat=True)
    )
    assert reached == {MEMBER, OUTSIDER}


@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")
def test_a_task_routed_to_an_undeclared_queue_fails_when_sent_not_silently_later():
    from celery.exceptions import QueueNotFound

    with pytest.raises(QueueNotFound):  # send_task publishes even where tests run eagerly
        celery_app.send_task("messaging.tasks.send_due_scheduled", queue="nobody-consumes-this")
