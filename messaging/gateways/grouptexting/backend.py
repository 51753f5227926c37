"""Group Texting (app.grouptexting.com), through its HTTP SMS API.

Every text goes to ``/api/sending`` as a form POST (user, pass, phonenumber, subject, message):
the number as the ten digits the API takes, the sender's name as the subject, the text made
plain and cut to the provider's rules (``text``). Every answer becomes a return
value or a ``GatewayError`` whose ``effect`` says what follows; -1 and -2 also pause the
gateway (``state.pause_gateway``) until a credit check or an admin resumes it.

Connections: urllib3's pool of kept-alive HTTP/1.1 connections, one pool per process; each
request and its answer go through http.client on them (``_Connection``). Every request,
account calls included, first takes a slot of the shared budget (``ratelimit``:
``GROUPTEXTING_RATE`` requests and ``GROUPTEXTING_MAX_CONNECTIONS`` at once, across all
processes and machines), waiting for it rather than being refused with a 503. No request is
ever sent twice once it went out whole: only one that could not be written is tried again.

Settings (read here, from the environment or Django's settings: ``provider_setting``):
``GROUPTEXTING_USER``, ``GROUPTEXTING_PASSWORD``, ``GROUPTEXTING_BASE_URL``,
``GROUPTEXTING_RATE``, ``GROUPTEXTING_MAX_CONNECTIONS``, ``GROUPTEXTING_TIMEOUT``,
``GROUPTEXTING_MAX_WAIT``; each may be overridden by ``GROUPFLIER_SMS_GATEWAY_OPTIONS``
(``user``, ``password``, ``base_url``, ``rate``, ``max_connections``, ``timeout``, ``max_wait``).
"""

import http.client
import logging
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlencode, urlsplit

import urllib3
from django.core.exceptions import ImproperlyConfigured
from urllib3.exceptions import EmptyPoolError

from groupflier.backends import provider_setting
from messaging.gateways.base import BaseGateway, ErrorEffect, GatewayError
from messaging.gateways.grouptexting import text as rules
from messaging.gateways.ratelimit import LimiterError, connection_limiter
from messaging.gateways.state import pause_gateway

logger = logging.getLogger("groupflier.sms.grouptexting")

DEFAULT_BASE_URL = "https://app.grouptexting.com/api/"

HEADERS = {"User-Agent": "GroupFlier", "Content-Type": "application/x-www-form-urlencoded"}

SEND_ANSWERS = {
    -1: (ErrorEffect.PAUSE_GATEWAY, "invalid user or password (is the account API-enabled?)"),
    -2: (ErrorEffect.PAUSE_GATEWAY, "credit limit reached"),
    -5: (ErrorEffect.RECIPIENT_OPTED_OUT_LOCALLY, "the number is on the account's opt-out list"),
    -7: (ErrorEffect.FAIL, "invalid message or subject (too long or invalid characters)"),
    -10: (ErrorEffect.RETRY, "unknown error at Group Texting"),
    -104: (
        ErrorEffect.RECIPIENT_OPTED_OUT_GLOBALLY,
        "the number opted out of all messages from Group Texting's long code",
    ),
    -106: (ErrorEffect.BAD_NUMBER, "incorrectly formatted phone number"),
}

_INVALID_LOGIN = "invalid user or password (is the account API-enabled?)"
_UNKNOWN_ERROR = "unknown error at Group Texting"

