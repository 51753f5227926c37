"""A Group Texting API simulator: the HTTP SMS API of app.grouptexting.com, on loopback.

It keeps the documented rules so a backend meets them before it meets the provider:

- ``/api/sending``: credentials (-1), 10-digit numbers (-106), subject at most 13 characters
  and subject + message at most 160 with ``~ @ # % + = / \\`` and line breaks counting two,
  only ``a-z A-Z 0-9``, space, line breaks and ``.,:;!?()~=+-_\\/@$#&%`` (-7), the global and
  local opt-out lists (-104, -5), one credit per message (-2 at zero), 1 when sent;
- ``/api/credits/check``, ``/api/keyword/check``, ``/api/credits/buy``, ``/api/keyword/rent``,
  ``/api/keyword/setup`` with their codes;
- HTTP 503 for a request beyond 2 in any second or beyond 2 at once (``rate_limit=False``
  turns it off);
- inbound texts forwarded to the webhooks as the provider does: a text whose first word is a
  keyword of the account, from a phone that got no text from the account in 12 hours, is a
  keyword submission (the keyword URL, ``PhoneNumber`` and ``Message``); anything else is an
  inbox reply (the inbox URL, ``from`` and ``message``). Without "send unique request" a
  keyword submission goes to both. With "wait for response" the webhook's answer is texted
  back to the phone.

Tests drive it in-process (``GroupTextingSimulator(...).start()``, ``messages``,
``inject``, ``deliver_inbound``, ``stop``); anything else over HTTP: ``GET /_sim/messages``,
``GET /_sim/state``, ``POST /_sim/inbound`` (from, message), ``POST /_sim/fault`` (code or
status or drop, times or every), ``POST /_sim/opt-out`` (phone, scope=local|global),
``POST /_sim/credits`` (credits), ``POST /_sim/reset``.

The text rules are written out here again on purpose rather than imported from the backend:
the simulator is the independent check of them. It needs neither Django nor an account.

It serves HTTP with aiohttp on an event loop in one thread: benchmarks push thousands of
requests a second at it from other processes on the same cores, and a request that waits (a
response delay, a webhook call) holds up no other.
"""

import argparse
import asyncio
import functools
import re
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote, urlencode, urlsplit

from aiohttp import web

from messaging.gateways.simulator import Fault, SimulatorServer

ALLOWED_TEXT = re.compile(r"[a-zA-Z0-9 \r\n.,:;!?()~=+\-_\\/@$#&%]*")
DOUBLE_WEIGHT = re.compile(r"\r\n|[\r\n~@#%+=/\\]")
CARD_TYPES = {"MC", "Visa", "AX", "DS", "JCB"}
CARD_FIELDS = (
    "firstname",
    "lastname",
    "address",
    "city",
    "state",
    "zip",
    "country",
    "type",
    "ccnumber",
    "cccode",
    "expm",
    "expy",
)
DEFAULT_AUTOREPLY = "Thank you for joining our list."
REPLY_WINDOW_SECONDS = 12 * 3600
UNAVAILABLE_KEYWORDS = {"STOP", "HELP", "INFO", "START", "TAKEN"}

SERVER = "GroupTextingSimulator/1"
IDLE_TIMEOUT = 30.0  # seconds a kept-alive connection may stay silent before it is closed
MAX_BODY = 1024 * 1024  # API calls are a few hundred bytes: anything near this is a mistake


def counted_length(text: str) -> int:
    return len(text) + len(DOUBLE_WEIGHT.findall(text)) - text.count("\r\n")


def valid_text(text: str) -> bool:
    return bool(ALLOWED_TEXT.fullmatch(text))


def luhn_ok(number: str) -> bool:
    digits = [int(d) for d in number if d.isdigit()]
    if len(digits) < 12 or len(digits) != len(number):
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def ten_digits(phone: str) -> str | None:
    phone = phone.strip()
    if phone.startswith("+1"):
        phone = phone[2:]
    return phone if re.fullmatch(r"\d{10}", phone) else None


def new_keyword() -> dict:
    """A keyword as the account gets it: the default autoreply, nothing else set up."""
    return {"autoreply": DEFAULT_AUTOREPLY, "url": "", "group": "", "email": ""}


