"""Fixed-window budgets kept in the cache (Redis in production) so they hold across processes.

SPEC §6: a per-client-address budget on each throttled endpoint, and a per-destination
budget on calls that text a PIN (SMS pumping stops there).
"""

import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from groupflier import metrics
from groupflier.api.errors import ApiError, ErrorType

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    try:
        count, period = rate.split("/")
        return int(count), PERIODS[period.strip().rstrip("s")]
    except (ValueError, KeyError):
        raise ImproperlyConfigured(
            f"A throttle rate reads like '60/minute', not {rate!r}"
        ) from None


def consume(scope: str, ident: str, rate: str) -> bool:
    """Count one use of ``scope`` by ``ident``; False when the budget is already spent."""
    limit, period = parse_rate(rate)
    window = int(time.time()) // period
    key = f"throttle:{scope}:{ident}:{window}"
    cache.add(key, 0, timeout=period + 1)
    try:
        used = cache.incr(key)
    except ValueError:  # the key expired between add and incr: a new window has begun
        cache.add(key, 1, timeout=period + 1)
        used = 1
    if used > limit:
        metrics.count_throttle_refusal(scope.split(":", 1)[0])
        return False
    return True


def check_client_address(endpoint_path: str, address: str) -> None:
    if not consume(f"addr:{endpoint_path}", address, settings.GROUPFLIER_THROTTLE_PER_ADDRESS):
        raise ApiError(ErrorType.THROTTLE)


def check_pin_destination(number: str) -> None:
    if not consume("pin", number, settings.GROUPFLIER_THROTTLE_PIN_PER_NUMBER):
        raise ApiError(ErrorType.THROTTLE)
