"""The error tokens of the GroupFlier API and the one exception that carries them."""

from enum import StrEnum


class ErrorType(StrEnum):
    # Transport (SPEC §1)
    AUTHORIZATION_REQUIRED = "AUTHORIZATION_REQUIRED"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    SERVER_ERROR = "SERVER_ERROR"
    BAD_REQUEST = "BAD_REQUEST"
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
    THROTTLE = "THROTTLE"
    # Input
    MISSING_FIELDS = "MISSING_FIELDS"
    INVALID_FLAG = "INVALID_FLAG"
    INVALID_NUMBER = "INVALID_NUMBER"
    INVALID_EMAIL = "INVALID_EMAIL"
    INVALID_TYPE = "INVALID_TYPE"
    INVALID_PIN = "INVALID_PIN"
    INVALID_INVITE_CODE = "INVALID_INVITE_CODE"
    INVALID_SMS_STATE = "INVALID_SMS_STATE"
    INVALID_BROADCAST = "INVALID_BROADCAST"
    INVALID_WHEN = "INVALID_WHEN"
    INVALID_MESSAGE_ID = "INVALID_MESSAGE_ID"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    INVALID_CC_NUMBER = "INVALID_CC_NUMBER"
    INVALID_CC_TYPE = "INVALID_CC_TYPE"
    INVALID_CC_EXPIRATION = "INVALID_CC_EXPIRATION"
    TOO_LONG = "TOO_LONG"
    DESCRIPTION_TOO_LONG = "DESCRIPTION_TOO_LONG"
    MESSAGE_TOO_LONG = "MESSAGE_TOO_LONG"
    SHORT_SEARCH = "SHORT_SEARCH"
    # Look-up and permission
    MEMBER_LOOKUP_FAILED = "MEMBER_LOOKUP_FAILED"
    NOT_OWNER = "NOT_OWNER"
    NOT_SELF = "NOT_SELF"
    DISABLED_ADD = "DISABLED_ADD"
    NO_ACCOUNT = "NO_ACCOUNT"
    LOCKOUT = "LOCKOUT"
    # State
    GROUP_FLIER_NUMBER = "GROUP_FLIER_NUMBER"
    BLOCKED_NUMBER = "BLOCKED_NUMBER"
    DUP_NUMBER = "DUP_NUMBER"
    DUP_NAME = "DUP_NAME"
    NAME_IN_USE = "NAME_IN_USE"
    USED_INVITE_CODE = "USED_INVITE_CODE"
    CANT_MAKE_PUBLIC = "CANT_MAKE_PUBLIC"
    TOO_MANY_PENDING_GROUPS = "TOO_MANY_PENDING_GROUPS"
    NOT_ENOUGH_MEMBERS = "NOT_ENOUGH_MEMBERS"
    TOO_MANY_MEMBERS = "TOO_MANY_MEMBERS"
    SUSPENDED = "SUSPENDED"
    NO_CREDIT_CARD = "NO_CREDIT_CARD"
    EXPIRED_CREDIT_CARD = "EXPIRED_CREDIT_CARD"
    DECLINED = "DECLINED"


class ApiError(Exception):
    """Raised anywhere; rendered once by ``groupflier.api.handlers`` as the API's envelope.

    Most errors answer HTTP 200 with ``status: ERROR`` (SPEC §1); the transport errors carry
    their own HTTP status.
    """

    def __init__(self, error_type: ErrorType, subtype=None, *, http_status: int = 200):
        super().__init__(error_type.value if subtype is None else f"{error_type.value}: {subtype}")
        self.error_type = error_type
        self.subtype = subtype
        self.http_status = http_status

    def as_body(self) -> dict:
        body = {"status": "ERROR", "error_type": self.error_type.value}
        if self.subtype is not None:
            body["error_subtype"] = self.subtype
        return body


def authorization_required() -> ApiError:
    return ApiError(ErrorType.AUTHORIZATION_REQUIRED, http_status=401)
