"""Parameter declarations shared by every endpoint (SPEC §1).

An endpoint lists its parameters in the seed's order. The contract layer first collects
every missing one (``MISSING_FIELDS``), then parses each present one in order, so the first
format error in the documented order is the one answered.
"""

from types import SimpleNamespace

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from groupflier import phones
from groupflier.api.errors import ApiError, ErrorType

TRUE_WORDS = ("1", "true")
FALSE_WORDS = ("0", "false")


def read_raw(raw: dict, name: str):
    """The trimmed text of ``name``, or None when absent or blank (blank counts as missing)."""
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        value = "1" if value else "0"
    elif isinstance(value, (int, float)):
        value = str(value)
    elif not isinstance(value, str):
        raise ApiError(ErrorType.BAD_REQUEST, name, http_status=400)
    if "\x00" in value or _has_surrogates(value):
        # NUL (PostgreSQL text cannot hold it) and lone surrogates (possible in JSON) cannot be
        # stored, hashed or echoed back. Refuse them here, once, for every endpoint.
        raise ApiError(ErrorType.BAD_REQUEST, name, http_status=400)
    value = value.strip()
    return value or None


def _has_surrogates(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class Param:
    """A single named parameter whose value is text."""

    error_types: tuple[ErrorType, ...] = ()
    openapi_type = {"type": "string"}

    def __init__(self, name: str, *, required: bool = True, description: str = ""):
        self.name = name
        self.required = required
        self.description = description

    @property
    def can_be_missing(self) -> bool:
        return self.required

    def missing(self, raw: dict) -> list[str]:
        return [self.name] if self.required and read_raw(raw, self.name) is None else []

    def parse(self, raw: dict, out: SimpleNamespace) -> None:
        value = read_raw(raw, self.name)
        setattr(out, self.name, None if value is None else self.convert(value))

    def convert(self, value: str):
        return value

    def properties(self) -> dict[str, dict]:
        schema = dict(self.openapi_type)
        if self.description:
            schema["description"] = self.description + ("" if self.required else " (optional)")
        return {self.name: schema}

    def required_names(self) -> list[str]:
        return [self.name] if self.required else []


class Text(Param):
    def __init__(self, name, *, max_length: int, too_long=ErrorType.TOO_LONG, echo=True, **kw):
        super().__init__(name, **kw)
        self.max_length = max_length
        self.too_long = too_long
        self.echo = echo  # the seed gives the offending value as subtype only for TOO_LONG
        self.error_types = (too_long,)

    def convert(self, value: str) -> str:
        if len(value) > self.max_length:
            raise ApiError(self.too_long, value if self.echo else None)
        return value


class Secret(Param):
    """A PIN, password or session id: never echoed back in an error."""


class Flag(Param):
    error_types = (ErrorType.INVALID_FLAG,)
    openapi_type = {"type": "string", "enum": ["0", "1", "true", "false"]}

    def convert(self, value: str) -> bool:
        word = value.lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ApiError(ErrorType.INVALID_FLAG, self.name)


class Phone(Param):
    error_types = (ErrorType.INVALID_NUMBER,)

    def convert(self, value: str) -> str:
        return phones.normalize(value)


class Email(Param):
    error_types = (ErrorType.INVALID_EMAIL,)

    def convert(self, value: str) -> str:
        if len(value) > 254:
            raise ApiError(ErrorType.INVALID_EMAIL, value)
        try:
            validate_email(value)
        except ValidationError:
            raise ApiError(ErrorType.INVALID_EMAIL, value) from None
        return value


class Choice(Param):
    def __init__(self, name, *, choices, invalid: ErrorType, **kw):
        super().__init__(name, **kw)
        self.choices = tuple(choices)
        self.invalid = invalid
        self.error_types = (invalid,)
        self.openapi_type = {"type": "string", "enum": list(self.choices)}

    def convert(self, value: str) -> str:
        if value not in self.choices:
            raise ApiError(self.invalid, self.name)
        return value


class Paired:
    """Mixed in before a ``Param`` class: an optional field that comes with ``partner`` or not
    at all (SPEC §1). Present without its partner, the partner is the missing field."""

    can_be_missing = True

    def __init__(self, name, *, partner: str, **kw):
        super().__init__(name, required=False, **kw)
        self.partner = partner

    def missing(self, raw: dict) -> list[str]:
        alone = read_raw(raw, self.name) is None and read_raw(raw, self.partner) is not None
        return [self.name] if alone else []


class MessageId(Param):
    """A message id: a whole number from 1."""

    error_types = (ErrorType.INVALID_MESSAGE_ID,)
    openapi_type = {"type": "string", "pattern": "^[0-9]+$"}

    def convert(self, value: str) -> int:
        if not value.isascii() or not value.isdigit() or int(value) < 1:
            raise ApiError(ErrorType.INVALID_MESSAGE_ID, self.name)
        return int(value)


class NumberedPairs(Param):
    """``name_N`` with ``number_N`` for N in 0..last: each pair comes together or not at all.

    Parses to a list of ``(name, e164)`` in N order, stored under ``attr``.
    """

    error_types = (ErrorType.TOO_LONG, ErrorType.INVALID_NUMBER)

    def __init__(self, attr, *, first="name", second="number", last=100, max_length=30, **kw):
        super().__init__(attr, required=False, **kw)
        self.first, self.second, self.last = first, second, last
        self.name_param = Text(f"{first}_N", max_length=max_length)

    can_be_missing = True  # one half of a pair without the other

    def _keys(self):
        return ((n, f"{self.first}_{n}", f"{self.second}_{n}") for n in range(self.last + 1))

    def missing(self, raw: dict) -> list[str]:
        absent = []
        for _, first_key, second_key in self._keys():
            first, second = read_raw(raw, first_key), read_raw(raw, second_key)
            if first is None and second is not None:
                absent.append(first_key)
            elif second is None and first is not None:
                absent.append(second_key)
        return absent

    def parse(self, raw: dict, out: SimpleNamespace) -> None:
        pairs = []
        for _, first_key, second_key in self._keys():
            first, second = read_raw(raw, first_key), read_raw(raw, second_key)
            if first is None:
                continue
            pairs.append((self.name_param.convert(first), phones.normalize(second)))
        setattr(out, self.name, pairs)

    def properties(self) -> dict[str, dict]:
        props = {}
        for n, first_key, second_key in self._keys():
            props[first_key] = {"type": "string", "description": f"Name of additional member {n}"}
            props[second_key] = {
                "type": "string",
                "description": f"Number of additional member {n}",
            }
        return props

    def required_names(self) -> list[str]:
        return []


def parse_params(params: list[Param], raw: dict) -> SimpleNamespace:
    missing = [name for param in params for name in param.missing(raw)]
    if missing:
        raise ApiError(ErrorType.MISSING_FIELDS, missing)
    values = SimpleNamespace()
    for param in params:
        param.parse(raw, values)
    return values
