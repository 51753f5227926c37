"""The Twilio backend against the simulator on loopback: each text goes From the member's
group number with a status callback, the Message SID is its reference, and every error Twilio
answers lands on the pipeline's effect (SPEC §8)."""

import time

import pytest

from members.models import Member
from messaging.gateways.base import ErrorEffect, GatewayError
from messaging.gateways.state import apply_recipient_effect, is_paused
from messaging.gateways.twilio.backend import TwilioGateway
from messaging.gateways.twilio.simulator import TwilioSimulator
from messaging.models import GatewayState
from tests.gateways.rates import assert_a_second_apart, send_from_threads

pytestmark = pytest.mark.django_db

TO, FROM, OTHER_FROM = "+14155550102", "+12025550100", "+12025550101"
PUBLIC = "https://groupflier.example.org"


@pytest.fixture
def sim():
    with TwilioSimulator(numbers=[FROM, OTHER_FROM, "+12025550102"]) as simulator:
        yield simulator


def gateway_for(sim, **options) -> TwilioGateway:
    options.setdefault("public_url", PUBLIC)
    return TwilioGateway(
        account_sid=sim.account_sid, auth_token=sim.auth_token, api_base=sim.url, **options
    )


def refusal(gateway, to=TO, from_number=FROM) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        gateway.send_part(to, "Dinner at 6", from_number=from_number)
    return caught.value


def test_a_part_goes_from_the_group_number_with_a_status_callback_and_returns_its_sid(sim):
    sid = gateway_for(sim).send_part(TO, "Mom: Dinner at 6", from_number=FROM)
    [message] = sim.messages
    assert sid == message["sid"] and sid.startswith("SM")
    assert (message["to"], message["from"], message["body"]) == (TO, FROM, "Mom: Dinner at 6")
    assert message["status_callback"] == f"{PUBLIC}/webhooks/twilio/status"


def test_a_system_text_goes_without_a_status_callback_from_the_first_pool_number(sim):
    gateway_for(sim).send(TO, "Your GroupFlier PIN is 123456.")
    [message] = sim.messages
    assert message["from"] == "+12025550100" and message["status_callback"] == ""


@pytest.mark.parametrize(
    ("code", "effect"),
    [
        (21610, ErrorEffect.RECIPIENT_OPTED_OUT_GLOBALLY),
        (21211, ErrorEffect.BAD_NUMBER),
        (21614, ErrorEffect.BAD_NUMBER),
        (20429, ErrorEffect.RETRY),
        (21606, ErrorEffect.FAIL),
    ],
)
def test_twilios_error_codes_map_onto_the_pipeline(sim, code, effect):
    sim.inject(code=code)
    error = refusal(gateway_for(sim))
    assert (error.code, error.effect) == (str(code), effect)
    assert error.permanent is (effect not in (ErrorEffect.RETRY, ErrorEffect.PAUSE_GATEWAY))


def test_an_opted_out_recipient_is_blocked_like_a_stop(sim):
    member = Member.objects.create(number=TO)
    sim.opt_out(TO)
    error = refusal(gateway_for(sim))
    assert error.code == "21610"
    apply_recipient_effect(error, member)
    assert Member.objects.get(pk=member.pk).blocked


def test_invalid_and_landline_numbers_are_final_and_flag_the_number(sim):
    assert refusal(gateway_for(sim), to="+1415555010").code == "21211"  # nine digits
    sim.landlines.add(TO)
    member = Member.objects.create(number=TO)
    error = refusal(gateway_for(sim))
    assert (error.code, error.effect) == ("21614", ErrorEffect.BAD_NUMBER)
    apply_recipient_effect(error, member)
    assert Member.objects.get(pk=member.pk).bad_number


