"""The Group Texting backend against the simulator, over HTTP on loopback: what goes out, every
answer as the right GatewayError, pausing and resuming, recipient effects, the account calls
(cards never logged), the management command and the admin."""

import logging

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from members.models import Member
from messaging.gateway_tasks import check_gateway_credits
from messaging.gateways import base
from messaging.gateways.base import ErrorEffect, GatewayError, get_gateway
from messaging.gateways.console import ConsoleGateway
from messaging.gateways.grouptexting import Card, GroupTextingGateway
from messaging.gateways.state import (
    apply_recipient_effect,
    gateway_resumed,
    is_paused,
    pause_gateway,
)
from messaging.models import GatewayState, OutboxMessage
from simulators.grouptexting import GroupTextingSimulator

USER, PASSWORD = "gf-user", "s3cret-pass"
TO = "+14155550102"
TEN_DIGITS = "4155550102"
CARD_NUMBER, CARD_CODE = "4111111111111111", "737"


def a_card(number=CARD_NUMBER) -> Card:
    return Card(
        first_name="Ada",
        last_name="Lovelace",
        address="1 Main St",
        city="Springfield",
        state="IL",
        zip="62701",
        country="US",
        type="Visa",
        number=number,
        code=CARD_CODE,
        exp_month="12",
        exp_year="30",
    )


@pytest.fixture
def sim():
    # The 2-a-second rule is the limiter tests' subject; here it would only slow things down.
    with GroupTextingSimulator(user=USER, password=PASSWORD, credits=100, rate_limit=False) as s:
        yield s


@pytest.fixture
def gateway_settings(settings, sim):
    settings.GROUPTEXTING_USER = USER
    settings.GROUPTEXTING_PASSWORD = PASSWORD
    settings.GROUPTEXTING_BASE_URL = sim.url
    settings.GROUPTEXTING_RATE = "off"
    settings.GROUPFLIER_SMS_GATEWAY = "messaging.gateways.grouptexting.GroupTextingGateway"
    settings.GROUPFLIER_SMS_GATEWAY_OPTIONS = {}
    base._load.cache_clear()
    yield settings
    base._load.cache_clear()


@pytest.fixture
def gateway(gateway_settings):
    gateway = GroupTextingGateway()
    yield gateway
    gateway.client.close()


def send_error(gateway, to=TO, text="hello") -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        gateway.send_part(to, text, sender_name="Mom")
    return caught.value


# --- what goes out --------------------------------------------------------------------------


def test_a_part_goes_out_with_ten_digits_and_the_sender_as_subject(gateway, sim):
    assert gateway.send_part(TO, "See you at 6!", sender_name="Mom") == ""
    [sent] = sim.messages
    assert (sent["phonenumber"], sent["subject"], sent["message"]) == (
        TEN_DIGITS,
        "Mom",
        "See you at 6!",
    )
    assert sim.credits == 99


def test_a_long_text_goes_out_in_numbered_plain_parts_that_the_provider_accepts(gateway, sim):
    text = "Réunion de famille “demain” à 18h — apportez le gâteau… " * 5
    parts = gateway.split(text, "José García-Márquez")
    assert len(parts) == 2
    gateway.send(TO, text, sender_name="José García-Márquez")
    assert [m["message"] for m in sim.messages] == parts
    assert all(m["subject"] == "Jose Garcia-M" for m in sim.messages)
    assert sim.messages[0]["message"].startswith("(1/2) Reunion de famille demain a 18h - ")


def test_the_console_gateway_shows_the_sender_as_a_prefix_and_sends_one_part(db):
    console = ConsoleGateway()
    assert console.split("hi " * 100, "Mom") == ["hi " * 100]
    console.send(TO, "hi", sender_name="Mom")
    assert OutboxMessage.objects.get().text == "Mom: hi"


def test_connections_are_kept_alive_and_reused(gateway, sim):
    for number in range(5):
        gateway.send_part(TO, f"message {number}")
    assert sim.stats["requests"] == 5
    assert sim.stats["connections"] == 1


