"""The Group Texting simulator keeps the seed's rules: what it accepts and answers, its
2-a-second rule, fault injection, its control endpoints, and how it forwards inbound texts
to the keyword and inbox webhooks."""

import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from messaging.gateways.grouptexting.simulator import GroupTextingSimulator

ROOT = Path(__file__).resolve().parents[3]
PHONE = "2125551234"


@pytest.fixture
def sim():
    with GroupTextingSimulator(credits=10, rate_limit=False, keywords=["FAMILY"]) as simulator:
        yield simulator


@pytest.fixture
def http(sim):
    with httpx.Client(base_url=sim.url.removesuffix("api/")) as client:
        yield client


def send(http, **params) -> str:
    form = {"user": "user", "pass": "pass", "phonenumber": PHONE, "subject": "", "message": "hi"}
    return http.post("api/sending", data={**form, **params}).text


class Webhook:
    """A stand-in for the service's webhook: records each GET and answers ``reply``."""

    def __init__(self, reply=""):
        self.calls = []
        self.reply = reply
        self.delay = 0.0
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                time.sleep(webhook.delay)
                split = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(split.query).items()}
                webhook.calls.append((split.path, params))
                body = webhook.reply.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


# --- sending --------------------------------------------------------------------------------


def test_a_valid_message_is_sent_recorded_and_costs_a_credit(sim, http):
    assert send(http, subject="Mom", message="Dinner at 6? Bring $5 & 2 forks (thanks!)") == "1"
    assert sim.credits == 9
    [message] = http.get("_sim/messages").json()
    assert message["phonenumber"] == PHONE
    assert message["subject"] == "Mom"


def test_get_works_as_well_as_post_and_parameter_names_ignore_case(sim, http):
    query = {
        "User": "user",
        "Pass": "pass",
        "PhoneNumber": " " + PHONE,
        "Subject": "",
        "Message": "x",
    }
    assert http.get("api/sending/", params=query).text == "1"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"pass": "wrong"}, "-1"),
        ({"user": ""}, "-1"),
        ({"phonenumber": "212555123"}, "-106"),
        ({"phonenumber": "+442071838750"}, "-106"),
        ({"phonenumber": "212-555-1234"}, "-106"),
        ({"subject": "fourteen chars"}, "-7"),
        ({"message": "it's"}, "-7"),
        ({"message": "caf\u00e9"}, "-7"),
        ({"message": "*bye"}, "-7"),
        ({"message": ""}, "-7"),
        ({"message": "a" * 161}, "-7"),
        ({"message": "@" * 81}, "-7"),
        ({"subject": "Mom", "message": "a" * 158}, "-7"),
        ({"message": "a\r\n" * 40 + "a" * 41}, "-7"),  # 81 letters + 40 line breaks of 2
        ({"message": "@" * 80}, "1"),
        ({"subject": "Mom", "message": "a" * 157}, "1"),
        ({"message": "a\r\n" * 40 + "a" * 40}, "1"),  # 160
        ({"message": "line\nbreak\r\nand /\\~#%+=@ too"}, "1"),
    ],
)
def test_the_documented_rules_are_enforced(http, params, code):
    assert send(http, **params) == code


def test_opt_out_lists_and_credits(sim, http):
    sim.opt_out(PHONE, scope="global")
    assert send(http) == "-104"
    http.post("_sim/opt-out", data={"phone": "+12125550000", "scope": "local"})
    assert send(http, phonenumber="2125550000") == "-5"
    http.post("_sim/credits", data={"credits": "1"})
    assert send(http, phonenumber="2125550001") == "1"
    assert send(http, phonenumber="2125550001") == "-2"
    assert http.get("_sim/state").json()["credits"] == 0


def test_more_than_two_requests_a_second_get_503():
    with GroupTextingSimulator() as sim, httpx.Client(base_url=sim.url) as http:
        form = {"user": "user", "pass": "pass"}
        answers = [http.post("credits/check", data=form).status_code for _ in range(3)]
        assert answers == [200, 200, 503]
        time.sleep(1.05)
        assert http.post("credits/check", data=form).status_code == 200
        assert sim.stats["rate_limited"] == 1


