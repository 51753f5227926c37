"""End to end through a real Celery worker: a phone registers over the API, a group message is
pushed on commit, Redis carries the task, and a worker process configured only through the
environment delivers it to the APNs and FCM stubs over their wire protocols."""

import json

import pytest
from django.db import transaction

from devices import actions
from devices.models import PushAttempt
from members.actions import get_or_create_member
from members.sessions import create_session
from tests.conftest import MEMBER, assert_ok
from tests.push_stubs import ApnsStub, FcmStub, make_apns_key, make_service_account
from tests.workers import running_worker, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

IPHONE = "ab" * 32
ANDROID = "ZmNtLXRva2Vu:APA91bE2e"


def test_a_registered_phone_gets_each_group_message_through_a_worker(client, tmp_path):
    apns_pem, apns_public = make_apns_key()
    info, fcm_public = make_service_account("gf-e2e", "https://oauth2.googleapis.com/token")
    member = get_or_create_member(MEMBER)
    sid = create_session(member)
    assert_ok(
        client.post(
            "/device/register", {"sid": sid, "number": MEMBER, "type": "iphone", "token": IPHONE}
        )
    )
    assert_ok(
        client.post("/device/register", {"number": MEMBER, "type": "android", "token": ANDROID})
    )

    with (
        ApnsStub(team_id="T1", key_id="K1", public_key=apns_public, topic="org.gf") as apns,
        FcmStub(
            project_id="gf-e2e", client_email=info["client_email"], public_key=fcm_public
        ) as fcm,
    ):
        environment = {
            "GROUPFLIER_PUSH_APNS_BACKEND": "devices.push.apns.ApnsBackend",
            "GROUPFLIER_PUSH_APNS_OPTIONS": json.dumps(
                {
                    "team_id": "T1",
                    "key_id": "K1",
                    "key": apns_pem,
                    "topic": "org.gf",
                    "base_url": apns.url,
                    "ca_file": str(apns.ca_file),
                }
            ),
            "GROUPFLIER_PUSH_FCM_BACKEND": "devices.push.fcm.FcmBackend",
            "GROUPFLIER_PUSH_FCM_OPTIONS": json.dumps(
                {"service_account_info": info, "token_uri": fcm.token_uri, "base_url": fcm.url}
            ),
        }
        with running_worker(log_path=tmp_path / "worker.log", **environment):
            with transaction.atomic():
                queued = actions.notify_message(
                    member.pk, "+12025550100", "Family", 1, "Mom", "Dinner at 6"
                )
            assert len(queued) == 2
            wait_until(
                lambda: PushAttempt.objects.filter(status="sent").count() == 2,
                timeout=30,
                what="both pushes to be sent",
            )

    (pushed,) = apns.requests
    assert pushed.payload["aps"]["alert"] == {"title": "Family", "body": "Mom: Dinner at 6"}
    (sent,) = fcm.requests
    assert sent.message["notification"] == {"body": "You have new messages"}  # no sid: no content
    assert len(fcm.token_requests) == 1
