"""Group Texting (app.grouptexting.com), through its HTTP SMS API.

Every text goes to ``/api/sending`` as a form POST (user, pass, phonenumber, subject, message):
the number as the ten digits the API takes, the sender's name as the subject, the text made
plain and cut to the provider's rules (``grouptexting_text``). Every answer becomes a return
value or a ``GatewayError`` whose ``effect`` says what follows; -1 and -2 also pause the
gateway (``state.pause_gateway``) until a credit check or an admin resumes it.

Connections: a small pool of kept-alive HTTP/1.1 connections per process, reused as the
provider asks. A fan-out sends thousands of texts a second, so the exchange is kept cheap: each
request leaves in one write, and the answer (a number) is read by ``read_answer`` rather than
by httpx or http.client, which cost several times the rest of a send. Every request, account calls
included, first takes a slot of the shared budget (``ratelimit``: ``GROUPTEXTING_RATE``
requests and ``GROUPTEXTING_MAX_CONNECTIONS`` at once, across all processes and machines),
waiting for it rather than being refused with a 503.

Settings: ``GROUPTEXTING_USER``, ``GROUPTEXTING_PASSWORD``, ``GROUPTEXTING_BASE_URL``,
``GROUPTEXTING_RATE``, ``GROUPTEXTING_MAX_CONNECTIONS``, ``GROUPTEXTING_TIMEOUT``,
``GROUPTEXTING_MAX_WAIT``; each may be overridden by ``GROUPFLIER_SMS_GATEWAY_OPTIONS``
(``user``, ``password``, ``base_url``, ``rate``, ``max_connections``, ``timeout``, ``max_wait``).
"""

import logging
import os
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from messaging.gateways import grouptexting_text as rules
from messaging.gateways.base import BaseGateway, ErrorEffect, GatewayError
from messaging.gateways.ratelimit import LimiterError, connection_limiter
from messaging.gateways.state import pause_gateway

logger = logging.getLogger("groupflier.sms.grouptexting")

# Seconds an idle connection is kept for reuse: shorter than a server's usual keep-alive
# timeout (5 s), so a connection is not reused just as the server closes it.
KEEPALIVE_EXPIRY = 2.0

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


class TransportError(Exception):
    """A request that got no HTTP answer; the subclass says how far it got."""

    def __init__(self, cause: BaseException | str):
        if isinstance(cause, BaseException):
            cause = f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__
        super().__init__(cause)


class ConnectError(TransportError):
    """No connection: nothing was sent."""


class WriteError(TransportError):
    """The request did not go out whole, so the provider cannot have acted on it."""


class NoResponseError(TransportError):
    """The request went out whole, then no complete answer came: the provider may have it."""


class Connection:
    """One kept-alive HTTP/1.1 connection: its socket and a buffered reader over it."""

    def __init__(self):
        self.sock: socket.socket | None = None
        self.reader = None

    def open(self, host: str, port: int, timeout: float, tls: ssl.SSLContext | None) -> None:
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            # A request leaves in one write; nothing to gain from waiting to fill a segment.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        self.sock, self.reader = sock, sock.makefile("rb")

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
        if self.sock is not None:
            self.sock.close()
        self.sock = self.reader = None


class BadAnswer(Exception):
    """An answer that is not HTTP/1.x as it should be, or that stopped short."""


# Bounds on an answer's head, against a server (or something in between) that sends junk.
MAX_LINE, MAX_HEADERS = 8192, 100


def read_answer(reader) -> tuple[int, bytes, bool]:
    """Read one HTTP/1.x answer: (status, body, whether the connection may be reused).

    The provider's answers are a few bytes of text; this reads exactly what HTTP/1.1 allows
    (Content-Length, chunked, or until the server closes; interim 1xx answers skipped) and
    nothing more. Written out here rather than through http.client, whose header parsing
    (the email package) cost more than the rest of a send.
    """
    while True:
        status_line = _line(reader)
        version, _, rest = status_line.partition(b" ")
        if version not in (b"HTTP/1.1", b"HTTP/1.0") or not rest[:3].isdigit():
            raise BadAnswer(f"not an HTTP/1.x status line: {status_line[:40]!r}")
        status = int(rest[:3])
        headers = {}
        for count in range(MAX_HEADERS + 1):
            if not (line := _line(reader)):
                break
            name, colon, value = line.partition(b":")
            if not colon or count == MAX_HEADERS:
                raise BadAnswer("a malformed header block")
            headers[name.strip().lower()] = value.strip()
        if not 100 <= status < 200:
            break
    keep_alive = version == b"HTTP/1.1" and headers.get(b"connection", b"").lower() != b"close"
    if status in (204, 304):
        return status, b"", keep_alive
    if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
        return status, _chunked(reader), keep_alive
    if b"content-length" in headers:
        length = headers[b"content-length"]
        if not length.isdigit():
            raise BadAnswer(f"Content-Length {length[:20]!r}")
        return status, _exactly(reader, int(length)), keep_alive
    return status, reader.read(), False  # the body ends where the server closes


