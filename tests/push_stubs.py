"""APNs and FCM on loopback, speaking their wire protocols, for tests of the push backends.

``ApnsStub`` is Apple's provider API: HTTP/2 over TLS, offered only through ALPN ``h2``, with a
certificate made for the run (point the backend's ``ca_file`` at ``stub.ca_file``). It checks
what Apple checks: the path ``/3/device/<token>``, an ES256 provider token (JWT) signed by the
team's key with ``kid`` and ``iss`` and an ``iat`` under an hour old, ``apns-topic``,
``apns-push-type``, ``apns-priority`` and a JSON payload with ``aps``; and it answers as Apple
does (``{"reason": ...}``, 410 with a timestamp).

``FcmStub`` is Google's OAuth2 token endpoint (the service account JWT grant, its RS256
assertion verified with the account's public key) and the FCM HTTP v1 send endpoint, which
takes only unexpired access tokens that endpoint issued, over HTTP/1.1.

Both record every request, answer a push with success unless a test scripts other answers for
a token (``stub.answer(token, ...)``), bind 127.0.0.1 on an ephemeral port, and stop when their
``with`` block ends (or, as a safety net, after ``max_lifetime`` seconds).
"""

import datetime
import ipaddress
import json
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import h2.config
import h2.connection
import h2.events
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
# Google's token endpoint wants its own address as the grant's audience, wherever it is
# reached through (google-auth always sets it so).
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
GRPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


# --- keys a test needs ---------------------------------------------------------------------
def make_apns_key() -> tuple[str, ec.EllipticCurvePublicKey]:
    """A .p8 key as Apple issues it (PKCS#8 PEM, P-256) and its public half."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return pem, key.public_key()


def make_service_account(project_id: str, token_uri: str) -> tuple[dict, rsa.RSAPublicKey]:
    """A service account JSON key as Google issues it, and the public half of its key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": uuid.uuid4().hex,
        "private_key": pem,
        "client_email": f"push@{project_id}.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": token_uri,
    }
    return info, key.public_key()


def _loopback_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "push stub test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = (
        directory / "ca.pem",
        directory / "server.pem",
        directory / "server.key",
    )
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file


# --- APNs ----------------------------------------------------------------------------------
@dataclass
class ApnsRequest:
    method: str
    path: str
    headers: dict
    body: bytes
    protocol: str  # the ALPN protocol of the connection it came on
    provider_token: str = ""
    claims: dict = field(default_factory=dict)
    jwt_header: dict = field(default_factory=dict)
    status: int = 0
    reason: str = ""

    @property
    def token(self) -> str:
        return self.path.removeprefix("/3/device/")

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