# The account calls: their documented paths and answers. (credits/check answers the balance.)
ACCOUNT_ANSWERS = {
    "credits/check": {-1: _INVALID_LOGIN, -10: _UNKNOWN_ERROR},
    "keyword/check": {
        1: "the keyword is available",
        0: "the keyword is not available",
        -1: _INVALID_LOGIN,
        -2: "declined: less than the $5.00 minimum purchase",
        -10: _UNKNOWN_ERROR,
    },
    "credits/buy": {
        1: "the purchase succeeded",
        0: "the purchase was declined",
        -1: _INVALID_LOGIN,
        -10: _UNKNOWN_ERROR,
    },
    "keyword/rent": {
        2: "the keyword is rented",
        1: "the keyword is not available",
        0: "the request was declined",
        -1: _INVALID_LOGIN,
        -10: _UNKNOWN_ERROR,
    },
    "keyword/setup": {
        1: "updated",
        -1: _INVALID_LOGIN,
        -2: "invalid keyword",
        -3: "invalid group name",
        -4: "invalid email",
        -5: "invalid URL",
        -7: "invalid autoreply (blank, too long or invalid characters)",
        -10: _UNKNOWN_ERROR,
    },
}
ACCOUNT_SUCCESS = {"keyword/check": {0, 1}, "credits/buy": {1}, "keyword/rent": {2}}


@dataclass(frozen=True)
class Card:
    """A payment card for credits/buy and keyword/rent. Its repr shows only the type and the
    last four digits, and nothing here logs the parameters it becomes."""

    first_name: str
    last_name: str
    address: str
    city: str
    state: str
    zip: str
    country: str
    type: str  # MC, Visa, AX, DS or JCB
    number: str
    code: str
    exp_month: str  # two digits
    exp_year: str  # two digits

    def as_params(self) -> dict:
        return {
            "FirstName": self.first_name,
            "LastName": self.last_name,
            "Address": self.address,
            "City": self.city,
            "State": self.state,
            "Zip": self.zip,
            "Country": self.country,
            "Type": self.type,
            "CCNumber": self.number.replace(" ", "").replace("-", ""),
            "CCCode": self.code,
            "Expm": self.exp_month,
            "Expy": self.exp_year,
        }

    def __repr__(self):
        return f"Card({self.type} ending in {self.number[-4:]})"


@dataclass(frozen=True)
class AccountAnswer:
    call: str
    code: int
    meaning: str
    ok: bool

    def __str__(self):
        return f"{self.call}: {self.code} ({self.meaning})"


class WriteError(Exception):
    """The request did not go out whole, so the provider cannot have acted on it."""

    def __init__(self, cause: OSError, *, reused: bool):
        super().__init__(f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__)
        self.timed_out = isinstance(cause, TimeoutError)
        self.reused = reused


class ConnectError(Exception):
    """No connection could be made (refused, unreachable, timed out, TLS refused): nothing
    was sent."""

    def __init__(self, cause: Exception):
        super().__init__(str(cause))
        self.reason = cause  # what _describe reports


class _Connection(urllib3.connection.HTTPConnection):
    """urllib3's connection (it connects, with TLS and proxies, and its pool keeps it alive,
    checks it before reuse and caps how many there are), exchanging a request and its answer
    through http.client, which urllib3 is built on.

    urllib3's own request and answer objects cost as much CPU again as the exchange itself,
    about 50 microseconds a post, which a fan-out of thousands a second pays on every part
    (``bench/client_calls`` measures the two side by side).

    It also tells a request that could not be written from an answer that did not come:
    the first can be sent again, the second must never be."""

    reused = False  # it carried a request and its answer before this one
    _head: bytes | None = None  # the request's head, held until its body comes
    _holding = False

    def connect(self):
        self.reused = False
        super().connect()

    def send(self, data):
        # http.client writes a request's head and body apart; on a fan-out of thousands a
        # second the second write, and the second read it makes at the other end, cost more
        # than building the request (bench/fanout).
        if self._holding:
            if self._head is None:
                self._head = data
                return
            data, self._head, self._holding = self._head + data, None, False
        try:
            super().send(data)
        except OSError as exc:
            raise WriteError(exc, reused=self.reused) from None

    def exchange(self, url: str, body: bytes, headers: dict) -> tuple[int, bytes, bool]:
        """POST ``body`` to ``url``: the answer's status and body, and whether the connection
        must be closed after it. Raises ``ConnectError``, ``WriteError``, or for an answer
        that did not come whole ``OSError`` or ``http.client.HTTPException``."""
        if self.sock is None:
            try:
                self.connect()
            except (OSError, urllib3.exceptions.HTTPError) as exc:
                raise ConnectError(exc) from None
        self._holding = bool(body)  # the head waits for the body, to go in one write
        try:
            http.client.HTTPConnection.request(self, "POST", url, body, headers)
        finally:
            self._holding, self._head = False, None
        answer = http.client.HTTPConnection.getresponse(self)
        data = answer.read()
        self.reused = True
        return answer.status, data, answer.will_close


