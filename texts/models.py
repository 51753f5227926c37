from django.db import models


class OutboundSms(models.Model):
    """A text the service itself sends to one number: a PIN, a welcome, a reply. Sent by the
    row pipeline (``groupflier.pipeline.rows``) like group messages' parts.

    Status transitions (each a conditional UPDATE, so a task run twice does nothing twice):
        QUEUED  -> SENDING   claimed by a worker, committed before the gateway is called; a
                             worker claims a batch at once under one ``handoff`` token
        SENDING -> SENT      the gateway accepted it (``provider_ref``); a PIN's text is then
                             masked: only the member's phone keeps it
        SENDING -> QUEUED    a transient gateway error (retried with backoff), the gateway
                             paused, or the service-wide cap on system texts holding it
        SENDING -> FAILED    a permanent gateway error, or retries exhausted (``error`` says why)
        SENDING -> SKIPPED   the number texted STOP since it was queued
        SENDING -> UNKNOWN   a worker died during the hand-off: never resent automatically
        QUEUED  -> SKIPPED   the number is blocked, or a budget held it back (``error`` says why)
    """

    class Kind(models.TextChoices):
        PIN = "pin"
        WELCOME = "welcome"
        NOTICE = "notice"
        REPLY = "reply"
        # The one text a number gets after it texted STOP: the block does not hold it back.
        STOP_CONFIRMATION = "stop_confirmation"

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
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    provider_ref = models.CharField(max_length=100, blank=True)
    # The claim that took it to SENDING: its key in the hand-off log (groupflier.pipeline).
    handoff = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Made by the messaging app before system texts had an app of their own.
        db_table = "messaging_outboundsms"
        ordering = ["id"]
        verbose_name = "outbound SMS"
        verbose_name_plural = "outbound SMS"
        indexes = [
            models.Index(fields=["status", "updated_at"], name="messaging_o_status_feba9c_idx")
        ]

    def __str__(self):
        return f"{self.kind} to {self.to} ({self.status})"
