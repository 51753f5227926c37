"""Delivery receipts (SPEC §8): a provider's callback moves a SENT part to delivered,
undelivered or failed, whenever it arrives; /message/get counts recipients by where their
text stands, for the sender and the owner."""

import pytest

from messaging.models import Delivery, Receipt
from messaging.receipts import record_receipt
from tests.conftest import MEMBER, OUTSIDER, OWNER, assert_ok, login_as, make_active_group

pytestmark = pytest.mark.django_db
Status = Delivery.Status


@pytest.fixture
def trio(db):
    created = make_active_group("Family", "Mom", OWNER, [("Dad", MEMBER), ("Kid", OUTSIDER)])
    return created.group


def address(group, number):
    return str(group.memberships.get(member__number=number).address.number)


def send(api, group, number, text="Dinner at 6"):
    return assert_ok(
        api("message/send", sid=login_as(number), number=address(group, number), message=text)
    )


def ref_of(number):
    return Delivery.objects.get(to_number=number).provider_ref


def test_a_receipt_moves_a_sent_part_on_and_a_repeat_changes_nothing(api, trio):

    send(api, trio, OWNER)
    assert record_receipt(ref_of(MEMBER), "delivered") is True
    assert record_receipt(ref_of(OUTSIDER), "undelivered", "30003") is True
    assert record_receipt(ref_of(MEMBER), "delivered") is False
    dad, kid = Delivery.objects.get(to_number=MEMBER), Delivery.objects.get(to_number=OUTSIDER)
    assert (dad.status, kid.status) == (Status.DELIVERED, Status.UNDELIVERED)
    assert kid.reason.startswith("30003")
    # A later, contradicting callback does not rewrite a final receipt.
    assert record_receipt(ref_of(MEMBER), "failed", "30008") is False
    assert Delivery.objects.get(to_number=MEMBER).status == Status.DELIVERED


def test_a_receipt_that_comes_before_the_write_back_is_applied_by_it(api, trio):
    from groupflier.pipeline import rows
    from messaging import fanout

    send(api, trio, OWNER)
    dad = Delivery.objects.get(to_number=MEMBER)
    ref = dad.provider_ref
    # As if the provider called back while the worker still held the part as SENDING.
    Delivery.objects.filter(pk=dad.pk).update(status=Status.SENDING, provider_ref="")
    assert record_receipt(ref, "delivered") is True
    assert record_receipt(ref, "delivered") is False  # the provider's retry of it
    assert Receipt.objects.count() == 1
    rows.record_sent(fanout.PIPELINE, dad.handoff, [(dad.pk, ref)])
    assert Delivery.objects.get(pk=dad.pk).status == Status.DELIVERED
    assert Receipt.objects.count() == 0


def test_a_receipt_for_nothing_of_ours_is_kept_not_applied(db):
    assert record_receipt("SM-not-ours", "delivered") is True
    assert Delivery.objects.filter(status=Status.DELIVERED).count() == 0
    with pytest.raises(ValueError):
        record_receipt("SM-x", "queued")


def test_message_get_shows_receipts_to_the_sender_and_the_owner_only(api, trio):

    send(api, trio, MEMBER, "From Dad")  # to Mom and Kid
    send(api, trio, OUTSIDER, "From Kid")  # to Mom and Dad
    record_receipt(Delivery.objects.get(message__seq=1, to_number=OWNER).provider_ref, "delivered")
    Delivery.objects.filter(message__seq=1, to_number=OUTSIDER).update(status=Status.QUEUED)

    def messages_seen_by(number):
        body = assert_ok(api("message/get", sid=login_as(number), number=address(trio, number)))
        return {m["id"]: m.get("receipts") for m in body["messages"]}

    dad_sees = messages_seen_by(MEMBER)
    assert dad_sees[1] == {
        "pending": 1,
        "failed": 0,
        "unknown": 0,
        "sent": 0,
        "delivered": 1,
        "skipped": 0,
    }
    assert dad_sees[2] is None  # Kid's message: not Dad's to track
    mom_sees = messages_seen_by(OWNER)
    assert mom_sees[1] == dad_sees[1]
    assert mom_sees[2]["sent"] == 2
