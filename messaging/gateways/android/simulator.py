"""A simulator of the "SMS Gateway for Android" app's third-party API, on loopback (aiohttp),
for development and tests: one or several phones, each with one or more SIMs, behind the
phone's own server (local mode, paths at the root) and the cloud relay (the same paths under
``/3rdparty/v1``) at once.

It keeps the rules of the app's public documentation that matter to the service:

- HTTP basic auth on every call (else 401);
- ``POST /message`` and ``/messages``: ``{"id", "textMessage": {"text"}`` (or the older
  ``"message"``), ``"phoneNumbers", "simNumber", "deviceId", "withDeliveryReport"}``, answered
  202 with the message's state (``id``, ``deviceId``, ``state: Pending``, ``recipients``...);
  an ``id`` the app has already is refused with 409 and not sent again; a ``deviceId`` that is
  not the phone's (local) or not on the account (cloud) is a 400; a number that is not E.164
  is a 400;
- ``GET /message/{id}`` (and ``/messages/{id}``): the state, 404 for an unknown id;
- ``GET``, ``POST /webhooks`` (``{"id"?, "url", "event", "deviceId"?}``, 201) and
  ``DELETE /webhooks/{id}`` (204): the registrations, one event each;
- the phone sends each message at its own pace (``rate_per_phone`` texts a period, per SIM,
  counted as they arrive; beyond it the phone holds them back, as the app's limits do, and
  ``stats["over_rate"]`` counts them), then posts ``sms:sent`` and, with a delivery report,
  ``sms:delivered`` once per SMS part, or ``sms:failed`` with a ``reason`` (``set_outcome``),
  to every registration for the event, signed as the app signs them: ``X-Signature`` the hex
  HMAC-SHA256 of the body followed by ``X-Timestamp``, with the signing key;
- a silent phone (``set_silent``): the phone's own server does not answer (the connection is
  closed with no answer), the cloud answers 503 (the phone does not take its queue).

Control: ``GET /_sim/messages``, ``/_sim/callbacks``, ``/_sim/webhooks``, ``/_sim/state``;
``POST /_sim/inbound`` (``sender``, ``to`` or ``device_id`` and ``sim``, ``message``: an
``sms:received``), ``/_sim/silent`` (``device_id`` or ``number``, ``on`` 1 or 0),
``/_sim/outcome`` (``number``, ``state`` delivered or failed, ``reason``), ``/_sim/fault``
(``status``, or ``drop=1``: taken and left unanswered; ``times``), ``/_sim/reset``.
In-process: ``AndroidGatewaySimulator(...).start()`` / ``stop()`` or ``with``.

The signature and the rules are written out here again on purpose rather than imported from
the service: the simulator is the independent check of them.
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import ClientError, web

from messaging.gateways.simulator import Fault, SimulatorServer

DEFAULT_USER = "sms"
DEFAULT_PASSWORD = "simulator-password"
DEFAULT_KEY = "simulator-signing-key"
DEFAULT_DEVICE = "simphone0000000000001"  # the app's ids are 21 characters
CLOUD = "/3rdparty/v1"
E164 = re.compile(r"\+[1-9]\d{7,14}")
EVENTS = {
    "sms:received",
    "sms:sent",
    "sms:delivered",
    "sms:failed",
    "sms:cancelled",
    "sms:data-received",
    "mms:received",
    "mms:downloaded",
    "system:ping",
    "app:started",
}
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-"
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€"
)


def nanoid() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(21))


def sign(key: str, body: str, timestamp: str) -> str:
    """The app's ``X-Signature``: hex HMAC-SHA256 of the body followed by the timestamp."""
    return hmac.new(key.encode(), (body + timestamp).encode(), hashlib.sha256).hexdigest()


