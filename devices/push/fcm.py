"""Firebase Cloud Messaging: the HTTP v1 API, authorised by a service account's OAuth2 token.

Options (GROUPFLIER_PUSH_FCM_OPTIONS, a JSON object):
    service_account_file  path of the service account's JSON key, or
    service_account_info  its contents (a JSON object, or a string holding one)
    project_id            the Firebase project, default the service account's
    base_url              default https://fcm.googleapis.com (a test server instead)
    token_uri             the OAuth2 token endpoint, default the service account's
    timeout               seconds per request, default 10
"""

import json
import threading
from pathlib import Path

import google.auth.exceptions
import google.auth.transport
import httpx
from django.core.exceptions import ImproperlyConfigured
from google.oauth2 import service_account

from devices.push.base import Notification, PushBackend, PushError, retry_after

DEFAULT_BASE_URL = "https://fcm.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
TRANSIENT_CODES = {"QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL"}


class FcmBackend(PushBackend):
    option_names = (
        "service_account_file",
        "service_account_info",
        "project_id",
        "base_url",
        "token_uri",
        "timeout",
    )

    def __init__(self, **options):
        super().__init__(**options)
        info = self._service_account_info()
        if self.options.get("token_uri"):
            info = {**info, "token_uri": self.options["token_uri"]}
        try:
            # google-auth signs the service account's JWT grant (RS256) and tracks the
            # access token's expiry; we only ask it to refresh when the token is near its end.
            self.credentials = service_account.Credentials.from_service_account_info(
                info, scopes=[SCOPE]
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ImproperlyConfigured(f"The FCM service account is unusable: {exc!r}") from exc
        self.project_id = self.options.get("project_id") or info.get("project_id")
        if not self.project_id:
            raise ImproperlyConfigured("GROUPFLIER_PUSH_FCM_OPTIONS needs 'project_id'")
        base_url = (self.options.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        self.send_url = f"{base_url}/v1/projects/{self.project_id}/messages:send"
        self.client = httpx.Client(http2=True, timeout=float(self.options.get("timeout", 10)))
        self._auth_transport = HttpxAuthTransport(self.client)
        self._lock = threading.Lock()

    def _service_account_info(self) -> dict:
        info = self.options.get("service_account_info")
        if info is None:
            path = Path(self.require("service_account_file"))
            try:
                info = path.read_text()
            except OSError as exc:
                raise ImproperlyConfigured(f"FCM service_account_file {path}: {exc}") from exc
        if isinstance(info, str):
            try:
                info = json.loads(info)
            except ValueError as exc:
                raise ImproperlyConfigured("The FCM service account is not JSON") from exc
        if not isinstance(info, dict):
            raise ImproperlyConfigured("The FCM service account must be a JSON object")
        return info

    def access_token(self) -> str:
        """The cached OAuth2 access token, refreshed when it is within minutes of expiring."""
        with self._lock:
            if not self.credentials.valid:
                try:
                    self.credentials.refresh(self._auth_transport)
                except google.auth.exceptions.RefreshError as exc:
                    # args[0] is the endpoint's error and description; args[1] its raw answer.
                    reason = exc.args[0] if exc.args else exc
                    raise PushError(
                        f"FCM OAuth token refused: {reason}", permanent=not exc.retryable
                    ) from exc
                except google.auth.exceptions.TransportError as exc:
                    raise PushError(f"FCM OAuth token endpoint: {exc}", permanent=False) from exc
            return self.credentials.token

    def _forget_access_token(self, token: str) -> None:
        with self._lock:
            if self.credentials.token == token:
                self.credentials.token = None

    @staticmethod
    def message(token: str, notification: Notification) -> dict:
        shown = {"body": notification.body}
        if notification.title:
            shown["title"] = notification.title
        android = {"priority": "high"}
        if notification.collapse_id:
            android["collapse_key"] = notification.collapse_id
            # The tag makes the phone replace the earlier notification instead of adding one.
            android["notification"] = {"tag": notification.collapse_id}
        message = {"token": token, "notification": shown, "android": android}
        if notification.data:
            message["data"] = notification.data
        return message

    def send(self, token: str, notification: Notification) -> str:
        access_token = self.access_token()
        try:
            response = self.client.post(
                self.send_url,
                json={"message": self.message(token, notification)},
                headers={"authorization": f"Bearer {access_token}"},
            )
        except httpx.HTTPError as exc:
            raise PushError(f"FCM unreachable: {exc!r}", permanent=False) from exc
        if response.status_code == 200:
            try:
                return str(response.json().get("name", ""))
            except (ValueError, AttributeError):
                return ""
        raise self._error(response, access_token)

    def _error(self, response: httpx.Response, access_token: str) -> PushError:
        status = response.status_code
        try:
            error = response.json().get("error") or {}
        except (ValueError, AttributeError):
            error = {}
        if not isinstance(error, dict):
            error = {}
        code = fcm_error_code(error) or str(error.get("status") or "")
        described = f"FCM {status} {code} {error.get('message') or ''}".strip()
        if code == "UNREGISTERED":
            return PushError(described, permanent=True, unregistered=True)
        if status == 401:
            # The access token was revoked or expired early: fetch a new one and try again.
            self._forget_access_token(access_token)
            return PushError(described, permanent=False)
        if status == 429 or status >= 500 or code in TRANSIENT_CODES:
            return PushError(described, permanent=False, retry_after=retry_after(response.headers))
        return PushError(described, permanent=True)

    def close(self) -> None:
        self.client.close()


def fcm_error_code(error: dict) -> str:
    """FCM's own error code (UNREGISTERED, QUOTA_EXCEEDED, ...) from an error's details."""
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and detail.get("@type") == FCM_ERROR_TYPE:
            return str(detail.get("errorCode") or "")
    return ""


class HttpxAuthTransport(google.auth.transport.Request):
    """google-auth's transport interface over our httpx client, so the token endpoint is
    reached with the same connection pool, timeout and proxy settings as FCM itself."""

    def __init__(self, client: httpx.Client):
        self.client = client

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        try:
            response = self.client.request(
                method,
                url,
                content=body,
                headers=headers,
                timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
            )
        except httpx.HTTPError as exc:
            raise google.auth.exceptions.TransportError(repr(exc)) from exc
        return HttpxAuthResponse(response)


class HttpxAuthResponse(google.auth.transport.Response):
    def __init__(self, response: httpx.Response):
        self._response = response

    @property
    def status(self):
        return self._response.status_code

    @property
    def headers(self):
        return self._response.headers

    @property
    def data(self):
        return self._response.content


# The short name fcm in settings stands for this class.
Backend = FcmBackend
