"""The only way an account's balance changes (SPEC §5: the balance equals the sum of the ledger)."""

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Account, LedgerEntry
from groupflier import sql

# Every send posts an entry (its hold), so these are written out: built by the ORM, the
# statements cost more than the database's work (bench/api).
_LOCK = f"SELECT balance FROM {Account._meta.db_table} WHERE id = %s{sql.for_update()}"
_INSERT = (
    f"INSERT INTO {LedgerEntry._meta.db_table}"
    " (account_id, kind, amount, balance_after, note, reference, created_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id"
)
_SET_BALANCE = f"UPDATE {Account._meta.db_table} SET balance = %s WHERE id = %s"
# A message's hold, every paying send: the account's row lock, the check of its cover and the
# debit in one UPDATE. One that waited for another transaction's change to the row is evaluated
# again on the row as that change left it (PostgreSQL's READ COMMITTED), so parallel debits
# take turns and none is let through on a balance read before another's.
_DEBIT_IF_COVERED = (
    f"UPDATE {Account._meta.db_table} SET balance = balance - %s"
    " WHERE member_id = %s AND type <> %s AND (%s OR balance >= %s) RETURNING id, balance"
)
_GIVE_BACK = f"UPDATE {Account._meta.db_table} SET balance = balance + %s WHERE id = %s"


def post_entry(
    account: Account, kind: str, amount: int, note: str = "", reference: str = ""
) -> LedgerEntry:
    """Add ``amount`` pennies (negative for a debit) to the balance, with its ledger entry.

    With a ``reference``, posting it again returns the entry already posted and changes
    nothing, so the caller (a task that may run twice) need not know whether it ran before.
    """
    # The row lock orders concurrent postings to one account: the reference check, the
    # balance and each entry's balance_after are exact, and entry ids follow that order.
    # No savepoint: nothing in here fails but the database itself, and then the caller's
    # transaction fails whole.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(_LOCK, [account.pk])
        row = cursor.fetchone()
        if row is None:
            raise Account.DoesNotExist(f"account {account.pk}")
        return post_locked(account, row[0], kind, amount, note, reference)


def debit_if_covered(
    member_id: int, amount: int, kind: str, note: str, reference: str, *, required: bool
) -> LedgerEntry | None:
    """Take ``amount`` pennies from the paying (not free) account of ``member_id``, with its
    entry named ``reference``, when the balance covers them or they are not ``required``: two
    statements where ``post_entry`` takes three. None when nothing was taken (no paying account,
    or no cover: the caller tells which). Posting a reference again changes nothing and answers
    the entry posted before."""
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        params = [amount, member_id, Account.Type.FREE, not required, amount]
        cursor.execute(_DEBIT_IF_COVERED, params)
        row = cursor.fetchone()
        if row is None:
            return None
        account_id, balance_after = row
        entry = _entry(account_id, kind, -amount, balance_after, note, reference)
        if not _insert_entry(cursor, entry):  # posted before (a task run twice): give it back
            cursor.execute(_GIVE_BACK, [amount, account_id])
            return LedgerEntry.objects.get(account_id=account_id, reference=reference)
    return entry


def post_locked(
    account: Account, balance: int, kind: str, amount: int, note: str = "", reference: str = ""
) -> LedgerEntry:
    """``post_entry`` for a caller that holds the account's row lock and read ``balance``
    under it, in the same transaction."""
    entry = _entry(account.pk, kind, amount, balance + amount, note, reference)
    entry.account = account  # the caller's, at hand for whoever reads the entry's account
    with connection.cursor() as cursor:
        if not _insert_entry(cursor, entry):
            account.balance = balance
            return LedgerEntry.objects.get(account_id=account.pk, reference=reference)
        cursor.execute(_SET_BALANCE, [entry.balance_after, account.pk])
    account.balance = entry.balance_after
    return entry


def _entry(account_id, kind, amount, balance_after, note, reference) -> LedgerEntry:
    return LedgerEntry(
        account_id=account_id,
        kind=kind,
        amount=amount,
        balance_after=balance_after,
        note=note[:200],
        reference=reference,
        created_at=timezone.now(),
    )


def _insert_entry(cursor, entry: LedgerEntry) -> bool:
    """Store ``entry`` (its pk set), or nothing when its reference was posted before: the
    unique (account, reference) decides, in the same statement that posts it."""
    cursor.execute(
        _INSERT,
        [
            entry.account_id,
            entry.kind,
            entry.amount,
            entry.balance_after,
            entry.note,
            entry.reference,
            connection.ops.adapt_datetimefield_value(entry.created_at),
        ],
    )
    row = cursor.fetchone()
    if row is None:
        return False
    entry.pk = row[0]
    entry._state.adding, entry._state.db = False, connection.alias
    return True