class GroupTextingSimulator(SimulatorServer):
    thread_name = "grouptexting-simulator"
    # stop() closes kept-alive connections at once; an idle one closes after IDLE_TIMEOUT.
    runner_options = {"keepalive_timeout": IDLE_TIMEOUT, "shutdown_timeout": 0}

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        user: str = "user",
        password: str = "pass",
        credits: int = 1000,
        rate_limit: bool = True,
        rate: int = 2,
        period: float = 1.0,
        max_concurrent: int = 2,
        keywords=(),
        webhook_keyword_url: str = "",
        webhook_inbox_url: str = "",
        send_unique_request: bool = True,
        wait_for_response: bool = True,
        response_delay: float = 0.0,
        clock=time.time,
        log=None,
    ):
        self.user, self.password = user, password
        self.rate_limit, self.rate, self.period = rate_limit, rate, period
        self.max_concurrent = max_concurrent
        self.webhook_keyword_url = webhook_keyword_url
        self.webhook_inbox_url = webhook_inbox_url
        self.send_unique_request = send_unique_request
        self.wait_for_response = wait_for_response
        self.response_delay = response_delay
        self.clock = clock
        self.log = log
        self.lock = threading.RLock()
        self.initial_credits = credits
        self.initial_keywords = tuple(keywords)
        self.reset()
        self.bind(host, port)

    # --- life cycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The API's base URL, for GROUPTEXTING_BASE_URL."""
        host, port = self.server_address
        return f"http://{host}:{port}/api/"

    def application(self) -> web.Application:
        return _application(self)

    async def on_start(self) -> None:
        # Webhook calls block for as long as the webhook takes. A pool of our own, not the
        # loop's default one, because asyncio.run() waits for the default one on the way out
        # and stop() must return at once.
        self._executor = ThreadPoolExecutor(thread_name_prefix="grouptexting-webhook")

    async def on_stop(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    # --- state --------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.credits = self.initial_credits
            self.keywords = {word.upper(): new_keyword() for word in self.initial_keywords}
            self.messages: list[dict] = []
            self.inbound: list[dict] = []
            self.purchases: list[dict] = []
            self.opted_out_local: set[str] = set()
            self.opted_out_global: set[str] = set()
            self.last_outbound: dict[str, float] = {}
            self.faults: deque[Fault] = deque()
            self.fault_every: tuple[int, Fault] | None = None
            self.stats = {
                "requests": 0,
                "connections": 0,
                "rate_limited": 0,
                "in_flight": 0,
                "max_in_flight": 0,
            }
            self._recent_starts: deque[float] = deque()

    def fail_every(self, n: int | None, *, code=None, status=503, drop=False) -> None:
        """Every ``n``-th API call answers the fault (None stops it)."""
        with self.lock:
            self.fault_every = (n, Fault(code, None if code else status, drop)) if n else None

    def opt_out(self, phone: str, *, scope: str = "local") -> None:
        with self.lock:
            (self.opted_out_global if scope == "global" else self.opted_out_local).add(
                ten_digits(phone) or phone
            )

    def state(self) -> dict:
        with self.lock:
            return {
                **self.stats,
                "credits": self.credits,
                "messages": len(self.messages),
                "keywords": sorted(self.keywords),
            }

    # --- the API ------------------------------------------------------------------------

    def _admit(self) -> bool:
        """Count a request in; False when it is beyond the connection budget (HTTP 503)."""
        with self.lock:
            self.stats["requests"] += 1
            now = time.monotonic()
            while self._recent_starts and self._recent_starts[0] <= now - self.period:
                self._recent_starts.popleft()
            if self.rate_limit and (
                len(self._recent_starts) >= self.rate
                or self.stats["in_flight"] >= self.max_concurrent
            ):
                self.stats["rate_limited"] += 1
                return False
            self._recent_starts.append(now)
            self.stats["in_flight"] += 1
            self.stats["max_in_flight"] = max(self.stats["max_in_flight"], self.stats["in_flight"])
            return True

    def _done(self) -> None:
        with self.lock:
            self.stats["in_flight"] -= 1

    def _next_fault(self) -> Fault | None:
        with self.lock:
            if self.faults:
                return self.faults.popleft()
            if self.fault_every and self.stats["requests"] % self.fault_every[0] == 0:
                return self.fault_every[1]
        return None

    def call(self, path: str, params: dict, method: str) -> int:
        """Carry out one API call; its return code."""
        if params.get("user") != self.user or params.get("pass") != self.password:
            return -1
        handler = {
            "sending": self._sending,
            "credits/check": self._credits_check,
            "keyword/check": self._keyword_check,
            "credits/buy": self._credits_buy,
            "keyword/rent": self._keyword_rent,
            "keyword/setup": self._keyword_setup,
        }[path]
        with self.lock:
            return handler(params)

    def _sending(self, params: dict) -> int:
        phone = ten_digits(params.get("phonenumber", ""))
        subject, message = params.get("subject", ""), params.get("message", "")
        if phone is None:
            return -106
        if (
            not message
            or len(subject) > 13
            or not valid_text(subject)
            or not valid_text(message)
            or counted_length(subject) + counted_length(message) > 160
        ):
            return -7
        if phone in self.opted_out_global:
            return -104
        if phone in self.opted_out_local:
            return -5
        if self.credits <= 0:
            return -2
        self._record_outbound(phone, subject, message, kind="api")
        return 1

    def _record_outbound(self, phone: str, subject: str, message: str, *, kind: str) -> None:
        self.credits -= 1
        self.last_outbound[phone] = self.clock()
        self.messages.append(
            {
                "id": len(self.messages) + 1,
                "phonenumber": phone,
                "subject": subject,
                "message": message,
                "kind": kind,
                "time": self.clock(),
            }
        )

    def _credits_check(self, params: dict) -> int:
        return self.credits

    def _keyword_available(self, keyword: str) -> bool:
        return keyword not in UNAVAILABLE_KEYWORDS and keyword not in self.keywords

    def _keyword_check(self, params: dict) -> int:
        keyword = params.get("keyword", "").strip().upper()
        if not keyword:
            return -10
        return 1 if self._keyword_available(keyword) else 0

    def _card_ok(self, params: dict) -> bool:
        return (
            all(params.get(field, "").strip() for field in CARD_FIELDS)
            and params["type"] in CARD_TYPES
            and luhn_ok(params["ccnumber"])
            and re.fullmatch(r"\d{3,4}", params["cccode"]) is not None
            and re.fullmatch(r"(0[1-9]|1[0-2])", params["expm"]) is not None
            and re.fullmatch(r"\d\d", params["expy"]) is not None
        )

    def _credits_buy(self, params: dict) -> int:
        try:
            amount = int(params.get("credits", ""))
        except ValueError:
            return 0
        if amount <= 0 or not self._card_ok(params):
            return 0
        self.credits += amount
        self.purchases.append({"credits": amount, "card_last4": params["ccnumber"][-4:]})
        return 1

    def _keyword_rent(self, params: dict) -> int:
        keyword = params.get("keyword", "").strip().upper()
        if not self._card_ok(params):
            return 0
        if not keyword or not self._keyword_available(keyword):
            return 1
        self.keywords[keyword] = new_keyword()
        return 2

    def _keyword_setup(self, params: dict) -> int:
        keyword = params.get("keyword", "").strip().upper()
        if keyword not in self.keywords:
            return -2
        group, email = params.get("group", ""), params.get("email", "")
        url, autoreply = params.get("url", ""), params.get("autoreply")
        if group and not re.fullmatch(r"[A-Za-z0-9 _-]{1,30}", group):
            return -3
        if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            return -4
        if url and urlsplit(url).scheme not in ("http", "https"):
            return -5
        if autoreply is not None and (
            not autoreply.strip() or not valid_text(autoreply) or counted_length(autoreply) > 160
        ):
            return -7
        entry = self.keywords[keyword]
        for field, value in (("group", group), ("email", email), ("url", url)):
            if value:
                entry[field] = value
        if autoreply is not None:
            entry["autoreply"] = autoreply
        return 1

    # --- inbound ------------------------------------------------------------------------

    def deliver_inbound(self, phone: str, message: str) -> dict:
        """A text from ``phone`` to the account's long code, forwarded as the provider does.

        Returns what happened: the route (``keyword`` or ``inbox``) and each webhook call.
        """
        phone = ten_digits(phone) or phone
        with self.lock:
            words = message.split()
            keyword = words[0].upper() if words else ""
            since_outbound = self.clock() - self.last_outbound.get(phone, float("-inf"))
            is_submission = keyword in self.keywords and since_outbound > REPLY_WINDOW_SECONDS
        calls = []
        if is_submission:
            url = self.keywords[keyword]["url"] or self.webhook_keyword_url
            if url:
                calls.append(self._call_webhook(url, {"PhoneNumber": phone, "Message": message}))
        if (not is_submission or not self.send_unique_request) and self.webhook_inbox_url:
            calls.append(
                self._call_webhook(self.webhook_inbox_url, {"from": phone, "message": message})
            )
        reply = next((c["reply"] for c in calls if c.get("reply")), "")
        if is_submission and not reply:
            reply = self.keywords[keyword]["autoreply"]
        record = {
            "from": phone,
            "message": message,
            "route": "keyword" if is_submission else "inbox",
            "calls": calls,
            "reply": None,
        }
        if reply and (not calls or self.wait_for_response):
            with self.lock:
                if valid_text(reply) and counted_length(reply) <= 160 and self.credits > 0:
                    self._record_outbound(phone, "", reply, kind="autoreply")
                    record["reply"] = reply
        with self.lock:
            self.inbound.append(record)
        return record

    def _call_webhook(self, url: str, params: dict) -> dict:
        full = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
        call = {"url": url, "params": params}
        try:
            with urllib.request.urlopen(full, timeout=60) as response:
                call["status"] = response.status
                call["reply"] = response.read(1000).decode("utf-8", "replace").strip()
        except urllib.error.HTTPError as exc:
            call["status"] = exc.code
        except (urllib.error.URLError, OSError) as exc:
            call["error"] = str(exc)
        return call


# --- HTTP -----------------------------------------------------------------------------------

API_CALLS = {
    "sending",
    "credits/check",
    "keyword/check",
    "credits/buy",
    "keyword/rent",
    "keyword/setup",
}
POST_ONLY_CALLS = {"credits/buy", "keyword/rent"}


def request_params(query: str, body: bytes) -> dict:
    """The query string's parameters, then the form body's (whatever its Content-Type, as the
    provider reads it): the last value of a name wins (the body's over the query's), and
    names are lower-cased."""
    params = form_fields(query) if query else {}
    if body:
        params.update(form_fields(body.decode("utf-8", "replace")))
    return {key.lower(): value for key, value in params.items()}


def form_fields(text: str) -> dict:
    """``dict(parse_qsl(text, keep_blank_values=True))`` at a quarter of its cost, which is
    worth it at thousands of requests a second: ``+`` is never ``&`` or ``=``, so it can
    become a space before the split, and most fields have nothing to unquote."""
    fields = {}
    for field in text.replace("+", " ").split("&"):
        if field:
            name, _, value = field.partition("=")
            if "%" in field:
                name, value = unquote(name), unquote(value)
            fields[name] = value
    return fields


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, headers={"Server": SERVER})


