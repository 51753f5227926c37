"""The Android gateway simulator keeps the app's documented API: basic auth, a message taken
once per id, its state by id, webhook registrations, events signed as the app signs them, and
a silent phone that does not answer."""

import base64
import hashlib
import hmac
import json
import urllib.error
import urllib.request

import pytest
from aiohttp import web

from messaging.gateways.android.simulator import (
    DEFAULT_KEY,
    AndroidGatewaySimulator,
    Phone,
    sms_parts,
)

AUTH = "Basic " + base64.b64encode(b"sms:simulator-password").decode()


@pytest.fixture
def sim():
    with AndroidGatewaySimulator(phones=[Phone("+12025550100", "phoneA00000000000000a", 1)]) as s:
        yield s


def call(url, body=None, *, method=None, auth=AUTH):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if auth:
        request.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            text = answer.read()
            return answer.status, json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


MESSAGE = {"id": "order-1", "textMessage": {"text": "Hi"}, "phoneNumbers": ["+14155550102"]}


@pytest.mark.parametrize("base", ["", "/3rdparty/v1"])
@pytest.mark.parametrize("path", ["/message", "/messages"])
def test_a_message_is_taken_once_per_id_and_its_state_read_back(sim, base, path):
    status, state = call(sim.url + base + path, MESSAGE)
    assert status == 202 and state["id"] == "order-1" and state["state"] == "Pending"
    assert state["recipients"] == [
        {"phoneNumber": "+14155550102", "state": "Pending", "error": None}
    ]
    assert call(sim.url + base + path, MESSAGE)[0] == 409
    assert len(sim.messages) == 1
    status, state = call(f"{sim.url}{base}{path}/order-1")
    assert status == 200 and state["deviceId"] == "phoneA00000000000000a"
    assert call(f"{sim.url}{base}{path}/nothing")[0] == 404


def test_calls_without_the_credentials_are_refused(sim):
    assert call(sim.cloud_url + "/messages", MESSAGE, auth="")[0] == 401
    wrong = "Basic " + base64.b64encode(b"sms:wrong").decode()
    assert call(sim.cloud_url + "/webhooks", auth=wrong)[0] == 401
    assert sim.messages == []


def test_the_rules_of_a_message(sim):
    url = sim.cloud_url + "/messages"
    assert call(url, {**MESSAGE, "phoneNumbers": ["12345"]})[0] == 400
    assert call(url, {**MESSAGE, "deviceId": "nosuchdevice000000000"})[1]["message"].startswith(
        "failed to select device"
    )
    assert call(sim.url + "/message", {**MESSAGE, "deviceId": "x"})[1] == {
        "message": "Invalid device ID"
    }
    assert call(url, {**MESSAGE, "message": "both"})[0] == 400
    assert call(url, {**MESSAGE, "id": "x" * 37})[0] == 400


def test_webhooks_are_registered_listed_replaced_and_deleted(sim):
    url = sim.cloud_url + "/webhooks"
    status, hook = call(url, {"url": "http://127.0.0.1:9/hook", "event": "sms:received"})
    assert status == 201 and hook["event"] == "sms:received" and hook["id"]
    assert call(url, {"url": "http://127.0.0.1:9/hook", "event": "sms:nothing"})[0] == 400
    call(url, {"id": hook["id"], "url": "http://127.0.0.1:9/other", "event": "sms:sent"})
    assert [w["url"] for w in call(url)[1]] == ["http://127.0.0.1:9/other"]
    assert call(f"{url}/{hook['id']}", method="DELETE")[0] == 204
    assert call(url)[1] == []


def test_events_are_signed_over_the_body_and_timestamp_and_delivered_once_a_part():
    seen = []

    async def hook(request):
        body = await request.text()
        stamp = request.headers["X-Timestamp"]
        expected = hmac.new(DEFAULT_KEY.encode(), (body + stamp).encode(), hashlib.sha256)
        seen.append((json.loads(body), request.headers["X-Signature"] == expected.hexdigest()))
        return web.Response(text="")

    app = web.Application()
    app.router.add_post("/hook", hook)
    with _Serving(app) as hook_url, AndroidGatewaySimulator(event_delay=0.01) as sim:
        for name in ("sms:sent", "sms:delivered"):
            sim.register(hook_url, name)
        long_text = "x" * 200  # two parts: two delivery reports
        assert call(sim.url + "/message", {**MESSAGE, "textMessage": {"text": long_text}})[0] == 202
        _wait(lambda: len(seen) == 3)
    assert all(good for _, good in seen)
    events = [body["event"] for body, _ in seen]
    assert events == ["sms:sent", "sms:delivered", "sms:delivered"]
    body = seen[0][0]
    assert set(body) == {"deviceId", "event", "id", "payload", "webhookId"}
    assert body["payload"]["messageId"] == "order-1" and body["payload"]["partsCount"] == 2
    assert sms_parts(long_text) == 2


def test_a_silent_phones_own_server_does_not_answer_and_the_cloud_says_503(sim):
    sim.set_silent("+12025550100")
    with pytest.raises((urllib.error.URLError, ConnectionError, http_client_errors())):
        call(sim.url + "/message", MESSAGE)
    status, answer = call(sim.cloud_url + "/messages", MESSAGE)
    assert status == 503 and "online" in answer["message"]
    assert sim.messages == []
    sim.set_silent("+12025550100", False)
    assert call(sim.cloud_url + "/messages", MESSAGE)[0] == 202


def http_client_errors():
    import http.client

    return http.client.HTTPException


class _Serving:
    """An aiohttp app on a free loopback port in a thread (a stand-in for our webhook)."""

    def __init__(self, app):
        from messaging.gateways.simulator import SimulatorServer

        class Server(SimulatorServer):
            def application(self):
                return app

        self.server = Server()
        self.server.bind("127.0.0.1", 0)

    def __enter__(self):
        self.server.start()
        host, port = self.server.server_address
        return f"http://{host}:{port}/hook"

    def __exit__(self, *exc):
        self.server.stop()


def _wait(condition, timeout=10):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        time.sleep(0.02)
    assert condition()


def test_the_command_line_names_phones():
    from messaging.gateways.android.simulator import build_parser

    options = build_parser().parse_args(["--phone", "+12025550100=phoneA:2", "--port", "0"])
    assert options.phone == [Phone("+12025550100", "phoneA", 2)]
