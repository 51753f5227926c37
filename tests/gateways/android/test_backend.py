"""The Android gateway's backend against the simulator on loopback: each text goes from the
phone and SIM of the member's group number with a delivery report, under an id of ours that
makes a second hand-off of the same part harmless, and every answer the app (or its cloud)
gives lands on the pipeline's effect (SPEC §8)."""

import time

import pytest
from django.core.exceptions import ImproperlyConfigured

from groupflier.pipeline.rows import hand_over_as
from messaging.gateways.android.backend import AndroidGateway
from messaging.gateways.android.simulator import (
    DEFAULT_PASSWORD,
    DEFAULT_USER,
    AndroidGatewaySimulator,
)
from messaging.gateways.base import ErrorEffect, GatewayError
from messaging.gateways.state import is_number_paused, is_paused, resume_number
from messaging.models import GatewayState
from tests.gateways.android.helpers import PHONES, SENDERS
from tests.gateways.rates import assert_a_second_apart, send_from_threads

pytestmark = pytest.mark.django_db

TO = "+14155550102"
FROM, SECOND_SIM, OTHER_PHONE = "+12025550100", "+12025550101", "+12025550102"


@pytest.fixture
def sim():
    with AndroidGatewaySimulator(phones=PHONES, event_delay=0.01) as simulator:
        yield simulator


def gateway_for(sim, *, cloud=True, **options) -> AndroidGateway:
    options.setdefault("senders", SENDERS)
    options.setdefault("timeout", 2)
    options.setdefault("paused_retry", 1)
    options.setdefault("rate_per_number", "off")
    return AndroidGateway(
        url=sim.cloud_url if cloud else sim.url,
        user=DEFAULT_USER,
        password=DEFAULT_PASSWORD,
        **options,
    )


def refusal(gateway, to=TO, from_number=FROM) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        gateway.send_part(to, "Mom: Dinner at 6", from_number=from_number)
    return caught.value


# --- sending --------------------------------------------------------------------------------


def test_a_part_goes_from_the_phone_and_sim_of_the_group_number_with_a_delivery_report(sim):
    gateway = gateway_for(sim)
    [part] = gateway.split("Dinner at 6", "Mom")
    with hand_over_as("deliveries:7"):
        reference = gateway.send_part(TO, part, from_number=SECOND_SIM, sender_name="Mom")
    [message] = sim.messages
    assert reference == message["id"] and reference.startswith("gf") and len(reference) <= 36
    assert (message["to"], message["text"]) == (TO, "Mom: Dinner at 6")
    assert (message["deviceId"], message["sim"]) == ("phoneA00000000000000a", 2)
    assert message["from"] == SECOND_SIM and message["withDeliveryReport"]


def test_a_long_text_is_one_part_the_phone_joins_itself(sim):
    gateway = gateway_for(sim)
    text = "word " * 200
    assert gateway.split(text, "Mom") == [f"Mom: {text}"]


def test_with_one_phone_and_no_senders_the_phone_chooses(sim):
    gateway_for(sim, senders={}, cloud=False).send_part(TO, "hi", from_number=FROM)
    [message] = sim.messages
    assert message["deviceId"] == PHONES[0].device_id and message["sim"] == 1


def test_a_system_text_goes_from_the_first_pool_number(sim):
    gateway_for(sim).send(TO, "Your GroupFlier PIN is 123456.")
    [message] = sim.messages
    assert message["from"] == "+12025550100"


def test_the_same_part_handed_over_twice_is_sent_once(sim):
    gateway = gateway_for(sim)
    with hand_over_as("deliveries:41"):
        first = gateway.send_part(TO, "Mom: Dinner at 6", from_number=FROM)
        again = gateway.send_part(TO, "Mom: Dinner at 6", from_number=FROM)
    assert first == again
    assert len(sim.messages) == 1 and sim.stats["duplicates"] == 1
    # Another row with the same text is another text.
    with hand_over_as("deliveries:42"):
        assert gateway.send_part(TO, "Mom: Dinner at 6", from_number=FROM) != first
    assert len(sim.messages) == 2