def test_the_gateway_is_configured_from_settings_and_needs_credentials(gateway_settings):
    gateway = get_gateway()
    assert isinstance(gateway, GroupTextingGateway)
    assert gateway.name == "grouptexting"
    gateway_settings.GROUPTEXTING_PASSWORD = ""
    base._load.cache_clear()
    with pytest.raises(ImproperlyConfigured):
        get_gateway()


# --- every answer ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prepare", "code", "effect", "permanent"),
    [
        (lambda sim: sim.opt_out(TEN_DIGITS, scope="local"), "-5", "opted_out_locally", True),
        (lambda sim: sim.opt_out(TEN_DIGITS, scope="global"), "-104", "opted_out_globally", True),
        (lambda sim: sim.inject(code=-7), "-7", "fail", True),
        (lambda sim: sim.inject(code=-106), "-106", "bad_number", True),
        (lambda sim: sim.inject(code=-10), "-10", "retry", False),
        (lambda sim: sim.inject(code=-99), "-99", "retry", False),  # undocumented: not sent
        (lambda sim: sim.inject(code=0), "0", "outcome_unknown", True),  # undocumented: unknown
        (lambda sim: sim.inject(status=503), "http_503", "retry", False),
        (lambda sim: sim.inject(status=500), "http_500", "retry", False),
    ],
    ids=["-5", "-104", "-7", "-106", "-10", "-99", "0", "503", "500"],
)
def test_each_answer_is_a_gateway_error_with_its_effect(
    gateway, sim, prepare, code, effect, permanent
):
    prepare(sim)
    error = send_error(gateway)
    assert error.code == code
    assert error.effect == {
        "opted_out_locally": ErrorEffect.RECIPIENT_OPTED_OUT_LOCALLY,
        "opted_out_globally": ErrorEffect.RECIPIENT_OPTED_OUT_GLOBALLY,
        "bad_number": ErrorEffect.BAD_NUMBER,
    }.get(effect, effect)
    assert error.permanent is permanent
    assert error.reason
    assert sim.messages == []


def test_a_connection_refused_is_transient(gateway_settings):
    with GroupTextingSimulator() as closed:
        url = closed.url
    gateway_settings.GROUPTEXTING_BASE_URL = url
    error = send_error(GroupTextingGateway())
    assert (error.code, error.effect, error.permanent) == ("connect_error", "retry", False)


def test_an_answer_lost_after_sending_is_an_unknown_outcome_never_retried(gateway, sim):
    sim.inject(drop=True)
    error = send_error(gateway)
    assert (error.code, error.effect, error.permanent) == ("no_response", "outcome_unknown", True)
    assert len(sim.messages) == 1  # the provider did send it: a retry would send it twice


def test_a_number_outside_north_america_fails_without_a_call(gateway, sim):
    error = send_error(gateway, to="+442071838750")
    assert (error.code, error.effect, error.permanent) == ("unsupported_number", "fail", True)
    assert sim.stats["requests"] == 0


def test_a_part_too_long_for_one_message_fails_without_a_call(gateway, sim):
    error = send_error(gateway, text="word " * 40)
    assert (error.code, error.effect) == ("too_long", "fail")
    assert sim.stats["requests"] == 0


def test_a_gateway_error_takes_permanent_or_an_effect():
    assert GatewayError("x", permanent=True).effect is ErrorEffect.FAIL
    assert GatewayError("x", permanent=False).effect is ErrorEffect.RETRY
    assert GatewayError("x", effect=ErrorEffect.PAUSE_GATEWAY).permanent is False
    assert GatewayError("x", effect=ErrorEffect.BAD_NUMBER).permanent is True
    with pytest.raises(TypeError):
        GatewayError("x")


# --- pausing and resuming -------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("cause", ["credentials", "credit"])
def test_bad_credentials_or_no_credit_pause_the_gateway_with_one_error_alert(
    gateway_settings, sim, caplog, cause
):
    if cause == "credentials":
        gateway_settings.GROUPTEXTING_PASSWORD = "wrong"
    else:
        sim.credits = 0
    gateway = GroupTextingGateway()
    caplog.set_level(logging.INFO)
    errors = [send_error(gateway) for _ in range(2)]
    assert {(e.code, e.effect, e.permanent) for e in errors} == {
        ("-1" if cause == "credentials" else "-2", ErrorEffect.PAUSE_GATEWAY, False)
    }
    state = GatewayState.objects.get(gateway="grouptexting")
    assert state.paused
    assert ("invalid user or password" if cause == "credentials" else "credit") in state.reason
    alerts = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(alerts) == 1 and "paused" in alerts[0].getMessage()
    assert is_paused(gateway) and is_paused("grouptexting")


