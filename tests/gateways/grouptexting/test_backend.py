"""The Group Texting backend against the simulator, over HTTP on loopback: what goes out, every
answer as the right GatewayError, the connections (kept alive, replaced, never resending),
pausing and resuming, recipient effects, the account calls (cards never logged), the
management command and the admin."""

import logging
import os
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qs

import pytest
import urllib3
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from members.models import Member
from messaging.gateway_tasks import check_gateway_credits
from messaging.gateways import base
from messaging.gateways.base import ErrorEffect, GatewayError, get_gateway
from messaging.gateways.console import ConsoleGateway
from messaging.gateways.grouptexting.backend import Card, GroupTextingGateway
from messaging.gateways.grouptexting.simulator import GroupTextingSimulator
from messaging.gateways.state import (
    apply_recipient_effect,
    gateway_resumed,
    is_paused,
    pause_gateway,
)
from messaging.models import GatewayState, OutboxMessage
from tests.push_stubs import _loopback_certificates

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
    base.SMS_GATEWAY.cache_clear()
    yield settings
    base.SMS_GATEWAY.cache_clear()


@pytest.fixture
def gateway(gateway_settings):
    gateway = GroupTextingGateway()
    yield gateway
    gateway.close()


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
    base.SMS_GATEWAY.cache_clear()
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


# --- connections ----------------------------------------------------------------------------


@dataclass
class Request:
    line: str
    headers: dict
    form: dict


class LoopbackServer:
    """A bare HTTP server on loopback, for what the simulator does not do: ``behave(server,
    connection, reader)`` runs for each accepted connection in a thread of its own, and the
    connection is closed when it returns."""

    def __init__(self, behave, tls: ssl.SSLContext | None = None):
        self.behave, self.tls = behave, tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        host, port = self.listener.getsockname()[:2]
        self.url = f"{'https' if tls else 'http'}://{host}:{port}/api/"
        self.connections = 0
        self.requests: list[Request] = []
        self.hung_up = threading.Semaphore(0)  # released as the server stops sending on one
        self.closed_by_client = threading.Event()
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # stopped
            self.connections += 1
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection):
        if self.tls:
            try:
                connection = self.tls.wrap_socket(connection, server_side=True)
            except OSError:  # the client refused the certificate
                connection.close()
                return
        with connection, connection.makefile("rb") as reader:
            self.behave(self, connection, reader)
        self.hung_up.release()

    def read_request(self, reader) -> bool:
        """Read one request; False when the client closed the connection instead."""
        line = reader.readline()
        if not line:
            self.closed_by_client.set()
            return False
        headers = {}
        while (header := reader.readline()) not in (b"\r\n", b""):
            name, _, value = header.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = reader.read(int(headers.get("content-length", 0)))
        form = {name: values[-1] for name, values in parse_qs(body.decode()).items()}
        self.requests.append(Request(line.decode().strip(), headers, form))
        return True

    def wait_for_client_to_close(self, reader):
        if not reader.read():
            self.closed_by_client.set()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stopped.set()
        self.listener.close()


def answer(connection, head=b"HTTP/1.1 200 OK", body=b"1"):
    connection.sendall(head + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)


