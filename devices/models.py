"""Phone apps registered for push notifications, and each push sent to them (SPEC §7)."""

from django.db import models
from phonenumber_field.modelfields import PhoneNumberField

# Fits the longest real token (FCM's are about 160 characters, APNs' 64 hex digits) with room
# to grow, and keeps the unique index under PostgreSQL's limit on an index entry (2,704 bytes)
# even for four-byte characters.
TOKEN_MAX_LENGTH = 512


class Device(models.Model):
    """A push token, bound to one phone number at a time.

    Keyed by number rather than by member: /device/register needs no session, so anyone may
    call it for any number, and a number that is not yet in a group must not become a member
    (members are created by joining, SPEC §2). The app's registration is kept so that pushes
    start when the number joins a group.
    """

    class Type(models.TextChoices):
        IPHONE = "iphone"
        IPHONE_NO_NOTIFY = "iphone_no_notify"  # an app that polls: registered, never pushed
        ANDROID = "android"

    number = PhoneNumberField(db_index=True)
    type = models.CharField(max_length=20, choices=Type.choices)
    token = models.CharField(max_length=TOKEN_MAX_LENGTH, unique=True)
    # Registered with a sid of this number. Unverified devices get pushes without content,
    # since whoever registered them may not own the number.
    verified = models.BooleanField(default=False)
    # Last (re)registration: a push service's "unregistered" verdict about a push queued
    # before it does not remove a device registered again since.
    registered_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    last_push_at = models.DateTimeField(null=True, blank=True)
    last_push_status = models.CharField(max_length=12, blank=True)
    last_push_error = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["number", "id"]
        indexes = [models.Index(fields=["number", "type"])]

    def __str__(self):
        return f"{self.get_type_display()} of {self.number}"

    @property
    def service(self) -> str | None:
        """The push service this device's pushes go through, or None for a polling app."""
        return {self.Type.IPHONE: "apns", self.Type.ANDROID: "fcm"}.get(self.type)


class PushAttempt(models.Model):
    """One group message pushed to one device: the claim that makes sending it idempotent.

    It keeps the message itself, not the payload: whether the device gets the content or only
    "You have new messages" is decided when it is sent, from the device as it is then.

    Status transitions (each a conditional UPDATE, so a task run twice does nothing twice):
        QUEUED  -> SENDING   claimed by a worker, committed before the push service is called
        SENDING -> SENT      the push service accepted it (``provider_id`` is its reference)
        SENDING -> QUEUED    throttled or a server error; retried with backoff
        SENDING -> FAILED    a final error, or retries exhausted (``error`` says why); when the
                             service says the token is dead the device is removed as well
        SENDING -> SKIPPED   the device was released, moved to another number or stopped
                             taking pushes after this was queued
        SENDING -> UNKNOWN   a worker died during the hand-off (the sweep finds it); never resent
    Sent by the row pipeline (``groupflier.pipeline.rows``), claimed a batch at a time under
    one ``handoff`` token, like texts.
        QUEUED  -> FAILED    still queued a day later (the sweep): the news is stale
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"
        SKIPPED = "skipped"
        UNKNOWN = "unknown"

    device = models.ForeignKey(
        Device, on_delete=models.SET_NULL, null=True, blank=True, related_name="pushes"
    )
    # The number the device belonged to when queued: a token moved since must not get it.
    number = PhoneNumberField()
    # The caller's identity of this message for this recipient: a repeated call with the same
    # key queues nothing new. NULL (no key) never collides.
    key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    group_number = models.CharField(max_length=20)
    group_name = models.CharField(max_length=100)
    message_id = models.PositiveIntegerField()
    sender_name = models.CharField(max_length=100, blank=True)
    text = models.TextField()
    # Filled when sent: where it went and whether it carried the message.
    service = models.CharField(max_length=4, blank=True)
    token = models.CharField(max_length=TOKEN_MAX_LENGTH, blank=True)
    with_content = models.BooleanField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.CharField(max_length=200, blank=True)
    provider_id = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The claim that took it to SENDING: its key in the hand-off log (groupflier.pipeline).
    handoff = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["device", "key"], name="push_attempt_device_key"),
        ]
        indexes = [models.Index(fields=["status", "updated_at"])]

    def __str__(self):
        return f"message {self.message_id} of {self.group_number} to {self.number} ({self.status})"


class PushOutboxEntry(models.Model):
    """What the log push backend 'sent': the local stand-in for APNs and FCM."""

    service = models.CharField(max_length=4)
    token = models.CharField(max_length=TOKEN_MAX_LENGTH)
    title = models.CharField(max_length=100, blank=True)
    body = models.TextField()
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "push outbox entry"
        verbose_name_plural = "push outbox"

    def __str__(self):
        return f"{self.service} to {self.token[:12]}…: {self.body[:40]}"
