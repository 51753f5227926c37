"""SPEC §3 channels and §7: a group message pushed to a member's phones, through APNs and FCM
stubs on loopback that speak Apple's and Google's wire protocols (tests/push_stubs.py)."""

import time

import pytest
from django.core.exceptions import ImproperlyConfigured

from devices import actions
from devices.models import Device, PushAttempt, PushOutboxEntry
from devices.push.apns import ApnsBackend
from devices.push.base import close_backends, get_backend
from devices.tasks import send_push
from groupflier.pipeline import rows
from groupflier.pipeline.rows import backoff_seconds
from groupflier.pipeline.tasks import sweep_rows
from members.actions import get_or_create_member
from tests.push_stubs import ApnsStub, FcmStub, make_apns_key, make_service_account

pytestmark = pytest.mark.django_db

NUMBER = "+14155550102"
GROUP_NUMBER = "+12025550100"
IPHONE = "740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387462c7eaf61bb78ad"
IPHONE_2 = "1f" * 32
ANDROID = "cGhvbmUtMQ:APA91bHun4MxP5egoKMwt2KZFBaFUH"
TEAM_ID, KEY_ID, TOPIC = "TEAM123456", "ABC123DEFG", "org.groupflier.app"
PROJECT = "groupflier-test"


@pytest.fixture
def apns(settings, tmp_path):
    private_pem, public_key = make_apns_key()
    key_file = tmp_path / f"AuthKey_{KEY_ID}.p8"
    key_file.write_text(private_pem)
    with ApnsStub(team_id=TEAM_ID, key_id=KEY_ID, public_key=public_key, topic=TOPIC) as stub:
        settings.GROUPFLIER_PUSH_APNS_BACKEND = "devices.push.apns.ApnsBackend"
        settings.GROUPFLIER_PUSH_APNS_OPTIONS = {
            "team_id": TEAM_ID,
            "key_id": KEY_ID,
            "key_file": str(key_file),
            "topic": TOPIC,
            "base_url": stub.url,
            "ca_file": str(stub.ca_file),
        }
        try:
            yield stub
        finally:
            close_backends()


@pytest.fixture
def fcm(settings):
    # The service account names Google's token endpoint, as a real one does; the backend's
    # token_uri option sends it to the stub instead.
    info, public_key = make_service_account(PROJECT, "https://oauth2.googleapis.com/token")
    with FcmStub(
        project_id=PROJECT, client_email=info["client_email"], public_key=public_key
    ) as stub:
        settings.GROUPFLIER_PUSH_FCM_BACKEND = "devices.push.fcm.FcmBackend"
        settings.GROUPFLIER_PUSH_FCM_OPTIONS = {
            "service_account_info": info,
            "token_uri": stub.token_uri,
            "base_url": stub.url,
        }
        try:
            yield stub
        finally:
            close_backends()


@pytest.fixture
def recipient(db):
    return get_or_create_member(NUMBER)


def register(token, device_type, *, verified=True, number=NUMBER):
    member = get_or_create_member(number) if verified else None
    return actions.register_device(number, device_type, token, member)


def notify(django_capture_on_commit_callbacks, recipient, message_id=7, **overrides):
    message = dict(
        group_number=GROUP_NUMBER,
        group_name="Family",
        message_id=message_id,
        sender_name="Mom",
        text="Dinner at 6 🍝",
    )
    message.update(overrides)
    with django_capture_on_commit_callbacks(execute=True):
        return actions.notify_message(recipient.pk, **message)


def attempt_of(token) -> PushAttempt:
    return PushAttempt.objects.get(token=token)