@pytest.mark.django_db
def test_a_credit_check_that_finds_credit_resumes_sending(gateway, sim):
    resumed = []

    def on_resume(sender, gateway, **kwargs):
        resumed.append(gateway)

    gateway_resumed.connect(on_resume)
    try:
        pause_gateway(gateway, "Group Texting answered -2: credit limit reached")
        sim.credits = 0
        assert check_gateway_credits() == 0
        assert is_paused(gateway)
        sim.credits = 500
        assert check_gateway_credits() == 500
    finally:
        gateway_resumed.disconnect(on_resume)
    state = GatewayState.objects.get(gateway="grouptexting")
    assert (state.paused, state.reason, state.credits) == (False, "", 500)
    assert state.credits_checked_at is not None
    assert resumed == ["grouptexting"]


@pytest.mark.django_db
def test_a_credit_check_with_bad_credentials_pauses_and_records_nothing(gateway_settings, sim):
    gateway_settings.GROUPTEXTING_PASSWORD = "wrong"
    assert check_gateway_credits() is None
    state = GatewayState.objects.get(gateway="grouptexting")
    assert state.paused and state.credits is None


@pytest.mark.django_db
def test_low_credits_are_warned_about(gateway, sim, settings, caplog):
    settings.GROUPFLIER_GATEWAY_LOW_CREDITS = 50
    sim.credits = 12
    caplog.set_level(logging.WARNING)
    assert check_gateway_credits() == 12
    assert "low on credits: 12 left" in caplog.text


@pytest.mark.django_db
def test_the_console_gateway_has_no_credits_to_check():
    assert check_gateway_credits() is None
    assert not GatewayState.objects.exists()


@pytest.mark.django_db
def test_the_admin_shows_the_state_and_resumes_sending(admin_client):
    pause_gateway("grouptexting", "Group Texting answered -2: credit limit reached")
    GatewayState.objects.filter(gateway="grouptexting").update(credits=0)
    page = admin_client.get("/admin/messaging/gatewaystate/")
    assert page.status_code == 200
    assert b"credit limit reached" in page.content
    state = GatewayState.objects.get()
    admin_client.post(
        "/admin/messaging/gatewaystate/",
        {"action": "resume_sending", "_selected_action": [state.pk]},
    )
    assert not is_paused("grouptexting")


# --- recipient effects ----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("effect", "flag"),
    [
        (ErrorEffect.RECIPIENT_OPTED_OUT_LOCALLY, "opted_out_locally"),
        (ErrorEffect.RECIPIENT_OPTED_OUT_GLOBALLY, "blocked"),
        (ErrorEffect.BAD_NUMBER, "bad_number"),
    ],
)
def test_a_recipient_effect_flags_the_member(effect, flag):
    member = Member.objects.create(number=TO)
    error = GatewayError("answered", effect=effect, code="-1xx")
    assert apply_recipient_effect(error, member) is True
    assert getattr(member, flag) is True
    others = {"opted_out_locally", "blocked", "bad_number"} - {flag}
    assert not any(getattr(member, other) for other in others)
    assert (member.blocked_at is not None) == (flag == "blocked")
    assert apply_recipient_effect(error, member) is False  # once


@pytest.mark.django_db
def test_a_global_opt_out_from_the_provider_blocks_the_number_like_a_stop(gateway, sim):
    member = Member.objects.create(number=TO)
    sim.opt_out(TEN_DIGITS, scope="global")
    apply_recipient_effect(send_error(gateway), member)
    member.refresh_from_db()
    assert member.blocked and member.blocked_at


@pytest.mark.django_db
def test_other_errors_change_no_member():
    member = Member.objects.create(number=TO)
    assert apply_recipient_effect(GatewayError("503", permanent=False), member) is False
    member.refresh_from_db()
    assert not (member.blocked or member.opted_out_locally or member.bad_number)


# --- account calls --------------------------------------------------------------------------


