import re

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from phonenumber_field.modelfields import PhoneNumberField

from members.models import Member

# What an invite code may be (the seed's INVALID_INVITE_CODE): any other text names no group.
INVITE_CODE_PATTERN = re.compile(r"[A-Za-z0-9_-]{4,50}")


class PoolNumber(models.Model):
    """One of the service's own gateway numbers, which members text (SPEC §2).

    Filled from the GROUPFLIER_POOL_NUMBERS setting on migrate; managed in the admin after that.
    An inactive number is given to no new membership.
    """

    number = PhoneNumberField(unique=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return str(self.number)


class KeepsCounters(models.Model):
    """A model with counters that the message path adds to under the group's row lock. A
    full save() writes every field back as it was read; the counters are left out of it, so a
    save made while messages were being sent (an administrator's form) does not take them
    back."""

    COUNTERS: tuple[str, ...] = ()

    class Meta:
        abstract = True

    def save(self, *args, update_fields=None, **kwargs):
        updating = not (self._state.adding or kwargs.get("force_insert") or self.pk is None)
        if update_fields is None and updating:
            update_fields = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name not in self.COUNTERS
            ]
        super().save(*args, update_fields=update_fields, **kwargs)


class Group(KeepsCounters):
    """A texting group.

    Status transitions:
        PENDING -> ACTIVE    the creator proves the number (a sid at creation, or a PIN)
        PENDING -> DELETED   expired after 24 hours, never activated
        ACTIVE  -> DELETED   the owner deletes it (history stays for the admin)
    A pending group delivers nothing and its members have been sent nothing.
    ``suspended`` is an administrator's switch, independent of the status.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        ACTIVE = "active"
        DELETED = "deleted"

    name = models.CharField(max_length=30)
    description = models.CharField(max_length=150, blank=True)
    owner = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="owned_groups")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # NULL, not "", until a code is set: the case-insensitive unique constraint ignores NULLs.
    invite_code = models.CharField(  # noqa: DJ001
        max_length=50,
        null=True,
        blank=True,
        validators=[
            RegexValidator(
                rf"\A{INVITE_CODE_PATTERN.pattern}\Z",
                "4 to 50 letters, digits, underscores and dashes.",
            )
        ],
    )
    is_public = models.BooleanField(default=False)
    notify_on_add = models.BooleanField(default=False)
    reply_to_owner = models.BooleanField(default=False)
    disable_who = models.BooleanField(default=False)
    disable_add = models.BooleanField(default=False)
    suspended = models.BooleanField(default=False)
    source = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # How many messages the group holds, whoever may see them: /message/count answers this
    # less the member's hidden_count, so a count never counts rows (kept by messaging).
    message_total = models.PositiveIntegerField(default=0, editable=False)

    COUNTERS = ("message_total",)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("invite_code"), name="group_invite_code_ci_unique"),
        ]
        indexes = [models.Index(fields=["owner", "status"])]

    def __str__(self):
        return self.name


class Membership(KeepsCounters):
    """A member in a group, with the name they go by there and their own group number."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="memberships")
    name = models.CharField(max_length=30)
    # The pool number this member texts to reach this group; null once the group is deleted.
    address = models.ForeignKey(
        PoolNumber, on_delete=models.PROTECT, null=True, blank=True, related_name="memberships"
    )
    bye = models.BooleanField(default=False)
    sms = models.BooleanField(default=True)
    broadcast = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # When a text last went either way between this member and this group; inbound texts
    # with no usable destination go to the most recent one (SPEC §4).
    last_exchanged_at = models.DateTimeField(auto_now_add=True)
    # How many of the group's messages this member cannot see (SPEC §3): those sent while they
    # were away, and in a reply_to_owner group the others' replies to the owner. Kept by
    # messaging as each message is stored, on the few memberships it is hidden from (those
    # away), so that a message costs the same in a group of ten and of ten thousand.
    hidden_count = models.PositiveIntegerField(default=0, editable=False)

    COUNTERS = ("hidden_count",)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["group", "member"], name="membership_unique_member"),
            models.UniqueConstraint("group", Lower("name"), name="membership_name_ci_unique"),
        ]
        # The members of a group who are away: each message stored adds to their hidden_count.
        indexes = [
            models.Index(fields=["group"], condition=Q(bye=True), name="membership_away"),
        ]

    def __str__(self):
        return f"{self.name} in {self.group}"

    @property
    def is_owner(self) -> bool:
        return self.member_id == self.group.owner_id

    @property
    def message_count(self) -> int:
        """How many of the group's messages this member can see (/message/count)."""
        return self.group.message_total - self.hidden_count


class Absence(models.Model):
    """A time a member was away from a group: from their ``bye`` until ``*hi`` (or being added
    or joining again). What the group said meanwhile is not theirs to read (SPEC §3)."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="absences")
    left_at = models.DateTimeField()
    returned_at = models.DateTimeField(null=True, blank=True)  # null: still away

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.membership} away from {self.left_at:%Y-%m-%d %H:%M}"


class HistoryStamp(models.Model):
    """A number that changes whenever anything a member reads of a group's history changes: a
    message stored, edited or deleted, a recipient's text moving on (its receipts), an absence
    begun or ended. /message/get keeps its answers while the stamp is the one they were made
    under (``messaging.history``).

    Kept by triggers in the database (migrations groups 0005 and messaging 0012), not by the
    code that writes those rows: every writer is covered, the admin, an operator's SQL and code
    yet to be written included, and the stamp moves in the very transaction of the change, so
    no reader can pair the new stamp with the old history. The row lock it takes makes changes
    to one group's history take turns for the instant of their commit. Not a foreign key: a
    group deleted for good leaves a stale row, which nothing reads.
    """

    group = models.OneToOneField(
        Group,
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    value = models.BigIntegerField(default=0)

    def __str__(self):
        return f"history of group {self.group_id} at {self.value}"
