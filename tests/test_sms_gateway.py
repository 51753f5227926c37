"""The SMS gateway interface, the console backend, the system-text task and `manage.py outbox`."""

import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from members.models import Member
from messaging.gateways import base
from messaging.gateways.base import BaseGateway, GatewayError, get_gateway
from messaging.gateways.console import ConsoleGateway
from messaging.models import OutboxMessage
from messaging.tasks import send_outbound_sms
from texts.actions import queue_system_sms
from texts.models import OutboundSms

pytestmark = pytest.mark.django_db

TO = "+14155550102"


class FlakyGateway(BaseGateway):
    """Fails ``failures`` times with the given kind of error, then sends."""

    calls = []

    def send(self, to, text, *, from_number="", **kwargs):
        FlakyGateway.calls.append(to)
        if len(FlakyGateway.calls) <= self.options.get("failures", 0):
            raise GatewayError("HTTP 503", permanent=self.options.get("permanent", False))
        return "flaky-1"


@pytest.fixture
def flaky(settings):
    FlakyGateway.calls = []
    base.SMS_GATEWAY.cache_clear()

    def use(**options):
        settings.GROUPFLIER_SMS_GATEWAY = "tests.test_sms_gateway.FlakyGateway"
        settings.GROUPFLIER_SMS_GATEWAY_OPTIONS = options
        return FlakyGateway

    yield use
    base.SMS_GATEWAY.cache_clear()


def queue(text="hello"):
    sms = queue_system_sms(TO, text, OutboundSms.Kind.NOTICE, from_number="+12025550100")
    return OutboundSms.objects.get(pk=sms.pk)


def test_the_default_gateway_is_the_console_one():
    assert isinstance(get_gateway(), ConsoleGateway)
    assert get_gateway() is get_gateway()  # one instance per process, to reuse connections


def test_a_gateway_that_cannot_be_imported_is_a_configuration_error(settings):
    settings.GROUPFLIER_SMS_GATEWAY = "messaging.gateways.nowhere.Gateway"
    with pytest.raises(ImproperlyConfigured):
        get_gateway()


def test_a_class_that_is_not_a_gateway_is_a_configuration_error(settings):
    settings.GROUPFLIER_SMS_GATEWAY = "messaging.models.OutboxMessage"
    with pytest.raises(ImproperlyConfigured):
        get_gateway()


def test_the_console_gateway_records_each_text_and_logs_it_without_its_words(caplog):
    caplog.set_level("INFO")
    reference = ConsoleGateway().send(TO, "hi there", from_number="+12025550100")
    record = OutboxMessage.objects.get()
    assert (record.to, record.from_number, record.text) == (TO, "+12025550100", "hi there")
    assert reference == f"console-{record.pk}"
    # The outbox is the phone; the log must not carry a PIN that a text may hold.
    assert TO in caplog.text and "hi there" not in caplog.text


def test_a_queued_text_is_sent_once_on_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sms = queue()
    sms.refresh_from_db()
    assert sms.status == OutboundSms.Status.SENT
    assert OutboxMessage.objects.filter(to=TO).count() == 1


def test_the_task_is_safe_to_run_twice(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sms = queue()
    send_outbound_sms.apply(args=[sms.pk])
    send_outbound_sms.apply(args=[sms.pk])
    assert OutboxMessage.objects.filter(to=TO).count() == 1


def test_nothing_is_queued_for_a_blocked_number(django_capture_on_commit_callbacks):
    Member.objects.create(number=TO, blocked=True)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        sms = queue()
    assert callbacks == []
    sms.refresh_from_db()
    assert sms.status == OutboundSms.Status.SKIPPED
    assert "opted out" in sms.error


def test_a_transient_error_is_retried_until_it_goes_through(flaky):
    flaky(failures=2)
    sms = queue()
    send_outbound_sms.apply(args=[sms.pk])
    sms.refresh_from_db()
    assert sms.status == OutboundSms.Status.SENT
    assert sms.attempts == 3
    assert FlakyGateway.calls == [TO, TO, TO]


def test_a_permanent_error_is_final_with_its_reason(flaky):
    flaky(failures=1, permanent=True)
    sms = queue()
    send_outbound_sms.apply(args=[sms.pk])
    sms.refresh_from_db()
    assert (sms.status, sms.error, sms.attempts) == (OutboundSms.Status.FAILED, "HTTP 503", 1)


def test_transient_errors_give_up_after_a_bounded_number_of_attempts(flaky):
    flaky(failures=100)
    sms = queue()
    send_outbound_sms.apply(args=[sms.pk])
    sms.refresh_from_db()
    assert sms.status == OutboundSms.Status.FAILED
    assert sms.attempts == len(FlakyGateway.calls) < 10


def test_outbox_prints_newest_last_and_filters_by_number(capsys):
    ConsoleGateway().send(TO, "first")
    ConsoleGateway().send("+14155550103", "other")
    ConsoleGateway().send(TO, "second")
    call_command("outbox")
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.rsplit(": ", 1)[1] for line in lines] == ["first", "other", "second"]
    call_command("outbox", "--to", "(415) 555-0102", "--json")
    texts = json.loads(capsys.readouterr().out)
    assert [t["text"] for t in texts] == ["first", "second"]
    assert set(texts[0]) == {"id", "to", "from", "text", "time"}