# --- APNs ----------------------------------------------------------------------------------
def test_a_verified_iphone_gets_the_message_over_http2_with_apples_headers(
    apns, recipient, django_capture_on_commit_callbacks
):
    register(IPHONE, "iphone")
    queued = notify(django_capture_on_commit_callbacks, recipient)

    (request,) = apns.requests
    assert (request.method, request.path, request.protocol) == ("POST", f"/3/device/{IPHONE}", "h2")
    assert request.status == 200
    assert request.headers["apns-topic"] == TOPIC
    assert request.headers["apns-push-type"] == "alert"
    assert request.headers["apns-priority"] == "10"
    # The provider token verified against the team's public key in the stub.
    assert request.headers["authorization"].startswith("bearer ")
    assert request.jwt_header == {"alg": "ES256", "kid": KEY_ID, "typ": "JWT"}
    assert request.claims["iss"] == TEAM_ID
    assert abs(request.claims["iat"] - time.time()) < 60
    assert request.payload == {
        "aps": {
            "alert": {"title": "Family", "body": "Mom: Dinner at 6 🍝"},
            "sound": "default",
            "thread-id": GROUP_NUMBER,
        },
        "group_number": GROUP_NUMBER,
        "group_name": "Family",
        "message_id": "7",
        "sender_name": "Mom",
        "text": "Dinner at 6 🍝",
    }
    attempt = PushAttempt.objects.get(pk=queued[0])
    assert (attempt.status, attempt.service, attempt.with_content) == ("sent", "apns", True)
    assert attempt.provider_id == request.headers.get("apns-id", attempt.provider_id)
    assert attempt.provider_id
    assert Device.objects.get(token=IPHONE).last_push_status == "sent"


def test_an_unverified_iphone_gets_only_you_have_new_messages(
    apns, recipient, django_capture_on_commit_callbacks
):
    register(IPHONE, "iphone", verified=False)
    notify(django_capture_on_commit_callbacks, recipient)

    (request,) = apns.requests
    assert request.payload == {
        "aps": {"alert": {"body": "You have new messages"}, "sound": "default"}
    }
    assert request.headers["apns-collapse-id"] == "new-messages"
    assert "Dinner" not in request.body.decode() and "Mom" not in request.body.decode()
    assert attempt_of(IPHONE).with_content is False


def test_a_system_notice_has_no_sender(apns, recipient, django_capture_on_commit_callbacks):
    register(IPHONE, "iphone")
    notify(django_capture_on_commit_callbacks, recipient, sender_name=None, text="Dad joined")
    payload = apns.requests[0].payload
    assert payload["aps"]["alert"]["body"] == "Dad joined"
    assert payload["sender_name"] == ""


def test_iphone_no_notify_gets_nothing(apns, recipient, django_capture_on_commit_callbacks):
    register(IPHONE, "iphone_no_notify")
    assert notify(django_capture_on_commit_callbacks, recipient) == []
    assert apns.requests == []
    assert not actions.has_notifying_device(recipient.pk)


def test_every_notifying_device_of_the_member_gets_one(
    apns, fcm, recipient, django_capture_on_commit_callbacks
):
    register(IPHONE, "iphone")
    register(IPHONE_2, "iphone", verified=False)
    register(ANDROID, "android")
    register("3c" * 32, "iphone", number="+14155550103")  # someone else's phone
    assert len(notify(django_capture_on_commit_callbacks, recipient)) == 3
    assert sorted(request.token for request in apns.requests) == sorted([IPHONE, IPHONE_2])
    assert [request.message["token"] for request in fcm.requests] == [ANDROID]
    assert set(PushAttempt.objects.values_list("status", flat=True)) == {"sent"}


def test_the_provider_token_is_reused_for_fifty_minutes_then_renewed(
    apns, recipient, django_capture_on_commit_callbacks, monkeypatch
):
    register(IPHONE, "iphone")
    minted_at = time.time() - 55 * 60  # Apple takes provider tokens up to an hour old
    monkeypatch.setattr(ApnsBackend, "clock", staticmethod(lambda: minted_at))
    notify(django_capture_on_commit_callbacks, recipient, message_id=1)
    monkeypatch.setattr(ApnsBackend, "clock", staticmethod(lambda: minted_at + 49 * 60))
    notify(django_capture_on_commit_callbacks, recipient, message_id=2)
    first, second = apns.requests
    assert second.provider_token == first.provider_token
    assert first.claims["iat"] == int(minted_at)

    monkeypatch.setattr(ApnsBackend, "clock", staticmethod(time.time))
    notify(django_capture_on_commit_callbacks, recipient, message_id=3)  # 55 minutes on
    third = apns.requests[2]
    assert third.provider_token != first.provider_token
    assert abs(third.claims["iat"] - time.time()) < 60
    assert [request.status for request in apns.requests] == [200, 200, 200]
    assert apns.connections == 1  # one HTTP/2 connection carries them all


