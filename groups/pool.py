from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from groupflier import phones
from groupflier.api.errors import ApiError


def sync_pool_from_settings(**kwargs):
    """Add the numbers of GROUPFLIER_POOL_NUMBERS that the pool lacks.

    Numbers are only ever added here; retiring one is an admin's decision (mark it inactive),
    since members may still be texting it.
    """
    from groups.models import PoolNumber

    for raw in settings.GROUPFLIER_POOL_NUMBERS:
        try:
            number = phones.normalize(raw)
        except ApiError:
            raise ImproperlyConfigured(
                f"GROUPFLIER_POOL_NUMBERS has an invalid number: {raw!r}"
            ) from None
        PoolNumber.objects.get_or_create(number=number)
