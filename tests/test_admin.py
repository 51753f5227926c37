"""Every model registered in the admin has working list, search, add and change pages."""

import pytest
from django.contrib import admin
from django.urls import reverse

pytestmark = pytest.mark.django_db

REGISTERED = sorted(
    (model._meta.app_label, model._meta.model_name)
    for model in admin.site._registry
    if model._meta.app_label in {"members", "groups", "accounts", "messaging", "devices"}
)


def test_the_admin_covers_the_domain_models():
    assert {
        ("members", "member"),
        ("groups", "group"),
        ("groups", "membership"),
        ("groups", "poolnumber"),
        ("messaging", "outboxmessage"),
        ("accounts", "account"),
    } <= set(REGISTERED)


@pytest.mark.parametrize("app_label, model_name", REGISTERED)
def test_list_and_search_pages_load(admin_client, family, app_label, model_name):
    url = reverse(f"admin:{app_label}_{model_name}_changelist")
    assert admin_client.get(url).status_code == 200
    assert admin_client.get(url, {"q": "415"}).status_code == 200


@pytest.fixture
def one_of_each(family, django_capture_on_commit_callbacks):
    """The family, plus a row of the models it does not make by itself."""
    from datetime import timedelta

    from django.utils import timezone

    from devices.actions import register_device
    from members.models import LoginGuard
    from messaging import actions
    from messaging.gateways.console import ConsoleGateway
    from messaging.inbound import Inbound, receive
    from messaging.models import GatewayState, ScheduledMessage
    from texts.actions import queue_system_sms
    from texts.models import OutboundSms

    ConsoleGateway().send(family.member.number, "hello")
    queue_system_sms(family.member.number, "welcome", OutboundSms.Kind.WELCOME)
    LoginGuard.objects.create(number=family.member.number, failures=1)
    GatewayState.objects.create(gateway="console")
    owner = family.group.memberships.get(member__number=family.owner.number)
    with django_capture_on_commit_callbacks(execute=True):
        register_device(family.member.number, "android", "token-1", family.member.member)
        # A message, its delivery, a push attempt and the log backend's outbox entry.
        actions.post(family.group, owner, "hello")
    ScheduledMessage.objects.create(
        group=family.group, author=owner, text="later", when=timezone.now() + timedelta(days=1)
    )
    receive(Inbound(sender=family.member.number, text="hi all", gateway="test"))
    return family


@pytest.mark.parametrize("app_label, model_name", REGISTERED)
def test_change_pages_load(admin_client, one_of_each, app_label, model_name):
    model = next(
        m
        for m in admin.site._registry
        if (m._meta.app_label, m._meta.model_name) == (app_label, model_name)
    )
    obj = model.objects.first()
    if obj is None:
        pytest.skip(f"no {model_name} row is made here; its own tests cover its admin")
    url = reverse(f"admin:{app_label}_{model_name}_change", args=[obj.pk])
    assert admin_client.get(url).status_code == 200


def test_a_group_page_shows_its_members_inline(admin_client, family):
    url = reverse("admin:groups_group_change", args=[family.group.pk])
    page = admin_client.get(url).content.decode()
    assert "Mom" in page and "Dad" in page


def test_a_member_page_shows_their_groups_inline(admin_client, family):
    # The inline is groups' (groups.admin adds it to members' page): groups is above members.
    url = reverse("admin:members_member_change", args=[family.owner.member.pk])
    page = admin_client.get(url).content.decode()
    assert "Family" in page and "Mom" in page


def test_groups_are_found_by_member_number(admin_client, family):
    page = admin_client.get(reverse("admin:groups_group_changelist"), {"q": family.member.number})
    assert "Family" in page.content.decode()