def _json(data) -> web.Response:
    return web.json_response(data, headers={"Server": SERVER})


def _application(sim: GroupTextingSimulator) -> web.Application:
    """The API under ``/api/`` and the control endpoints under ``/_sim/``."""
    connections = weakref.WeakSet()  # the connections seen, to count new ones

    async def dispatch(request: web.Request) -> web.StreamResponse:
        if request.transport not in connections:
            connections.add(request.transport)
            with sim.lock:
                sim.stats["connections"] += 1
        if request.method not in ("GET", "POST"):
            return _text(501, f"Unsupported method ({request.method!r})")
        path = request.path.strip("/")
        params = request_params(request.query_string, await request.read())
        if path.startswith("api/"):
            return await _api(sim, request, path.removeprefix("api/"), params)
        if path.startswith("_sim/"):
            return await _control(sim, path.removeprefix("_sim/"), params, request.method)
        return _text(404, "not found")

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_route("*", "/{path:.*}", dispatch)
    return app


async def _api(sim, request: web.Request, call: str, params: dict) -> web.StreamResponse:
    method = request.method
    if call not in API_CALLS:
        return _text(404, "not found")
    if call in POST_ONLY_CALLS and method != "POST":
        return _text(405, "must be passed via POST")
    if not sim._admit():
        return _text(503, "Service Temporarily Unavailable")
    try:
        if sim.response_delay:
            await asyncio.sleep(sim.response_delay)
        fault = sim._next_fault()
        if fault and fault.status:
            return _text(fault.status, "fault")
        code = fault.code if fault and fault.code is not None else None
        if code is None:
            code = sim.call(call, params, method)
        if sim.log:
            sim.log(f"{method} /api/{call} {params.get('phonenumber', '')} -> {code}")
        if fault and fault.drop:
            # Carried out, then the connection closes with no answer.
            request.transport.abort()
            raise web.HTTPServiceUnavailable()  # never written: the connection is gone
        return _text(200, str(code))
    finally:
        sim._done()