@pytest.mark.parametrize(
    "status, reason", [(410, "Unregistered"), (400, "BadDeviceToken"), (410, "ExpiredToken")]
)
def test_a_dead_apns_token_removes_the_device(
    apns, recipient, django_capture_on_commit_callbacks, status, reason
):
    register(IPHONE, "iphone")
    apns.answer(IPHONE, (status, reason))
    notify(django_capture_on_commit_callbacks, recipient)
    assert not Device.objects.filter(token=IPHONE).exists()
    attempt = attempt_of(IPHONE)
    assert (attempt.status, attempt.attempts) == ("failed", 1)
    assert attempt.error == f"APNs {status} {reason} (device removed)"
    assert len(apns.requests) == 1


def test_a_token_registered_again_after_the_push_was_queued_is_kept(
    apns, recipient, django_capture_on_commit_callbacks
):
    # Apple's advice for 410: a registration newer than the verdict stands.
    register(IPHONE, "iphone")
    apns.answer(IPHONE, (410, "Unregistered"))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        actions.notify_message(recipient.pk, GROUP_NUMBER, "Family", 1, "Mom", "hi")
    register(IPHONE, "iphone")
    for callback in callbacks:
        callback()
    assert attempt_of(IPHONE).status == "failed"
    assert Device.objects.filter(token=IPHONE).exists()


@pytest.mark.parametrize(
    "status, reason",
    [(429, "TooManyRequests"), (503, "ServiceUnavailable"), (500, "InternalServerError")],
)
def test_throttling_and_server_errors_are_retried(
    apns, recipient, django_capture_on_commit_callbacks, status, reason
):
    register(IPHONE, "iphone")
    apns.answer(IPHONE, (status, reason), (status, reason))
    notify(django_capture_on_commit_callbacks, recipient)
    assert [request.status for request in apns.requests] == [status, status, 200]
    attempt = attempt_of(IPHONE)
    assert (attempt.status, attempt.attempts, attempt.error) == ("sent", 3, "")
    assert Device.objects.get(token=IPHONE).last_push_status == "sent"


def test_retries_are_bounded(apns, recipient, django_capture_on_commit_callbacks):
    register(IPHONE, "iphone")
    apns.answer(IPHONE, *[(503, "ServiceUnavailable")] * 20)
    notify(django_capture_on_commit_callbacks, recipient)
    attempt = attempt_of(IPHONE)
    assert (attempt.status, attempt.attempts) == ("failed", 6)
    assert attempt.error == "gave up after 6 attempts: APNs 503 ServiceUnavailable"
    assert len(apns.requests) == 6
    assert Device.objects.get(token=IPHONE).last_push_status == "failed"


@pytest.mark.parametrize(
    "status, reason", [(400, "BadCollapseId"), (403, "Forbidden"), (413, "PayloadTooLarge")]
)
def test_other_client_errors_are_final_and_keep_the_device(
    apns, recipient, django_capture_on_commit_callbacks, status, reason
):
    register(IPHONE, "iphone")
    apns.answer(IPHONE, (status, reason))
    notify(django_capture_on_commit_callbacks, recipient)
    assert len(apns.requests) == 1
    attempt = attempt_of(IPHONE)
    assert (attempt.status, attempt.error) == ("failed", f"APNs {status} {reason}")
    device = Device.objects.get(token=IPHONE)
    assert (device.last_push_status, device.last_push_error) == ("failed", attempt.error)


def test_an_expired_provider_token_is_renewed_and_the_push_retried(
    apns, recipient, django_capture_on_commit_callbacks
):
    register(IPHONE, "iphone")
    apns.answer(IPHONE, (403, "ExpiredProviderToken"))
    notify(django_capture_on_commit_callbacks, recipient)
    first, second = apns.requests
    assert first.provider_token != second.provider_token
    assert attempt_of(IPHONE).status == "sent"


def test_a_key_apple_does_not_know_is_refused_by_the_stub(
    apns, recipient, django_capture_on_commit_callbacks, settings
):
    # The stub really verifies the JWT's signature: a key of another team fails, finally.
    other_key, _ = make_apns_key()
    options = dict(settings.GROUPFLIER_PUSH_APNS_OPTIONS, key=other_key)
    del options["key_file"]
    settings.GROUPFLIER_PUSH_APNS_OPTIONS = options
    register(IPHONE, "iphone")
    notify(django_capture_on_commit_callbacks, recipient)
    assert attempt_of(IPHONE).error == "APNs 403 InvalidProviderToken"
    assert attempt_of(IPHONE).status == "failed"