def test_more_than_two_requests_at_once_get_503():
    with GroupTextingSimulator(period=0.001, response_delay=0.3) as sim:
        form = {"user": "user", "pass": "pass"}
        statuses = []

        def call():
            statuses.append(httpx.post(sim.url + "credits/check", data=form).status_code)

        threads = [threading.Thread(target=call) for _ in range(3)]
        for thread in threads:
            thread.start()
            time.sleep(0.02)
        for thread in threads:
            thread.join()
        assert sorted(statuses) == [200, 200, 503]
        assert sim.stats["max_in_flight"] == 2


def test_faults_can_be_injected_in_process_and_over_http(sim, http):
    sim.inject(code=-10)
    assert send(http) == "-10"
    http.post("_sim/fault", data={"status": "503", "times": "2"})
    assert [http.post("api/sending", data={}).status_code for _ in range(3)] == [503, 503, 200]
    http.post("_sim/fault", data={"every": "2", "status": "503"})
    statuses = [http.post("api/credits/check", data={}).status_code for _ in range(4)]
    assert statuses.count(503) == 2
    sim.fail_every(None)
    http.post("_sim/reset")
    assert http.get("_sim/state").json()["requests"] == 0


# --- account calls --------------------------------------------------------------------------


def test_credit_and_keyword_calls_answer_their_codes(sim, http):
    login = {"user": "user", "pass": "pass"}
    card = {
        "FirstName": "Ada", "LastName": "L", "Address": "1 Main", "City": "X", "State": "IL",
        "Zip": "62701", "Country": "US", "Type": "Visa", "CCNumber": "4111111111111111",
        "CCCode": "123", "Expm": "12", "Expy": "30",
    }  # fmt: skip
    assert http.post("api/credits/check/", data=login).text == "10"
    assert http.post("api/credits/check/", data={"user": "user", "pass": "x"}).text == "-1"
    assert http.get("api/credits/buy/", params={**login, **card, "Credits": "5"}).status_code == 405
    assert http.post("api/credits/buy/", data={**login, **card, "Credits": "5"}).text == "1"
    assert http.post("api/credits/buy/", data={**login, **card, "CCNumber": "1234"}).text == "0"
    assert sim.credits == 15
    assert http.post("api/keyword/check/", data={**login, "Keyword": "family"}).text == "0"
    assert http.post("api/keyword/check/", data={**login, "Keyword": "news"}).text == "1"
    assert http.post("api/keyword/rent/", data={**login, **card, "Keyword": "news"}).text == "2"
    assert http.post("api/keyword/rent/", data={**login, **card, "Keyword": "news"}).text == "1"
    setup = {**login, "Keyword": "news"}
    assert http.post("api/keyword/setup/", data={**setup, "Group": "a/b"}).text == "-3"
    assert http.post("api/keyword/setup/", data={**setup, "Email": "nope"}).text == "-4"
    assert http.post("api/keyword/setup/", data={**setup, "URL": "x"}).text == "-5"
    assert http.post("api/keyword/setup/", data={**setup, "Autoreply": " "}).text == "-7"
    assert http.post("api/keyword/setup/", data={**setup, "Autoreply": "Hi!"}).text == "1"
    assert http.post("api/keyword/setup/", data={**login, "Keyword": "zzz"}).text == "-2"


# --- inbound --------------------------------------------------------------------------------


@pytest.fixture
def inbound_sim(webhook):
    now = [1_000_000.0]
    simulator = GroupTextingSimulator(
        rate_limit=False,
        keywords=["FAMILY"],
        webhook_keyword_url=webhook.url + "/keyword?secret=k",
        webhook_inbox_url=webhook.url + "/inbox",
        clock=lambda: now[0],
    )
    simulator.now = now
    with simulator:
        yield simulator


def test_a_keyword_text_from_a_new_phone_is_a_keyword_submission(inbound_sim, webhook):
    webhook.reply = "Welcome to Family!"
    result = inbound_sim.deliver_inbound("+12125551234", "family Bob")
    assert result["route"] == "keyword"
    assert webhook.calls == [
        ("/keyword", {"secret": "k", "PhoneNumber": PHONE, "Message": "family Bob"})
    ]
    # "wait for response": the webhook's answer is texted back
    assert inbound_sim.messages[-1]["message"] == "Welcome to Family!"
    assert inbound_sim.messages[-1]["kind"] == "autoreply"