async def _control(sim, action: str, params: dict, method: str) -> web.StreamResponse:
    if method == "GET" and action == "messages":
        phone = ten_digits(params.get("phone", "")) or params.get("phone")
        with sim.lock:
            found = [m for m in sim.messages if not phone or m["phonenumber"] == phone]
        return _json(found)
    if method == "GET" and action == "state":
        return _json(sim.state())
    if method != "POST":
        return _text(405, "POST only")
    if action == "inbound":
        # The webhooks are our own app, which may take its time: not on the event loop.
        deliver = functools.partial(
            sim.deliver_inbound, params.get("from", ""), params.get("message", "")
        )
        return _json(await asyncio.get_running_loop().run_in_executor(sim._executor, deliver))
    if action == "fault":
        options = {
            "code": int(params["code"]) if params.get("code") else None,
            "status": int(params["status"]) if params.get("status") else None,
            "drop": params.get("drop") in ("1", "true"),
        }
        if params.get("every"):
            sim.fail_every(int(params["every"]), **options)
        else:
            sim.inject(times=int(params.get("times") or 1), **options)
        return _json({"ok": True})
    if action == "opt-out":
        sim.opt_out(params.get("phone", ""), scope=params.get("scope", "local"))
        return _json({"ok": True})
    if action == "credits":
        with sim.lock:
            sim.credits = int(params.get("credits", "0"))
        return _json(sim.state())
    if action == "reset":
        sim.reset()
        return _json({"ok": True})
    return _text(404, "not found")


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(description="Run the Group Texting simulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025, help="0 picks a free port")
    parser.add_argument("--user", default="user")
    parser.add_argument("--pass", dest="password", default="pass")
    parser.add_argument("--credits", type=int, default=1000)
    parser.add_argument(
        "--no-rate-limit", dest="rate_limit", action="store_false", help="never answer 503"
    )
    parser.add_argument("--keyword", action="append", default=[], help="a keyword owned (repeat)")
    parser.add_argument("--webhook-keyword", default="", help="URL for keyword submissions")
    parser.add_argument("--webhook-inbox", default="", help="URL for inbox replies")
    parser.add_argument(
        "--no-unique-request",
        dest="send_unique_request",
        action="store_false",
        help="send keyword submissions to the inbox URL too",
    )
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument(
        "--quiet", action="store_true", help="no line per API call (for load: a write each)"
    )
    return parser


def from_options(options, **extra) -> GroupTextingSimulator:
    return GroupTextingSimulator(
        host=options.host,
        port=options.port,
        user=options.user,
        password=options.password,
        credits=options.credits,
        rate_limit=options.rate_limit,
        keywords=options.keyword,
        webhook_keyword_url=options.webhook_keyword,
        webhook_inbox_url=options.webhook_inbox,
        send_unique_request=options.send_unique_request,
        response_delay=options.delay,
        **extra,
    )


def serve(simulator: GroupTextingSimulator, write=print) -> None:
    """Run in the foreground until interrupted."""
    write(f"Group Texting simulator: GROUPTEXTING_BASE_URL={simulator.url}")
    write(f"Messages: GET {simulator.url.removesuffix('api/')}_sim/messages. Ctrl-C stops.")
    simulator.serve_in_foreground()


if __name__ == "__main__":
    options = build_parser().parse_args()
    serve(from_options(options, log=None if options.quiet else print))