def test_wrong_credentials_pause_the_gateway_until_a_balance_check_succeeds(sim):
    from messaging.gateway_tasks import refresh_credits

    error = refusal(
        TwilioGateway(account_sid=sim.account_sid, auth_token="wrong", api_base=sim.url)
    )
    assert (error.code, error.effect, error.permanent) == (
        "20003",
        ErrorEffect.PAUSE_GATEWAY,
        False,
    )
    assert is_paused("twilio")
    assert refresh_credits(gateway_for(sim)) == 2000  # $20.00, in cents
    assert not is_paused("twilio")
    assert GatewayState.objects.get(gateway="twilio").credits == 2000


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_server_errors_are_retried(sim, status):
    sim.inject(status=status)
    error = refusal(gateway_for(sim))
    assert (error.code, error.effect) == (f"http_{status}", ErrorEffect.RETRY)


def test_no_connection_is_retried_and_a_request_never_answered_is_unknown(sim):
    closed = TwilioGateway(account_sid="AC1", auth_token="t", api_base="http://127.0.0.1:1")
    assert refusal(closed).effect is ErrorEffect.RETRY
    sim.inject(drop=True)
    error = refusal(gateway_for(sim))
    assert (error.code, error.effect) == ("no_response", ErrorEffect.OUTCOME_UNKNOWN)
    assert len(sim.messages) == 1  # Twilio did take it: that is why it is never resent
    assert gateway_for(sim).send_part(TO, "after", from_number=OTHER_FROM).startswith("SM")


def test_each_number_sends_at_its_own_rate_and_the_numbers_at_once(sim):
    gateway = gateway_for(sim)
    started = time.monotonic()
    assert send_from_threads(gateway, TO, [FROM, OTHER_FROM] * 3) == []
    elapsed = time.monotonic() - started
    assert sim.stats["rate_limited"] == 0
    assert_a_second_apart(sim.messages, (FROM, OTHER_FROM), each=3)
    assert elapsed < 3.0  # two numbers side by side: two seconds and a little, not five


def test_the_account_rate_holds_across_numbers(sim):
    sim.rate_per_account = 2
    gateway = gateway_for(sim, rate_per_account="2/second")
    assert send_from_threads(gateway, TO, [FROM, OTHER_FROM, "+12025550102"] * 2) == []
    assert sim.stats["rate_limited"] == 0
    arrivals = sorted(m["time"] for m in sim.messages)
    assert all(c - a >= 1.0 for a, c in zip(arrivals, arrivals[2:], strict=False))


def test_without_the_limiter_the_simulator_answers_20429(sim):
    gateway = gateway_for(sim, rate_per_number="off")
    errors = send_from_threads(gateway, TO, [FROM] * 3)
    assert {error.code for error in errors} == {"20429"}
    assert sim.stats["rate_limited"] == len(errors) >= 1


def test_rates_and_credentials_are_checked_when_the_gateway_is_made():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="TWILIO_ACCOUNT_SID"):
        TwilioGateway(account_sid="", auth_token="")
    with pytest.raises(ImproperlyConfigured, match="a rate is like"):
        TwilioGateway(account_sid="AC1", auth_token="t", rate_per_number="fast")


@pytest.mark.parametrize("name", ["twilio", "messaging.gateways.twilio.Gateway"])
def test_the_short_name_and_the_dotted_path_load_the_gateway(settings, name):
    from messaging.gateways.base import get_gateway

    settings.GROUPFLIER_SMS_GATEWAY_OPTIONS = {"account_sid": "AC1", "auth_token": "t"}
    settings.GROUPFLIER_SMS_GATEWAY = name
    assert isinstance(get_gateway(), TwilioGateway)
    assert get_gateway().name == "twilio"


def test_the_embedded_service_keeps_the_rates_in_a_file(sim, settings, tmp_path):
    settings.REDIS_URL = None
    settings.VAR_DIR = tmp_path
    assert send_from_threads(gateway_for(sim), TO, [FROM, OTHER_FROM] * 2) == []
    assert sim.stats["rate_limited"] == 0
    assert list((tmp_path / "ratelimit").iterdir())