def test_the_id_is_the_phones_own_server_or_the_clouds_alike(sim):
    for cloud in (True, False):
        with hand_over_as(f"texts:{int(cloud)}"):
            gateway_for(sim, cloud=cloud, senders={}).send_part(TO, "hi", from_number=FROM)
    assert len(sim.messages) == 2


def test_a_server_with_only_the_messages_path_is_found(sim):
    sim.inject(status=404)  # as a server that has dropped the older /message path answers
    gateway = gateway_for(sim)
    assert gateway.send_part(TO, "hi", from_number=FROM)
    assert gateway.message_path == "/messages" and len(sim.messages) == 1


# --- a phone that stops answering -------------------------------------------------------------


@pytest.mark.parametrize("cloud", [True, False], ids=["cloud-503", "phone-server-silent"])
def test_a_silent_phone_pauses_its_number_and_the_others_go_on(sim, cloud, caplog):
    gateway = gateway_for(sim, cloud=cloud, senders=SENDERS if cloud else {})
    sim.set_silent(PHONES[0].device_id)
    error = refusal(gateway)
    assert error.effect is ErrorEffect.PAUSE_NUMBER and not error.permanent
    assert error.code == "phone_away" and error.retry_after == 1
    assert is_number_paused(gateway, FROM) and not is_paused(gateway)
    assert "number +12025550100 paused" in caplog.text  # the alert, once
    requests = sim.stats["requests"]
    # Its next parts wait without a request.
    assert refusal(gateway).code == "number_paused"
    assert sim.stats["requests"] == requests
    if cloud:
        assert gateway.send_part(TO, "hi", from_number=OTHER_PHONE)
        assert [m["from"] for m in sim.messages] == [OTHER_PHONE]


def test_a_paused_number_is_tried_again_and_resumes_when_the_phone_answers(sim):
    gateway = gateway_for(sim)
    sim.set_silent(FROM)
    refusal(gateway)
    time.sleep(1.1)
    assert refusal(gateway).code == "phone_away"  # tried once: still silent
    assert refusal(gateway).code == "number_paused"  # and not again before its time
    sim.set_silent(FROM, False)
    time.sleep(1.1)
    assert gateway.send_part(TO, "hi", from_number=FROM)
    assert not is_number_paused(gateway, FROM)
    assert gateway.send_part(TO, "and again", from_number=FROM)
    assert len(sim.messages) == 2


def test_an_answer_lost_on_the_way_is_sent_again_and_the_phone_does_not_send_it_twice(sim):
    gateway = gateway_for(sim)
    sim.inject(drop=True)  # the phone takes it, and its answer never comes
    with hand_over_as("deliveries:5"):
        assert refusal(gateway).effect is ErrorEffect.PAUSE_NUMBER
        time.sleep(1.1)
        reference = gateway.send_part(TO, "Mom: Dinner at 6", from_number=FROM)
    [message] = sim.messages
    assert reference == message["id"] and sim.stats["duplicates"] == 1
    assert not is_number_paused(gateway, FROM)


def test_an_admin_resumes_a_paused_number(sim):
    gateway = gateway_for(sim, paused_retry=3600)
    sim.set_silent(FROM)
    refusal(gateway)
    sim.set_silent(FROM, False)
    assert refusal(gateway).code == "number_paused"
    assert resume_number(gateway, FROM, by="an admin")
    assert gateway.send_part(TO, "hi", from_number=FROM)


def test_a_number_without_a_phone_in_the_senders_waits_for_the_setting(sim):
    error = refusal(gateway_for(sim), from_number="+12025550199")
    assert (error.code, error.effect) == ("no_phone", ErrorEffect.PAUSE_NUMBER)
    state = GatewayState.objects.get(gateway="android:+12025550199")
    assert state.paused and "ANDROID_GATEWAY_SENDERS" in state.reason
    assert sim.stats["requests"] == 0


