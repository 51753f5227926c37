"""The base every GroupFlier endpoint derives from.

An endpoint declares its path, its parameters in the seed's order, the tokens its action can
answer and the fields it returns, and implements ``act``. This class applies the order of
checks of SPEC §1 the same way for all of them:

    throttle -> session (401) -> MISSING_FIELDS -> format -> the action
                                                       (look-up -> permission -> state)

Every client polls (/message/get, /member/groups every few seconds), so a request takes the
shortest path Django offers: ``dispatch`` reads the parameters from Django's own request and
answers an ``ApiResponse``, with none of REST framework's per-request machinery (its request
wrapper, content negotiation, renderers), which cost as much as a whole bare Django request
(bench/api). Endpoints still derive from REST framework's ``APIView`` only so that
drf-spectacular finds them for the OpenAPI document (``groupflier.api.schema``).
"""

import io
import json
from enum import Enum
from types import SimpleNamespace

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.urls import path as url_path
from rest_framework.views import APIView

from groupflier.api import throttles
from groupflier.api.errors import ApiError, ErrorType, authorization_required
from groupflier.api.handlers import error_for
from groupflier.api.params import Param, Secret, parse_params, read_raw

# Far longer than any sid this service makes (43 characters); a longer one is not looked up.
MAX_SID_LENGTH = 200


class SessionRule(Enum):
    NONE = "none"  # the endpoint takes no sid
    OPTIONAL = "optional"  # a valid sid is used when given; a bad one is ignored
    REQUIRED = "required"  # no valid sid: HTTP 401 AUTHORIZATION_REQUIRED


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class RawJSON(bytes):
    """A value already rendered by ``render``, placed in an answer as it is (an answer kept
    between requests, see messaging.history)."""


def render(data) -> bytes:
    """Compact UTF-8 JSON, as the API has always answered (REST framework's JSONRenderer).
    In a dict, values that are ``RawJSON`` go in as they are, after the others."""
    raw = {}
    if isinstance(data, dict) and any(isinstance(v, RawJSON) for v in data.values()):
        raw = {key: value for key, value in data.items() if isinstance(value, RawJSON)}
        data = {key: value for key, value in data.items() if key not in raw}
    text = json.dumps(
        data, cls=DjangoJSONEncoder, ensure_ascii=False, allow_nan=False, separators=(",", ":")
    )
    # Kept a strict subset of JavaScript, as before.
    rendered = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()
    if not raw:
        return rendered
    fields = [rendered[1:-1]] if data else []
    fields += [render(key) + b":" + value for key, value in raw.items()]
    return b"{" + b",".join(fields) + b"}"


class ApiResponse(HttpResponse):
    """An API answer; ``data`` keeps its body for the metrics middleware."""

    def __init__(self, data: dict, status: int = 200):
        super().__init__(render(data), status=status, content_type="application/json")
        self.data = data
        self.headers["Allow"] = "GET, POST"


class Endpoint(APIView):
    path: str = ""
    summary: str = ""
    description: str = ""
    session: SessionRule = SessionRule.NONE
    params: list[Param] = []
    errors: tuple[ErrorType, ...] = ()
    returns: dict[str, dict] = {}
    optional_returns: dict[str, dict] = {}  # fields present only in some answers
    throttled = False  # per-client-address budget (SPEC §6)

    http_method_names = ["get", "post"]
    authentication_classes = []
    permission_classes = []

    def dispatch(self, request, *args, **kwargs):
        self.request = request
        try:
            if request.method == "GET":
                return self.get(request)
            if request.method == "POST":
                return self.post(request)
            raise ApiError(ErrorType.METHOD_NOT_ALLOWED, http_status=405)
        except Exception as exc:  # noqa: BLE001 - every failure answers in the envelope
            error = error_for(exc, request)
            return ApiResponse(error.as_body(), status=error.http_status)

    # Both methods answer alike (SPEC §1); the OpenAPI document lists the methods defined here.
    def get(self, request):
        return ApiResponse(self.answer(request))

    def post(self, request):
        return ApiResponse(self.answer(request))

    def answer(self, request) -> dict:
        raw = request_parameters(request)
        if self.throttle_applies(raw):
            throttles.check_client_address(self.path, client_address(request))
        request.member = self.resolve_session(raw)
        args = parse_params(self.params, raw)
        return {"status": "OK", **(self.act(request, args) or {})}

    def act(self, request, args: SimpleNamespace) -> dict | None:
        raise NotImplementedError

    def throttle_applies(self, raw: dict) -> bool:
        return self.throttled

    def resolve_session(self, raw):
        if self.session is SessionRule.NONE:
            return None
        from members.sessions import member_for_sid

        try:
            sid = read_raw(raw, "sid")
        except ApiError:
            sid = None  # NUL, a lone surrogate, not text: no session can have it (SPEC §1)
        if sid is not None and len(sid) > MAX_SID_LENGTH:
            sid = None
        self.request.sid = sid
        member = member_for_sid(sid) if sid else None
        if member is None and self.session is SessionRule.REQUIRED:
            raise authorization_required()
        return member

    # --- what the OpenAPI document says about this endpoint -------------------------------
    @classmethod
    def all_params(cls) -> list[Param]:
        if cls.session is SessionRule.NONE:
            return list(cls.params)
        sid = Secret(
            "sid",
            required=cls.session is SessionRule.REQUIRED,
            description="The session id from /member/login",
        )
        return [sid, *cls.params]

    @classmethod
    def error_types(cls) -> list[ErrorType]:
        tokens = []
        if cls.throttled:
            tokens.append(ErrorType.THROTTLE)
        if any(param.can_be_missing for param in cls.params):
            tokens.append(ErrorType.MISSING_FIELDS)
        for param in cls.params:
            tokens.extend(param.error_types)
        tokens.extend(cls.errors)
        return list(dict.fromkeys(tokens))

    @classmethod
    def urls(cls):
        """The documented path, with and without its trailing slash, never redirecting."""
        view = cls.as_view()
        return [url_path(cls.path, view, name=cls.path), url_path(cls.path + "/", view)]


