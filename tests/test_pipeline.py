"""The one row pipeline (SPEC §3 "Delivery guarantees"): what a live worker does when Redis or
its database connection goes away, what the sweep re-drives, and system texts on the same
guarantees as group messages (every gateway effect honoured, PINs masked, a service-wide cap).
The end-to-end fault tests with real worker processes are in test_e2e_faults.py."""

import logging
from datetime import timedelta

import psycopg
import pytest
import redis
from django.db import connection
from django.utils import timezone

from groupflier.pipeline import handoff, rows
from groupflier.pipeline.tasks import sweep_rows
from members.models import Member
from messaging import fanout
from messaging.gateways.base import ErrorEffect, GatewayError
from messaging.models import Delivery, Message, OutboxMessage
from messaging.sms import MASKED_PIN
from messaging.sms import PIPELINE as TEXTS
from tests.conftest import MEMBER, OWNER, assert_ok
from tests.test_fanout import (  # noqa: F401 - fixtures
    TEAM,
    ScriptedGateway,
    gateway,
    team_message,
    team_unplanned,
)
from texts.actions import cap_alert, queue_system_sms
from texts.models import OutboundSms

pytestmark = pytest.mark.django_db
SENT = Delivery.Status.SENT


@pytest.fixture
def here(gateway, settings):
    """Use a gateway class of this module (``gateway`` resets them after the test)."""
    from messaging.gateways import base

    gateway()

    def use(cls):
        settings.GROUPFLIER_SMS_GATEWAY = f"tests.test_pipeline.{cls}"
        base.SMS_GATEWAY.cache_clear()

    return use


class FaultyGateway(ScriptedGateway):
    """Something happens to the worker's services while it holds a part: ``fault`` runs right
    after each part numbered in ``at`` (1, 2, ...) was handed over."""

    at: tuple[int, ...] = ()

    def send_part(self, to, part, **kwargs):
        reference = super().send_part(to, part, **kwargs)
        if len(ScriptedGateway.handed) in self.at:
            self.fault()
        return reference

    def fault(self):
        raise NotImplementedError


def send_batch_through(here, gateway_class: str, message):
    """Send all of ``message``'s parts as one batch through ``gateway_class``: (ids, result)."""
    here(gateway_class)
    ids = sorted(message.deliveries.values_list("id", flat=True))
    return ids, rows.send_batch(fanout.PIPELINE, ids)


def redis_admin():
    from django.conf import settings

    return redis.Redis.from_url(settings.REDIS_URL)


class ForgetfulGateway(FaultyGateway):
    """Redis restarts empty while the worker holds its third part: the worker lives on."""

    at = (3,)

    def fault(self):
        redis_admin().flushdb()


def test_a_live_worker_whose_log_was_lost_writes_back_and_gives_back_the_rest(here, team_message):
    ids, result = send_batch_through(here, "ForgetfulGateway", team_message)
    # Three went through and are written back; the other three were given back and queued
    # again at once (a new batch, a new record in the fresh log).
    assert result.sent == 3 and result.again == ids[3:]
    assert [Delivery.objects.get(pk=pk).status for pk in ids[:3]] == [SENT] * 3
    rows.process(fanout.PIPELINE, result.again)
    assert set(Delivery.objects.values_list("status", flat=True)) == {SENT}
    handed = sorted(to for to, _ in ScriptedGateway.handed)
    assert handed == sorted(number for _, number in TEAM)  # each once, none twice
    assert Delivery.objects.get(pk=ids[3]).attempts == 1  # given back: no attempt spent


def test_an_unreachable_log_stops_the_batch_before_anything_unrecorded_goes(
    gateway, team_message, monkeypatch
):
    gateway()
    ids = sorted(team_message.deliveries.values_list("id", flat=True))

    def down(*args):
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(handoff.RedisLog, "add_if_present", down)
    result = rows.send_batch(fanout.PIPELINE, ids)
    assert result.sent == 0 and result.again == ids
    assert ScriptedGateway.handed == []
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.QUEUED}


class ScriptlessGateway(FaultyGateway):
    """Redis restarts with its data but without its scripts (as after a restart with
    persistence) while the worker holds its second part."""

    at = (2,)

    def fault(self):
        redis_admin().script_flush()


def test_a_log_whose_redis_lost_its_script_loads_it_again_and_the_batch_goes_on(here, team_message):
    ids, result = send_batch_through(here, "ScriptlessGateway", team_message)
    assert result.sent == 6 and result.again == []
    assert set(Delivery.objects.values_list("status", flat=True)) == {SENT}


class LogCutGateway(FaultyGateway):
    """Redis drops the hand-off log's connection while the worker holds its second part."""

    at = (2,)

    def fault(self):
        redis_admin().client_kill_filter(_id=handoff._log().client.client_id())


