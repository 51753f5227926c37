"""Hostile request bodies answer in the API's envelope before anything else reads them
(SPEC §1): over GROUPFLIER_MAX_BODY_BYTES, HTTP 413 ``REQUEST_TOO_LARGE``; a query string or
form that cannot be parsed (too many fields, bad multipart), HTTP 400 ``BAD_REQUEST``.

Django raises these while a view, the CSRF check or a webhook first touches ``request.GET`` or
``request.POST``, and would answer them as a 400 with a traceback logged at ERROR. Reading them
here, once, first in the middleware, turns them into plain answers; everything after finds the
parsed form already there (DRF uses it too).
"""

import logging

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.http.multipartparser import MultiPartParserError

from groupflier.api.errors import ApiError, ErrorType
from groupflier.api.handlers import error_response

logger = logging.getLogger("groupflier.api")

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def too_large() -> ApiError:
    return ApiError(ErrorType.REQUEST_TOO_LARGE, http_status=413)


def unreadable() -> ApiError:
    return ApiError(ErrorType.BAD_REQUEST, "The request could not be parsed", http_status=400)


def declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def body_refusal(request) -> ApiError | None:
    """Why the request's body or query string cannot be taken, or None when it can."""
    if declared_length(request) > settings.GROUPFLIER_MAX_BODY_BYTES:
        return too_large()
    try:
        request.GET  # noqa: B018 - parsing it is the check
        if request.method == "POST" and request.content_type in FORM_TYPES:
            request.POST  # noqa: B018
    except RequestDataTooBig:
        return too_large()
    except (SuspiciousOperation, MultiPartParserError, BadRequest, ValueError):
        # TooManyFieldsSent, TooManyFilesSent, a broken multipart or form.
        return unreadable()
    return None


class RequestBodyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        refusal = body_refusal(request)
        if refusal is not None:
            # A client's mistake or a probe, not a fault of ours: no traceback, no path (a
            # webhook's secret is in its path).
            logger.info("Refused a request body: %s", refusal.error_type.value)
            return error_response(refusal)
        return self.get_response(request)