def test_a_text_within_12_hours_of_an_outbound_one_is_an_inbox_reply(inbound_sim, webhook, http):
    inbound_sim.deliver_inbound(PHONE, "FAMILY Bob")  # its autoreply counts as an outbound text
    webhook.calls.clear()
    result = inbound_sim.deliver_inbound(PHONE, "FAMILY again")
    assert result["route"] == "inbox"
    assert webhook.calls == [("/inbox", {"from": PHONE, "message": "FAMILY again"})]
    inbound_sim.now[0] += 12 * 3600 + 1
    assert inbound_sim.deliver_inbound(PHONE, "FAMILY later")["route"] == "keyword"


def test_a_text_without_a_keyword_goes_to_the_inbox(inbound_sim, webhook):
    assert inbound_sim.deliver_inbound(PHONE, "running late")["route"] == "inbox"
    assert webhook.calls == [("/inbox", {"from": PHONE, "message": "running late"})]
    assert inbound_sim.messages == []  # no answer, no auto-reply


def test_without_unique_requests_a_keyword_submission_reaches_both_urls(inbound_sim, webhook):
    inbound_sim.send_unique_request = False
    inbound_sim.deliver_inbound(PHONE, "FAMILY Bob")
    assert [path for path, _ in webhook.calls] == ["/keyword", "/inbox"]


def test_a_keyword_without_an_answer_gets_its_autoreply(webhook):
    with GroupTextingSimulator(keywords=["FAMILY"], webhook_inbox_url=webhook.url) as sim:
        result = sim.deliver_inbound(PHONE, "FAMILY")
        assert result["route"] == "keyword" and webhook.calls == []
        assert sim.messages[-1]["message"] == "Thank you for joining our list."


def test_inbound_texts_can_be_delivered_over_http(inbound_sim, webhook, http):
    del http  # the fixture's simulator is another one
    with httpx.Client(base_url=inbound_sim.url.removesuffix("api/")) as client:
        answer = client.post("_sim/inbound", data={"from": PHONE, "message": "hello"}).json()
    assert answer["route"] == "inbox"
    assert webhook.calls == [("/inbox", {"from": PHONE, "message": "hello"})]


# --- standalone -----------------------------------------------------------------------------


