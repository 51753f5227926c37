"""SPEC §10: /healthz, /readyz and /metrics."""

import re

import pytest

from groupflier import health, metrics
from messaging.gateways.base import get_gateway
from messaging.gateways.state import pause_gateway, resume_gateway
from messaging.models import Delivery, Message
from tests.conftest import assert_error
from texts.models import OutboundSms

pytestmark = pytest.mark.django_db


def test_healthz_answers_while_the_process_does(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "OK"}


def test_probes_by_ip_address_are_answered_whatever_allowed_hosts_says(client, settings):
    settings.ALLOWED_HOSTS = ["groupflier.example.org"]
    assert client.get("/healthz", HTTP_HOST="10.0.0.7:8000").status_code == 200
    assert client.get("/readyz", HTTP_HOST="10.0.0.7:8000").status_code == 200
    assert client.get("/admin/", HTTP_HOST="10.0.0.7:8000").status_code == 400


def test_readyz_names_each_check_with_its_time(client):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "OK"
    assert set(body["checks"]) == {"database", "broker", "cache", "migrations", "gateway"}
    for check in body["checks"].values():
        assert check["ok"] is True
        assert isinstance(check["ms"], float)


def test_readyz_is_503_while_the_gateway_is_paused(client):
    pause_gateway(get_gateway(), "out of credits")
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "ERROR"
    assert body["checks"]["gateway"]["ok"] is False
    assert "out of credits" in body["checks"]["gateway"]["error"]
    assert body["checks"]["database"]["ok"] is True
    resume_gateway(get_gateway(), by="test")
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_when_redis_cannot_be_reached(client, settings, monkeypatch):
    # A port nothing listens on: the broker check fails fast and says so.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CELERY_BROKER_URL = settings.REDIS_URL
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False
    assert "onnect" in response.json()["checks"]["broker"]["error"]


def test_readyz_reports_unapplied_migrations(client, monkeypatch):
    monkeypatch.setattr(health, "_migrations_applied", False)

    class Plan:
        def __init__(self, connection):
            self.loader = type("L", (), {"graph": type("G", (), {"leaf_nodes": lambda s: []})()})()

        def migration_plan(self, targets):
            return [("messaging", "9999_future")]

    monkeypatch.setattr(health, "MigrationExecutor", Plan)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "1 migration(s) not applied" in response.json()["checks"]["migrations"]["error"]


def test_the_migrations_check_is_remembered_once_it_passes(monkeypatch, django_assert_num_queries):
    monkeypatch.setattr(health, "_migrations_applied", False)
    assert health.check_migrations() is None
    with django_assert_num_queries(0):
        assert health.check_migrations() is None


# --- /metrics -------------------------------------------------------------------------------


def scrape(client, token="s3cret"):
    return client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")


def sample(text: str, name: str, **labels) -> float | None:
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, value = line.rsplit(" ", 1)
        if series.split("{")[0] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', series))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return None


def test_metrics_are_off_while_no_token_is_set(client, settings):
    settings.GROUPFLIER_METRICS_TOKEN = ""
    assert_error(scrape(client), "NOT_FOUND", http_status=404)


