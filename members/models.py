"""Members are phone numbers; their names live on each membership (groups.Membership)."""

from django.db import models
from phonenumber_field.modelfields import PhoneNumberField


class Member(models.Model):
    """A phone number known to the service.

    Created the first time it joins, is added to or creates a group.
    """

    number = PhoneNumberField(unique=True)
    # Set by a carrier STOP keyword or a gateway's global opt-out: no text of any kind goes out.
    blocked = models.BooleanField(default=False)
    blocked_at = models.DateTimeField(null=True, blank=True)
    # A gateway reported the number opted out of our sender only (Group Texting -5): group
    # messages skip it; unlike ``blocked`` it is the provider's list, not the member's STOP.
    opted_out_locally = models.BooleanField(default=False)
    # A gateway refused the number as malformed (Group Texting -106): shown to the admin.
    bad_number = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["number"]

    def __str__(self):
        return str(self.number)


class LoginPin(models.Model):
    """A 6-digit PIN texted by /member/find or /group/create.

    Single use, valid for GROUPFLIER_PIN_TTL, kept only as a keyed hash.
    """

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="pins")
    pin_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["member", "expires_at"])]

    def __str__(self):
        return f"PIN for {self.member} until {self.expires_at:%Y-%m-%d %H:%M}"


class ApiSession(models.Model):
    """A logged-in `sid`. Only its SHA-256 is stored; it lapses after an idle period."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="sessions")
    key_hash = models.CharField(max_length=64, unique=True)
    source = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField()

    def __str__(self):
        return f"session of {self.member} from {self.created_at:%Y-%m-%d}"


class LoginGuard(models.Model):
    """Failed logins per number, for the lockout of SPEC §2.

    Kept by number rather than member, so attempts on unknown numbers count too.
    """

    number = models.CharField(max_length=20, unique=True)
    failures = models.PositiveIntegerField(default=0)
    window_started_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"logins of {self.number}"
