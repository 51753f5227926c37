from django.db import models
from django.db.models import Q

from accounts.cards import Expiration, describe
from members.models import Member


class Account(models.Model):
    """Who pays for a member's groups: created with the member's first group (SPEC §2, §5).

    Amounts are integer pennies. ``balance`` always equals the sum of the ledger; it changes
    only through ``accounts.ledger.post_entry``. A trial or paid account with a balance of zero
    or less is suspended; a free one never is.

    Of a card only what the payment backend handed back is kept: its token, the brand, the
    last four digits and the expiry. ``payment_backend`` names the backend the customer and
    card belong to; after a switch of backend they mean nothing and the card counts as absent.
    """

    class Type(models.TextChoices):
        TRIAL = "T", "Trial"
        PAID = "P", "Paid"
        FREE = "F", "Free"

    member = models.OneToOneField(Member, on_delete=models.PROTECT, related_name="account")
    type = models.CharField(max_length=1, choices=Type.choices, default=Type.TRIAL)
    balance = models.IntegerField(default=0)
    email = models.EmailField(blank=True)
    zip = models.CharField(max_length=20, blank=True)
    # A Django password hash (accounts' own password, accepted by /member/login); blank if none.
    password = models.CharField(max_length=256, blank=True)
    payment_backend = models.CharField(max_length=200, blank=True)
    processor_customer = models.CharField(max_length=100, blank=True)
    card_token = models.CharField(max_length=100, blank=True)
    card_brand = models.CharField(max_length=20, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    card_exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    card_exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"account of {self.member}"

    def save(self, *args, **kwargs):
        # A full save writes every column; the balance it read may be stale by then (a debit
        # in between), so the balance is left to post_entry's locked UPDATE.
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name != "balance"
            ]
        super().save(*args, **kwargs)

    @property
    def suspended(self) -> bool:
        return self.is_suspended(self.type, self.balance)

    @classmethod
    def is_suspended(cls, account_type: str, balance: int) -> bool:
        """A trial or paid account with a balance of zero or less (SPEC §5)."""
        return account_type != cls.Type.FREE and balance <= 0

    @property
    def has_password(self) -> bool:
        return bool(self.password)

    def card_on_file(self, backend: str) -> bool:
        return bool(self.card_token) and self.payment_backend == backend

    @property
    def card_expiration(self) -> Expiration | None:
        if not (self.card_exp_year and self.card_exp_month):
            return None
        return Expiration(self.card_exp_year, self.card_exp_month)

    @property
    def card_description(self) -> str:
        return describe(self.card_brand, self.card_last4) if self.card_token else ""


class LedgerEntry(models.Model):
    """One change of an account's balance; never edited, never deleted.

    ``reference`` names what caused the entry (``delivery:123``, ``charge:45``): an account
    has at most one entry per reference, so a task run twice posts once.
    """

    class Kind(models.TextChoices):
        TRIAL_CREDIT = "trial_credit"
        CHARGE = "charge"
        SMS_DEBIT = "sms_debit"
        ADJUSTMENT = "adjustment"
        REFUND = "refund"

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="ledger")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    amount = models.IntegerField(help_text="Pennies; credits are positive, debits negative")
    balance_after = models.IntegerField()
    note = models.CharField(max_length=200, blank=True)
    reference = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.UniqueConstraint(
                fields=["account", "reference"],
                condition=~Q(reference=""),
                name="ledger_entry_unique_reference",
            ),
        ]

    def __str__(self):
        return f"{self.kind} {self.amount:+d}"


class Charge(models.Model):
    """One top-up of an account from its card (/account/charge), and what became of it.

    Status transitions (each under a row lock on the charge, the processor called inside it):
        PENDING   -> SUCCEEDED  the processor took the money; the CHARGE ledger entry is
                                written in the same transaction
        PENDING   -> DECLINED   the processor refused for good (``reason``)
        PENDING   -> FAILED     the processor could not be reached or failed for a while
        FAILED    -> any        a retry of the same request tries again with the same
                                ``processor_key``, so a charge that did go through is
                                replayed by the processor rather than made twice
        SUCCEEDED -> REFUNDED   an administrator refunded it (a REFUND ledger entry)
    A charge left PENDING by a dead process is finished by ``billing.resume_pending_charges``.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        DECLINED = "declined"
        FAILED = "failed"
        REFUNDED = "refunded"

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="charges")
    amount = models.PositiveIntegerField(help_text="Pennies")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=100, blank=True)
    # The client's idempotency_key; blank when it sent none (then a retry is recognised by
    # amount, card and time: see billing.charge_account).
    request_key = models.CharField(max_length=100, blank=True)
    # Sent to the processor as its idempotency key; random, so that installations sharing a
    # processor account never collide.
    processor_key = models.CharField(max_length=64, unique=True)
    processor_customer = models.CharField(max_length=100)
    card_token = models.CharField(max_length=100)
    card_description = models.CharField(max_length=60)
    payment_reference = models.CharField(max_length=100, blank=True)
    refund_reference = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "request_key"],
                condition=~Q(request_key=""),
                name="charge_unique_request_key",
            ),
        ]
        indexes = [models.Index(fields=["status", "updated_at"])]

    def __str__(self):
        return f"charge of {self.amount} to {self.card_description} ({self.status})"
