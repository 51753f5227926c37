"""Fixed-window budgets kept in the cache (Redis in production) so they hold across processes.

SPEC §6: every text the service originates costs its operator money, so every path that makes
one has a budget: a per-client-address budget on each throttled endpoint, staged group
creations per address, PIN texts per destination number, members added per account, and
welcome and notice texts per destination number. Each is a ``COUNT/PERIOD`` setting.
"""

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from groupflier import metrics
from groupflier.api.errors import ApiError, ErrorType

logger = logging.getLogger(__name__)
PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    try:
        count, period = rate.split("/")
        return int(count), PERIODS[period.strip().rstrip("s")]
    except (ValueError, KeyError):
        raise ImproperlyConfigured(
            f"A throttle rate reads like '60/minute', not {rate!r}"
        ) from None


def _key(scope: str, ident: str, period: int) -> str:
    return f"throttle:{scope}:{ident}:{int(time.time()) // period}"


def consume(scope: str, ident: str, rate: str, amount: int = 1) -> bool:
    """Count ``amount`` uses of ``scope`` by ``ident``; False, with nothing counted, when they
    would overspend the budget.

    A budget store that cannot be reached (Redis down) lets the call through, with a warning:
    a login or a new group must still work while Redis restarts, and what they text goes out
    once it is back (SPEC §3). The budgets hold again as soon as Redis does.
    """
    limit, period = parse_rate(rate)
    key = _key(scope, ident, period)
    try:
        used = _count(key, amount, period)
    except Exception as exc:  # noqa: BLE001 - any cache failure: fail open, loudly
        logger.warning("Budget %s not checked, its store is unreachable: %s", scope, exc)
        return True
    if used > limit:
        give_back(scope, ident, rate, amount)
        metrics.count_throttle_refusal(scope.split(":", 1)[0])
        return False
    return True


def _count(key: str, amount: int, period: int) -> int:
    cache.add(key, 0, timeout=period + 1)
    try:
        return cache.incr(key, amount)
    except ValueError:  # the key expired between add and incr: a new window has begun
        cache.add(key, amount, timeout=period + 1)
        return amount


def give_back(scope: str, ident: str, rate: str, amount: int = 1) -> None:
    """Undo ``consume`` for uses that did not happen after all (a refused add)."""
    _, period = parse_rate(rate)
    try:
        cache.decr(_key(scope, ident, period), amount)
    except ValueError:
        pass  # its window is over: nothing left to give back


def check_client_address(endpoint_path: str, address: str) -> None:
    if not consume(f"addr:{endpoint_path}", address, settings.GROUPFLIER_THROTTLE_PER_ADDRESS):
        raise ApiError(ErrorType.THROTTLE)


def check_pin_destination(number: str) -> None:
    if not consume("pin", number, settings.GROUPFLIER_THROTTLE_PIN_PER_NUMBER):
        raise ApiError(ErrorType.THROTTLE)


def check_staged_creations(address: str) -> None:
    """/group/create without the creator's sid: a new pending group (and maybe a new account)
    per call, so it has a budget of its own per client address."""
    if not consume("create", address, settings.GROUPFLIER_THROTTLE_CREATE_PER_ADDRESS):
        raise ApiError(ErrorType.THROTTLE)


def check_adds(account_ident: str, count: int) -> None:
    """Members added by one account (each gets a welcome text); give_back_adds when the add
    is refused after all."""
    if not consume("adds", account_ident, settings.GROUPFLIER_BUDGET_ADDS_PER_ACCOUNT, count):
        raise ApiError(ErrorType.THROTTLE)


def give_back_adds(account_ident: str, count: int) -> None:
    give_back("adds", account_ident, settings.GROUPFLIER_BUDGET_ADDS_PER_ACCOUNT, count)


def notice_refusal(number: str) -> str | None:
    """Why a welcome or notice text to ``number`` is held back, or None when it may go."""
    if consume("notices", number, settings.GROUPFLIER_BUDGET_NOTICES_PER_NUMBER):
        return None
    return (
        "too many welcome and notice texts to this number "
        f"(GROUPFLIER_BUDGET_NOTICES_PER_NUMBER={settings.GROUPFLIER_BUDGET_NOTICES_PER_NUMBER})"
    )
