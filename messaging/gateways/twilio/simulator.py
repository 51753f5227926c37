"""A Twilio Programmable Messaging simulator, on loopback (aiohttp), for development and tests.

It keeps the rules of Twilio's public documentation that matter to the service:

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with HTTP basic auth (the account
  SID and auth token; else 401, code 20003), answering Twilio's JSON: the message resource
  (201, ``sid`` ``SM...``, ``status`` ``queued``, ``num_segments``...) or an error body
  (``code``, ``message``, ``more_info``, ``status``): a missing To / From / Body (21604, 21603,
  21602), a From that is not one of the account's numbers (21606), a To that is not a valid
  number (21211) or not a mobile one (21614), a recipient who texted STOP (21610), a body over
  1,600 characters (21617);
- a rate per sending number, counted in segments as they arrive (1 a second by default) and,
  when set, per account: beyond it HTTP 429 with code 20429 (``rate_limit=False`` turns it off);
- status callbacks to the message's ``StatusCallback``: ``sent``, then ``delivered`` (or the
  outcome set for that recipient: ``undelivered`` / ``failed`` with an ``ErrorCode``), each
  signed with the auth token in ``X-Twilio-Signature`` as Twilio computes it;
- inbound texts posted to the webhook configured for the number texted, signed likewise; a
  STOP word puts the sender on the opt-out list first, as Twilio's default opt-out handling
  does, and START words take it off. ``<Message>`` replies in the TwiML answer are recorded.
- ``GET .../Balance.json``.

Control, like the Group Texting simulator's: ``GET /_sim/messages``, ``GET /_sim/callbacks``,
``GET /_sim/inbound``, ``GET /_sim/state``; ``POST /_sim/inbound`` (From, To, Body, NumMedia,
MediaUrl0...), ``POST /_sim/fault`` (code and status, or drop; times), ``POST /_sim/opt-out``
(number), ``POST /_sim/invalid`` (number, kind=landline for 21614), ``POST /_sim/outcome``
(number, status, error_code), ``POST /_sim/webhook`` (number, url), ``POST /_sim/reset``.
In-process: ``TwilioSimulator(...).start()`` / ``stop()`` or ``with``.

The text and signature rules are written out here again on purpose rather than imported from
the service: the simulator is the independent check of them.
"""

import argparse
import asyncio
import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections import deque

from aiohttp import ClientError, web

from messaging.gateways.simulator import Fault, SimulatorServer

API_VERSION = "2010-04-01"
DEFAULT_SID = "AC" + "0" * 31 + "1"
DEFAULT_TOKEN = "simulator-auth-token"
E164 = re.compile(r"\+[1-9]\d{7,14}")
NANP = re.compile(r"\+1[2-9]\d{2}[2-9]\d{6}")
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
START_WORDS = {"START", "YES", "UNSTOP"}
HELP_WORDS = {"HELP", "INFO"}
# Twilio's default answers to the opt-out keywords on a long code.
KEYWORD_REPLIES = {
    "stop": "You have successfully been unsubscribed. You will not receive any more messages "
    "from this number. Reply START to resubscribe.",
    "start": "You have successfully been re-subscribed to messages from this number. Reply "
    "HELP for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
    "help": "Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
}
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_TWO = set("^{}\\[~]|€\f")

ERRORS = {
    20003: (401, "Authenticate"),
    20429: (429, "Too Many Requests"),
    21211: (400, "The 'To' number {to} is not a valid phone number."),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' phone number is required."),
    21604: (400, "A 'To' phone number is required."),
    21606: (
        400,
        "The 'From' phone number provided is not a valid message-capable Twilio phone "
        "number for this destination/account.",
    ),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21614: (400, "'To' number is not a valid mobile number"),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
}