def reset(connection):
    """Close with a RST rather than a FIN, as a server that drops a connection may."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def answer_every_request(server, connection, reader):
    while server.read_request(reader):
        answer(connection)


def answer_once_then_close(server, connection, reader):
    if server.read_request(reader):
        answer(connection)


def answer_once_then_reset(server, connection, reader):
    answer_once_then_close(server, connection, reader)
    reset(connection)


def answer_once_then_half_close(server, connection, reader):
    """Stop sending, as a server closing an idle connection does, but go on reading: a request
    written into the connection arrives, and no answer to it ever can."""
    answer_once_then_close(server, connection, reader)
    connection.shutdown(socket.SHUT_WR)
    server.hung_up.release()
    while server.read_request(reader):
        pass


def gateway_for(url, **options) -> GroupTextingGateway:
    options = {"rate": "off", "max_connections": 0, **options}
    return GroupTextingGateway(user=USER, password=PASSWORD, base_url=url, **options)


def test_the_request_is_a_form_post_under_the_base_urls_path():
    with LoopbackServer(answer_every_request) as server:
        gateway = gateway_for(server.url.removesuffix("/"))  # the same without the slash
        gateway.send_part(TO, "See you at 6!", sender_name="Mom")
        gateway.check_credits()
        gateway.close()
    sending, credits = server.requests
    assert sending.line == "POST /api/sending HTTP/1.1"
    assert credits.line == "POST /api/credits/check/ HTTP/1.1"
    assert sending.headers["user-agent"] == "GroupFlier"
    assert sending.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sending.form == {
        "user": USER,
        "pass": PASSWORD,
        "phonenumber": TEN_DIGITS,
        "subject": "Mom",
        "message": "See you at 6!",
    }
    assert server.connections == 1


def test_account_calls_and_texts_share_the_kept_alive_connection(gateway, sim):
    gateway.send_part(TO, "one")
    assert gateway.check_credits() == 99
    gateway.send_part(TO, "two")
    assert sim.stats["connections"] == 1


def test_https_checks_the_certificate_and_keeps_the_connection_alive(tmp_path, monkeypatch):
    ca_file, cert_file, key_file = _loopback_certificates(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert_file, key_file)
    with LoopbackServer(answer_every_request, tls=tls) as server:
        error = send_error(gateway_for(server.url))
        assert (error.code, error.effect) == ("connect_error", ErrorEffect.RETRY)
        assert "CERTIFICATE_VERIFY_FAILED" in error.reason
        assert server.requests == []
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # trusted from here on
        gateway = gateway_for(server.url)
        for number in range(3):
            gateway.send_part(TO, f"message {number}")
        gateway.close()
    assert [r.form["message"] for r in server.requests] == ["message 0", "message 1", "message 2"]
    assert server.connections == 2  # the refused one, and one for the three texts


@pytest.mark.parametrize(
    "close", [answer_once_then_close, answer_once_then_reset, answer_once_then_half_close]
)
def test_a_kept_alive_connection_the_server_closed_is_replaced_and_the_text_sent_once(close):
    with LoopbackServer(close) as server:
        gateway = gateway_for(server.url)
        gateway.send_part(TO, "first")
        assert server.hung_up.acquire(timeout=5)
        assert gateway.send_part(TO, "second") == ""
        gateway.close()
    assert [r.form["message"] for r in server.requests] == ["first", "second"]
    assert server.connections == 2


def test_a_kept_alive_connection_that_breaks_while_writing_is_replaced_and_the_text_sent_once(
    monkeypatch,
):
    # The server's RST arrives between urllib3's check of the idle connection and the request.
    monkeypatch.setattr(urllib3.connectionpool, "is_connection_dropped", lambda connection: False)
    with LoopbackServer(answer_once_then_reset) as server:
        gateway = gateway_for(server.url)
        gateway.send_part(TO, "first")
        assert server.hung_up.acquire(timeout=5)
        assert gateway.send_part(TO, "second") == ""
        gateway.close()
    assert [r.form["message"] for r in server.requests] == ["first", "second"]
    assert server.connections == 2


def test_an_answer_lost_on_a_kept_alive_connection_is_not_resent(gateway, sim):
    gateway.send_part(TO, "first")
    sim.inject(drop=True)
    error = send_error(gateway, text="second")
    assert (error.code, error.effect) == ("no_response", ErrorEffect.OUTCOME_UNKNOWN)
    assert [m["message"] for m in sim.messages] == ["first", "second"]
    assert sim.stats["requests"] == 2
    gateway.send_part(TO, "third")  # on a new connection
    assert sim.stats["connections"] == 2


def close_without_answering(server, connection, reader):
    server.read_request(reader)


def answer_nonsense(server, connection, reader):
    if server.read_request(reader):
        connection.sendall(b"NONSENSE\r\n\r\n")


def answer_cut_short(server, connection, reader):
    if server.read_request(reader):
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n1")


@pytest.mark.parametrize("behave", [close_without_answering, answer_nonsense, answer_cut_short])
def test_a_request_written_whole_then_not_answered_is_an_unknown_outcome(behave):
    with LoopbackServer(behave) as server:
        error = send_error(gateway_for(server.url))
    assert (error.code, error.effect, error.permanent) == (
        "no_response",
        ErrorEffect.OUTCOME_UNKNOWN,
        True,
    )
    assert len(server.requests) == 1 and server.connections == 1  # never sent again


def test_an_answer_that_does_not_come_in_time_is_an_unknown_outcome_and_the_socket_closed():
    def never_answer(server, connection, reader):
        if server.read_request(reader):
            server.wait_for_client_to_close(reader)

    with LoopbackServer(never_answer) as server:
        started = time.monotonic()
        error = send_error(gateway_for(server.url, timeout=0.3))
        assert 0.3 <= time.monotonic() - started < 2
        assert (error.code, error.effect) == ("no_response", ErrorEffect.OUTCOME_UNKNOWN)
        assert server.closed_by_client.wait(timeout=5)
    assert len(server.requests) == 1


def reset_after_the_request_line(server, connection, reader):
    reader.readline()
    reset(connection)


def never_read(server, connection, reader):
    server.stopped.wait(timeout=10)


@pytest.mark.parametrize("behave", [reset_after_the_request_line, never_read])
def test_a_request_that_cannot_be_written_whole_is_retried_later(behave):
    with LoopbackServer(behave) as server:
        gateway = gateway_for(server.url, timeout=0.5)
        with pytest.raises(GatewayError) as caught:
            gateway.check_keyword("A" * 20_000_000)  # more than the sockets' buffers hold
    assert (caught.value.code, caught.value.effect) == ("write_error", ErrorEffect.RETRY)
    assert server.connections == 1


@pytest.mark.parametrize(
    "head",
    [b"HTTP/1.1 200 OK\r\nConnection: close", b"HTTP/1.0 200 OK"],
    ids=["connection-close", "http-1.0"],
)
def test_a_connection_the_answer_does_not_keep_alive_is_not_reused(head):
    def answer_with_head(server, connection, reader):
        while server.read_request(reader):
            answer(connection, head)

    with LoopbackServer(answer_with_head) as server:
        gateway = gateway_for(server.url)
        gateway.send_part(TO, "one")
        gateway.send_part(TO, "two")
        gateway.close()
    assert server.connections == 2
    assert len(server.requests) == 2


def test_no_more_than_max_connections_are_opened_and_a_request_waits_for_a_free_one():
    errors = []
    with GroupTextingSimulator(user=USER, password=PASSWORD, rate_limit=False) as slow:
        slow.response_delay = 0.1
        gateway = gateway_for(slow.url, max_connections=2, timeout=5)

        def check():
            try:
                assert gateway.check_credits() == 1000
            except Exception as exc:  # reported below, from the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=check) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        gateway.close()
        assert errors == []
        assert slow.stats["requests"] == 6
        assert slow.stats["connections"] == 2
        assert slow.stats["max_in_flight"] == 2


def test_no_free_connection_within_the_timeout_is_a_connect_error(gateway_settings, sim):
    gateway = GroupTextingGateway(max_connections=1, timeout=0.3)
    taken = gateway.connections._get_conn()  # as by a request that does not end
    started = time.monotonic()
    error = send_error(gateway)
    assert 0.3 <= time.monotonic() - started < 2
    assert (error.code, error.effect) == ("connect_error", ErrorEffect.RETRY)
    assert sim.stats["requests"] == 0
    threading.Timer(0.1, gateway.connections._put_conn, [taken]).start()
    gateway.send_part(TO, "hello")  # waits for the place to be given back
    assert len(sim.messages) == 1
    gateway.close()


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_opens_its_own_connection(gateway, sim):
    gateway.send_part(TO, "from the parent")
    child = os.fork()
    if child == 0:  # the child: report by exit status only, and run none of pytest's teardown
        status = 1
        try:
            gateway.send_part(TO, "from the child")
            status = 0
        finally:
            os._exit(status)
    assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0
    gateway.send_part(TO, "from the parent again")  # its connection was left alone
    assert [m["message"] for m in sim.messages] == [
        "from the parent",
        "from the child",
        "from the parent again",
    ]
    assert sim.stats["connections"] == 2


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


def answering_getpass(monkeypatch, *answers):
    """The command's prompts without echo, answered in order."""
    from messaging.gateways.grouptexting.management.commands import grouptexting as command

    given = iter(answers)
    monkeypatch.setattr(command, "getpass", lambda prompt: next(given))


