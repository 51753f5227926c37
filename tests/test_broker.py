"""The broker transport (groupflier.broker): kombu's Redis transport, with one Redis client per
channel for publishing instead of a new one per message. What it must keep: every task
published reaches the queue, in order; what it is for: no client built per publish (a kombu
release that renamed what it overrides would make it a silent no-op, and this test fail)."""

import base64
import json

import pytest
import redis
from django.conf import settings

from groupflier.broker import Channel
from groupflier.celery import app

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="the Redis transport needs Redis")


@pytest.fixture
def broker(monkeypatch):
    monkeypatch.setattr(app.conf, "task_always_eager", False)  # published, as in production
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        channel.queue_purge("celery")
        yield channel
        channel.queue_purge("celery")


def test_celery_publishes_through_the_project_s_transport(broker):
    assert isinstance(broker, Channel)


def test_published_tasks_all_reach_the_queue_in_order_without_a_client_each(broker, monkeypatch):
    app.send_task("messaging.tasks.fan_out", args=[0])  # the producer and its channel, ready
    built = []
    original = redis.Redis.__init__

    def counting(self, *args, **kwargs):
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", counting)
    for n in range(1, 51):
        app.send_task("messaging.tasks.fan_out", args=[n])
    assert built == []
    queued = redis.Redis.from_url(settings.CELERY_BROKER_URL).lrange("celery", 0, -1)
    # LPUSH in, BRPOP out: the oldest at the right.
    assert [task_args(raw)[0] for raw in reversed(queued)] == list(range(51))


def task_args(raw: bytes) -> list:
    """The positional arguments of a task message as it lies in Redis (Celery's protocol 2:
    a JSON envelope, its body the base64 of ``[args, kwargs, embed]``)."""
    args, _kwargs, _embed = json.loads(base64.b64decode(json.loads(raw)["body"]))
    return args
