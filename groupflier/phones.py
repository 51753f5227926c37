"""Phone numbers in, E.164 out (SPEC §1)."""

import re
from functools import lru_cache

import phonenumbers
from django.conf import settings
from django.db.models import CharField, ExpressionWrapper, F
from phonenumber_field.phonenumber import PhoneNumber, to_python

from groupflier.api.errors import ApiError, ErrorType


@lru_cache(maxsize=64)
def _general_pattern(region: str):
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.general_desc.national_number_pattern is None:
        return None
    return re.compile(f"(?:{metadata.general_desc.national_number_pattern})")


def normalize(raw) -> str:
    """Return ``raw`` as E.164, or raise ``INVALID_NUMBER`` with the input as subtype.

    A number is accepted when it has a possible length and the shape of its country's
    numbering plan. ``phonenumbers.is_valid_number`` is stricter (assigned area codes only)
    and would refuse the documentation's own example, +1 444 555 6666.
    """
    return _normalized(str(raw).strip(), settings.PHONENUMBER_DEFAULT_REGION)


# A polling client sends the same group number on every call, and parsing one costs tens of
# microseconds. A refusal is not kept (an exception is never cached).
@lru_cache(maxsize=4096)
def _normalized(text: str, default_region: str) -> str:
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise ApiError(ErrorType.INVALID_NUMBER, text) from None
    region = phonenumbers.region_code_for_country_code(number.country_code)
    pattern = _general_pattern(region)
    national = phonenumbers.national_significant_number(number)
    if (
        number.extension
        or not phonenumbers.is_possible_number(number)
        or pattern is None
        or not pattern.fullmatch(national)
    ):
        raise ApiError(ErrorType.INVALID_NUMBER, text)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def stored(field_path: str) -> ExpressionWrapper:
    """A phone number field, read as the E.164 text it is stored as (what ``str()`` of its
    PhoneNumber answers). Building the PhoneNumber, validated and formatted again, costs some
    80 microseconds a number: too much for a roster read on every poll."""
    return ExpressionWrapper(F(field_path), output_field=CharField())


class _Stored(PhoneNumber):
    """A number read as stored, whose ``str()`` is the text it was read from. A PhoneNumber
    validates itself again on every ``str()`` (~100 us); the text it would give is the stored
    one, since numbers are stored as E.164 (PHONENUMBER_DB_FORMAT's default) and shown as E.164
    (PHONENUMBER_DEFAULT_FORMAT), or as their raw text when invalid."""

    def __str__(self):
        return self.stored_text


@lru_cache(maxsize=4096)
def parsed(text: str) -> PhoneNumber:
    """A stored number as the ORM gives it (django-phonenumber-field's ``to_python``), parsed
    once per process: the caller's own number and their group's come with every poll. The
    object is shared, so it must not be changed (nothing here changes one)."""
    as_read = to_python(text)
    number = _Stored()
    number.merge_from(as_read)
    number.stored_text = str(as_read)
    return number