def test_metrics_need_the_token(client, settings):
    settings.GROUPFLIER_METRICS_TOKEN = "s3cret"
    assert client.get("/metrics").status_code == 401
    assert scrape(client, token="wrong").status_code == 401
    response = scrape(client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")


def test_metrics_report_the_pipeline_from_the_database(client, settings, family):
    settings.GROUPFLIER_METRICS_TOKEN = "s3cret"
    group = family.group
    message = Message.objects.create(group=group, seq=99, text="hello", fanned_out_at=None)
    for i, status in enumerate(["queued", "queued", "sending", "sent", "failed", "unknown"]):
        Delivery.objects.create(
            message=message,
            part=i + 1,
            parts=6,
            to_number="+14155550199",
            from_number="+12025550100",
            status=status,
        )
    OutboundSms.objects.create(to="+14155550199", text="hi", kind="reply", status="queued")
    pause_gateway(get_gateway(), "credits gone")

    text = scrape(client).content.decode()
    gateway = get_gateway().name
    assert sample(text, "groupflier_deliveries", status="queued", gateway=gateway) == 2
    assert sample(text, "groupflier_deliveries", status="sending") == 1
    assert sample(text, "groupflier_deliveries", status="unknown") == 1
    assert sample(text, "groupflier_parts_waiting", pool_number="+12025550100") == 2
    assert sample(text, "groupflier_oldest_queued_part_age_seconds") >= 0
    assert sample(text, "groupflier_fanouts_in_flight") >= 1
    assert sample(text, "groupflier_system_texts", status="queued") >= 1
    assert sample(text, "groupflier_gateway_paused", gateway=gateway) == 1
    assert sample(text, "groupflier_celery_queue_length", queue="celery") is not None
    assert sample(text, "groupflier_celery_queue_length", queue="scheduler") is not None


def test_metrics_count_api_requests_and_throttle_refusals(api, client, settings):
    settings.GROUPFLIER_METRICS_TOKEN = "s3cret"
    settings.GROUPFLIER_THROTTLE_PER_ADDRESS = "2/minute"
    before = scrape(client).content.decode()
    refused_before = sample(before, "groupflier_throttle_refusals_total", budget="addr") or 0
    for _ in range(3):
        api("member/find", number="4155550177")
    api("member/groups", sid="nope")

    text = scrape(client).content.decode()
    assert sample(text, "groupflier_throttle_refusals_total", budget="addr") == refused_before + 1
    assert (
        sample(text, "groupflier_api_requests_total", endpoint="/member/find", error="THROTTLE")
        >= 1
    )
    assert (
        sample(text, "groupflier_api_request_duration_seconds_count", endpoint="/member/groups")
        >= 1
    )
    assert (
        sample(
            text,
            "groupflier_api_request_duration_seconds_bucket",
            endpoint="/member/find",
            error="THROTTLE",
            le="+Inf",
        )
        >= 1
    )


def test_counters_add_up_across_processes_through_redis():
    # Two buffers stand for two processes: each flushes into the same Redis hash.
    first, second = metrics.CounterBuffer(), metrics.CounterBuffer()
    field = metrics._field(budget="test-shared")
    start = metrics.counters.read("throttle_refusals").get(field, 0)
    first.add("throttle_refusals", field)
    second.add("throttle_refusals", field, 2)
    first.flush()
    second.flush()
    assert metrics.counters.read("throttle_refusals")[field] == start + 3


def test_counting_a_request_touches_no_redis(monkeypatch):
    # The request path only updates memory; the flusher thread talks to Redis, later.
    buffer = metrics.CounterBuffer()
    monkeypatch.setattr(buffer, "_ensure_flusher", lambda: None)
    monkeypatch.setattr(metrics, "counters", buffer)
    calls = []
    monkeypatch.setattr(metrics.redis_client, "shared", lambda: calls.append(1))
    metrics.observe_api_request("/x", "OK", 0.01)
    assert calls == []
    assert buffer._pending


def test_a_source_that_cannot_be_read_is_reported_down_and_the_rest_shown(
    client, settings, monkeypatch
):
    settings.GROUPFLIER_METRICS_TOKEN = "s3cret"

    def unreachable(*args, **kwargs):
        raise ConnectionError("Redis is away")

    monkeypatch.setattr(metrics.counters, "read", unreachable)
    response = scrape(client)
    assert response.status_code == 200
    text = response.content.decode()
    assert sample(text, "groupflier_metrics_source_up", source="counters") == 0
    assert sample(text, "groupflier_metrics_source_up", source="deliveries") == 1
    assert sample(text, "groupflier_oldest_queued_part_age_seconds") is not None