def test_a_log_connection_cut_gives_back_the_rest_and_the_next_batch_reconnects(here, team_message):
    ids, result = send_batch_through(here, "LogCutGateway", team_message)
    # The third record could not be written: nothing after the second part left.
    assert result.sent == 2 and result.again == ids[2:]
    assert [Delivery.objects.get(pk=pk).status for pk in ids[:2]] == [SENT] * 2
    rows.process(fanout.PIPELINE, result.again)  # a new record on a new connection
    assert set(Delivery.objects.values_list("status", flat=True)) == {SENT}
    handed = sorted(to for to, _ in ScriptedGateway.handed)
    assert handed == sorted(number for _, number in TEAM)  # each once, none twice


class CutOffGateway(FaultyGateway):
    """The database ends the worker's connection (pg_terminate_backend) during a hand-off."""

    at = (2, 5)

    def fault(self):
        pid = connection.connection.info.backend_pid
        params = connection.get_connection_params()
        with psycopg.connect(**params, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.mark.django_db(transaction=True)
def test_a_dropped_database_connection_loses_nothing_and_leaves_nothing_unknown(
    here, team_message, monkeypatch
):
    monkeypatch.setattr(rows, "FLUSH_SECONDS", 0)  # a write-back after every part
    ids, result = send_batch_through(here, "CutOffGateway", team_message)
    assert result.sent == 6
    assert [Delivery.objects.get(pk=pk).status for pk in ids] == [SENT] * 6
    practices = [to for to, text in ScriptedGateway.handed if text == "Practice"]
    assert sorted(practices) == sorted(number for _, number in TEAM)  # each once


def test_a_message_whose_fan_out_was_never_queued_is_fanned_out_by_the_sweep(
    gateway, team_unplanned, settings
):
    gateway()
    Message.objects.filter(pk=team_unplanned.pk).update(
        created_at=timezone.now() - timedelta(minutes=5)
    )
    sweep_rows.apply()
    assert Delivery.objects.filter(message=team_unplanned, status=SENT).count() == len(TEAM)
    assert Message.objects.get(pk=team_unplanned.pk).fanned_out_at is not None


def test_a_message_accepted_while_the_broker_was_down_is_sent_once_it_is_back(
    gateway, api, family, monkeypatch, django_capture_on_commit_callbacks
):
    from messaging import tasks

    gateway()

    def broker_down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with monkeypatch.context() as broken:
        broken.setattr(tasks.fan_out, "apply_async", broker_down)
        body = assert_ok(
            api(
                "message/send",
                sid=family.owner.sid,
                number=family.address_of(family.owner),
                message="Dinner at 6",
            )
        )
    assert body["id"] == 1
    assert not Delivery.objects.exists()
    Message.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    sweep_rows.apply()
    assert list(Delivery.objects.values_list("to_number", "status")) == [(MEMBER, SENT)]


# --- System texts: the same pipeline ---------------------------------------------------------


def queue_text(to=MEMBER, text="Welcome", kind=OutboundSms.Kind.WELCOME, capture=None):
    with capture(execute=True):
        return queue_system_sms(to, text, kind)


@pytest.mark.parametrize(
    "effect, status, flag",
    [
        (ErrorEffect.OUTCOME_UNKNOWN, "unknown", None),
        (ErrorEffect.FAIL, "failed", None),
        (ErrorEffect.RECIPIENT_OPTED_OUT_GLOBALLY, "failed", "blocked"),
        (ErrorEffect.BAD_NUMBER, "failed", "bad_number"),
    ],
)
def test_a_system_text_honours_the_gateways_effect(
    gateway, db, effect, status, flag, django_capture_on_commit_callbacks
):
    Member.objects.create(number=MEMBER)
    gateway({MEMBER: [GatewayError("refused", effect=effect)]})
    sms = queue_text(capture=django_capture_on_commit_callbacks)
    sms.refresh_from_db()
    assert sms.status == status and sms.attempts == 1
    assert len(ScriptedGateway.handed) == 1  # never resent
    if flag:
        assert getattr(Member.objects.get(number=MEMBER), flag)


def test_a_system_text_waits_for_a_paused_gateway_without_spending_attempts(
    gateway, db, django_capture_on_commit_callbacks
):
    from messaging.gateways.base import get_gateway
    from messaging.gateways.state import resume_gateway

    gateway({MEMBER: [GatewayError("credit limit", effect=ErrorEffect.PAUSE_GATEWAY)]})
    sms = queue_text(capture=django_capture_on_commit_callbacks)
    sms.refresh_from_db()
    assert (sms.status, sms.attempts) == ("queued", 0)
    with django_capture_on_commit_callbacks(execute=True):
        resume_gateway(get_gateway(), by="test")
    sms.refresh_from_db()
    assert (sms.status, sms.attempts) == ("sent", 1)


def test_transient_errors_are_retried_then_sent(gateway, db, django_capture_on_commit_callbacks):
    gateway({MEMBER: [GatewayError("HTTP 503", effect=ErrorEffect.RETRY)] * 2})
    sms = queue_text(capture=django_capture_on_commit_callbacks)
    sms.refresh_from_db()
    assert (sms.status, sms.attempts) == ("sent", 3)


def test_a_lost_publish_of_a_system_text_is_sent_by_the_sweep(gateway, db):
    gateway()
    sms = queue_system_sms(MEMBER, "Welcome", OutboundSms.Kind.WELCOME)  # never committed
    OutboundSms.objects.filter(pk=sms.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    sweep_rows.apply()
    assert OutboundSms.objects.get(pk=sms.pk).status == "sent"


def test_a_pin_is_masked_once_the_gateway_has_it_and_never_logged(
    db, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    sms = queue_text(
        text="Your GroupFlier PIN is 482913",
        kind=OutboundSms.Kind.PIN,
        capture=django_capture_on_commit_callbacks,
    )
    assert OutboundSms.objects.get(pk=sms.pk).text == MASKED_PIN
    # The console gateway's outbox is the member's phone: the one place the PIN stays.
    assert OutboxMessage.objects.get(to=MEMBER).text.endswith("482913")
    assert "482913" not in caplog.text


def test_the_service_wide_cap_holds_system_texts_back_and_alerts(gateway, db, settings):
    gateway()
    settings.GROUPFLIER_BUDGET_SYSTEM_TEXTS = "2/hour"
    texts = [queue_system_sms(OWNER, f"Notice {n}", OutboundSms.Kind.NOTICE) for n in range(3)]
    result = rows.send_batch(TEXTS, [sms.pk for sms in texts])
    statuses = [OutboundSms.objects.get(pk=sms.pk).status for sms in texts]
    assert statuses == ["sent", "sent", "queued"]  # held back, never dropped
    assert OutboundSms.objects.get(pk=texts[2].pk).attempts == 0
    # Queued again when the budget's window turns (within the hour).
    assert result.waiting == [texts[2].pk] and 0 < result.wait_seconds <= 3600
    assert "GROUPFLIER_BUDGET_SYSTEM_TEXTS" in cap_alert()
    settings.GROUPFLIER_BUDGET_SYSTEM_TEXTS = "off"
    rows.process(TEXTS, [texts[2].pk])
    assert OutboundSms.objects.get(pk=texts[2].pk).status == "sent"


class Killed(BaseException):
    """The worker process dies (SIGKILL): nothing after it runs."""


class DyingGateway(ScriptedGateway):
    def send_part(self, to, part, **kwargs):
        ScriptedGateway.handed.append((to, part))  # it may have reached the provider
        raise Killed


def test_a_worker_killed_during_a_system_text_leaves_it_unknown_not_resent(here, db):
    sms = queue_system_sms(MEMBER, "Welcome", OutboundSms.Kind.WELCOME)
    here("DyingGateway")
    with pytest.raises(Killed):
        rows.send_batch(TEXTS, [sms.pk])
    OutboundSms.objects.filter(pk=sms.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    here("ScriptedGateway")
    assert sweep_rows.apply().get()["texts"] == {"sent": 0, "unknown": 1, "requeued": 0}
    assert OutboundSms.objects.get(pk=sms.pk).status == "unknown"
    assert len(ScriptedGateway.handed) == 1


def test_the_admin_never_shows_a_pin_not_even_one_still_queued(admin_client, db):
    sms = queue_system_sms(MEMBER, "Your GroupFlier PIN is 731904", OutboundSms.Kind.PIN)
    assert OutboundSms.objects.get(pk=sms.pk).status == "queued"  # not handed over yet
    page = admin_client.get(f"/admin/texts/outboundsms/{sms.pk}/change/")
    listing = admin_client.get("/admin/texts/outboundsms/")
    assert page.status_code == listing.status_code == 200
    assert "731904" not in page.content.decode() + listing.content.decode()
    assert MASKED_PIN in page.content.decode()


class NamingGateway(ScriptedGateway):
    """Records the engine's name for the row being handed over."""

    names = []

    def send_part(self, to, part, **kwargs):
        NamingGateway.names.append(rows.handing_over())
        return super().send_part(to, part, **kwargs)


def test_a_paused_sending_number_holds_back_its_own_parts_and_the_batch_goes_on(here, team_message):
    here("NamingGateway")
    NamingGateway.names = []
    held_number = TEAM[2][1]
    ScriptedGateway.script = {
        held_number: [GatewayError("phone away", effect=ErrorEffect.PAUSE_NUMBER, retry_after=7)]
    }
    ids = sorted(team_message.deliveries.values_list("id", flat=True))
    result = rows.send_batch(fanout.PIPELINE, ids)
    held = Delivery.objects.get(to_number=held_number)
    assert result.held == [held.pk] and result.held_seconds == 7
    assert result.sent == len(ids) - 1 and result.waiting == []
    assert (held.status, held.attempts) == (Delivery.Status.QUEUED, 0)  # no attempt spent
    assert "phone away" in held.reason
    # Each hand-off is named by its row, the same on every attempt.
    assert NamingGateway.names == [f"deliveries:{pk}" for pk in ids]
    assert rows.handing_over() is None  # outside a hand-off
