"""/message/schedule, /message/schedule/list, /message/schedule/delete and the beat task."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from accounts.models import Account
from messaging.models import Message, ScheduledMessage
from messaging.schedule import send_due
from tests.conftest import MEMBER, OWNER, assert_error, assert_ok, texts_to

pytestmark = pytest.mark.django_db


def at(minutes: int) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
def schedule(api, family):
    def call(person, when, message="Trash day", **params):
        return api(
            "message/schedule",
            sid=person.sid,
            number=family.address_of(person),
            message=message,
            when=when,
            **params,
        )

    return call


def listed(api, family):
    body = assert_ok(
        api("message/schedule/list", sid=family.owner.sid, number=family.address_of(family.owner))
    )
    return body["messages"]


def test_one_scheduled_message_per_time_listed_in_order(api, family, schedule):
    first, second = at(90), at(30)
    assert assert_ok(schedule(family.owner, f"{first}, {second}")) == {"status": "OK"}
    items = listed(api, family)
    assert [(m["txt"], m["when"]) for m in items] == [("Trash day", second), ("Trash day", first)]
    assert all(isinstance(m["id"], int) for m in items)


def test_a_due_message_is_sent_as_the_owner_then_leaves_the_list(api, family, schedule):
    assert_ok(schedule(family.owner, at(1), cc="1"))
    ScheduledMessage.objects.update(when=timezone.now() - timedelta(seconds=1))
    assert send_due() == 1
    message = Message.objects.get()
    assert (message.text, message.sender_name, message.source) == ("Trash day", "Mom", "scheduled")
    assert listed(api, family) == []
    assert send_due() == 0  # exactly once
    assert Message.objects.count() == 1


def test_messages_not_yet_due_wait(family, schedule):
    assert_ok(schedule(family.owner, at(5)))
    assert send_due() == 0
    assert Message.objects.count() == 0


def test_a_suspended_owner_s_due_message_is_skipped_with_the_reason(family, schedule):
    assert_ok(schedule(family.owner, at(1)))
    ScheduledMessage.objects.update(when=timezone.now())
    Account.objects.filter(member__number=OWNER).update(balance=0)
    send_due()
    item = ScheduledMessage.objects.get()
    assert item.status == ScheduledMessage.Status.SKIPPED
    assert "suspended" in item.reason
    assert Message.objects.count() == 0


def test_a_due_message_the_balance_no_longer_covers_is_skipped_not_failed(
    family, schedule, settings
):
    """A balance above zero but below the fan-out's cost: refused by the hold, not by the
    suspension rule, and still a skip with its reason, not a failed task."""
    assert_ok(schedule(family.owner, at(1), message="Costly"))
    ScheduledMessage.objects.update(when=timezone.now())
    settings.GROUPFLIER_SMS_PRICE = 1000
    Account.objects.filter(member__number=OWNER).update(balance=1)
    assert send_due() == 1
    item = ScheduledMessage.objects.get()
    assert item.status == ScheduledMessage.Status.SKIPPED
    assert "suspended" in item.reason
    assert Message.objects.count() == 0
    assert Account.objects.get(member__number=OWNER).balance == 1


def test_delete(api, family, schedule):
    assert_ok(schedule(family.owner, f"{at(10)},{at(20)}"))
    first = listed(api, family)[0]["id"]
    address = family.address_of(family.owner)
    response = api(
        "message/schedule/delete", sid=family.owner.sid, number=address, message_id=first
    )
    assert_ok(response)
    assert [m["id"] for m in listed(api, family)] != [first]
    assert len(listed(api, family)) == 1
    response = api(
        "message/schedule/delete", sid=family.owner.sid, number=address, message_id=first
    )
    assert_error(response, "NOT_FOUND")


def test_only_the_owner_schedules_lists_and_deletes(api, family, schedule):
    assert_error(schedule(family.member, at(5)), "NOT_OWNER")
    assert_ok(schedule(family.owner, at(5)))
    item = ScheduledMessage.objects.get()
    member_address = family.address_of(family.member)
    response = api("message/schedule/list", sid=family.member.sid, number=member_address)
    assert_error(response, "NOT_OWNER")
    response = api(
        "message/schedule/delete", sid=family.member.sid, number=member_address, message_id=item.pk
    )
    assert_error(response, "NOT_OWNER")


@pytest.mark.parametrize(
    "when, bad",
    [
        ("tomorrow", "tomorrow"),
        ("2030-13-01 00:00:00", "2030-13-01 00:00:00"),
        ("2020-01-01 00:00:00", "2020-01-01 00:00:00"),
        ("2099-01-01 10:00", "2099-01-01 10:00"),
        ("2099-01-01 10:00:00,,2099-01-02 10:00:00", ""),
    ],
)
def test_invalid_when_names_the_bad_time_and_creates_nothing(family, schedule, when, bad):
    assert_error(schedule(family.owner, when), "INVALID_WHEN", bad)
    assert ScheduledMessage.objects.count() == 0


def test_schedule_errors(api, family, schedule):
    response = api("message/schedule", sid=family.owner.sid)
    assert_error(response, "MISSING_FIELDS", ["number", "message", "when"])
    assert_error(schedule(family.owner, at(5), message="x" * 151), "MESSAGE_TOO_LONG")
    response = api(
        "message/schedule",
        sid=family.outsider.sid,
        number=family.address_of(family.owner),
        message="hi",
        when=at(5),
    )
    assert_error(response, "MEMBER_LOOKUP_FAILED")
    Account.objects.filter(member__number=OWNER).update(balance=-1)
    assert_error(schedule(family.owner, at(5)), "SUSPENDED")


def test_the_member_receives_the_scheduled_text(
    api, family, schedule, django_capture_on_commit_callbacks
):
    assert_ok(schedule(family.owner, at(1)))
    ScheduledMessage.objects.update(when=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        send_due()
    assert texts_to(MEMBER) == ["Mom: Trash day"]
