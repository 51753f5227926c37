"""The base every GroupFlier endpoint derives from.

An endpoint declares its path, its parameters in the seed's order, the tokens its action can
answer and the fields it returns, and implements ``act``. This class applies the order of
checks of SPEC §1 the same way for all of them:

    throttle -> session (401) -> MISSING_FIELDS -> format -> the action
                                                       (look-up -> permission -> state)
"""

from enum import Enum
from types import SimpleNamespace

from django.urls import path as url_path
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from groupflier.api import throttles
from groupflier.api.errors import ApiError, ErrorType, authorization_required
from groupflier.api.params import Param, Secret, parse_params, read_raw

# Far longer than any sid this service makes (43 characters); a longer one is not looked up.
MAX_SID_LENGTH = 200


class SessionRule(Enum):
    NONE = "none"  # the endpoint takes no sid
    OPTIONAL = "optional"  # a valid sid is used when given; a bad one is ignored
    REQUIRED = "required"  # no valid sid: HTTP 401 AUTHORIZATION_REQUIRED


class AlwaysJson(BaseContentNegotiation):
    """Every answer is JSON, whatever the client's Accept header says (SPEC §1)."""

    def select_parser(self, request, parsers):
        content_type = request.content_type or ""
        for parser in parsers:
            if parser.media_type.split(";")[0] == content_type.split(";")[0].strip().lower():
                return parser
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


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
    content_negotiation_class = AlwaysJson

    def get(self, request):
        return self.answer(request)

    def post(self, request):
        return self.answer(request)

    def answer(self, request):
        raw = request_parameters(request)
        if self.throttle_applies(raw):
            throttles.check_client_address(self.path, client_address(request))
        request.member = self.resolve_session(raw)
        args = parse_params(self.params, raw)
        return Response({"status": "OK", **(self.act(request, args) or {})})

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
    merged = {key: request.query_params.get(key) for key in request.query_params}
    try:
        body = request.data
    except RecursionError:  # JSON nested deeper than the parser goes
        raise ApiError(
            ErrorType.BAD_REQUEST, "The JSON body is nested too deep", http_status=400
        ) from None
    if hasattr(body, "getlist"):
        merged.update({key: body.get(key) for key in body})
    elif isinstance(body, dict):
        merged.update(body)
    else:
        raise ApiError(ErrorType.BAD_REQUEST, "The JSON body must be an object", http_status=400)
    return merged


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
