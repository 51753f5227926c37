"""A stand-in for exactly the Stripe API endpoints accounts.payments.stripe calls, on loopback.

It checks what Stripe checks (the bearer secret key, form-encoded bodies) plus what this
service promises (an Idempotency-Key on every call that creates money movements or customers),
and answers like Stripe: objects on success, ``{"error": {...}}`` with Stripe's status codes,
``card_error`` declines with their ``decline_code``, and replays of a repeated idempotency key.

Cards behave like Stripe's test cards: 4000000000000341 attaches and then fails when charged;
the other decline cards fail when attached (Stripe checks a card when it is attached).
"""

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

SECRET_KEY = "sk_test_groupflier_stub"

# number -> (error code, decline_code) when attached
ATTACH_DECLINES = {
    "4000000000000002": ("card_declined", "generic_decline"),
    "4000000000009995": ("card_declined", "insufficient_funds"),
    "4000000000009987": ("card_declined", "lost_card"),
    "4000000000009979": ("card_declined", "stolen_card"),
    "4000000000000069": ("expired_card", None),
    "4000000000000119": ("processing_error", None),
}
CHARGE_DECLINES = {"4000000000000341": ("card_declined", "generic_decline")}
TEST_PAYMENT_METHODS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_amex": "378282246310005",
    "pm_card_discover": "6011111111111117",
    "pm_card_chargeCustomerFail": "4000000000000341",
}
# Calls this service must make with its own Idempotency-Key.
KEYED_PATHS = ("/v1/customers", "/v1/payment_intents", "/v1/refunds")


