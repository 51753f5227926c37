"""The one place an error becomes the API's JSON envelope (SPEC §1)."""

import logging

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.response import Response

from groupflier.api.errors import ApiError, ErrorType

logger = logging.getLogger("groupflier.api")


def error_response(error: ApiError) -> JsonResponse:
    return JsonResponse(error.as_body(), status=error.http_status)


def error_for(exc: Exception, request) -> ApiError:
    """The error an exception raised while answering ``request`` answers with."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, exceptions.MethodNotAllowed):
        return ApiError(ErrorType.METHOD_NOT_ALLOWED, http_status=405)
    if isinstance(exc, (exceptions.ParseError, exceptions.UnsupportedMediaType)):
        # A body we cannot read: say so plainly rather than guess at its contents.
        return ApiError(ErrorType.BAD_REQUEST, str(exc.detail), http_status=400)
    if isinstance(exc, exceptions.APIException):
        return ApiError(ErrorType.BAD_REQUEST, str(exc.detail), http_status=exc.status_code)
    logger.exception("Unexpected error in %s", request.path)
    return ApiError(ErrorType.SERVER_ERROR, http_status=500)


def exception_handler(exc, context):
    """REST framework's hook, for its own views (the OpenAPI document's)."""
    error = error_for(exc, context["request"])
    return Response(error.as_body(), status=error.http_status)


@csrf_exempt
def not_found(request, *args, exception=None, **kwargs):
    return error_response(ApiError(ErrorType.NOT_FOUND, http_status=404))


def bad_request(request, exception=None):
    return error_response(ApiError(ErrorType.BAD_REQUEST, http_status=400))


def server_error(request):
    return error_response(ApiError(ErrorType.SERVER_ERROR, http_status=500))