def test_the_simulator_runs_standalone_from_manage_py():
    process = subprocess.Popen(
        [sys.executable, "manage.py", "grouptexting_simulator", "--port", "0", "--user", "u",
         "--pass", "p", "--credits", "3", "--no-rate-limit"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        first = process.stdout.readline()
        url = first.strip().split("GROUPTEXTING_BASE_URL=")[1]
        assert httpx.post(url + "credits/check", data={"user": "u", "pass": "p"}).text == "3"
    finally:
        process.terminate()
        process.wait(timeout=10)


# --- HTTP, over a raw socket ----------------------------------------------------------------

LOGIN = "user=user&pass=pass"
SEND_BODY = f"{LOGIN}&phonenumber={PHONE}&subject=&message=hi".encode()


def post(path: str, body: bytes, *headers: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: sim", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def get(path: str, *headers: str, version="HTTP/1.1") -> bytes:
    return ("\r\n".join([f"GET {path} {version}", "Host: sim", *headers]) + "\r\n\r\n").encode()


class Client:
    """A client that writes exactly the bytes it is given and reads answers one by one."""

    def __init__(self, sim):
        self.sock = socket.create_connection(sim.server_address, timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")

    def send(self, data: bytes):
        self.sock.sendall(data)
        return self

    def answer(self) -> tuple[int, dict, str]:
        status_line = self.reader.readline()
        assert status_line, "the connection closed without an answer"
        version, status, _ = status_line.decode("latin-1").split(" ", 2)
        assert version in ("HTTP/1.1", "HTTP/1.0")  # 1.0 to a 1.0 request
        headers = {}
        while (line := self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.lower()] = value.strip()
        return int(status), headers, self.reader.read(int(headers["content-length"])).decode()

    def closed(self) -> bool:
        """True when the simulator has closed the connection (and sent nothing more)."""
        return self.reader.read() == b""

    def close(self):
        self.reader.close()
        self.sock.close()


@pytest.fixture
def client(sim):
    connection = Client(sim)
    yield connection
    connection.close()


def test_one_kept_alive_connection_carries_consecutive_and_pipelined_requests(sim, client):
    status, headers, body = client.send(get(f"/api/credits/check?{LOGIN}")).answer()
    assert (status, body) == (200, "10")
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["server"] == "GroupTextingSimulator/1"
    assert "connection" not in headers
    assert client.send(post("/api/sending", SEND_BODY)).answer()[2] == "1"
    # Three at once, in one write: three answers, in order.
    client.send(post("/api/sending", SEND_BODY) + get("/_sim/state") + get("/nowhere"))
    assert client.answer()[2] == "1"
    status, headers, body = client.answer()
    assert (status, headers["content-type"]) == (200, "application/json; charset=utf-8")
    assert json.loads(body)["messages"] == 2
    assert client.answer()[:1] == (404,)
    assert sim.stats["connections"] == 1
    assert sim.stats["requests"] == 3


@pytest.mark.parametrize(
    "request_bytes",
    [
        get(f"/api/credits/check?{LOGIN}", "Connection: close"),
        get(f"/api/credits/check?{LOGIN}", version="HTTP/1.0"),
    ],
    ids=["connection-close", "http-1.0"],
)
def test_the_connection_closes_after_the_answer_when_the_client_asks(client, request_bytes):
    status, headers, body = client.send(request_bytes).answer()
    assert (status, body) == (200, "10")
    assert headers.get("connection", "close") == "close"  # HTTP/1.0 closes without saying
    assert client.closed()


def test_a_request_split_across_many_writes_is_put_back_together(sim, client):
    body = f"{LOGIN}&phonenumber={PHONE}&message=hi".encode()
    whole = post("/api/sending?Subject=Mom", body, "Content-Type: x-www-form-urlencoded")
    blank_line = whole.index(b"\r\n\r\n")
    # Cuts inside the request line, inside a header, inside "\r\n\r\n" and inside the body.
    cuts = [0, 3, 11, 40, blank_line + 1, blank_line + 3, -5, None]
    for start, end in zip(cuts, cuts[1:], strict=False):
        client.send(whole[start:end])
        time.sleep(0.02)  # separate TCP segments, each read on its own
    assert client.answer()[2] == "1"
    assert [(m["subject"], m["message"]) for m in sim.messages] == [("Mom", "hi")]
    assert client.send(get("/_sim/state")).answer()[0] == 200  # and the connection lives on


def test_a_client_that_expects_100_continue_gets_it_before_sending_the_body(sim, client):
    head, _, body = post("/api/sending", SEND_BODY, "Expect: 100-continue").partition(b"\r\n\r\n")
    client.send(head + b"\r\n\r\n")
    assert client.reader.readline() == b"HTTP/1.1 100 Continue\r\n"
    assert client.reader.readline() == b"\r\n"
    assert client.send(body).answer()[2] == "1"


def test_a_slow_answer_holds_up_neither_other_connections_nor_its_own_order():
    with GroupTextingSimulator(rate_limit=False, response_delay=0.5) as sim:
        slow, other = Client(sim), Client(sim)
        try:
            started = time.monotonic()
            slow.send(get(f"/api/credits/check?{LOGIN}") + get("/_sim/state"))
            assert other.send(get("/_sim/state")).answer()[0] == 200
            assert time.monotonic() - started < 0.4
            assert slow.answer()[2] == "1000"  # the delayed answer first, then the next one
            assert json.loads(slow.answer()[2])["requests"] == 1
            assert time.monotonic() - started >= 0.5
        finally:
            slow.close()
            other.close()


def test_a_slow_webhook_does_not_hold_up_other_requests(inbound_sim, webhook):
    webhook.delay = 0.5
    inbound, other = Client(inbound_sim), Client(inbound_sim)
    try:
        started = time.monotonic()
        inbound.send(post("/_sim/inbound", f"from={PHONE}&message=hello".encode()))
        time.sleep(0.05)
        assert other.send(get("/_sim/state")).answer()[0] == 200
        assert time.monotonic() - started < 0.4
        assert json.loads(inbound.answer()[2])["route"] == "inbox"
    finally:
        inbound.close()
        other.close()


def test_stop_closes_kept_alive_connections_at_once_and_frees_the_port():
    sim = GroupTextingSimulator(rate_limit=False).start()
    client = Client(sim)
    try:
        assert client.send(get("/_sim/state")).answer()[0] == 200
        started = time.monotonic()
        sim.stop()
        assert time.monotonic() - started < 1
        assert client.closed()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(sim.server_address, timeout=1)
    finally:
        client.close()
