"""Delivery receipts (SPEC §8): a provider's status callback says whether a part it took
reached the phone, and the part's row moves on from SENT (``Delivery``'s status machine).

A callback can come before the part is written back as SENT with the provider's id: the worker
writes its successes back together, about once a second. Such a receipt is kept (``Receipt``)
and applied when the write-back lands (``apply_pending``). A repeated callback changes nothing.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone

from messaging.models import Delivery, Receipt

Status = Delivery.Status
RECEIPT_STATUSES = {
    "delivered": Status.DELIVERED,
    "undelivered": Status.UNDELIVERED,
    "failed": Status.FAILED,
}


def reason_for(status: str, error_code: str) -> str:
    if not error_code:
        return "" if status == Status.DELIVERED else f"{status} (the provider gave no code)"
    return f"{error_code}: {status} (provider's receipt)"


def record_receipt(provider_ref: str, status: str, error_code: str = "") -> bool:
    """Take a provider's receipt for the part it knows as ``provider_ref``; ``status`` is one
    of ``delivered``, ``undelivered``, ``failed``. True when it changed a part or was kept for
    a part not yet written back; False for a repeat, or a receipt for nothing of ours."""
    final = RECEIPT_STATUSES.get(status)
    if final is None or not provider_ref:
        raise ValueError(f"not a receipt status: {status!r}")
    if _apply(provider_ref, final, error_code):
        return True
    if Delivery.objects.filter(provider_ref=provider_ref).exists():
        return False  # a repeat: the part has its receipt already
    try:
        with transaction.atomic():
            Receipt.objects.create(provider_ref=provider_ref, status=final, error_code=error_code)
    except IntegrityError:
        return False  # the same receipt, called back twice before the write-back
    # The write-back may have landed between the first look and the commit above, and read
    # no receipt then: each side commits, then looks for the other, so one of them applies it.
    apply_pending([provider_ref])
    return True


def _apply(provider_ref: str, status: str, error_code: str) -> int:
    return Delivery.objects.filter(provider_ref=provider_ref, status=Status.SENT).update(
        status=status, reason=reason_for(status, error_code)[:200], updated_at=timezone.now()
    )


def apply_pending(provider_refs: list[str]) -> int:
    """Apply the kept receipts of parts just written back as SENT (committed) under these
    provider ids. One indexed look-up when there are none; none for parts without ids."""
    provider_refs = [ref for ref in provider_refs if ref]
    if not provider_refs:  # a provider without references (Group Texting) has no receipts
        return 0
    applied = 0
    for receipt in Receipt.objects.filter(provider_ref__in=provider_refs):
        if _apply(receipt.provider_ref, receipt.status, receipt.error_code):
            # Kept otherwise: the part may still be on its way to SENT.
            Receipt.objects.filter(pk=receipt.pk).delete()
            applied += 1
    return applied