CARD_ARGS = [
    "--first-name", "Ada", "--last-name", "Lovelace", "--address", "1 Main St",
    "--city", "Springfield", "--state", "IL", "--zip", "62701", "--country", "US",
    "--type", "Visa", "--exp-month", "12", "--exp-year", "30",
]  # fmt: skip


@pytest.mark.django_db
def test_the_command_buys_credits_without_printing_or_logging_the_card(
    gateway, sim, capsys, caplog, monkeypatch
):
    caplog.set_level(logging.DEBUG)
    answering_getpass(monkeypatch, CARD_NUMBER, CARD_CODE)
    call_command("grouptexting", "credits/buy", "--credits", "40", *CARD_ARGS)
    out = capsys.readouterr()
    assert "credits/buy: 1" in out.out
    assert sim.credits == 140
    answering_getpass(monkeypatch, "4111111111111112", CARD_CODE)
    with pytest.raises(CommandError) as declined:
        call_command("grouptexting", "credits/buy", "--credits", "40", *CARD_ARGS)
    assert "declined" in str(declined.value)
    everything = out.out + out.err + capsys.readouterr().out + caplog.text + str(declined.value)
    assert CARD_NUMBER not in everything and CARD_CODE not in everything


def test_the_command_takes_no_card_number_as_an_argument(gateway, sim):
    # On the command line it would stay in the shell history and the process list.
    with pytest.raises(CommandError, match="unrecognized arguments"):
        call_command(
            "grouptexting", "credits/buy", "--credits", "40", *CARD_ARGS,
            "--cc-number", CARD_NUMBER, "--cc-code", CARD_CODE,
        )  # fmt: skip


def test_the_command_checks_and_sets_up_keywords(gateway, sim, capsys):
    call_command("grouptexting", "keyword/check", "FAMILY")
    assert "keyword/check: 1 (the keyword is available)" in capsys.readouterr().out
    sim.keywords["FAMILY"] = {"autoreply": "", "url": "", "group": "", "email": ""}
    call_command("grouptexting", "keyword/setup", "FAMILY", "--autoreply", "Hi there")
    assert "keyword/setup: 1 (updated)" in capsys.readouterr().out
    with pytest.raises(CommandError, match="invalid URL"):
        call_command("grouptexting", "keyword/setup", "FAMILY", "--url", "nope://x")