def test_an_unreachable_apns_is_retried_then_fails(
    apns, recipient, django_capture_on_commit_callbacks, settings
):
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    settings.GROUPFLIER_PUSH_APNS_OPTIONS = dict(
        settings.GROUPFLIER_PUSH_APNS_OPTIONS, base_url=f"https://127.0.0.1:{closed_port}"
    )
    register(IPHONE, "iphone")
    notify(django_capture_on_commit_callbacks, recipient)
    attempt = attempt_of(IPHONE)
    assert (attempt.status, attempt.attempts) == ("failed", 6)
    assert attempt.error.startswith("gave up after 6 attempts: APNs unreachable: ConnectError")


# --- FCM -----------------------------------------------------------------------------------
def test_a_verified_android_gets_the_message_through_fcm_v1(
    fcm, recipient, django_capture_on_commit_callbacks
):
    register(ANDROID, "android")
    notify(django_capture_on_commit_callbacks, recipient)

    (grant,) = fcm.token_requests  # the service account's JWT grant, verified by the stub
    assert grant["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
    assert grant["aud"] == "https://oauth2.googleapis.com/token"
    assert grant["iss"] == fcm.client_email
    (request,) = fcm.requests
    assert request.path == f"/v1/projects/{PROJECT}/messages:send"
    assert request.status == 200
    assert request.message == {
        "token": ANDROID,
        "notification": {"title": "Family", "body": "Mom: Dinner at 6 🍝"},
        "android": {"priority": "high"},
        "data": {
            "group_number": GROUP_NUMBER,
            "group_name": "Family",
            "message_id": "7",
            "sender_name": "Mom",
            "text": "Dinner at 6 🍝",
        },
    }
    attempt = attempt_of(ANDROID)
    assert (attempt.status, attempt.service) == ("sent", "fcm")
    assert attempt.provider_id == f"projects/{PROJECT}/messages/1"


def test_an_unverified_android_gets_only_you_have_new_messages(
    fcm, recipient, django_capture_on_commit_callbacks
):
    register(ANDROID, "android", verified=False)
    notify(django_capture_on_commit_callbacks, recipient)
    assert fcm.requests[0].message == {
        "token": ANDROID,
        "notification": {"body": "You have new messages"},
        "android": {
            "priority": "high",
            "collapse_key": "new-messages",
            "notification": {"tag": "new-messages"},
        },
    }


def test_the_access_token_is_cached_until_near_its_expiry(
    fcm, recipient, django_capture_on_commit_callbacks
):
    register(ANDROID, "android")
    for message_id in (1, 2, 3):
        notify(django_capture_on_commit_callbacks, recipient, message_id=message_id)
    assert len(fcm.token_requests) == 1
    assert len({request.headers["authorization"] for request in fcm.requests}) == 1

    # A token with less than google-auth's margin (3m45s) left is not used: a new one is fetched.
    fcm.token_lifetime = 120
    close_backends()
    for message_id in (4, 5):
        notify(django_capture_on_commit_callbacks, recipient, message_id=message_id)
    assert len(fcm.token_requests) == 3
    assert [request.status for request in fcm.requests] == [200] * 5


def test_fcm_unregistered_removes_the_device(fcm, recipient, django_capture_on_commit_callbacks):
    register(ANDROID, "android")
    fcm.answer(ANDROID, (404, "UNREGISTERED"))
    notify(django_capture_on_commit_callbacks, recipient)
    assert not Device.objects.filter(token=ANDROID).exists()
    attempt = attempt_of(ANDROID)
    assert attempt.status == "failed"
    assert attempt.error.startswith("FCM 404 UNREGISTERED")
    assert attempt.error.endswith("(device removed)")


@pytest.mark.parametrize(
    "answer",
    [(429, "QUOTA_EXCEEDED", {"Retry-After": "1"}), (503, "UNAVAILABLE"), (500, "INTERNAL")],
)
def test_fcm_throttling_and_server_errors_are_retried(
    fcm, recipient, django_capture_on_commit_callbacks, answer
):
    register(ANDROID, "android")
    fcm.answer(ANDROID, answer)
    notify(django_capture_on_commit_callbacks, recipient)
    assert [request.status for request in fcm.requests] == [answer[0], 200]
    assert (attempt_of(ANDROID).status, attempt_of(ANDROID).attempts) == ("sent", 2)


@pytest.mark.parametrize("answer", [(400, "INVALID_ARGUMENT"), (403, "SENDER_ID_MISMATCH")])
def test_fcm_other_client_errors_are_final_and_keep_the_device(
    fcm, recipient, django_capture_on_commit_callbacks, answer
):
    register(ANDROID, "android")
    fcm.answer(ANDROID, answer)
    notify(django_capture_on_commit_callbacks, recipient)
    assert len(fcm.requests) == 1
    assert attempt_of(ANDROID).status == "failed"
    assert attempt_of(ANDROID).error.startswith(f"FCM {answer[0]} {answer[1]}")
    assert Device.objects.filter(token=ANDROID).exists()


def test_a_revoked_access_token_is_replaced_and_the_push_retried(
    fcm, recipient, django_capture_on_commit_callbacks
):
    register(ANDROID, "android")
    notify(django_capture_on_commit_callbacks, recipient, message_id=1)
    fcm.revoke_access_tokens()
    notify(django_capture_on_commit_callbacks, recipient, message_id=2)
    assert [request.status for request in fcm.requests] == [200, 401, 200]
    assert len(fcm.token_requests) == 2
    assert PushAttempt.objects.filter(status="sent").count() == 2


def test_a_service_account_google_does_not_know_fails_finally(
    fcm, recipient, django_capture_on_commit_callbacks, settings
):
    # The stub really verifies the grant's signature: another account's key is refused.
    other, _ = make_service_account(PROJECT, fcm.token_uri)
    other["client_email"] = fcm.client_email
    settings.GROUPFLIER_PUSH_FCM_OPTIONS = dict(
        settings.GROUPFLIER_PUSH_FCM_OPTIONS, service_account_info=other
    )
    register(ANDROID, "android")
    notify(django_capture_on_commit_callbacks, recipient)
    attempt = attempt_of(ANDROID)
    assert (attempt.status, attempt.attempts) == ("failed", 1)
    assert attempt.error == "FCM OAuth token refused: invalid_grant: Signature verification failed"
    assert fcm.requests == []


# --- the task and its record -----------------------------------------------------------------
def test_the_task_is_safe_to_run_twice(apns, recipient, django_capture_on_commit_callbacks):
    register(IPHONE, "iphone")
    (attempt_id,) = notify(django_capture_on_commit_callbacks, recipient)
    send_push.apply(args=[attempt_id])
    send_push.apply(args=[attempt_id])
    assert len(apns.requests) == 1
    assert PushAttempt.objects.get(pk=attempt_id).attempts == 1


def test_a_device_released_or_moved_before_sending_gets_nothing(
    apns, recipient, django_capture_on_commit_callbacks
):
    register(IPHONE, "iphone")
    register(IPHONE_2, "iphone")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        actions.notify_message(recipient.pk, GROUP_NUMBER, "Family", 1, "Mom", "private")
    register(IPHONE, "iphone", number="+14155550103")  # the token moved to another number
    actions.release_devices(recipient, "iphone")
    for callback in callbacks:
        callback()
    assert apns.requests == []
    assert sorted(PushAttempt.objects.values_list("status", "error")) == [
        ("skipped", "the device was released or removed"),
        ("skipped", "the token was registered to another number"),
    ]


def test_a_repeated_call_with_the_same_key_queues_nothing_new(
    apns, recipient, django_capture_on_commit_callbacks
):
    register(IPHONE, "iphone")
    first = notify(django_capture_on_commit_callbacks, recipient, key="group-3:7")
    again = notify(django_capture_on_commit_callbacks, recipient, key="group-3:7")
    other = notify(django_capture_on_commit_callbacks, recipient, key="group-4:7")
    assert (len(first), again, len(other)) == (1, [], 1)
    assert len(apns.requests) == 2


def test_notify_an_unknown_member_queues_nothing(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert actions.notify_message(999999, GROUP_NUMBER, "Family", 1, "Mom", "hi") == []


def test_has_notifying_device(recipient):
    assert not actions.has_notifying_device(recipient.pk)
    register(IPHONE, "iphone_no_notify")
    assert not actions.has_notifying_device(recipient.pk)
    register(ANDROID, "android", verified=False)
    assert actions.has_notifying_device(recipient.pk)
    assert not actions.has_notifying_device(999999)


def test_backoff_doubles_honours_retry_after_and_stays_within_a_minute():
    assert [backoff_seconds(n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]
    assert backoff_seconds(1, retry_after=30) == 30
    assert backoff_seconds(1, retry_after=3600) == 60


def test_the_retry_countdown_is_what_the_backoff_says(
    apns, recipient, django_capture_on_commit_callbacks, monkeypatch
):
    register(IPHONE, "iphone")
    apns.answer(IPHONE, (429, "TooManyRequests"))
    countdowns = []
    original = rows.queue

    def spy(pipeline, ids, *, countdown=0):
        countdowns.append(countdown)
        return original(pipeline, ids, countdown=countdown)

    monkeypatch.setattr(rows, "queue", spy)
    notify(django_capture_on_commit_callbacks, recipient)
    assert countdowns == [0, 2]  # queued on commit, then again after the backoff


def test_the_sweep_marks_dead_hand_offs_and_requeues_lost_tasks(
    apns, recipient, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    register(IPHONE, "iphone")
    with django_capture_on_commit_callbacks(execute=False):
        lost, stuck, stale = (
            actions.notify_message(recipient.pk, GROUP_NUMBER, "Family", n, "Mom", "hi")[0]
            for n in (1, 2, 3)
        )
    long_ago = timezone.now() - timedelta(minutes=30)
    PushAttempt.objects.filter(pk=lost).update(updated_at=long_ago)
    PushAttempt.objects.filter(pk=stuck).update(status="sending", updated_at=long_ago)
    PushAttempt.objects.filter(pk=stale).update(created_at=timezone.now() - timedelta(days=2))
    sweep_rows.apply()
    assert PushAttempt.objects.get(pk=lost).status == "sent"
    assert PushAttempt.objects.get(pk=stuck).status == "unknown"
    assert PushAttempt.objects.get(pk=stale).status == "failed"
    assert len(apns.requests) == 1


# --- the log backend and configuration -----------------------------------------------------
def test_by_default_pushes_go_to_the_push_outbox(recipient, django_capture_on_commit_callbacks):
    register(IPHONE, "iphone")
    register(ANDROID, "android", verified=False)
    notify(django_capture_on_commit_callbacks, recipient)
    entries = {entry.service: entry for entry in PushOutboxEntry.objects.all()}
    assert (entries["apns"].token, entries["apns"].body) == (IPHONE, "Mom: Dinner at 6 🍝")
    assert entries["apns"].data["message_id"] == "7"
    assert (entries["fcm"].token, entries["fcm"].body) == (ANDROID, "You have new messages")
    assert set(PushAttempt.objects.values_list("status", flat=True)) == {"sent"}
    close_backends()


@pytest.mark.parametrize(
    "backend, options, message",
    [
        ("devices.push.nowhere.Backend", {}, "cannot be imported"),
        ("devices.models.Device", {}, "is not a PushBackend"),
        ("devices.push.log.LogBackend", {"colour": "red"}, "does not know: colour"),
        ("devices.push.apns.ApnsBackend", {"team_id": "T"}, "needs 'key_id'"),
        (
            "devices.push.apns.ApnsBackend",
            {"team_id": "T", "key_id": "K", "topic": "t", "key": "not a key"},
            "not a PEM private key",
        ),
    ],
)
def test_a_misconfigured_backend_says_what_is_wrong(settings, backend, options, message):
    settings.GROUPFLIER_PUSH_APNS_BACKEND = backend
    settings.GROUPFLIER_PUSH_APNS_OPTIONS = options
    with pytest.raises(ImproperlyConfigured, match=message):
        get_backend("apns")


def test_a_misconfigured_backend_fails_the_push_instead_of_losing_it(
    settings, recipient, django_capture_on_commit_callbacks
):
    settings.GROUPFLIER_PUSH_FCM_BACKEND = "devices.push.fcm.FcmBackend"
    settings.GROUPFLIER_PUSH_FCM_OPTIONS = {}
    register(ANDROID, "android")
    notify(django_capture_on_commit_callbacks, recipient)
    attempt = attempt_of(ANDROID)
    assert attempt.status == "failed"
    assert "needs 'service_account_file'" in attempt.error


def test_the_admin_shows_devices_with_their_last_push(admin_client, recipient):
    register(IPHONE, "iphone")
    Device.objects.filter(token=IPHONE).update(
        last_push_status="failed", last_push_error="APNs 403 Forbidden"
    )
    page = admin_client.get("/admin/devices/device/").content.decode()
    assert NUMBER in page and "APNs 403 Forbidden" in page
    device = Device.objects.get(token=IPHONE)
    assert admin_client.get(f"/admin/devices/device/{device.pk}/change/").status_code == 200
    assert admin_client.get("/admin/devices/pushattempt/").status_code == 200
    assert admin_client.get("/admin/devices/pushoutboxentry/").status_code == 200