class _TlsConnection(_Connection, urllib3.connection.HTTPSConnection):
    pass


def connection_pool(
    base_url: str, *, timeout: float, max_connections: int
) -> urllib3.HTTPConnectionPool:
    """Kept-alive connections to the API's host for one process. With ``max_connections`` a
    request waits up to ``timeout`` for a free one; without, extra ones are opened as needed
    and only some kept."""
    pool = urllib3.connection_from_url(
        base_url,
        maxsize=max_connections or 10,
        block=bool(max_connections),
        # A socket keeps the timeout it connects with: each read waits as long, too.
        timeout=urllib3.Timeout(connect=timeout, read=timeout),
        retries=False,
    )
    pool.ConnectionCls = _TlsConnection if pool.scheme == "https" else _Connection
    return pool


@lru_cache(maxsize=256)
def _text_fields(sender_name: str, part: str) -> str | None:
    """The subject and message of a part, made plain and form-encoded; None when they do not
    fit in one message. Kept: a fan-out sends the same part to every member."""
    subject, message = rules.to_subject(sender_name), rules.to_plain(part)
    if not rules.fits(subject, message):
        return None
    return urlencode({"subject": subject, "message": message})


class GroupTextingGateway(BaseGateway):
    command_mark = "#"  # its character set has no `*` (SPEC §3)

    def __init__(
        self,
        *,
        user: str | None = None,
        password: str | None = None,
        base_url: str | None = None,
        rate: str | None = None,
        max_connections: int | None = None,
        timeout: float | None = None,
        max_wait: float | None = None,
        **options,
    ):
        super().__init__(**options)
        self.user = user if user is not None else provider_setting("GROUPTEXTING_USER", "")
        self.password = (
            password if password is not None else provider_setting("GROUPTEXTING_PASSWORD", "")
        )
        self.base_url = base_url or provider_setting("GROUPTEXTING_BASE_URL", DEFAULT_BASE_URL)
        # The provider allows 2 connections a second from all our processes ("off": no rate).
        self.rate = rate if rate is not None else provider_setting("GROUPTEXTING_RATE", "2/second")
        self.max_connections = (
            max_connections
            if max_connections is not None
            else provider_setting("GROUPTEXTING_MAX_CONNECTIONS", 2, int)  # 0: no cap
        )
        # Seconds per network step; then how long a request may wait for a slot of the budget.
        self.timeout = timeout or provider_setting("GROUPTEXTING_TIMEOUT", 30, float)
        self.max_wait = max_wait or provider_setting("GROUPTEXTING_MAX_WAIT", 300, float)
        if not (self.user and self.password):
            raise ImproperlyConfigured(
                "The Group Texting gateway needs GROUPTEXTING_USER and GROUPTEXTING_PASSWORD"
            )
        if urlsplit(self.base_url).scheme not in ("http", "https"):
            raise ImproperlyConfigured(f"GROUPTEXTING_BASE_URL {self.base_url!r} is not a URL")
        self._login = urlencode({"user": self.user, "pass": self.password})
        # Calls are relative to the base URL's path.
        self.prefix = urlsplit(self.base_url).path.rstrip("/") + "/"
        self._pool: urllib3.HTTPConnectionPool | None = None
        self._pool_pid = 0
        self._lock = threading.Lock()
        self._limiter = None

    # --- texts --------------------------------------------------------------------------

    def split(self, text: str, sender_name: str = "") -> list[str]:
        return rules.split(text, rules.to_subject(sender_name))

    def send_part(self, to: str, part: str, *, from_number: str = "", sender_name: str = "") -> str:
        """Send one part. Group Texting sends from its own long code, so ``from_number`` is
        not used, and gives no message reference, so this returns ""."""
        phone = rules.to_ten_digits(to)
        if phone is None:
            raise GatewayError(
                f"{to} is not a North American number: Group Texting sends to +1 numbers only",
                code="unsupported_number",
                effect=ErrorEffect.FAIL,
            )
        text = _text_fields(sender_name, part)
        if text is None:
            raise GatewayError(
                "the text does not fit in one message: send the parts split() gives",
                code="too_long",
                effect=ErrorEffect.FAIL,
            )
        code = self._post("sending", f"phonenumber={phone}&{text}")
        if code == 1:
            return ""
        if code in SEND_ANSWERS:
            effect, meaning = SEND_ANSWERS[code]
        elif code < 0:  # every negative answer is a text not sent
            effect, meaning = ErrorEffect.RETRY, "an undocumented error"
        else:
            effect, meaning = ErrorEffect.OUTCOME_UNKNOWN, "an undocumented answer"
        reason = f"Group Texting answered {code}: {meaning}"
        if effect is ErrorEffect.PAUSE_GATEWAY:
            pause_gateway(self, reason)
        raise GatewayError(reason, code=str(code), effect=effect)

    # --- account ------------------------------------------------------------------------

    def check_credits(self) -> int:
        code = self._call("credits/check/")
        if code >= 0:
            return code
        meaning = ACCOUNT_ANSWERS["credits/check"].get(code, "an undocumented error")
        reason = f"Group Texting answered {code} to credits/check: {meaning}"
        if code == -1:
            pause_gateway(self, reason)
            raise GatewayError(reason, code="-1", effect=ErrorEffect.PAUSE_GATEWAY)
        raise GatewayError(reason, code=str(code), effect=ErrorEffect.RETRY)

    def check_keyword(self, keyword: str) -> AccountAnswer:
        return self._account("keyword/check", Keyword=keyword)

    def buy_credits(self, card: Card, credits: int) -> AccountAnswer:
        return self._account("credits/buy", **card.as_params(), Credits=str(credits))

    def rent_keyword(self, card: Card, keyword: str) -> AccountAnswer:
        return self._account("keyword/rent", **card.as_params(), Keyword=keyword)

    def setup_keyword(
        self,
        keyword: str,
        *,
        group: str | None = None,
        autoreply: str | None = None,
        email: str | None = None,
        url: str | None = None,
    ) -> AccountAnswer:
        optional = {"Group": group, "Autoreply": autoreply, "Email": email, "URL": url}
        given = {name: value for name, value in optional.items() if value is not None}
        return self._account("keyword/setup", Keyword=keyword, **given)

    def _account(self, call: str, **params) -> AccountAnswer:
        code = self._call(f"{call}/", **params)
        meaning = ACCOUNT_ANSWERS[call].get(code, "an undocumented answer")
        return AccountAnswer(call, code, meaning, code in ACCOUNT_SUCCESS.get(call, {1}))

    # --- transport ----------------------------------------------------------------------

    @property
    def limiter(self):
        if self._limiter is None:
            with self._lock:
                self._limiter = self._limiter or connection_limiter(
                    f"grouptexting:{urlsplit(self.base_url).netloc}",
                    rate=self.rate,
                    max_concurrent=self.max_connections,
                    max_wait=self.max_wait,
                    # A request lasts at most its pool wait, connect, write and read timeouts.
                    lease_seconds=4 * self.timeout + 5,
                )
        return self._limiter

    @property
    def connections(self) -> urllib3.HTTPConnectionPool:
        """This process's connections: created on first use, and again in a forked child,
        which must not share its parent's sockets."""
        if self._pool_pid != os.getpid():
            with self._lock:
                if self._pool_pid != os.getpid():
                    self._pool = connection_pool(
                        self.base_url, timeout=self.timeout, max_connections=self.max_connections
                    )
                    self._pool_pid = os.getpid()
        return self._pool

    def close(self) -> None:
        """Close this process's idle connections."""
        if self._pool is not None and self._pool_pid == os.getpid():
            self._pool.close()

    def _call(self, path: str, **params) -> int:
        """POST one API call; its numeric answer. Parameters are never logged (they hold the
        password, and for credits/buy and keyword/rent a card)."""
        return self._post(path, urlencode(params))

    def _post(self, path: str, form: str) -> int:
        """``_call`` with the parameters already form-encoded (``form``), credentials aside."""
        request = f"{self._login}&{form}" if form else self._login
        try:
            with self.limiter.slot():
                status, answer = self._request(path, request.encode())
        except LimiterError as exc:
            raise GatewayError(str(exc), code="rate_limiter", effect=ErrorEffect.RETRY) from None
        except (ConnectError, EmptyPoolError) as exc:
            # No connection (refused, unreachable, TLS refused, none free): nothing was sent.
            raise GatewayError(
                f"cannot connect to Group Texting: {_describe(exc)}",
                code="connect_error",
                effect=ErrorEffect.RETRY,
            ) from None
        except WriteError as exc:
            # The request did not get through whole, so the provider cannot have acted on it.
            raise GatewayError(
                f"the request to Group Texting broke off: {exc}",
                code="write_error",
                effect=ErrorEffect.RETRY,
            ) from None
        except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError) as exc:
            # Sent, then no answer (timeout, connection closed, not HTTP): the provider may
            # have it.
            raise GatewayError(
                f"no answer from Group Texting: {_describe(exc)}",
                code="no_response",
                effect=ErrorEffect.OUTCOME_UNKNOWN,
            ) from None
        if status != 200:
            raise GatewayError(
                f"Group Texting answered HTTP {status}",
                code=f"http_{status}",
                effect=ErrorEffect.RETRY,
            )
        text = answer.decode("utf-8", "replace")
        try:
            code = int(text.strip())
        except ValueError:
            raise GatewayError(
                f"Group Texting answered {text[:60]!r}, not a code",
                code="bad_answer",
                effect=ErrorEffect.OUTCOME_UNKNOWN,
            ) from None
        logger.debug("Group Texting %s -> %s", path, code)
        return code

    def _request(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST ``body`` to the base URL's path + ``path``: the answer's status and body.

        A request that could not be written on a kept-alive connection (the server closed it
        as we took it) goes once more, on another connection; a timeout is not that, and
        trying again would double the wait.
        """
        url = self.prefix + path.lstrip("/")
        try:
            return self._exchange(url, body)
        except WriteError as exc:
            if not exc.reused or exc.timed_out:
                raise
            return self._exchange(url, body)

    def _exchange(self, url: str, body: bytes) -> tuple[int, bytes]:
        """One exchange on a connection of the pool, given back to it after; closed first
        unless it ended with a whole answer on a connection that stays open."""
        pool = self.connections
        # The pool's own take and give-back, as its urlopen uses them (urllib3 is pinned in
        # requirements/base.txt; tests/gateways/grouptexting cover the cap, the wait for a free
        # connection and a dropped kept-alive one). Waits up to the timeout for a free one
        # when max_connections caps them; a kept one the server closed is replaced.
        connection = pool._get_conn(timeout=self.timeout)
        keep = False
        try:
            status, data, will_close = connection.exchange(url, body, HEADERS)
            keep = not will_close
            return status, data
        finally:
            if not keep:
                connection.close()
            pool._put_conn(connection)


def _describe(exc: Exception) -> str:
    """The innermost cause of a urllib3 error, without its pool's repr."""
    reason = getattr(exc, "reason", None) or (exc.args[-1] if exc.args else None)
    if isinstance(reason, BaseException) and reason is not exc:
        return _describe(reason)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