def request_parameters(request) -> dict:
    """Query string, then form or JSON body; on a clash the body wins (SPEC §1)."""
    merged = {key: request.GET.get(key) for key in request.GET}
    merged.update(request_body(request))
    return merged


def request_body(request) -> dict:
    """The body's parameters: a form (urlencoded or multipart) or a JSON object; nothing when
    there is no body. Any other type of body is ``BAD_REQUEST``."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length == 0:
        return {}
    content_type = request.META.get("CONTENT_TYPE", "")
    media_type = content_type.split(";")[0].strip().lower()
    if media_type in FORM_TYPES:
        form = request.POST if request.method == "POST" else form_of(request, media_type)
        return {key: form.get(key) for key in form}
    if media_type == "application/json":
        return json_object(request)
    unsupported = f'Unsupported media type "{content_type}" in request.'
    raise ApiError(ErrorType.BAD_REQUEST, unsupported, http_status=400)


def form_of(request, media_type: str) -> QueryDict:
    """A form sent with a GET: Django parses forms of POSTs only (RequestBodyMiddleware has
    already read those)."""
    try:
        if media_type == "multipart/form-data":
            return request.parse_file_upload(request.META, io.BytesIO(request.body))[0]
        return QueryDict(request.body, encoding=request.encoding)
    except RequestDataTooBig:
        raise ApiError(ErrorType.REQUEST_TOO_LARGE, http_status=413) from None
    except (SuspiciousOperation, MultiPartParserError, ValueError):
        raise ApiError(
            ErrorType.BAD_REQUEST, "The request could not be parsed", http_status=400
        ) from None


def _refuse_constant(name):
    raise ValueError(f"Out of range float values are not JSON compliant: {name!r}")


def json_object(request) -> dict:
    try:
        text = request.body.decode(request.encoding or settings.DEFAULT_CHARSET)
        body = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:  # JSON nested deeper than the parser goes
        raise ApiError(
            ErrorType.BAD_REQUEST, "The JSON body is nested too deep", http_status=400
        ) from None
    except RequestDataTooBig:
        raise ApiError(ErrorType.REQUEST_TOO_LARGE, http_status=413) from None
    except ValueError as exc:  # not JSON, or not UTF-8
        unreadable = f"JSON parse error - {exc}"
        raise ApiError(ErrorType.BAD_REQUEST, unreadable, http_status=400) from None
    if not isinstance(body, dict):
        raise ApiError(ErrorType.BAD_REQUEST, "The JSON body must be an object", http_status=400)
    return body


def client_address(request) -> str:
    """The address a throttle counts: the peer, or behind GROUPFLIER_TRUSTED_PROXIES reverse
    proxies the address the outermost of them saw. Only trusted hops are read, since a client
    can write anything into X-Forwarded-For itself."""
    from django.conf import settings

    proxies = settings.GROUPFLIER_TRUSTED_PROXIES
    if proxies:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [hop for hop in hops if hop]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR") or "unknown"
