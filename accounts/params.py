"""Parameters of the /account/* endpoints, declared like those of groupflier.api.params."""

import re

from accounts import cards
from accounts.billing import MAX_CHARGE, MIN_CHARGE
from groupflier.api.errors import ApiError, ErrorType
from groupflier.api.params import Paired, Param

# ASCII digits only, and few enough that int() is cheap and the range check meaningful.
DIGITS = re.compile(r"[0-9]{1,7}")


class CardExpiration(Paired, Param):
    error_types = (ErrorType.INVALID_CC_EXPIRATION,)
    openapi_type = {"type": "string", "pattern": r"^\d{4}-\d{2}$", "example": "2031-12"}

    def convert(self, value: str) -> cards.Expiration:
        expiration = cards.parse_expiration(value)
        if expiration is None:
            raise ApiError(ErrorType.INVALID_CC_EXPIRATION)
        return expiration


class CardNumber(Paired, Param):
    """Never echoed: an error about a card number carries no subtype."""

    error_types = (ErrorType.INVALID_CC_NUMBER, ErrorType.INVALID_CC_TYPE)

    def convert(self, value: str) -> cards.CardNumber:
        number = cards.parse_card_number(value)
        if number is None:
            raise ApiError(ErrorType.INVALID_CC_NUMBER)
        if number.brand is None:
            raise ApiError(ErrorType.INVALID_CC_TYPE)
        return number


class Amount(Param):
    """Whole pennies, written as digits, within the seed's limits."""

    error_types = (ErrorType.INVALID_AMOUNT,)
    openapi_type = {"type": "integer", "minimum": MIN_CHARGE, "maximum": MAX_CHARGE}

    def convert(self, value: str) -> int:
        if not DIGITS.fullmatch(value) or not MIN_CHARGE <= int(value) <= MAX_CHARGE:
            raise ApiError(ErrorType.INVALID_AMOUNT)
        return int(value)