def brand(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in ("34", "37"):
        return "amex"
    if 51 <= int(number[:2]) <= 55 or 2221 <= int(number[:4]) <= 2720:
        return "mastercard"
    if number.startswith(("6011", "65")):
        return "discover"
    return "unknown"


class StripeFailure(Exception):
    def __init__(self, status: int, **error):
        self.status, self.error = status, error


def card_error(code: str, decline_code: str | None, **extra) -> StripeFailure:
    return StripeFailure(
        402,
        type="card_error",
        code=code,
        decline_code=decline_code,
        message="Your card was declined.",
        **extra,
    )


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict
    form: dict
    raw_body: str


@dataclass
class StripeStub:
    calls: list = field(default_factory=list)
    customers: dict = field(default_factory=dict)
    payment_methods: dict = field(default_factory=dict)  # id -> {"number", "exp_*", "customer"}
    intents: dict = field(default_factory=dict)
    refunds: dict = field(default_factory=dict)
    replies: dict = field(default_factory=dict)  # idempotency key -> (path, form, status, body)
    # path -> HTTP status to answer instead of doing the work, once each (a Stripe outage)
    fail_next: dict = field(default_factory=dict)
    # paths whose next call is done and then its connection dropped (an answer lost on the way)
    drop_answer_of: set = field(default_factory=set)

    def __post_init__(self):
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> str:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                stub._handle(self)

            def do_GET(self):
                stub._handle(self)

            def log_message(self, *args):
                pass  # the test's output stays quiet

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a dropped answer's connection errors are the point, not news

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    # --- what tests look at ------------------------------------------------------------------
    def calls_to(self, path_prefix: str) -> list[Recorded]:
        return [call for call in self.calls if call.path.startswith(path_prefix)]

    def succeeded_intents(self) -> list[dict]:
        return [i for i in self.intents.values() if i["status"] == "succeeded"]

    # --- the HTTP side -----------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler):
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode()
        path = handler.path.split("?")[0]
        form = dict(parse_qsl(raw, keep_blank_values=True))
        call = Recorded(handler.command, path, dict(handler.headers.items()), form, raw)
        with self._lock:
            self.calls.append(call)
            status, body = self._answer(call)
            drop = path in self.drop_answer_of
            self.drop_answer_of.discard(path)
        if drop:
            handler.close_connection = True
            handler.connection.shutdown(2)  # done at "Stripe", but the caller hears nothing
            return
        payload = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.send_header("Request-Id", f"req_{next(self._ids)}")
        handler.end_headers()
        handler.wfile.write(payload)

    def _answer(self, call: Recorded) -> tuple[int, dict]:
        if call.headers.get("Authorization") != f"Bearer {SECRET_KEY}":
            return 401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key"}}
        if call.method == "POST" and not call.headers.get("Content-Type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return 400, {"error": {"type": "invalid_request_error", "message": "Not a form"}}
        key = call.headers.get("Idempotency-Key")
        if call.path in KEYED_PATHS and not key:
            return 400, {"error": {"type": "invalid_request_error", "message": "stub: no key"}}
        if key in self.replies:
            path, form, status, body = self.replies[key]
            if (path, form) != (call.path, call.form):
                return 400, {
                    "error": {
                        "type": "idempotency_error",
                        "message": "Keys for idempotent requests can only be used with the "
                        "same parameters they were first used with.",
                    }
                }
            return status, body
        if call.path in self.fail_next:
            status = self.fail_next.pop(call.path)
            # Stripe does not keep an answer for a request it could not start.
            return status, {"error": {"type": "api_error", "message": "Stripe is unavailable"}}
        try:
            status, body = 200, self._route(call)
        except StripeFailure as failure:
            status, body = failure.status, {"error": failure.error}
        if key:
            self.replies[key] = (call.path, call.form, status, body)
        return status, body

    def _route(self, call: Recorded) -> dict:
        parts = call.path.strip("/").split("/")
        form = call.form
        if parts == ["v1", "customers"]:
            return self._create_customer(form)
        if parts == ["v1", "payment_methods"]:
            return self._create_payment_method(form)
        if len(parts) == 4 and parts[:2] == ["v1", "payment_methods"] and parts[3] == "attach":
            return self._attach(parts[2], form)
        if len(parts) == 4 and parts[:2] == ["v1", "payment_methods"] and parts[3] == "detach":
            return self._detach(parts[2])
        if parts == ["v1", "payment_intents"]:
            return self._create_intent(form)
        if parts == ["v1", "refunds"]:
            return self._create_refund(form)
        raise StripeFailure(
            404, type="invalid_request_error", message=f"Unrecognized request URL ({call.path})"
        )

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_stub{next(self._ids):06d}"

    def _create_customer(self, form):
        customer = {"id": self._new_id("cus"), "object": "customer", "email": form.get("email")}
        self.customers[customer["id"]] = customer
        return customer

    def _pm_object(self, pm_id: str) -> dict:
        pm = self.payment_methods[pm_id]
        return {
            "id": pm_id,
            "object": "payment_method",
            "type": "card",
            "customer": pm["customer"],
            "card": {
                "brand": brand(pm["number"]),
                "last4": pm["number"][-4:],
                "exp_month": pm["exp_month"],
                "exp_year": pm["exp_year"],
                "funding": "credit",
                "country": "US",
            },
            "billing_details": {"address": {"postal_code": pm["postal_code"]}},
        }

    def _create_payment_method(self, form):
        if form.get("type") != "card":
            raise StripeFailure(400, type="invalid_request_error", param="type", message="type")
        number = form.get("card[number]", "")
        if not number.isdigit():
            raise StripeFailure(
                402,
                type="card_error",
                code="incorrect_number",
                param="card[number]",
                message="Your card number is incorrect.",
            )
        pm_id = self._new_id("pm")
        self.payment_methods[pm_id] = {
            "number": number,
            "exp_month": int(form["card[exp_month]"]),
            "exp_year": int(form["card[exp_year]"]),
            "postal_code": form.get("billing_details[address][postal_code]"),
            "customer": None,
        }
        return self._pm_object(pm_id)

    def _attach(self, pm_id, form):
        if pm_id in TEST_PAYMENT_METHODS:
            # Stripe's test PaymentMethods stand for a fresh PaymentMethod of that card.
            number, pm_id = TEST_PAYMENT_METHODS[pm_id], self._new_id("pm")
            self.payment_methods[pm_id] = {
                "number": number,
                "exp_month": 12,
                "exp_year": 2034,
                "postal_code": None,
                "customer": None,
            }
        if pm_id not in self.payment_methods:
            raise StripeFailure(
                404,
                type="invalid_request_error",
                code="resource_missing",
                param="payment_method",
                message=f"No such PaymentMethod: '{pm_id}'",
            )
        if form.get("customer") not in self.customers:
            raise StripeFailure(
                404, type="invalid_request_error", code="resource_missing", param="customer"
            )
        pm = self.payment_methods[pm_id]
        if pm["number"] in ATTACH_DECLINES:
            raise card_error(*ATTACH_DECLINES[pm["number"]])
        pm["customer"] = form["customer"]
        return self._pm_object(pm_id)

    def _detach(self, pm_id):
        if pm_id not in self.payment_methods:
            raise StripeFailure(404, type="invalid_request_error", code="resource_missing")
        self.payment_methods[pm_id]["customer"] = None
        return self._pm_object(pm_id)

    def _create_intent(self, form):
        for name in ("amount", "currency", "customer", "payment_method"):
            if not form.get(name):
                raise StripeFailure(
                    400,
                    type="invalid_request_error",
                    code="parameter_missing",
                    param=name,
                    message=f"Missing required param: {name}.",
                )
        if form.get("confirm") != "true" or form.get("off_session") != "true":
            raise StripeFailure(400, type="invalid_request_error", message="stub: off-session")
        pm = self.payment_methods.get(form["payment_method"])
        if pm is None or pm["customer"] != form["customer"]:
            raise StripeFailure(
                400,
                type="invalid_request_error",
                code="resource_missing",
                param="payment_method",
                message="The PaymentMethod is not attached to this customer.",
            )
        intent = {
            "id": self._new_id("pi"),
            "object": "payment_intent",
            "amount": int(form["amount"]),
            "currency": form["currency"],
            "customer": form["customer"],
            "payment_method": form["payment_method"],
            "description": form.get("description"),
            "status": "succeeded",
        }
        if pm["number"] in CHARGE_DECLINES:
            intent["status"] = "requires_payment_method"
            self.intents[intent["id"]] = intent
            raise card_error(*CHARGE_DECLINES[pm["number"]], payment_intent=intent)
        self.intents[intent["id"]] = intent
        return intent

    def _create_refund(self, form):
        intent = self.intents.get(form.get("payment_intent"))
        if intent is None or intent["status"] != "succeeded":
            raise StripeFailure(
                400, type="invalid_request_error", code="resource_missing", param="payment_intent"
            )
        refund = {
            "id": self._new_id("re"),
            "object": "refund",
            "amount": int(form.get("amount") or intent["amount"]),
            "payment_intent": intent["id"],
            "status": "succeeded",
        }
        self.refunds[refund["id"]] = refund
        return refund
