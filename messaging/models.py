from django.db import models


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


MAX_SMS_TEXT = 1600


class Message(models.Model):
    """A text sent to a group, through the API, by SMS or by the scheduler.

    ``seq`` is the message id the API shows: per group, from 1, with no gap (SPEC §3). It is
    taken under the group's row lock in the transaction that stores the message.
    A message with no ``sender`` is a system notice (e.g. "Kim was added").
    """

    class Source(models.TextChoices):
        API = "api"
        SMS = "sms"
        SCHEDULED = "scheduled"
        SYSTEM = "system"

    group = models.ForeignKey("groups.Group", on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveIntegerField()
    sender = models.ForeignKey(
        "groups.Membership", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The sender as they were when they sent it: a later rename or removal does not rewrite history.
    sender_name = models.CharField(max_length=30, blank=True)
    sender_number = models.CharField(max_length=20, blank=True)
    # The API takes 150 characters; a text that arrives by SMS may be longer (phones join long
    # texts) and is kept whole up to MAX_SMS_TEXT (SPEC §3).
    text = models.CharField(max_length=MAX_SMS_TEXT)
    cc = models.BooleanField(default=False)
    # A reply_to_owner message from an ordinary member: only the owner and its sender see it.
    owner_only = models.BooleanField(default=False)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.API)
    created_at = models.DateTimeField(auto_now_add=True)
    fanned_out_at = models.DateTimeField(null=True, blank=True)
    # SMS parts whose cost was held on the owner's account when the message was accepted
    # (SPEC §5); the planning settles the difference to what is really sent.
    held_parts = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["group", "seq"]
        constraints = [models.UniqueConstraint(fields=["group", "seq"], name="message_seq_unique")]

    def __str__(self):
        return f"#{self.seq} in {self.group}: {self.text[:40]}"


class Delivery(models.Model):
    """One SMS part of one message to one recipient (SPEC §3).

    Status transitions, each a conditional UPDATE so that a task run twice acts once:
        QUEUED  -> SENDING   claimed, and committed, before the gateway is called; a worker
                             claims a batch at once under one ``handoff`` token
        SENDING -> SENT      the gateway took it (``provider_ref``)
        SENDING -> QUEUED    a transient error (HTTP 503, no connection, gateway paused):
                             retried with backoff, a bounded number of ``attempts``; or
                             claimed by a worker that died before reaching it (the sweep)
        SENDING -> FAILED    a permanent error, or attempts exhausted (``reason`` says which)
        SENDING -> UNKNOWN   the worker died during the hand-off itself: the gateway may or may
                             not have it, so it is never resent automatically (the sweep)
        QUEUED  -> SKIPPED   not sent at all (``reason``: opted out, sms=0, suspended)
        SENT    -> DELIVERED    the provider's receipt: it reached the phone
        SENT    -> UNDELIVERED  the provider's receipt: the carrier could not deliver it
        SENT    -> FAILED       the provider's receipt: it never left the provider
                                (receipts carry the provider's error code as ``reason``;
                                ``messaging.receipts``)
    FAILED, SKIPPED, UNKNOWN, DELIVERED and UNDELIVERED are final; SENT is final where the
    gateway reports no delivery. Which claimed part a dead worker was handing over is told by
    the hand-off log (``groupflier.pipeline.handoff``), so at most one per worker process ends
    UNKNOWN. The pipeline never leaves a final status; an operator may, deliberately
    (``messaging.operator``, from the admin):
        FAILED  -> QUEUED    queued again with a fresh count of attempts
        UNKNOWN -> QUEUED    sent again, which may duplicate (the admin asks first)
        UNKNOWN -> FAILED    settled without a resend
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        SENDING = "sending"
        SENT = "sent"
        DELIVERED = "delivered"
        UNDELIVERED = "undelivered"
        FAILED = "failed"
        SKIPPED = "skipped"
        UNKNOWN = "unknown"

    # Nothing more will be done about a part in these (a receipt may still move SENT on).
    FINAL = (
        Status.SENT,
        Status.DELIVERED,
        Status.UNDELIVERED,
        Status.FAILED,
        Status.SKIPPED,
        Status.UNKNOWN,
    )

    # Rows are written three times (planned, claimed, sent), each time into every index, so
    # there are only the indexes a look-up needs: the message's rows are found through
    # delivery_unique_part, which starts with it.
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    # SET_NULL: removing a member must not erase the record of what was sent to them.
    recipient = models.ForeignKey(
        "groups.Membership", on_delete=models.SET_NULL, null=True, related_name="deliveries"
    )
    part = models.PositiveSmallIntegerField(default=1)
    parts = models.PositiveSmallIntegerField(default=1)
    to_number = models.CharField(max_length=20)
    from_number = models.CharField(max_length=20, blank=True)
    text = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    reason = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The provider's id of the part (a Twilio message SID): receipts find the part by it.
    provider_ref = models.CharField(max_length=100, blank=True)
    # The claim that took it to SENDING: its key in the hand-off log (messaging.handoff).
    handoff = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["message", "recipient", "part"], name="delivery_unique_part"
            )
        ]
        indexes = [
            # The sweep's and the metrics' look-ups: only rows on their way out are in it.
            models.Index(
                fields=["status", "updated_at"],
                name="delivery_in_flight",
                condition=models.Q(status__in=["queued", "sending"]),
            ),
            # Receipts find a part by its provider's id; providers without ids leave it blank.
            models.Index(
                fields=["provider_ref"],
                name="delivery_provider_ref",
                condition=~models.Q(provider_ref=""),
            ),
        ]

    def __str__(self):
        return f"{self.message} to {self.to_number} part {self.part}/{self.parts} ({self.status})"


class Receipt(models.Model):
    """A provider's word on where a part it took now stands, kept until the part it names is
    written back as SENT: a status callback can arrive before the worker that handed the part
    over has recorded the provider's id (it writes successes back about once a second)."""

    provider_ref = models.CharField(max_length=100, unique=True)
    status = models.CharField(max_length=12)  # delivered, undelivered or failed
    error_code = models.CharField(max_length=50, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.provider_ref}: {self.status}"


class ScheduledMessage(models.Model):
    """A message the owner asked to send later (SPEC §3).

    Status transitions, taken under ``SELECT ... FOR UPDATE SKIP LOCKED`` so that any number of
    schedulers and workers send each one once:
        PENDING -> SENT      sent as if the owner had sent it then (``message``)
        PENDING -> SKIPPED   could not be sent then (``reason``: suspended, owner left, ...)
        PENDING -> DELETED   the owner deleted it
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        SKIPPED = "skipped"
        DELETED = "deleted"

    group = models.ForeignKey("groups.Group", on_delete=models.CASCADE, related_name="scheduled")
    author = models.ForeignKey("groups.Membership", on_delete=models.CASCADE, related_name="+")
    text = models.CharField(max_length=150)
    cc = models.BooleanField(default=False)
    when = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=200, blank=True)
    message = models.ForeignKey(Message, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["when", "id"]
        indexes = [models.Index(fields=["status", "when"])]

    def __str__(self):
        return f"{self.text[:40]} at {self.when:%Y-%m-%d %H:%M:%S}"


class InboundSms(models.Model):
    """A text that reached the service through a gateway's webhook (or `manage.py inbound`)."""

    sender = models.CharField(max_length=20)
    to_number = models.CharField(max_length=20, blank=True)
    text = models.TextField()
    gateway = models.CharField(max_length=50)
    group = models.ForeignKey("groups.Group", on_delete=models.SET_NULL, null=True, blank=True)
    outcome = models.CharField(max_length=200, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "inbound SMS"
        verbose_name_plural = "inbound SMS"

    def __str__(self):
        return f"from {self.sender}: {self.text[:40]}"


class Counter(models.Model):
    """A named running total, e.g. every message ever processed (/message/grand/total)."""

    name = models.CharField(max_length=50, unique=True)
    value = models.BigIntegerField(default=0)

    def __str__(self):
        return f"{self.name} = {self.value}"