def _line(reader) -> bytes:
    """One line of the head without its line break; b"" for the blank line that ends it."""
    line = reader.readline(MAX_LINE + 1)
    if not line.endswith(b"\n"):
        raise BadAnswer("the answer broke off" if len(line) <= MAX_LINE else "a line too long")
    return line.rstrip(b"\r\n")


def _exactly(reader, size: int) -> bytes:
    data = reader.read(size)
    if len(data) != size:
        raise BadAnswer(f"the body broke off after {len(data)} of {size} bytes")
    return data


def _chunked(reader) -> bytes:
    body = []
    while True:
        size = _line(reader).split(b";", 1)[0].strip()
        try:
            length = int(size, 16)
        except ValueError:
            raise BadAnswer(f"a chunk size {size[:20]!r}") from None
        if length == 0:
            while _line(reader):  # trailers, up to the blank line
                pass
            return b"".join(body)
        body.append(_exactly(reader, length))
        if _line(reader):
            raise BadAnswer("a chunk longer than its size")


class ConnectionPool:
    """Kept-alive HTTP/1.1 connections to the API's host, shared by the threads of one process.

    Idle connections wait on a stack with the time they were last used: the most recent is
    reused first, so that in a quiet spell the others age out and are closed.
    """

    def __init__(self, base_url: str, *, timeout: float, max_connections: int | None):
        url = urlsplit(base_url)
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        # The Host header names a port only when it is not the scheme's own.
        self.authority = url.netloc.rpartition("@")[2]
        # Calls are relative to the base URL's path, as they were with httpx's base_url.
        self.prefix = url.path.rstrip("/") + "/"
        self.timeout = timeout
        self.max_connections = max_connections or 0
        # Loading the CA certificates takes milliseconds: once per process, not per connection.
        self._tls = ssl.create_default_context() if url.scheme == "https" else None
        self._idle: list[tuple[Connection, float]] = []
        self._open = 0  # idle, in use, and being connected
        self._changed = threading.Condition()

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST a form to the base URL's path + ``path``; the answer's status and whole body.

        Raises a ``TransportError``.
        """
        request = self._request(self.prefix + path.lstrip("/"), body)
        connection, reused = self._checkout()
        try:
            if not reused:
                self._connect(connection)
            self._write(connection, request, reused=reused)
            try:
                status, data, keep_alive = read_answer(connection.reader)
            except (OSError, BadAnswer) as exc:
                raise NoResponseError(exc) from None
        except BaseException:
            # Whatever broke off (an error, a worker's time limit), the connection is in an
            # unknown state: it is never reused.
            self._discard(connection)
            raise
        if keep_alive:
            self._checkin(connection)
        else:
            self._discard(connection)
        return status, data

    def _request(self, target: str, body: bytes) -> bytes:
        """The whole request, headers and body, to go out in one write (one segment, one
        wake-up of the server) rather than two."""
        head = (
            f"POST {target} HTTP/1.1\r\n"
            f"Host: {self.authority}\r\n"
            f"User-Agent: {HEADERS['User-Agent']}\r\n"
            f"Content-Type: {HEADERS['Content-Type']}\r\n"
            f"Content-Length: {len(body)}\r\n"
            "\r\n"
        )
        return head.encode("ascii") + body

    def close(self) -> None:
        """Close the idle connections (those in use are closed or kept as they finish)."""
        with self._changed:
            while self._idle:
                self._close(self._idle.pop()[0])

    def _write(self, connection: Connection, request: bytes, *, reused: bool) -> None:
        try:
            connection.sock.sendall(request)
        except OSError as exc:
            if not reused or isinstance(exc, TimeoutError):
                raise WriteError(exc) from None
            # The server closed this kept-alive connection as we took it, so the request did
            # not reach it whole: it goes once more, on a new connection. (A timeout is not
            # that, and trying again would double the wait.)
            connection.close()
            self._connect(connection)
            self._write(connection, request, reused=False)

    def _connect(self, connection: Connection) -> None:
        try:
            connection.open(self.host, self.port, self.timeout, self._tls)
        except OSError as exc:  # refused, unreachable, timed out, TLS handshake or certificate
            raise ConnectError(exc) from None

    def _checkout(self) -> tuple[Connection, bool]:
        """An idle connection (True), or a new unconnected one (False) when there is none and
        ``max_connections`` allows; else wait for one, up to the timeout."""
        deadline = time.monotonic() + self.timeout
        with self._changed:
            while True:
                now = time.monotonic()
                # The bottom of the stack was used longest ago.
                while self._idle and now - self._idle[0][1] >= KEEPALIVE_EXPIRY:
                    self._close(self._idle.pop(0)[0])
                while self._idle:
                    connection = self._idle.pop()[0]
                    if not _closed_by_server(connection):
                        return connection, True
                    self._close(connection)
                if not self.max_connections or self._open < self.max_connections:
                    self._open += 1
                    return Connection(), False
                if now >= deadline:
                    raise ConnectError(f"no free connection within {self.timeout:g} s")
                self._changed.wait(deadline - now)

    def _checkin(self, connection: Connection) -> None:
        with self._changed:
            self._idle.append((connection, time.monotonic()))
            self._changed.notify()

    def _discard(self, connection: Connection) -> None:
        with self._changed:
            self._close(connection)

    def _close(self, connection: Connection) -> None:
        """Close ``connection`` and free its place; the caller holds ``_changed``."""
        connection.close()
        self._open -= 1
        self._changed.notify()


def _closed_by_server(connection) -> bool:
    """Whether an idle connection has something to read: the server's close (or bytes it
    should not have sent); either way it cannot carry a request. Checked before writing,
    because a request written into a connection the server has closed often goes out without
    an error and fails only when the answer is read, where it cannot be told from an answer
    lost after sending."""
    poller = select.poll()
    poller.register(connection.sock, select.POLLIN)
    return bool(poller.poll(0))


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
        self.user = user if user is not None else settings.GROUPTEXTING_USER
        self.password = password if password is not None else settings.GROUPTEXTING_PASSWORD
        self.base_url = base_url or settings.GROUPTEXTING_BASE_URL
        self.rate = rate if rate is not None else settings.GROUPTEXTING_RATE
        self.max_connections = (
            max_connections
            if max_connections is not None
            else settings.GROUPTEXTING_MAX_CONNECTIONS
        )
        self.timeout = timeout or settings.GROUPTEXTING_TIMEOUT
        self.max_wait = max_wait or settings.GROUPTEXTING_MAX_WAIT
        if not (self.user and self.password):
            raise ImproperlyConfigured(
                "The Group Texting gateway needs GROUPTEXTING_USER and GROUPTEXTING_PASSWORD"
            )
        if urlsplit(self.base_url).scheme not in ("http", "https"):
            raise ImproperlyConfigured(f"GROUPTEXTING_BASE_URL {self.base_url!r} is not a URL")
        self._login = urlencode({"user": self.user, "pass": self.password})
        self._pool: ConnectionPool | None = None
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
                    redis_url=settings.REDIS_URL,
                    lock_dir=settings.VAR_DIR / "ratelimit",
                )
        return self._limiter

    @property
    def connections(self) -> ConnectionPool:
        """This process's connections: created on first use, and again in a forked child,
        which must not share its parent's sockets."""
        if self._pool_pid != os.getpid():
            with self._lock:
                if self._pool_pid != os.getpid():
                    self._pool = ConnectionPool(
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
                status, answer = self.connections.post(path, request.encode())
        except LimiterError as exc:
            raise GatewayError(str(exc), code="rate_limiter", effect=ErrorEffect.RETRY) from None
        except ConnectError as exc:
            raise GatewayError(
                f"cannot connect to Group Texting: {exc}",
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
        except NoResponseError as exc:
            # Sent, then no answer (timeout, connection closed): the provider may have it.
            raise GatewayError(
                f"no answer from Group Texting: {exc}",
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
