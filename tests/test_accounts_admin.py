"""The accounts admin: accounts with their ledger and charges, balance adjustments as ledger
entries, type changes, refunds; and no card number on any page."""

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from accounts import actions, billing
from accounts.models import Account, Charge
from tests.accounts_helpers import VISA, account_of, assert_ledger_consistent, set_card

pytestmark = pytest.mark.django_db


def change_url(account):
    return reverse("admin:accounts_account_change", args=[account.pk])


def test_the_account_page_shows_the_ledger_and_the_card_but_not_its_number(
    admin_client, api, family
):
    set_card(api, family.owner)
    billing.charge_account(account_of(family.owner), 1200)
    actions.set_password(family.group.owner, "hunter22")
    account = account_of(family.owner)
    page = admin_client.get(change_url(account)).content.decode()
    assert "Visa ending in 4242" in page
    assert "trial_credit" in page or "Trial Credit" in page
    assert "1200" in page and account.card_token in page
    assert VISA not in page
    assert 'name="password"' not in page and account.password not in page
    changelist = admin_client.get(reverse("admin:accounts_account_changelist")).content.decode()
    assert "Visa ending in 4242" in changelist and VISA not in changelist
    records = [("charge", Charge.objects.get()), ("ledgerentry", account.ledger.last())]
    for model_name, record in records:
        for url in (
            reverse(f"admin:accounts_{model_name}_changelist"),
            reverse(f"admin:accounts_{model_name}_change", args=[record.pk]),
        ):
            response = admin_client.get(url)
            assert response.status_code == 200 and VISA not in response.content.decode()


def test_an_adjustment_is_a_ledger_entry(admin_client, admin_user, family, settings):
    account = account_of(family.owner)
    url = reverse("admin:accounts_account_adjust", args=[account.pk])
    assert "Adjust balance" in admin_client.get(change_url(account)).content.decode()
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"amount": "-150", "note": "duplicate trial"})
    assert response.status_code == 302 and response["Location"] == change_url(account)
    entry = account.ledger.get(kind="adjustment")
    assert (entry.amount, entry.note) == (-150, f"duplicate trial ({admin_user.username})")
    assert account_of(family.owner).balance == settings.GROUPFLIER_TRIAL_BALANCE - 150
    assert LogEntry.objects.filter(object_id=str(account.pk)).exists()
    assert_ledger_consistent(account)


@pytest.mark.parametrize("amount", ["0", "abc", "", "100000000"])
def test_an_adjustment_must_be_a_sensible_amount(admin_client, family, amount):
    account = account_of(family.owner)
    url = reverse("admin:accounts_account_adjust", args=[account.pk])
    response = admin_client.post(url, {"amount": amount, "note": "x"})
    assert response.status_code == 200  # the form again, with its error
    assert not account.ledger.filter(kind="adjustment").exists()


def test_adjusting_needs_the_change_permission(client, django_user_model, family):
    account = account_of(family.owner)
    staff = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(staff)
    url = reverse("admin:accounts_account_adjust", args=[account.pk])
    assert client.post(url, {"amount": "100", "note": "x"}).status_code == 403
    assert not account.ledger.filter(kind="adjustment").exists()


def test_making_an_account_free_in_the_form_keeps_its_balance(admin_client, family):
    account = account_of(family.owner)
    page = admin_client.get(change_url(account))
    assert page.status_code == 200
    # A message's hold between loading and saving the form.
    billing.hold_parts(family.group.owner.pk, 1, reference="hold:message:1")
    response = admin_client.post(
        change_url(account),
        {
            "type": "F",
            "email": "",
            "zip": "",
            "ledger-TOTAL_FORMS": "0",
            "ledger-INITIAL_FORMS": "0",
            "charges-TOTAL_FORMS": "0",
            "charges-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    account = account_of(family.owner)
    assert account.type == Account.Type.FREE
    assert_ledger_consistent(account)


def test_type_actions(admin_client, family):
    account = account_of(family.owner)
    url = reverse("admin:accounts_account_changelist")
    admin_client.post(url, {"action": "make_free", "_selected_action": [account.pk]})
    assert account_of(family.owner).type == "F"
    admin_client.post(url, {"action": "make_paid", "_selected_action": [account.pk]})
    assert account_of(family.owner).type == "P"


def test_refund_action(admin_client, api, family, settings):
    set_card(api, family.owner)
    paid = billing.charge_account(account_of(family.owner), 2000)
    url = reverse("admin:accounts_charge_changelist")
    admin_client.post(url, {"action": "refund", "_selected_action": [paid.pk]})
    assert Charge.objects.get(pk=paid.pk).status == "refunded"
    account = account_of(family.owner)
    assert account.balance == settings.GROUPFLIER_TRIAL_BALANCE
    assert account.ledger.filter(kind="refund").count() == 1