def test_a_device_the_account_does_not_have_pauses_its_number(sim):
    senders = {FROM: {"device_id": "gone0000000000000000x", "sim": 1}}
    error = refusal(gateway_for(sim, senders=senders))
    assert error.effect is ErrorEffect.PAUSE_NUMBER and "device" in error.reason


# --- the other answers ------------------------------------------------------------------------


def test_wrong_credentials_pause_the_whole_gateway(sim):
    gateway = AndroidGateway(url=sim.cloud_url, user="sms", password="wrong", senders=SENDERS)
    error = refusal(gateway)
    assert (error.code, error.effect) == ("http_401", ErrorEffect.PAUSE_GATEWAY)
    assert is_paused(gateway)


@pytest.mark.parametrize("status", [429, 500, 502, 504])
def test_passing_failures_are_retried(sim, status):
    sim.inject(status=status)
    error = refusal(gateway_for(sim))
    assert (error.code, error.effect) == (f"http_{status}", ErrorEffect.RETRY)
    assert not is_number_paused(gateway_for(sim), FROM)


def test_a_number_the_api_refuses_is_flagged(sim):
    error = refusal(gateway_for(sim), to="12345")
    assert (error.code, error.effect) == ("http_400", ErrorEffect.BAD_NUMBER)
    assert error.permanent


def test_settings_are_checked_when_the_service_starts():
    with pytest.raises(ImproperlyConfigured, match="ANDROID_GATEWAY_USER"):
        AndroidGateway(url="http://127.0.0.1:9", user="", password="")
    with pytest.raises(ImproperlyConfigured, match="ANDROID_GATEWAY_SENDERS"):
        AndroidGateway(url="http://127.0.0.1:9", user="u", password="p", senders="[1]")
    with pytest.raises(ImproperlyConfigured, match="sim"):
        AndroidGateway(url="http://127.0.0.1:9", user="u", password="p", senders={FROM: {"sim": 7}})
    with pytest.raises(ImproperlyConfigured, match="rate"):
        AndroidGateway(url="http://127.0.0.1:9", user="u", password="p", rate_per_number="fast")


# --- rates ------------------------------------------------------------------------------------


def test_each_phone_sends_at_its_own_rate_and_the_phones_at_once(sim):
    sim.rate_per_phone = 1
    gateway = gateway_for(sim, rate_per_number="1/second")
    started = time.monotonic()
    assert send_from_threads(gateway, TO, [FROM, OTHER_PHONE] * 3) == []
    elapsed = time.monotonic() - started
    assert sim.stats["over_rate"] == 0
    assert_a_second_apart(sim.messages, (FROM, OTHER_PHONE), each=3)
    assert elapsed < 3.0  # two phones side by side: two seconds and a little, not five


def test_the_account_rate_holds_across_phones(sim):
    gateway = gateway_for(sim, rate_per_account="2/second")
    assert send_from_threads(gateway, TO, [FROM, OTHER_PHONE, "+12025550103"] * 2) == []
    arrivals = sorted(m["time"] for m in sim.messages)
    assert len(arrivals) == 6
    assert all(c - a >= 1.0 for a, c in zip(arrivals, arrivals[2:], strict=False))


def test_the_admin_shows_which_numbers_are_paused_and_why(settings):
    from groupflier.alerts import current_alerts
    from messaging.gateways.state import pause_number

    settings.GROUPFLIER_SMS_GATEWAY = "android"
    settings.ANDROID_GATEWAY_USER, settings.ANDROID_GATEWAY_PASSWORD = "sms", "secret"
    assert not any("numbers" in str(alert) for alert in current_alerts())
    pause_number("android", FROM, "no answer from the phone: ReadTimeoutError")
    [alert] = [str(a) for a in current_alerts() if "numbers" in str(a)]
    assert FROM in alert and "ReadTimeoutError" in alert and "the other numbers send" in alert
