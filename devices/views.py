import unicodedata

from devices import actions
from devices.models import TOKEN_MAX_LENGTH, Device
from groupflier.api.endpoint import Endpoint, SessionRule
from groupflier.api.errors import ApiError, ErrorType
from groupflier.api.params import Choice, Param, Phone

TYPE_DESCRIPTION = "Type of the device (iphone,iphone_no_notify,android)"


class DeviceType(Choice):
    """The seed's INVALID_TYPE carries no subtype (SPEC §1 lists the tokens that do)."""

    def __init__(self, **kw):
        super().__init__("type", choices=Device.Type.values, invalid=ErrorType.INVALID_TYPE, **kw)

    def convert(self, value: str) -> str:
        if value not in self.choices:
            raise ApiError(self.invalid)
        return value


class DeviceToken(Param):
    """A push token: at most TOKEN_MAX_LENGTH characters, none of them control characters
    (no push service issues such tokens, and the database cannot store a NUL)."""

    error_types = (ErrorType.TOO_LONG,)

    def convert(self, value: str) -> str:
        if len(value) > TOKEN_MAX_LENGTH:
            raise ApiError(ErrorType.TOO_LONG, value)
        if any(unicodedata.category(char) in ("Cc", "Cs") for char in value):
            raise ApiError(ErrorType.BAD_REQUEST, self.name, http_status=400)
        return value


class DeviceRegister(Endpoint):
    path = "device/register"
    summary = "Register a device"
    description = (
        "Binds a push token to a number; a token belongs to one number at a time, so "
        "registering it again moves it. No session is needed. With a `sid` of that number (an "
        "addition) the device is verified and its notifications carry the message; without "
        'one it gets "You have new messages" until registered again with one. '
        "`iphone_no_notify` registers an app that polls and gets no push."
    )
    session = SessionRule.OPTIONAL
    params = [
        Phone("number", description="The phone number of the device"),
        DeviceType(description=TYPE_DESCRIPTION),
        DeviceToken("token", description="Token of the device"),
    ]
    throttled = True

    def act(self, request, args):
        actions.register_device(args.number, args.type, args.token, request.member)


class DeviceRelease(Endpoint):
    path = "device/release"
    summary = "Release a device"
    description = "Removes the caller's devices of that type: they get no more notifications."
    session = SessionRule.REQUIRED
    params = [DeviceType(description=TYPE_DESCRIPTION)]

    def act(self, request, args):
        actions.release_devices(request.member, args.type)