class ApnsStub:
    def __init__(self, *, team_id, key_id, public_key, topic, max_lifetime=120):
        self.team_id, self.key_id, self.public_key, self.topic = team_id, key_id, public_key, topic
        self.max_lifetime = max_lifetime
        self.requests: list[ApnsRequest] = []
        self.connections = 0
        self._answers = defaultdict(deque)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # Scripting --------------------------------------------------------------------------
    def answer(self, token: str, *answers) -> None:
        """Answer the next pushes to ``token`` with ``(status, reason)`` each, in order."""
        self._answers[token].extend(answers)

    def pushes_to(self, token: str) -> list[ApnsRequest]:
        return [request for request in self.requests if request.token == token]

    # Life -------------------------------------------------------------------------------
    def __enter__(self):
        self._dir = tempfile.TemporaryDirectory(prefix="apns-stub-")
        self.ca_file, cert_file, key_file = _loopback_certificates(Path(self._dir.name))
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.load_cert_chain(cert_file, key_file)
        self._tls.set_alpn_protocols(["h2"])
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.url = f"https://127.0.0.1:{self._listener.getsockname()[1]}"
        self._deadline = time.monotonic() + self.max_lifetime
        self._spawn(self._accept_loop)
        return self

    def __exit__(self, *exc_info):
        self._stopping.set()
        for thread in list(self._threads):
            thread.join(timeout=5)
        self._listener.close()
        self._dir.cleanup()

    def _running(self) -> bool:
        return not self._stopping.is_set() and time.monotonic() < self._deadline

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while self._running():
            try:
                raw, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._serve_connection, raw)

    def _serve_connection(self, raw: socket.socket) -> None:
        raw.settimeout(5)
        try:
            sock = self._tls.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        with sock:
            protocol = sock.selected_alpn_protocol() or ""
            if protocol != "h2":
                return  # APNs speaks HTTP/2 only
            self.connections += 1
            connection = h2.connection.H2Connection(
                h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
            )
            connection.initiate_connection()
            sock.sendall(connection.data_to_send())
            sock.settimeout(0.1)
            streams = {}
            while self._running():
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    continue
                except (ssl.SSLError, OSError):
                    return
                if not data:
                    return
                for event in connection.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        streams[event.stream_id] = (dict(event.headers), bytearray())
                    elif isinstance(event, h2.events.DataReceived):
                        streams[event.stream_id][1].extend(event.data)
                        connection.acknowledge_received_data(
                            event.flow_controlled_length, event.stream_id
                        )
                    elif isinstance(event, h2.events.StreamEnded):
                        headers, body = streams.pop(event.stream_id)
                        status, response_headers, response_body = self._respond(
                            headers, bytes(body), protocol
                        )
                        connection.send_headers(
                            event.stream_id,
                            [(":status", str(status)), *response_headers.items()],
                            end_stream=not response_body,
                        )
                        if response_body:
                            connection.send_data(event.stream_id, response_body, end_stream=True)
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        sock.sendall(connection.data_to_send())
                        return
                sock.sendall(connection.data_to_send())

    # Apple's checks ----------------------------------------------------------------------
    def _respond(self, headers: dict, body: bytes, protocol: str):
        request = ApnsRequest(
            method=headers.get(":method", ""),
            path=headers.get(":path", ""),
            headers={k: v for k, v in headers.items() if not k.startswith(":")},
            body=body,
            protocol=protocol,
        )
        self.requests.append(request)
        refusal = self._check(request)
        if refusal:
            status, reason = refusal
        elif self._answers[request.token]:
            status, reason = self._answers[request.token].popleft()
        else:
            status, reason = 200, ""
        request.status, request.reason = status, reason
        apns_id = request.headers.get("apns-id") or str(uuid.uuid4()).upper()
        if status == 200:
            return 200, {"apns-id": apns_id}, b""
        answer = {"reason": reason}
        if status == 410:
            answer["timestamp"] = int(time.time() * 1000)
        return (
            status,
            {"apns-id": apns_id, "content-type": "application/json"},
            json.dumps(answer).encode(),
        )

    def _check(self, request: ApnsRequest) -> tuple[int, str] | None:
        if request.method != "POST":
            return 405, "MethodNotAllowed"
        if not request.path.startswith("/3/device/"):
            return 404, "BadPath"
        token = request.token
        if len(token) < 64 or any(char not in "0123456789abcdef" for char in token):
            return 400, "BadDeviceToken"
        refusal = self._check_provider_token(request)
        if refusal:
            return refusal
        if "apns-topic" not in request.headers:
            return 400, "MissingTopic"
        if request.headers["apns-topic"] != self.topic:
            return 400, "DeviceTokenNotForTopic"
        if request.headers.get("apns-push-type") not in ("alert", "background"):
            return 400, "InvalidPushType"
        if request.headers.get("apns-priority", "10") not in ("5", "10"):
            return 400, "BadPriority"
        if len(request.headers.get("apns-collapse-id", "").encode()) > 64:
            return 400, "BadCollapseId"
        if not request.body:
            return 400, "PayloadEmpty"
        if len(request.body) > 4096:
            return 413, "PayloadTooLarge"
        try:
            payload = json.loads(request.body)
        except ValueError:
            return 400, "BadPayload"
        if not isinstance(payload, dict) or not isinstance(payload.get("aps"), dict):
            return 400, "BadPayload"
        return None

    def _check_provider_token(self, request: ApnsRequest) -> tuple[int, str] | None:
        authorization = request.headers.get("authorization", "")
        if not authorization:
            return 403, "MissingProviderToken"
        scheme, _, provider_token = authorization.partition(" ")
        if scheme != "bearer" or not provider_token:
            return 403, "InvalidProviderToken"
        request.provider_token = provider_token
        try:
            request.jwt_header = jwt.get_unverified_header(provider_token)
            request.claims = jwt.decode(
                provider_token,
                self.public_key,
                algorithms=["ES256"],
                options={"require": ["iss", "iat"], "verify_iat": False},
            )
        except jwt.PyJWTError:
            return 403, "InvalidProviderToken"
        if request.jwt_header.get("kid") != self.key_id or request.claims["iss"] != self.team_id:
            return 403, "InvalidProviderToken"
        age = time.time() - request.claims["iat"]
        if age > 3600:
            return 403, "ExpiredProviderToken"
        if age < -60:
            return 403, "InvalidProviderToken"
        return None


# --- FCM -----------------------------------------------------------------------------------
@dataclass
class FcmRequest:
    path: str
    headers: dict  # names in lower case, as HTTP/2 has them
    body: bytes
    status: int = 0
    error_code: str = ""

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def message(self) -> dict:
        return self.json["message"]