def segments(body: str) -> int:
    """Twilio's count: 160 GSM-7 septets in one segment, else 153 each; 70 / 67 in UCS-2."""
    if all(char in GSM7 or char in GSM7_TWO for char in body):
        units, single, each = sum(2 if c in GSM7_TWO else 1 for c in body), 160, 153
    else:
        units, single, each = len(body.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else -(-units // each)


def signature(auth_token: str, url: str, params: dict) -> str:
    """Twilio's ``X-Twilio-Signature``: HMAC-SHA1 of the URL followed by each parameter's
    name and value, sorted by name, base64-encoded."""
    data = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


class TwilioSimulator(SimulatorServer):
    thread_name = "twilio-simulator"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        account_sid: str = DEFAULT_SID,
        auth_token: str = DEFAULT_TOKEN,
        numbers=(),
        rate_limit: bool = True,
        rate_per_number: int = 1,
        rate_per_account: int = 0,
        period: float = 1.0,
        inbound_url: str = "",
        callback_delay: float = 0.05,
        response_delay: float = 0.0,
        balance: str = "20.00",
        log=None,
    ):
        self.account_sid, self.auth_token = account_sid, auth_token
        self.initial_numbers = tuple(numbers)
        self.rate_limit, self.period = rate_limit, period
        self.rate_per_number, self.rate_per_account = rate_per_number, rate_per_account
        self.initial_inbound_url = inbound_url
        self.callback_delay = callback_delay
        self.response_delay = response_delay  # seconds before each answer to a new message
        self.balance = balance
        self.log = log
        self.lock = threading.RLock()
        self.reset()
        self.bind(host, port)

    # --- life cycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The API's base address, for TWILIO_API_BASE."""
        host, port = self.server_address
        return f"http://{host}:{port}"

    async def on_start(self) -> None:
        await self.open_callbacks(15)  # Twilio waits 15 s

    async def on_stop(self) -> None:
        await self.close_callbacks()

    def application(self) -> web.Application:
        app = web.Application()
        base = f"/{API_VERSION}/Accounts/{{account}}"
        app.router.add_post(f"{base}/Messages.json", self._create_message)
        app.router.add_get(f"{base}/Messages/{{sid}}.json", self._fetch_message)
        app.router.add_get(f"{base}/Balance.json", self._balance)
        app.router.add_get("/_sim/{listing}", self._listing)
        app.router.add_post("/_sim/{action}", self._control)
        return app

    # --- state --------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.numbers: set[str] = set(self.initial_numbers)
            self.webhooks: dict[str, str] = {}
            self.inbound_url = self.initial_inbound_url
            self.messages: list[dict] = []
            self.callbacks: list[dict] = []
            self.inbound: list[dict] = []
            self.opted_out: set[str] = set()
            self.invalid: set[str] = set()
            self.landlines: set[str] = set()
            self.outcomes: dict[str, tuple[str, str]] = {}
            self.faults: deque[Fault] = deque()
            self._arrivals: dict[str, deque[tuple[float, int]]] = {}
            self.stats = {"requests": 0, "created": 0, "rate_limited": 0, "refused": 0}

    def state(self) -> dict:
        with self.lock:
            return {
                **self.stats,
                "messages": len(self.messages),
                "opted_out": sorted(self.opted_out),
            }

    def opt_out(self, number: str) -> None:
        with self.lock:
            self.opted_out.add(number)

    def set_outcome(self, number: str, status: str, error_code: str = "") -> None:
        """What the carrier reports for texts to ``number``: delivered, undelivered, failed."""
        with self.lock:
            self.outcomes[number] = (status, error_code)

    # --- the Messages API ---------------------------------------------------------------

    def _authenticated(self, request: web.Request) -> bool:
        user, password = self.basic_auth(request) or ("", "")
        return (
            hmac.compare_digest(user, self.account_sid)
            and hmac.compare_digest(password, self.auth_token)
            and request.match_info["account"] == self.account_sid
        )

    async def _create_message(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        with self.lock:
            self.stats["requests"] += 1
            if not self._authenticated(request):
                return self._error(20003)
            fault = self.faults.popleft() if self.faults else None
            if fault and not fault.drop:
                return self._error(fault.code, fault.status)
            answer = self._take(dict(form))
        if isinstance(answer, web.Response):
            return answer
        if self.response_delay:
            await asyncio.sleep(self.response_delay)
        if fault:  # taken, then the connection closes with no answer
            request.transport.close()
            raise asyncio.CancelledError
        return web.json_response(answer, status=201)

    def _take(self, form: dict) -> dict | web.Response:
        """Check one message against the rules and the rates; its resource when taken."""
        to, sender, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        for missing, code in ((to, 21604), (sender, 21603), (body, 21602)):
            if not missing:
                return self._error(code)
        if self.numbers and sender not in self.numbers:
            return self._error(21606)
        if not E164.fullmatch(to) or (to.startswith("+1") and not NANP.fullmatch(to)):
            return self._error(21211, to=to)
        if to in self.invalid:
            return self._error(21211, to=to)
        if to in self.landlines:
            return self._error(21614)
        if len(body) > 1600:
            return self._error(21617)
        if to in self.opted_out:
            return self._error(21610)
        count = segments(body)
        if not self._within_rates(sender, count):
            self.stats["rate_limited"] += 1
            return self._error(20429)
        message = self._record(to, sender, body, count, form.get("StatusCallback", ""))
        return self._resource(message)

    def _within_rates(self, sender: str, count: int) -> bool:
        """Whether ``count`` segments from ``sender`` fit in the rates now, as they arrive:
        at most the rate in any span of one period (a text longer than the rate fits only
        into an empty span). Taken when they fit."""
        if not self.rate_limit:
            return True
        now = time.monotonic()
        budgets = [(f"number:{sender}", self.rate_per_number)]
        if self.rate_per_account:
            budgets.append(("account", self.rate_per_account))
        for key, rate in budgets:
            recent = self._arrivals.setdefault(key, deque())
            while recent and recent[0][0] <= now - self.period:
                recent.popleft()
            used = sum(segments for _, segments in recent)
            if rate and used + count > max(rate, count if not used else 0):
                return False
        for key, rate in budgets:
            if rate:
                self._arrivals[key].append((now, count))
        return True

    def _record(self, to: str, sender: str, body: str, count: int, callback: str) -> dict:
        message = {
            "sid": new_sid("SM"),
            "to": to,
            "from": sender,
            "body": body,
            "num_segments": count,
            "status": "queued",
            "status_callback": callback,
            "kind": "api",
            "time": time.time(),
        }
        self.messages.append(message)
        self.stats["created"] += 1
        if self.log:
            self.log(f"{sender} -> {to}: {body}")
        self.later(self._progress(message))
        return message

    def _resource(self, message: dict) -> dict:
        now = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(message["time"]))
        sid = message["sid"]
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": message["body"],
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": message.get("error_code"),
            "error_message": None,
            "from": message["from"],
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": str(message["num_segments"]),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": message["status"],
            "subresource_uris": {"media": f"{self._path()}/Messages/{sid}/Media.json"},
            "to": message["to"],
            "uri": f"{self._path()}/Messages/{sid}.json",
        }

    def _path(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}"

    def _error(self, code: int | None, status: int | None = None, **details) -> web.Response:
        self.stats["refused"] += 1
        if code is None:  # a bare HTTP status, e.g. a 503 from in front of the API
            return web.json_response(
                {"message": "Service unavailable", "status": status}, status=status
            )
        default_status, message = ERRORS.get(code, (400, "Error"))
        body = {
            "code": code,
            "message": message.format(**details) if details else message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status or default_status,
        }
        return web.json_response(body, status=status or default_status)

    async def _fetch_message(self, request: web.Request) -> web.Response:
        if not self._authenticated(request):
            return self._error(20003)
        with self.lock:
            found = [m for m in self.messages if m["sid"] == request.match_info["sid"]]
            if not found:
                return web.json_response(
                    {
                        "code": 20404,
                        "message": "The requested resource was not found",
                        "more_info": "https://www.twilio.com/docs/errors/20404",
                        "status": 404,
                    },
                    status=404,
                )
            return web.json_response(self._resource(found[0]))

    async def _balance(self, request: web.Request) -> web.Response:
        if not self._authenticated(request):
            return self._error(20003)
        return web.json_response(
            {"account_sid": self.account_sid, "balance": self.balance, "currency": "USD"}
        )

    # --- callbacks ----------------------------------------------------------------------

    async def _progress(self, message: dict) -> None:
        """The message goes out (``sent``), then the carrier reports its outcome."""
        with self.lock:
            final, error_code = self.outcomes.get(message["to"], ("delivered", ""))
        steps = [("sent", "")] if final != "failed" else []
        steps.append((final, error_code))
        for status, code in steps:
            await asyncio.sleep(self.callback_delay)
            with self.lock:
                message["status"] = status
                if code:
                    message["error_code"] = int(code)
            if message["status_callback"]:
                await self._status_callback(message, status, code)

    async def _status_callback(self, message: dict, status: str, error_code: str) -> None:
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "From": message["from"],
            "MessageSid": message["sid"],
            "MessageStatus": status,
            "SmsSid": message["sid"],
            "SmsStatus": status,
            "To": message["to"],
        }
        if error_code:
            params["ErrorCode"] = error_code
        call = await self.post_signed(message["status_callback"], params)
        with self.lock:
            self.callbacks.append({"sid": message["sid"], "status": status, **call})

    async def post_signed(self, url: str, params: dict) -> dict:
        """POST ``params`` to ``url`` as Twilio does, signed with the auth token."""
        headers = {"X-Twilio-Signature": signature(self.auth_token, url, params)}
        try:
            async with self._session.post(url, data=params, headers=headers) as answer:
                return {"url": url, "http_status": answer.status, "answer": await answer.text()}
        except (TimeoutError, OSError, ClientError) as exc:
            return {"url": url, "error": f"{type(exc).__name__}: {exc}"}

    # --- inbound ------------------------------------------------------------------------

    def deliver_inbound(self, sender: str, to: str, body: str, media=()) -> dict:
        """A text from ``sender`` to the account's number ``to``, posted to that number's
        webhook; from another thread than the simulator's (a test's)."""
        future = asyncio.run_coroutine_threadsafe(
            self._inbound(sender, to, body, list(media)), self._loop
        )
        return future.result(timeout=30)

    async def _inbound(self, sender: str, to: str, body: str, media: list[str]) -> dict:
        word = body.strip().upper()
        with self.lock:
            if word in STOP_WORDS:
                self.opted_out.add(sender)
                self._keyword_reply(sender, to, "stop")
            elif word in START_WORDS:
                self.opted_out.discard(sender)
                self._keyword_reply(sender, to, "start")
            elif word in HELP_WORDS:
                self._keyword_reply(sender, to, "help")
            url = self.webhooks.get(to) or self.inbound_url
        sid = new_sid("SM" if not media else "MM")
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "Body": body,
            "From": sender,
            "MessageSid": sid,
            "NumMedia": str(len(media)),
            "NumSegments": str(segments(body) if body else 1),
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": to,
        }
        for index, media_url in enumerate(media):
            params[f"MediaUrl{index}"] = media_url
            params[f"MediaContentType{index}"] = "image/jpeg"
        if word in STOP_WORDS:
            params["OptOutType"] = "STOP"
        call = await self.post_signed(url, params) if url else {"error": "no webhook for " + to}
        replies = twiml_messages(call.get("answer", ""))
        with self.lock:
            for reply in replies:
                self._reply(sender, to, reply, kind="twiml")
            record = {"sid": sid, "from": sender, "to": to, "body": body, "params": params, **call}
            self.inbound.append(record)
        return record

    def _keyword_reply(self, sender: str, to: str, keyword: str) -> None:
        """Twilio's own answer to an opt-out keyword (it still forwards the text)."""
        self._reply(sender, to, KEYWORD_REPLIES[keyword], kind=f"{keyword}-reply")

    def _reply(self, sender: str, to: str, body: str, *, kind: str) -> None:
        """A text Twilio sends back to ``sender`` on its own, not through the Messages API."""
        self.messages.append(
            {
                "sid": new_sid("SM"),
                "to": sender,
                "from": to,
                "body": body,
                "num_segments": segments(body),
                "status": "sent",
                "status_callback": "",
                "kind": kind,
                "time": time.time(),
            }
        )

    # --- control ------------------------------------------------------------------------

    async def _listing(self, request: web.Request) -> web.Response:
        with self.lock:
            listing = {
                "messages": self.messages,
                "callbacks": self.callbacks,
                "inbound": self.inbound,
                "state": self.state(),
            }.get(request.match_info["listing"])
            if listing is None:
                return web.json_response({"error": "no such listing"}, status=404)
            return web.json_response(listing)

    async def _control(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        fields = {**request.query, **(await request.post())}
        if action == "inbound":
            media = [fields[k] for k in sorted(fields) if k.startswith("MediaUrl")]
            record = await self._inbound(
                fields.get("From", ""), fields.get("To", ""), fields.get("Body", ""), media
            )
            return web.json_response(record)
        if action == "fault":
            self.inject(
                code=int(fields["code"]) if fields.get("code") else None,
                status=int(fields["status"]) if fields.get("status") else None,
                drop=fields.get("drop", "") in ("1", "true"),
                times=int(fields.get("times", 1)),
            )
        elif action == "opt-out":
            self.opt_out(fields["number"])
        elif action == "invalid":
            with self.lock:
                (self.landlines if fields.get("kind") == "landline" else self.invalid).add(
                    fields["number"]
                )
        elif action == "outcome":
            self.set_outcome(fields["number"], fields["status"], fields.get("error_code", ""))
        elif action == "webhook":
            with self.lock:
                self.webhooks[fields["number"]] = fields["url"]
        elif action == "reset":
            self.reset()
        else:
            return web.json_response({"error": f"no control {action!r}"}, status=404)
        return web.json_response(self.state())


def twiml_messages(answer: str) -> list[str]:
    """The texts of the ``<Message>`` verbs of a TwiML answer."""
    try:
        root = ElementTree.fromstring(answer) if answer.strip() else None
    except ElementTree.ParseError:
        return []
    if root is None or root.tag != "Response":
        return []
    return ["".join(element.itertext()).strip() for element in root.iter("Message")]


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(description="Run the Twilio simulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (the default) picks a free port")
    parser.add_argument("--account-sid", default=DEFAULT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_TOKEN)
    parser.add_argument(
        "--number",
        action="append",
        default=[],
        help="a number of the account (repeat); none: any From is taken",
    )
    parser.add_argument(
        "--inbound-url",
        default="",
        help="webhook for texts to every number, e.g. "
        "http://127.0.0.1:8000/webhooks/twilio/inbound",
    )
    parser.add_argument("--rate-per-number", type=int, default=1, help="segments a period")
    parser.add_argument("--rate-per-account", type=int, default=0, help="0: no account rate")
    parser.add_argument("--no-rate-limit", dest="rate_limit", action="store_false")
    parser.add_argument("--quiet", action="store_true", help="no line per message")
    return parser


def from_options(options, **extra) -> TwilioSimulator:
    return TwilioSimulator(
        host=options.host,
        port=options.port,
        account_sid=options.account_sid,
        auth_token=options.auth_token,
        numbers=options.number,
        inbound_url=options.inbound_url,
        rate_per_number=options.rate_per_number,
        rate_per_account=options.rate_per_account,
        rate_limit=options.rate_limit,
        **extra,
    )


def serve(simulator: TwilioSimulator, write=print) -> None:
    """Run in the foreground until interrupted."""
    write(f"Twilio simulator: TWILIO_API_BASE={simulator.url}")
    token = simulator.auth_token if simulator.auth_token == DEFAULT_TOKEN else "(as given)"
    write(f"TWILIO_ACCOUNT_SID={simulator.account_sid} TWILIO_AUTH_TOKEN={token}")
    write(f"Messages: GET {simulator.url}/_sim/messages. Ctrl-C stops.")
    simulator.serve_in_foreground()


if __name__ == "__main__":
    options = build_parser().parse_args()
    serve(from_options(options, log=None if options.quiet else print))
