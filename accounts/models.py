from django.db import models

from members.models import Member


class Account(models.Model):
    """Who pays for a member's groups: created with the member's first group (SPEC §2, §5).

    Amounts are integer pennies. ``balance`` always equals the sum of the ledger; it changes
    only through ``accounts.ledger.post_entry``.
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
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"account of {self.member}"

    @property
    def suspended(self) -> bool:
        return self.type != self.Type.FREE and self.balance <= 0

    @property
    def has_password(self) -> bool:
        return bool(self.password)


class LedgerEntry(models.Model):
    """One change of an account's balance; never edited, never deleted."""

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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "ledger entries"

    def __str__(self):
        return f"{self.kind} {self.amount:+d}"
