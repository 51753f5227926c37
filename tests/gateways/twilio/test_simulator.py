"""The Twilio simulator keeps Twilio's documented rules: its tests check it against them
directly, over HTTP, so that the backend's tests against it mean something."""

import base64
import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode

import pytest
from twilio.request_validator import RequestValidator

from messaging.gateways.twilio.simulator import TwilioSimulator, twiml_messages

FROM, TO = "+12025550100", "+14155550102"


@pytest.fixture
def sim():
    with TwilioSimulator(numbers=[FROM], callback_delay=0.01) as simulator:
        yield simulator


def create(sim, auth=None, **form):
    user, password = auth or (sim.account_sid, sim.auth_token)
    request = urllib.request.Request(
        f"{sim.url}/2010-04-01/Accounts/{sim.account_sid}/Messages.json",
        data=urlencode(form).encode(),
        headers={
            "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_a_message_is_answered_with_its_resource(sim):
    status, body = create(sim, To=TO, From=FROM, Body="Hello")
    assert status == 201
    assert body["sid"].startswith("SM") and len(body["sid"]) == 34
    assert (body["status"], body["to"], body["from"], body["num_segments"]) == (
        "queued",
        TO,
        FROM,
        "1",
    )


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        ({"From": FROM, "Body": "x"}, 400, 21604),
        ({"To": TO, "Body": "x"}, 400, 21603),
        ({"To": TO, "From": FROM}, 400, 21602),
        ({"To": TO, "From": "+12025559999", "Body": "x"}, 400, 21606),
        ({"To": "+1415555", "From": FROM, "Body": "x"}, 400, 21211),
        ({"To": TO, "From": FROM, "Body": "x" * 1601}, 400, 21617),
    ],
)
def test_bad_requests_get_twilios_error_bodies(sim, form, status, code):
    answer_status, body = create(sim, **form)
    assert (answer_status, body["code"], body["status"]) == (status, code, status)
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}" and body["message"]


def test_wrong_credentials_are_20003(sim):
    status, body = create(sim, auth=(sim.account_sid, "wrong"), To=TO, From=FROM, Body="x")
    assert (status, body["code"]) == (401, 20003)


def test_a_second_segment_within_a_second_from_one_number_is_429(sim):
    assert create(sim, To=TO, From=FROM, Body="one")[0] == 201
    status, body = create(sim, To="+14155550103", From=FROM, Body="two")
    assert (status, body["code"]) == (429, 20429)
    sim.rate_limit = False
    assert create(sim, To="+14155550103", From=FROM, Body="two")[0] == 201


class Recorder(BaseHTTPRequestHandler):
    """A webhook that keeps what it was sent and answers with ``answer``."""

    calls: list = []
    answer = b""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.calls.append((self.path, dict(parse_qsl(body)), self.headers["X-Twilio-Signature"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(self.answer)))
        self.end_headers()
        self.wfile.write(self.answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    Recorder.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def valid(sim, url, params, signature):
    return RequestValidator(sim.auth_token).validate(url, params, signature)


def test_status_callbacks_are_signed_as_twilio_signs_them(sim, webhook):
    import time

    sim.set_outcome(TO, "undelivered", "30003")
    status, body = create(sim, To=TO, From=FROM, Body="x", StatusCallback=f"{webhook}/status")
    deadline = time.monotonic() + 5
    while len(Recorder.calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    sent, final = Recorder.calls
    assert [sent[1]["MessageStatus"], final[1]["MessageStatus"]] == ["sent", "undelivered"]
    assert final[1]["ErrorCode"] == "30003" and final[1]["MessageSid"] == body["sid"]
    assert all(valid(sim, f"{webhook}/status", params, sig) for _, params, sig in Recorder.calls)


def test_inbound_texts_are_signed_and_stop_opts_the_sender_out(sim, webhook):
    Recorder.answer = b"<Response><Message>Thanks</Message></Response>"
    sim.inbound_url = f"{webhook}/inbound"
    record = sim.deliver_inbound(TO, FROM, "STOP")
    path, params, signature = Recorder.calls[0]
    assert (params["From"], params["To"], params["Body"]) == (TO, FROM, "STOP")
    assert valid(sim, f"{webhook}/inbound", params, signature)
    assert record["http_status"] == 200
    assert TO in sim.opted_out
    assert create(sim, To=TO, From=FROM, Body="x")[1]["code"] == 21610
    kinds = [m["kind"] for m in sim.messages]
    assert kinds == ["stop-reply", "twiml"]


def test_twiml_messages_are_read_from_the_answer():
    assert twiml_messages('<?xml version="1.0"?><Response/>') == []
    assert twiml_messages("<Response><Message>Hi</Message></Response>") == ["Hi"]
    assert twiml_messages("not xml") == []