class FcmStub:
    def __init__(
        self, *, project_id, client_email, public_key, token_lifetime=3600, max_lifetime=120
    ):
        self.project_id, self.client_email, self.public_key = project_id, client_email, public_key
        self.token_lifetime = token_lifetime
        self.max_lifetime = max_lifetime
        self.token_requests: list[dict] = []  # the verified claims of each accepted grant
        self.requests: list[FcmRequest] = []
        self._issued: dict[str, float] = {}
        self._answers = defaultdict(deque)
        self._lock = threading.Lock()

    def answer(self, token: str, *answers) -> None:
        """Answer the next sends to ``token`` with ``(status, errorCode)`` or
        ``(status, errorCode, headers)`` each, in order."""
        self._answers[token].extend(answers)

    def sends_to(self, token: str) -> list[FcmRequest]:
        return [request for request in self.requests if request.message.get("token") == token]

    def revoke_access_tokens(self) -> None:
        with self._lock:
            self._issued.clear()

    def __enter__(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 5

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stub._handle(self, body)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.token_uri = f"{self.url}/token"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self._timer = threading.Timer(self.max_lifetime, self._server.shutdown)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc_info):
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @staticmethod
    def _reply(handler, status: int, answer: dict, headers=None) -> None:
        body = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=UTF-8")
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    def _handle(self, handler, body: bytes) -> None:
        if handler.path == "/token":
            self._grant(handler, body)
        elif handler.path == f"/v1/projects/{self.project_id}/messages:send":
            self._send(handler, body)
        else:
            self._google_error(handler, 404, "", "Requested entity was not found.")

    # The OAuth2 token endpoint ----------------------------------------------------------
    def _grant(self, handler, body: bytes) -> None:
        form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
        if handler.headers.get("Content-Type", "").split(";")[0] != (
            "application/x-www-form-urlencoded"
        ):
            return self._reply(handler, 400, {"error": "invalid_request"})
        if form.get("grant_type") != JWT_BEARER_GRANT:
            return self._reply(handler, 400, {"error": "unsupported_grant_type"})
        try:
            claims = jwt.decode(
                form.get("assertion", ""),
                self.public_key,
                algorithms=["RS256"],
                audience=GOOGLE_TOKEN_AUDIENCE,
                issuer=self.client_email,
                options={"require": ["iss", "aud", "iat", "exp"]},
            )
        except jwt.PyJWTError as exc:
            return self._reply(
                handler, 400, {"error": "invalid_grant", "error_description": str(exc)}
            )
        if FCM_SCOPE not in claims.get("scope", "").split() or claims["exp"] - claims["iat"] > 3600:
            return self._reply(handler, 400, {"error": "invalid_scope"})
        self.token_requests.append(claims)
        access_token = f"ya29.stub-{uuid.uuid4().hex}"
        with self._lock:
            self._issued[access_token] = time.time() + self.token_lifetime
        self._reply(
            handler,
            200,
            {
                "access_token": access_token,
                "expires_in": self.token_lifetime,
                "token_type": "Bearer",
            },
        )

    # FCM HTTP v1 ------------------------------------------------------------------------
    def _google_error(self, handler, status, error_code, message, headers=None) -> None:
        error = {"code": status, "message": message, "status": GRPC_STATUS.get(status, "UNKNOWN")}
        if error_code:
            error["details"] = [{"@type": FCM_ERROR_TYPE, "errorCode": error_code}]
        self._reply(handler, status, {"error": error}, headers)

    def _send(self, handler, body: bytes) -> None:
        request = FcmRequest(handler.path, {k.lower(): v for k, v in handler.headers.items()}, body)
        self.requests.append(request)
        refusal = self._check(request, handler.headers.get("Authorization", ""))
        headers = None
        if refusal:
            status, error_code = refusal
        else:
            answers = self._answers[request.message["token"]]
            answer = answers.popleft() if answers else (200, "")
            status, error_code, headers = (*answer, None)[:3]
        request.status, request.error_code = status, error_code
        if status == 200:
            name = f"projects/{self.project_id}/messages/{len(self.requests)}"
            return self._reply(handler, 200, {"name": name})
        self._google_error(handler, status, error_code, f"stub answer {error_code}", headers)

    def _check(self, request: FcmRequest, authorization: str) -> tuple[int, str] | None:
        scheme, _, access_token = authorization.partition(" ")
        with self._lock:
            expires = self._issued.get(access_token)
        if scheme.lower() != "bearer" or expires is None or expires < time.time():
            return 401, ""
        try:
            message = request.message
        except (ValueError, KeyError, TypeError):
            return 400, "INVALID_ARGUMENT"
        if not isinstance(message, dict) or not isinstance(message.get("token"), str):
            return 400, "INVALID_ARGUMENT"
        data = message.get("data", {})
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            return 400, "INVALID_ARGUMENT"  # FCM data values are strings only
        priority = message.get("android", {}).get("priority", "normal")
        if str(priority).lower() not in ("normal", "high"):
            return 400, "INVALID_ARGUMENT"
        return None