def test_keyword_calls(gateway, sim):
    assert gateway.check_keyword("FAMILY").code == 1
    assert gateway.check_keyword("STOP").code == 0
    rented = gateway.rent_keyword(a_card(), "FAMILY")
    assert (rented.code, rented.ok) == (2, True)
    assert gateway.check_keyword("FAMILY").code == 0
    assert gateway.rent_keyword(a_card(), "FAMILY").code == 1  # not available any more
    answer = gateway.setup_keyword("FAMILY", autoreply="Welcome!", url="http://127.0.0.1/in")
    assert (answer.code, answer.ok) == (1, True)
    assert sim.keywords["FAMILY"]["autoreply"] == "Welcome!"
    assert gateway.setup_keyword("FAMILY", url="ftp://nope").code == -5
    assert gateway.setup_keyword("OTHER").code == -2
    assert gateway.setup_keyword("FAMILY", autoreply="“no”").code == -7


def test_buying_credits(gateway, sim):
    bought = gateway.buy_credits(a_card(), 250)
    assert (bought.code, bought.ok) == (1, True)
    assert sim.credits == 350
    declined = gateway.buy_credits(a_card(number="4111111111111112"), 250)
    assert (declined.code, declined.ok, declined.meaning) == (0, False, "the purchase was declined")


def test_card_fields_are_never_logged(gateway, sim, caplog):
    caplog.set_level(logging.DEBUG)
    gateway.buy_credits(a_card(), 10)
    gateway.rent_keyword(a_card(), "CARDS")
    gateway.buy_credits(a_card(number="4111111111111112"), 10)
    sim.inject(status=503)
    with pytest.raises(GatewayError) as caught:
        gateway.buy_credits(a_card(), 10)
    logged = caplog.text + str(caught.value) + repr(caught.value) + repr(a_card())
    assert caplog.records  # the calls were logged, only without their fields
    for secret in (CARD_NUMBER, CARD_CODE, PASSWORD, "Lovelace", "1 Main St"):
        assert secret not in logged


@pytest.mark.django_db
def test_the_command_checks_and_stores_the_credits(gateway, sim, capsys):
    call_command("grouptexting", "credits/check")
    assert "100 credits" in capsys.readouterr().out
    assert GatewayState.objects.get(gateway="grouptexting").credits == 100


@pytest.mark.django_db
def test_the_command_buys_credits_without_printing_or_logging_the_card(
    gateway, sim, capsys, caplog
):
    caplog.set_level(logging.DEBUG)
    card_args = [
        "--first-name", "Ada", "--last-name", "Lovelace", "--address", "1 Main St",
        "--city", "Springfield", "--state", "IL", "--zip", "62701", "--country", "US",
        "--type", "Visa", "--exp-month", "12", "--exp-year", "30",
        "--cc-number", CARD_NUMBER, "--cc-code", CARD_CODE,
    ]  # fmt: skip
    call_command("grouptexting", "credits/buy", "--credits", "40", *card_args)
    out = capsys.readouterr()
    assert "credits/buy: 1" in out.out
    assert sim.credits == 140
    with pytest.raises(CommandError) as declined:
        call_command(
            "grouptexting", "credits/buy", "--credits", "40", *card_args[:-4],
            "--cc-number", "4111111111111112", "--cc-code", CARD_CODE,
        )  # fmt: skip
    assert "declined" in str(declined.value)
    everything = out.out + out.err + capsys.readouterr().out + caplog.text + str(declined.value)
    assert CARD_NUMBER not in everything and CARD_CODE not in everything


def test_the_command_checks_and_sets_up_keywords(gateway, sim, capsys):
    call_command("grouptexting", "keyword/check", "FAMILY")
    assert "keyword/check: 1 (the keyword is available)" in capsys.readouterr().out
    sim.keywords["FAMILY"] = {"autoreply": "", "url": "", "group": "", "email": ""}
    call_command("grouptexting", "keyword/setup", "FAMILY", "--autoreply", "Hi there")
    assert "keyword/setup: 1 (updated)" in capsys.readouterr().out
    with pytest.raises(CommandError, match="invalid URL"):
        call_command("grouptexting", "keyword/setup", "FAMILY", "--url", "nope://x")
