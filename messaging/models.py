from django.db import models


class OutboundSms(models.Model):
    """A text the service itself sends to one number: a PIN, a welcome, a reply.

    Status transitions (each a conditional UPDATE, so a task run twice does nothing twice):
        QUEUED  -> SENDING   claimed by a worker, committed before the gateway is called
        SENDING -> SENT      the gateway accepted it
        SENDING -> QUEUED    a transient gateway error; retried with backoff
        SENDING -> FAILED    a permanent gateway error, or retries exhausted (``error`` says why)
        SENDING -> UNKNOWN   a worker died during the hand-off: never resent automatically
        QUEUED  -> SKIPPED   the number is blocked (``error`` says why)
    """

    class Kind(models.TextChoices):
        PIN = "pin"
        WELCOME = "welcome"
        NOTICE = "notice"
        REPLY = "reply"

    class Status(models.TextChoices):
        QUEUED = "queued"
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"
        SKIPPED = "skipped"
        UNKNOWN = "unknown"

    to = models.CharField(max_length=20)
    from_number = models.CharField(max_length=20, blank=True)
    text = models.TextField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "outbound SMS"
        verbose_name_plural = "outbound SMS"
        indexes = [models.Index(fields=["status", "updated_at"])]

    def __str__(self):
        return f"{self.kind} to {self.to} ({self.status})"


class OutboxMessage(models.Model):
    """What the console gateway 'sent': the local stand-in for a real SMS provider."""

    to = models.CharField(max_length=20)
    from_number = models.CharField(max_length=20, blank=True)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"to {self.to}: {self.text[:40]}"


class GatewayState(models.Model):
    """What the service knows of an SMS gateway account, one row per gateway backend.

    A gateway answering that the credentials are wrong or the credit is gone pauses sending
    (``paused`` with ``reason``): deliveries wait, queued, instead of failing one by one, and
    the admin shows why. A later credit check or an admin's action resumes it.
    """

    gateway = models.CharField(max_length=100, unique=True)
    paused = models.BooleanField(default=False)
    reason = models.CharField(max_length=200, blank=True)
    credits = models.IntegerField(null=True, blank=True)
    credits_checked_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.gateway} ({'paused' if self.paused else 'sending'})"
