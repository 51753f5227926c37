"""SPEC §10 and issue 16: an admin an operator can work in, and the acts behind it."""

import csv
import io

import pytest
from django.urls import reverse

from messaging import actions, fanout, operator
from messaging.gateways.base import get_gateway
from messaging.gateways.state import pause_gateway
from messaging.models import Delivery, OutboxMessage
from tests.accounts_helpers import account_of, assert_ledger_consistent
from tests.conftest import texts_to

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent_message(family, django_capture_on_commit_callbacks):
    """Mom's message to the family, fanned out and handed to the console gateway."""
    mom = family.group.memberships.get(member__number=family.owner.number)
    with django_capture_on_commit_callbacks(execute=True):
        message = actions.post(family.group, mom, "Dinner at 6")
    return message


def dads_part(message):
    return Delivery.objects.get(message=message)


def test_a_failed_part_queued_again_goes_out(
    family, sent_message, django_capture_on_commit_callbacks
):
    part = dads_part(sent_message)
    Delivery.objects.filter(pk=part.pk).update(status="failed", reason="no credits", attempts=8)
    before = len(texts_to(family.member.number))
    with django_capture_on_commit_callbacks(execute=True):
        assert operator.requeue_failed([part.pk]) == [part.pk]
    part.refresh_from_db()
    assert part.status == "sent"
    assert part.attempts == 1  # a fresh count
    assert len(texts_to(family.member.number)) == before + 1
    # Nothing is failed any more: a second act changes nothing and queues nothing.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert operator.requeue_failed([part.pk]) == []
    assert callbacks == []


def fail(part):
    """The part ends failed, as the pipeline ends it: its cost is given back."""
    Delivery.objects.filter(pk=part.pk).update(status="failed", reason="no credits")
    fanout.give_back_part(part.message_id, part.pk)


def test_a_part_queued_again_is_charged_again_and_given_back_again_if_it_fails_again(
    family, settings, django_capture_on_commit_callbacks
):
    # SPEC §5: parts that end failed are given back, every other part is charged.
    settings.GROUPFLIER_SMS_PRICE = 3
    account = account_of(family.owner)
    start = account.balance
    mom = family.group.memberships.get(member__number=family.owner.number)
    with django_capture_on_commit_callbacks(execute=True):
        message = actions.post(family.group, mom, "Dinner at 6")
    part = dads_part(message)
    balance = lambda: account_of(family.owner).balance  # noqa: E731
    assert balance() == start - 3  # sent: charged
    for _ in range(2):  # failed and queued again twice: each round settles once
        fail(part)
        fail(part)  # the pipeline's hook run twice gives back once
        assert balance() == start
        with django_capture_on_commit_callbacks(execute=True):
            assert operator.requeue_failed([part.pk]) == [part.pk]
        assert Delivery.objects.get(pk=part.pk).status == "sent"
        assert balance() == start - 3  # sent again: charged again, once
    assert_ledger_consistent(account)


def test_an_unknown_part_closed_as_failed_is_given_back(family, settings):
    settings.GROUPFLIER_SMS_PRICE = 3
    account = account_of(family.owner)
    mom = family.group.memberships.get(member__number=family.owner.number)
    message = actions.post(family.group, mom, "Bring a coat")  # held; its fan-out not run
    fanout_part = Delivery.objects.create(
        message=message, recipient=family.group.memberships.exclude(pk=mom.pk).get(),
        to_number=family.member.number, part=1, parts=1, text="Bring a coat", status="unknown",
    )  # fmt: skip
    held = account_of(family.owner).balance
    assert operator.close_unknown([fanout_part.pk], by="ops") == [fanout_part.pk]
    assert account_of(family.owner).balance == held + 3
    assert operator.close_unknown([fanout_part.pk], by="ops") == []  # once
    assert account_of(family.owner).balance == held + 3
    assert_ledger_consistent(account)


def test_only_failed_parts_are_queued_again(sent_message):
    part = dads_part(sent_message)
    assert part.status == "sent"
    assert operator.requeue_failed([part.pk]) == []
    assert operator.resend_unknown([part.pk]) == []
    part.refresh_from_db()
    assert part.status == "sent"


def test_an_unknown_part_is_closed_without_a_resend(family, sent_message):
    part = dads_part(sent_message)
    Delivery.objects.filter(pk=part.pk).update(status="unknown")
    before = OutboxMessage.objects.count()
    assert operator.close_unknown([part.pk], by="ops") == [part.pk]
    part.refresh_from_db()
    assert (part.status, part.reason) == ("failed", "unknown, closed by ops")
    assert OutboxMessage.objects.count() == before


def test_resolving_unknown_parts_asks_first_and_warns_of_duplicates(
    admin_client, family, sent_message, django_capture_on_commit_callbacks
):
    part = dads_part(sent_message)
    Delivery.objects.filter(pk=part.pk).update(status="unknown")
    url = reverse("admin:messaging_delivery_changelist")
    chosen = {"action": "resolve_unknown_parts", "_selected_action": [part.pk]}

    page = admin_client.post(url, chosen)
    assert page.status_code == 200
    assert "may deliver a duplicate" in page.content.decode()
    part.refresh_from_db()
    assert part.status == "unknown"  # nothing happens before the confirmation

    before = len(texts_to(family.member.number))
    with django_capture_on_commit_callbacks(execute=True):
        done = admin_client.post(url, {**chosen, "confirm": "resend"})
    assert done.status_code == 302
    part.refresh_from_db()
    assert part.status == "sent"
    assert len(texts_to(family.member.number)) == before + 1


