"""Card numbers and expiry dates as /account/set takes them (SPEC §5).

A full card number lives only in a ``CardNumber`` for the length of one request, on its way to
the payment backend. Its ``repr`` and ``str`` show the last four digits only, so a traceback
with locals, an error report or a stray log line cannot carry the number.
"""

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

VISA, MASTERCARD, AMEX = "visa", "mastercard", "amex"
# The brands the service takes (SPEC §5), by the payment processors' own names for them.
ACCEPTED_BRANDS = (VISA, MASTERCARD, AMEX)
BRAND_NAMES = {VISA: "Visa", MASTERCARD: "Mastercard", AMEX: "American Express"}

# How far ahead an expiry may lie: cards are issued for at most a few years, so anything beyond
# this is a typing slip rather than a real card (the processors refuse such dates too).
MAX_YEARS_AHEAD = 20

EXPIRATION = re.compile(r"([0-9]{4})-([0-9]{2})")
# Twelve to nineteen digits, possibly grouped by spaces or dashes: what a log must never show.
CARD_LIKE = re.compile(r"(?<!\d)\d(?:[ -]?\d){11,18}(?!\d)")


class CardNumber:
    """The digits of a card number that has passed the Luhn check, and what they say of the card."""

    __slots__ = ("digits",)

    def __init__(self, digits: str):
        self.digits = digits

    @property
    def brand(self) -> str | None:
        return brand_of(self.digits)

    @property
    def last4(self) -> str:
        return self.digits[-4:]

    def __repr__(self):
        return f"<CardNumber ending in {self.last4}>"

    __str__ = __repr__


@dataclass(frozen=True)
class Expiration:
    year: int
    month: int

    def has_passed(self, now: datetime | None = None) -> bool:
        """A card works through the last day of its expiry month."""
        now = now or timezone.now()
        return (self.year, self.month) < (now.year, now.month)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def parse_card_number(text: str) -> CardNumber | None:
    """The card number in ``text`` (spaces and dashes ignored), or None if it cannot be one."""
    digits = text.replace(" ", "").replace("-", "")
    if not digits.isascii() or not digits.isdigit() or not 12 <= len(digits) <= 19:
        return None
    if not luhn_valid(digits):
        return None
    return CardNumber(digits)


def brand_of(digits: str) -> str | None:
    """Visa, Mastercard (51-55 and the 2221-2720 range) or Amex by prefix and length; else None.

    A number with a known prefix but the wrong length for its brand is no card of that brand.
    """
    if digits.startswith("4") and len(digits) in (13, 16, 19):
        return VISA
    if len(digits) == 16 and (51 <= int(digits[:2]) <= 55 or 2221 <= int(digits[:4]) <= 2720):
        return MASTERCARD
    if len(digits) == 15 and digits[:2] in ("34", "37"):
        return AMEX
    return None


def parse_expiration(text: str, now: datetime | None = None) -> Expiration | None:
    """``YYYY-MM``, a real month, not past and not absurdly far ahead; else None."""
    match = EXPIRATION.fullmatch(text)
    if not match:
        return None
    expiration = Expiration(int(match[1]), int(match[2]))
    now = now or timezone.now()
    if not 1 <= expiration.month <= 12 or expiration.has_passed(now):
        return None
    if expiration.year > now.year + MAX_YEARS_AHEAD:
        return None
    return expiration


def describe(brand: str, last4: str) -> str:
    """``cc_description``, e.g. "Visa ending in 4242"."""
    return f"{BRAND_NAMES.get(brand, brand.title() or 'Card')} ending in {last4}"


class RedactCardNumbers(logging.Filter):
    """Replaces anything shaped like a card number in a log record before any handler sees it.

    Attached to loggers of libraries that log what they send (stripe-python logs each request's
    form body at DEBUG): a card number must not reach a log, whatever the level.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = CARD_LIKE.sub("[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
