"""Apple Push Notification service: the HTTP/2 provider API with token-based (.p8) auth.

Options (GROUPFLIER_PUSH_APNS_OPTIONS, a JSON object):
    team_id    the Apple developer team id (the JWT's issuer)
    key_id     the id of the .p8 signing key
    key_file   path of the .p8 file, or ``key``: its PEM text
    topic      the app's bundle id
    sandbox    true for the development environment (api.sandbox.push.apple.com)
    base_url   instead of ``sandbox``: another APNs address (a test server)
    ca_file    a CA bundle to trust instead of the system's (a test server's certificate)
    timeout    seconds per request, default 10
"""

import json
import ssl
import threading
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.exceptions import ImproperlyConfigured

from devices.push.base import Notification, PushBackend, PushError, retry_after

PRODUCTION_URL = "https://api.push.apple.com"
SANDBOX_URL = "https://api.sandbox.push.apple.com"

# Reasons meaning the token itself is dead: the app was uninstalled, or the token was never
# one of this environment's. HTTP 410 always means so as well.
DEAD_TOKEN_REASONS = {"BadDeviceToken", "Unregistered", "ExpiredToken"}


class ApnsBackend(PushBackend):
    option_names = (
        "team_id",
        "key_id",
        "key",
        "key_file",
        "topic",
        "sandbox",
        "base_url",
        "ca_file",
        "timeout",
    )
    # Apple refuses provider tokens older than an hour and answers TooManyProviderTokenUpdates
    # to a provider that mints them more often than every 20 minutes.
    token_lifetime = 50 * 60
    clock = staticmethod(time.time)

    def __init__(self, **options):
        super().__init__(**options)
        self.team_id = str(self.require("team_id"))
        self.key_id = str(self.require("key_id"))
        self.topic = str(self.require("topic"))
        self.signing_key = self._load_signing_key()
        base_url = self.options.get("base_url") or (
            SANDBOX_URL if self.options.get("sandbox") else PRODUCTION_URL
        )
        # APNs speaks HTTP/2 only; refusing HTTP/1.1 makes a wrong address fail loudly.
        self.client = httpx.Client(
            base_url=base_url,
            http1=False,
            http2=True,
            timeout=float(self.options.get("timeout", 10)),
            verify=self._tls_context(),
        )
        self._lock = threading.Lock()
        self._provider_token = None
        self._provider_token_issued_at = 0.0

    def _load_signing_key(self):
        if self.options.get("key"):
            pem = str(self.options["key"]).encode()
        else:
            path = Path(self.require("key_file"))
            try:
                pem = path.read_bytes()
            except OSError as exc:
                raise ImproperlyConfigured(f"APNs key_file {path} cannot be read: {exc}") from exc
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(f"The APNs key is not a PEM private key: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ImproperlyConfigured("The APNs key must be the P-256 key of a .p8 file")
        return key

    def _tls_context(self):
        ca_file = self.options.get("ca_file")
        if not ca_file:
            return True
        try:
            return ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ImproperlyConfigured(f"APNs ca_file {ca_file} cannot be used: {exc}") from exc

    def provider_token(self) -> str:
        """The ES256 JWT that authenticates us, minted again only when it is 50 minutes old."""
        with self._lock:
            now = self.clock()
            if (
                self._provider_token is None
                or now - self._provider_token_issued_at >= self.token_lifetime
            ):
                self._provider_token = jwt.encode(
                    {"iss": self.team_id, "iat": int(now)},
                    self.signing_key,
                    algorithm="ES256",
                    headers={"kid": self.key_id},
                )
                self._provider_token_issued_at = now
            return self._provider_token

    def _forget_provider_token(self, token: str) -> None:
        with self._lock:
            if self._provider_token == token:
                self._provider_token = None

    @staticmethod
    def payload(notification: Notification) -> dict:
        alert = {"body": notification.body}
        if notification.title:
            alert["title"] = notification.title
        aps = {"alert": alert, "sound": "default"}
        if notification.thread_id:
            aps["thread-id"] = notification.thread_id
        # Apple keeps custom keys beside "aps", at the top level.
        return {**notification.data, "aps": aps}

    def send(self, token: str, notification: Notification) -> str:
        provider_token = self.provider_token()
        headers = {
            "authorization": f"bearer {provider_token}",
            "apns-topic": self.topic,
            "apns-push-type": "alert",
            "apns-priority": "10",
            "content-type": "application/json",
        }
        if notification.collapse_id:
            headers["apns-collapse-id"] = notification.collapse_id
        body = json.dumps(self.payload(notification), separators=(",", ":")).encode()
        try:
            response = self.client.post(
                f"/3/device/{quote(token, safe='')}", content=body, headers=headers
            )
        except httpx.HTTPError as exc:
            raise PushError(f"APNs unreachable: {exc!r}", permanent=False) from exc
        if response.status_code == 200:
            return response.headers.get("apns-id", "")
        raise self._error(response, provider_token)

    def _error(self, response: httpx.Response, provider_token: str) -> PushError:
        status = response.status_code
        try:
            reason = response.json().get("reason") or ""
        except (ValueError, AttributeError):
            reason = ""
        described = f"APNs {status} {reason}".strip()
        if status == 410 or reason in DEAD_TOKEN_REASONS:
            return PushError(described, permanent=True, unregistered=True)
        if reason == "ExpiredProviderToken":
            # Our JWT outlived Apple's hour (a clock jump): mint a new one and try again.
            self._forget_provider_token(provider_token)
            return PushError(described, permanent=False)
        if status == 429 or status >= 500:
            return PushError(described, permanent=False, retry_after=retry_after(response.headers))
        return PushError(described, permanent=True)

    def close(self) -> None:
        self.client.close()


# The short name apns in settings stands for this class.
Backend = ApnsBackend