def test_a_messages_failed_parts_are_queued_again_from_its_list(
    admin_client, sent_message, django_capture_on_commit_callbacks
):
    part = dads_part(sent_message)
    Delivery.objects.filter(pk=part.pk).update(status="failed")
    url = reverse("admin:messaging_message_changelist")
    chosen = {"action": "requeue_failed_parts", "_selected_action": [sent_message.pk]}
    assert "1 failed part(s)" in admin_client.post(url, chosen).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url, {**chosen, "confirm": "requeue"})
    part.refresh_from_db()
    assert part.status == "sent"


def test_the_message_pages_show_a_live_count(admin_client, sent_message):
    Delivery.objects.filter(message=sent_message).update(status="queued")
    listing = admin_client.get(reverse("admin:messaging_message_changelist")).content.decode()
    page = admin_client.get(
        reverse("admin:messaging_message_change", args=[sent_message.pk])
    ).content.decode()
    for html in (listing, page):
        assert f'data-message="{sent_message.pk}"' in html
        assert "queued 1" in html and "parts/s" in html
        assert "gf-progress" in html and "setTimeout(refresh" in html

    progress_url = reverse("admin:messaging_message_progress")
    found = admin_client.get(progress_url, {"ids": str(sent_message.pk)}).json()
    assert found[str(sent_message.pk)]["counts"]["queued"] == 1
    assert found[str(sent_message.pk)]["done"] is False
    Delivery.objects.filter(message=sent_message).update(status="sent")
    found = admin_client.get(progress_url, {"ids": str(sent_message.pk)}).json()
    assert found[str(sent_message.pk)]["counts"]["sent"] == 1
    assert found[str(sent_message.pk)]["done"] is True
    assert found[str(sent_message.pk)]["per_second"] > 0


def test_the_admin_says_when_the_gateway_is_paused_and_how_to_resume(admin_client):
    index = reverse("admin:index")
    assert "gf-alert" not in admin_client.get(index).content.decode()
    pause_gateway(get_gateway(), "Invalid user or password (-1)")
    page = admin_client.get(index).content.decode()
    assert "Sending is paused" in page and "Invalid user or password (-1)" in page
    assert "Resume sending" in page


def test_alert_sources_are_one_list(admin_client, monkeypatch):
    from groupflier import alerts

    monkeypatch.setattr(alerts, "ALERT_SOURCES", [*alerts.ALERT_SOURCES, lambda: "Cap holds"])
    assert "Cap holds" in admin_client.get(reverse("admin:index")).content.decode()


def test_the_site_header_names_the_service(admin_client):
    assert "GroupFlier operations" in admin_client.get(reverse("admin:index")).content.decode()


@pytest.mark.parametrize(
    "model",
    [
        "texts_outboundsms",
        "messaging_outboxmessage",
        "messaging_inboundsms",
        "messaging_delivery",
        "messaging_message",
        "messaging_scheduledmessage",
        "devices_pushattempt",
        "devices_pushoutboxentry",
        "groups_group",
        "groups_membership",
        "members_member",
        "members_apisession",
    ],
)
def test_no_add_where_rows_come_from_the_service(admin_client, model):
    assert admin_client.get(reverse(f"admin:{model}_add")).status_code == 403


def test_a_group_shows_what_an_operator_needs_and_no_raw_status(admin_client, family, sent_message):
    listing = admin_client.get(reverse("admin:groups_group_changelist")).content.decode()
    assert family.address_of(family.member) in listing  # its numbers
    assert family.owner.number in listing and "ago" in listing  # owner, last message
    page = admin_client.get(reverse("admin:groups_group_change", args=[family.group.pk]))
    html = page.content.decode()
    assert 'name="status"' not in html and 'name="suspended"' not in html
    assert 'name="memberships-0-name"' not in html  # the roster is read-only here
    assert "Dad" in html and "Export as CSV" in html


def test_group_and_delivery_csv_exports(admin_client, family, sent_message):
    export = reverse("admin:messaging_message_export")
    response = admin_client.get(export, {"group": family.group.pk})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == operator.MESSAGE_COLUMNS
    assert rows[1][2:] == [
        str(sent_message.seq),
        sent_message.created_at.isoformat(),
        "Mom",
        family.owner.number,
        "api",
        "Dinner at 6",
    ]
    response = admin_client.post(
        reverse("admin:messaging_delivery_changelist"),
        {"action": "export_csv", "_selected_action": [dads_part(sent_message).pk]},
    )
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == operator.DELIVERY_COLUMNS
    assert rows[1][2] == family.member.number and rows[1][6] == "sent"


def test_csv_cells_never_run_as_formulas():
    lines = list(operator.csv_rows(["a", "b", "c"], [["=HYPERLINK(1)", "+14155550101", "-3"]]))
    assert lines[1].strip() == "'=HYPERLINK(1),+14155550101,-3"
