"""The only way an account's balance changes (SPEC §5: the balance equals the sum of the ledger)."""

from django.db import transaction
from django.db.models import F

from accounts.models import Account, LedgerEntry


@transaction.atomic
def post_entry(
    account: Account, kind: str, amount: int, note: str = "", reference: str = ""
) -> LedgerEntry:
    """Add ``amount`` pennies (negative for a debit) to the balance, with its ledger entry.

    With a ``reference``, posting it again returns the entry already posted and changes
    nothing, so the caller (a task that may run twice) need not know whether it ran before.
    """
    # The row lock orders concurrent postings to one account: the reference check, the
    # balance and each entry's balance_after are exact, and entry ids follow that order.
    Account.objects.select_for_update().filter(pk=account.pk).values_list("pk").get()
    if reference:
        posted = LedgerEntry.objects.filter(account=account, reference=reference).first()
        if posted is not None:
            account.refresh_from_db(fields=["balance"])
            return posted
    Account.objects.filter(pk=account.pk).update(balance=F("balance") + amount)
    account.refresh_from_db(fields=["balance"])
    return LedgerEntry.objects.create(
        account=account,
        kind=kind,
        amount=amount,
        balance_after=account.balance,
        note=note[:200],
        reference=reference,
    )
