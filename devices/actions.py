"""Registering and releasing devices (SPEC §7), and pushing group messages to them (SPEC §3)."""

import re
from functools import partial

from django.db import IntegrityError, transaction
from django.utils import timezone

from devices.models import Device, PushAttempt
from devices.push.base import Notification
from groupflier.pipeline import rows
from members.models import Member

NOTIFYING_TYPES = (Device.Type.IPHONE, Device.Type.ANDROID)
IOS_TYPES = (Device.Type.IPHONE, Device.Type.IPHONE_NO_NOTIFY)
CONTENT_FREE_BODY = "You have new messages"
# Old iOS apps sent the token as [NSData description]: "<740f4707 bebcf74f ...>".
DESCRIBED_IOS_TOKEN = re.compile(r"<?\s*([0-9a-fA-F][0-9a-fA-F ]*)>?")


def normalize_token(device_type: str, token: str) -> str:
    """APNs tokens as the bare lowercase hex APNs expects, however the app spelt them, so the
    same phone registered by an old and a new app version is one device."""
    if device_type in IOS_TYPES:
        described = DESCRIBED_IOS_TOKEN.fullmatch(token)
        if described:
            return described.group(1).replace(" ", "").lower()
    return token


@transaction.atomic
def register_device(number: str, device_type: str, token: str, session_member) -> Device:
    """/device/register: bind ``token`` to ``number``, moving it if another number had it.

    The device is verified (its pushes carry the message) when the call carries a sid of that
    number. Registering again without one keeps a verification the same number earned, since
    the phone behind the token is the same; a token that moves to another number starts over.
    """
    token = normalize_token(device_type, token)
    proven = session_member is not None and str(session_member.number) == number
    now = timezone.now()
    device = Device.objects.select_for_update().filter(token=token).first()
    if device is None:
        try:
            with transaction.atomic():
                return Device.objects.create(
                    number=number,
                    type=device_type,
                    token=token,
                    verified=proven,
                    registered_at=now,
                )
        except IntegrityError:  # registered by a concurrent call: update that registration
            device = Device.objects.select_for_update().get(token=token)
    if str(device.number) != number:
        device.verified = False
        # The last push result was the previous number's business.
        device.last_push_at, device.last_push_status, device.last_push_error = None, "", ""
    device.number = number
    device.type = device_type
    device.verified = device.verified or proven
    device.registered_at = now
    device.save()
    return device


def release_devices(member: Member, device_type: str) -> None:
    """/device/release: the caller's devices of that type get nothing more."""
    Device.objects.filter(number=str(member.number), type=device_type).delete()


def notifying_devices(number: str):
    return Device.objects.filter(number=number, type__in=NOTIFYING_TYPES)


def has_notifying_device(member_id: int) -> bool:
    """Whether a message to this member would also go out as a push notification."""
    number = Member.objects.filter(pk=member_id).values_list("number", flat=True).first()
    return number is not None and notifying_devices(str(number)).exists()


def notify_message(
    recipient_member_id: int,
    group_number: str,
    group_name: str,
    message_id: int,
    sender_name: str | None,
    text: str,
    *,
    key: str | None = None,
) -> list[int]:
    """Push a group message to each of the recipient's devices that takes pushes.

    ``group_number`` is the recipient's own address of the group; ``sender_name`` is None for
    a system notice. One PushAttempt per device is recorded in the caller's transaction and
    its sending queued when that commits. ``key`` (e.g. ``f"{group_id}:{message_id}"``)
    makes a repeated call queue nothing new. Returns the ids of the attempts queued.
    """
    from devices.tasks import PIPELINE

    number = Member.objects.filter(pk=recipient_member_id).values_list("number", flat=True).first()
    if number is None:
        return []
    message = dict(
        number=str(number),
        group_number=str(group_number),
        group_name=group_name,
        message_id=message_id,
        sender_name=sender_name or "",
        text=text,
    )
    queued = []
    for device in notifying_devices(str(number)):
        if key is None:
            attempt = PushAttempt.objects.create(device=device, **message)
        else:
            attempt, created = PushAttempt.objects.get_or_create(
                device=device, key=key, defaults=message
            )
            if not created:
                continue
        queued.append(attempt.pk)
    if queued:
        # A broker that cannot be reached leaves them queued for the pipeline's sweep.
        transaction.on_commit(partial(rows.queue, PIPELINE, queued))
    return queued


def notification_for(attempt: PushAttempt, with_content: bool) -> Notification:
    if not with_content:
        # Whoever registered an unverified device may not own the number: tell it nothing
        # about the group, and let a newer notice replace an unread one.
        return Notification(body=CONTENT_FREE_BODY, collapse_id="new-messages")
    body = f"{attempt.sender_name}: {attempt.text}" if attempt.sender_name else attempt.text
    return Notification(
        title=attempt.group_name,
        body=body,
        data={
            "group_number": attempt.group_number,
            "group_name": attempt.group_name,
            "message_id": str(attempt.message_id),
            "sender_name": attempt.sender_name,
            "text": attempt.text,
        },
        thread_id=attempt.group_number,
    )


def reason_not_to_push(attempt: PushAttempt) -> str:
    """Why a queued push must not go out any more, or "" when it may."""
    device = attempt.device
    if device is None:
        return "the device was released or removed"
    if str(device.number) != str(attempt.number):
        return "the token was registered to another number"
    if device.type not in NOTIFYING_TYPES:
        return "the device no longer takes pushes"
    return ""