def sms_parts(text: str) -> int:
    """How many SMS a phone sends ``text`` as: 160 / 153 GSM characters, 70 / 67 otherwise."""
    single, each = (160, 153) if all(c in GSM7 for c in text) else (70, 67)
    return 1 if len(text) <= single else -(-len(text) // each)


def local_time(at: float) -> str:
    """A time as the app writes it: ISO 8601 with milliseconds and the phone's offset."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Phone:
    """One SIM of one phone, and the number it has."""

    number: str
    device_id: str = DEFAULT_DEVICE
    sim: int = 1


class AndroidGatewaySimulator(SimulatorServer):
    thread_name = "android-gateway-simulator"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        user: str = DEFAULT_USER,
        password: str = DEFAULT_PASSWORD,
        signing_key: str = DEFAULT_KEY,
        phones=(),
        rate_per_phone: int = 0,
        period: float = 1.0,
        event_delay: float = 0.05,
        response_delay: float = 0.0,
        log=None,
    ):
        self.user, self.password, self.signing_key = user, password, signing_key
        self.phones = [p if isinstance(p, Phone) else Phone(*p) for p in phones] or [Phone("")]
        self.rate_per_phone, self.period = rate_per_phone, period
        self.event_delay = event_delay
        self.response_delay = response_delay  # seconds before each answer to a new message
        self.log = log
        self.lock = threading.RLock()
        self.reset()
        self.bind(host, port)

    # --- life cycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The phone's own server (local mode), for ANDROID_GATEWAY_URL."""
        host, port = self.server_address
        return f"http://{host}:{port}"

    @property
    def cloud_url(self) -> str:
        """The cloud relay's third-party API, for ANDROID_GATEWAY_URL."""
        return self.url + CLOUD

    async def on_start(self) -> None:
        await self.open_callbacks(30)  # the app waits 30 s

    async def on_stop(self) -> None:
        await self.close_callbacks()

    def application(self) -> web.Application:
        app = web.Application()
        for base in ("", CLOUD):
            for name in ("message", "messages"):
                app.router.add_post(f"{base}/{name}", self._post_message)
                app.router.add_get(f"{base}/{name}/{{id}}", self._get_message)
            for name in ("webhook", "webhooks"):
                app.router.add_get(f"{base}/{name}", self._list_webhooks)
                app.router.add_post(f"{base}/{name}", self._register_webhook)
                app.router.add_delete(f"{base}/{name}/{{id}}", self._delete_webhook)
        app.router.add_get("/health", self._health)
        app.router.add_get(f"{CLOUD}/health", self._health)
        app.router.add_get("/_sim/{listing}", self._listing)
        app.router.add_post("/_sim/{action}", self._control)
        return app

    # --- state --------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.messages: list[dict] = []
            self.by_id: dict[str, dict] = {}
            self.callbacks: list[dict] = []
            self.webhooks: dict[str, dict] = {}
            self.silent: set[str] = set()
            self.outcomes: dict[str, tuple[str, str]] = {}
            self.faults: deque[Fault] = deque()
            self._arrivals: dict[Phone, deque[float]] = {}
            self._free_at: dict[Phone, float] = {}
            self.stats = {
                "requests": 0,
                "taken": 0,
                "duplicates": 0,
                "refused": 0,
                "over_rate": 0,
                "silent": 0,
            }

    def state(self) -> dict:
        with self.lock:
            return {**self.stats, "messages": len(self.messages), "silent": sorted(self.silent)}

    def set_silent(self, device_or_number: str, silent: bool = True) -> None:
        """A phone that stops answering (or starts again): its device id, or one of its
        numbers."""
        device = next(
            (p.device_id for p in self.phones if device_or_number in (p.number, p.device_id)),
            device_or_number,
        )
        with self.lock:
            (self.silent.add if silent else self.silent.discard)(device)

    def set_outcome(self, number: str, state: str, reason: str = "") -> None:
        """What becomes of texts to ``number``: delivered, or failed with ``reason``."""
        with self.lock:
            self.outcomes[number] = (state, reason)

    def register(self, url: str, event: str, device_id: str | None = None) -> dict:
        with self.lock:
            webhook = {"id": nanoid(), "deviceId": device_id, "url": url, "event": event}
            self.webhooks[webhook["id"]] = webhook
            return webhook

    def received(self, number: str) -> list[dict]:
        """The texts the phones sent to ``number``."""
        with self.lock:
            return [m for m in self.messages if m["to"] == number]

    # --- the API ------------------------------------------------------------------------

    def _authenticated(self, request: web.Request) -> bool:
        user, password = self.basic_auth(request) or ("", "")
        return hmac.compare_digest(user, self.user) and hmac.compare_digest(password, self.password)

    @staticmethod
    def _error(status: int, message: str, **extra) -> web.Response:
        return web.json_response({"message": message, **extra}, status=status)

    async def _post_message(self, request: web.Request) -> web.StreamResponse:
        cloud = request.path.startswith(CLOUD)
        try:
            body = await request.json()
        except ValueError:
            body = None
        with self.lock:
            self.stats["requests"] += 1
            if not self._authenticated(request):
                self.stats["refused"] += 1
                return self._error(401, "Unauthorized")
            if not isinstance(body, dict):
                self.stats["refused"] += 1
                return self._error(400, "invalid JSON body")
            fault = self.faults.popleft() if self.faults else None
            if fault and not fault.drop:
                self.stats["refused"] += 1
                return self._error(fault.status, f"fault injected: HTTP {fault.status}")
            answer = self._take(body, cloud)
        if answer == "silent":
            request.transport.close()  # the phone is gone: no answer at all
            raise asyncio.CancelledError
        if isinstance(answer, web.Response):
            return answer
        if self.response_delay:
            await asyncio.sleep(self.response_delay)
        if fault:  # taken, then the connection closes with no answer
            request.transport.close()
            raise asyncio.CancelledError
        headers = {"Location": f"{CLOUD}/messages/{answer['id']}"} if cloud else {}
        return web.json_response(self._resource(answer), status=202, headers=headers)

    def _take(self, body: dict, cloud: bool):
        """Check a message against the rules; the message when taken, else an answer."""
        contents = [body.get(k) for k in ("textMessage", "dataMessage", "message")]
        if sum(content is not None for content in contents) != 1:
            return self._refuse(400, "exactly one of textMessage, dataMessage or message")
        text = body.get("message") or (body.get("textMessage") or {}).get("text") or ""
        if not text:
            return self._refuse(400, "Text message is empty")
        numbers = body.get("phoneNumbers")
        if not isinstance(numbers, list) or not numbers:
            return self._refuse(400, "Empty phone numbers list")
        for number in numbers:
            if not isinstance(number, str) or not E164.fullmatch(number):
                return self._refuse(400, f"failed to parse phone number: {number!r}")
        message_id = str(body.get("id") or nanoid())
        if len(message_id) > 36:
            return self._refuse(400, "id: must be at most 36 characters")
        sim = body.get("simNumber")
        if sim is not None and (not isinstance(sim, int) or not 1 <= sim <= 3):
            return self._refuse(400, "SIM number must be 1 to 3")
        device_id = body.get("deviceId") or None
        devices = {p.device_id for p in self.phones}
        if device_id is not None and device_id not in devices:
            # The phone's server knows only itself; the cloud, the account's phones.
            return self._refuse(
                400, "failed to select device: not found" if cloud else "Invalid device ID"
            )
        device_id = device_id or self.phones[0].device_id
        if device_id in self.silent:
            self.stats["silent"] += 1
            if not cloud:
                return "silent"
            return self._refuse(
                503,
                "queue limits exceeded: the device does not fetch its messages; ensure "
                "the device is online",
                error="QueueLimitExceeded",
            )
        if message_id in self.by_id:
            self.stats["duplicates"] += 1
            return self._refuse(409, "message with the same ID already exists")
        phone = self._phone(device_id, sim)
        return self._record(message_id, phone, numbers, text, body)

    def _refuse(self, status: int, message: str, **extra) -> web.Response:
        self.stats["refused"] += 1
        return self._error(status, message, **extra)

    def _phone(self, device_id: str, sim: int | None) -> Phone:
        on_device = [p for p in self.phones if p.device_id == device_id]
        return next((p for p in on_device if p.sim == sim), on_device[0])

    def _record(self, message_id: str, phone: Phone, numbers: list, text: str, body) -> dict:
        now = time.time()
        send_at = self._slot(phone, now)
        message = {
            "id": message_id,
            "deviceId": phone.device_id,
            "sim": phone.sim,
            "from": phone.number,
            "to": numbers[0],
            "phoneNumbers": numbers,
            "text": text,
            "parts": sms_parts(text),
            "withDeliveryReport": body.get("withDeliveryReport", True) is not False,
            "state": "Pending",
            "states": {"Pending": local_time(now)},
            "time": now,
            "send_at": send_at,
            "error": None,
        }
        self.messages.append(message)
        self.by_id[message_id] = message
        self.stats["taken"] += 1
        if self.log:
            self.log(f"{phone.number or phone.device_id} -> {numbers[0]}: {text}")
        self.later(self._progress(message))
        return message

    def _slot(self, phone: Phone, now: float) -> float:
        """When the phone sends a message that arrives now: at once, or, past its rate, when
        its limit lets it (the app holds messages back rather than refusing them)."""
        if not self.rate_per_phone:
            return now
        recent = self._arrivals.setdefault(phone, deque())
        while recent and recent[0] <= now - self.period:
            recent.popleft()
        recent.append(now)
        if len(recent) <= self.rate_per_phone:
            return now
        self.stats["over_rate"] += 1
        free_at = max(self._free_at.get(phone, now), now) + self.period / self.rate_per_phone
        self._free_at[phone] = free_at
        return free_at

    def _resource(self, message: dict) -> dict:
        return {
            "id": message["id"],
            "deviceId": message["deviceId"],
            "state": message["state"],
            "isHashed": False,
            "isEncrypted": False,
            "recipients": [
                {"phoneNumber": n, "state": message["state"], "error": message["error"]}
                for n in message["phoneNumbers"]
            ],
            "states": message["states"],
        }

    async def _get_message(self, request: web.Request) -> web.Response:
        if not self._authenticated(request):
            return self._error(401, "Unauthorized")
        with self.lock:
            message = self.by_id.get(request.match_info["id"])
            if message is None:
                return self._error(404, "message not found")
            return web.json_response(self._resource(message))

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "pass", "version": "simulator", "checks": {}})

    # --- webhooks -----------------------------------------------------------------------

    async def _list_webhooks(self, request: web.Request) -> web.Response:
        if not self._authenticated(request):
            return self._error(401, "Unauthorized")
        with self.lock:
            return web.json_response(list(self.webhooks.values()))

    async def _register_webhook(self, request: web.Request) -> web.Response:
        if not self._authenticated(request):
            return self._error(401, "Unauthorized")
        try:
            body = await request.json()
        except ValueError:
            return self._error(400, "invalid JSON body")
        if not isinstance(body, dict):
            return self._error(400, "invalid JSON body")
        url, event = body.get("url"), body.get("event")
        if not isinstance(url, str) or not re.match(r"https?://", url):
            return self._error(400, "url: must be an http(s) URL")
        if event not in EVENTS:
            return self._error(400, f"event: must be one of {', '.join(sorted(EVENTS))}")
        device_id = body.get("deviceId") or body.get("device_id") or None
        with self.lock:
            webhook = {
                "id": str(body.get("id") or nanoid()),
                "deviceId": device_id,
                "url": url,
                "event": event,
            }
            self.webhooks[webhook["id"]] = webhook  # an id it has already: replaced
        return web.json_response(webhook, status=201)

    async def _delete_webhook(self, request: web.Request) -> web.Response:
        if not self._authenticated(request):
            return self._error(401, "Unauthorized")
        with self.lock:
            self.webhooks.pop(request.match_info["id"], None)
        return web.Response(status=204)

    # --- events -------------------------------------------------------------------------

    async def _progress(self, message: dict) -> None:
        """The phone sends the message (``sms:sent``), then the network reports it delivered,
        once per SMS part, or failed."""
        await asyncio.sleep(max(message["send_at"] - time.time(), 0) + self.event_delay)
        with self.lock:
            final, reason = self.outcomes.get(message["to"], ("delivered", ""))
            base = {
                "messageId": message["id"],
                "sender": message["from"] or None,
                "recipient": message["to"],
                "phoneNumber": message["to"],
                "simNumber": message["sim"],
            }
        if final == "failed" and reason.startswith("RESULT_ERROR"):
            steps = []  # the phone could not send it at all
        else:
            steps = [("Sent", "sms:sent", {"partsCount": message["parts"], "sentAt": None})]
        if final == "failed":
            steps.append(("Failed", "sms:failed", {"failedAt": None, "reason": reason}))
        elif message["withDeliveryReport"]:
            steps += [("Delivered", "sms:delivered", {"deliveredAt": None})] * message["parts"]
        for state, event, extra in steps:
            await asyncio.sleep(self.event_delay)
            now = local_time(time.time())
            with self.lock:
                message["state"] = state
                message["states"][state] = now
                if state == "Failed":
                    message["error"] = reason
            stamp = next(k for k in extra if k.endswith("At"))
            await self.emit(event, {**base, **extra, stamp: now}, message["deviceId"])

    async def emit(self, event: str, payload: dict, device_id: str) -> list[dict]:
        """Post ``event`` to every registration for it (for this phone, or for every phone),
        each under its own event id, signed."""
        with self.lock:
            targets = [
                w
                for w in self.webhooks.values()
                if w["event"] == event and w["deviceId"] in (None, device_id)
            ]
        calls = []
        for webhook in targets:
            body = {
                "deviceId": device_id,
                "event": event,
                "id": nanoid(),
                "payload": payload,
                "webhookId": webhook["id"],
            }
            calls.append(await self.post_signed(webhook["url"], json.dumps(body), event))
        return calls

    async def post_signed(self, url: str, body: str, event: str = "") -> dict:
        """POST ``body`` to ``url`` as the app does, signed with the signing key."""
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Signature": sign(self.signing_key, body, timestamp),
            "X-Timestamp": timestamp,
        }
        record = {"url": url, "event": event, "body": json.loads(body)}
        try:
            async with self._session.post(url, data=body.encode(), headers=headers) as answer:
                record.update(http_status=answer.status, answer=await answer.text())
        except (TimeoutError, OSError, ClientError) as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
        with self.lock:
            self.callbacks.append(record)
        return record

    # --- inbound ------------------------------------------------------------------------

    def deliver_inbound(self, sender: str, to: str, message: str, **options) -> list[dict]:
        """A text from ``sender`` to our number ``to``, posted as ``sms:received``; from
        another thread than the simulator's (a test's)."""
        future = asyncio.run_coroutine_threadsafe(
            self._inbound(sender, to, message, **options), self._loop
        )
        return future.result(timeout=60)

    async def _inbound(
        self, sender: str, to: str, message: str, *, device_id="", sim=None, hide_recipient=False
    ) -> list[dict]:
        phone = next(
            (p for p in self.phones if p.number == to and to),
            next(
                (p for p in self.phones if p.device_id == device_id and p.sim == (sim or p.sim)),
                self.phones[0],
            ),
        )
        payload = {
            # Made from the content, as the app makes it: not unique.
            "messageId": hashlib.sha256(f"{sender}{message}".encode()).hexdigest()[:16],
            "message": message,
            "sender": sender,
            "recipient": None if hide_recipient else (phone.number or None),
            "phoneNumber": sender,
            "simNumber": phone.sim,
            "receivedAt": local_time(time.time()),
        }
        return await self.emit("sms:received", payload, phone.device_id)

    # --- control ------------------------------------------------------------------------

    async def _listing(self, request: web.Request) -> web.Response:
        with self.lock:
            listing = {
                "messages": self.messages,
                "callbacks": self.callbacks,
                "webhooks": list(self.webhooks.values()),
                "state": self.state(),
            }.get(request.match_info["listing"])
            if listing is None:
                return web.json_response({"error": "no such listing"}, status=404)
            return web.json_response(listing)

    async def _control(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        if request.content_type == "application/json":
            fields = {**request.query, **(await request.json())}
        else:
            fields = {**request.query, **(await request.post())}
        if action == "inbound":
            calls = await self._inbound(
                fields.get("sender", ""),
                fields.get("to", ""),
                fields.get("message", ""),
                device_id=fields.get("device_id", ""),
                sim=int(fields["sim"]) if fields.get("sim") else None,
            )
            return web.json_response(calls)
        if action == "silent":
            target = fields.get("device_id") or fields.get("number", "")
            self.set_silent(target, str(fields.get("on", "1")) in ("1", "true"))
        elif action == "outcome":
            self.set_outcome(fields["number"], fields["state"], fields.get("reason", ""))
        elif action == "fault":
            self.inject(
                status=int(fields["status"]) if fields.get("status") else None,
                drop=str(fields.get("drop", "")) in ("1", "true"),
                times=int(fields.get("times", 1)),
            )
        elif action == "reset":
            self.reset()
        else:
            return web.json_response({"error": f"no control {action!r}"}, status=404)
        return web.json_response(self.state())


def parse_phone(spec: str) -> Phone:
    """``NUMBER[=DEVICE_ID[:SIM]]`` from the command line."""
    number, _, rest = spec.partition("=")
    device, _, sim = rest.partition(":")
    return Phone(number.strip(), device.strip() or DEFAULT_DEVICE, int(sim) if sim else 1)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(description="Run the Android gateway simulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (the default) picks a free port")
    parser.add_argument("--user", default=DEFAULT_USER)
    parser.add_argument("--password", default=DEFAULT_PASSWORD)
    parser.add_argument("--signing-key", default=DEFAULT_KEY)
    parser.add_argument(
        "--phone",
        action="append",
        default=[],
        type=parse_phone,
        help="a SIM: NUMBER[=DEVICE_ID[:SIM]] (repeat); none: one phone, one SIM",
    )
    parser.add_argument(
        "--webhook",
        default="",
        help="register this URL for sms:received, sms:sent, sms:delivered and sms:failed, "
        "e.g. http://127.0.0.1:8000/webhooks/android/",
    )
    parser.add_argument("--rate-per-phone", type=int, default=0, help="texts a second; 0: none")
    parser.add_argument("--quiet", action="store_true", help="no line per message")
    return parser


def from_options(options, **extra) -> AndroidGatewaySimulator:
    simulator = AndroidGatewaySimulator(
        host=options.host,
        port=options.port,
        user=options.user,
        password=options.password,
        signing_key=options.signing_key,
        phones=options.phone,
        rate_per_phone=options.rate_per_phone,
        **extra,
    )
    if options.webhook:
        for event in ("sms:received", "sms:sent", "sms:delivered", "sms:failed"):
            simulator.register(options.webhook, event)
    return simulator


def serve(simulator: AndroidGatewaySimulator, write=print) -> None:
    """Run in the foreground until interrupted."""
    write(f"Android gateway simulator: ANDROID_GATEWAY_URL={simulator.cloud_url} (cloud)")
    write(f"  or ANDROID_GATEWAY_URL={simulator.url} (the phone's own server)")
    password = simulator.password if simulator.password == DEFAULT_PASSWORD else "(as given)"
    key = simulator.signing_key if simulator.signing_key == DEFAULT_KEY else "(as given)"
    write(f"ANDROID_GATEWAY_USER={simulator.user} ANDROID_GATEWAY_PASSWORD={password}")
    write(f"ANDROID_GATEWAY_WEBHOOK_KEY={key}")
    write(f"Messages: GET {simulator.url}/_sim/messages. Ctrl-C stops.")
    simulator.serve_in_foreground()


if __name__ == "__main__":
    options = build_parser().parse_args()
    serve(from_options(options, log=None if options.quiet else print))
