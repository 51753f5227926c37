"""Group Texting's webhooks (seed: "Receiving Keyword Submissions" and "Receiving Inbox Message
Replies"): /webhooks/grouptexting/<secret>/keyword and .../inbox."""

import pytest

from groups.models import Group, Membership
from messaging.gateways.grouptexting.text import is_allowed, weighted_length
from messaging.models import InboundSms, Message
from tests.conftest import MEMBER, OUTSIDER, make_active_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def webhook(settings, client):
    settings.GROUPTEXTING_WEBHOOK_SECRET = "s3cret"

    def call(kind, method="get", secret="s3cret", **params):
        return getattr(client, method)(f"/webhooks/grouptexting/{secret}/{kind}", params)

    return call


def test_the_inbox_url_takes_from_and_message(webhook, family):
    response = webhook("inbox", **{"from": "4155550102", "message": "Hi all"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert Message.objects.get().text == "Hi all"


def test_the_keyword_url_takes_phone_number_and_message_by_get_or_post(webhook, family):
    Group.objects.filter(pk=family.group.pk).update(invite_code="FamJam")
    response = webhook("keyword", method="post", PhoneNumber="4155550199", Message="FamJam Ann")
    assert response.content.decode().startswith("You joined Family")


def test_both_urls_called_for_one_text_count_once(webhook, family):
    webhook("keyword", PhoneNumber="4155550102", Message="Dinner?")
    webhook("inbox", **{"From": "4155550102", "Message": "Dinner?"})
    assert Message.objects.count() == 1


def test_the_reply_is_at_most_160_allowed_characters(webhook, family):
    Membership.objects.filter(group=family.group, member__number=MEMBER).update(
        name="Ünïcode “quoted”"
    )
    reply = webhook("inbox", **{"from": MEMBER, "message": "*who"}).content.decode()
    assert is_allowed(reply) and weighted_length(reply) <= 160
    make_active_group(
        "Big",
        "Boss",
        OUTSIDER,
        [(f"Person number {n}", f"+1415555{4000 + n:04d}") for n in range(20)],
    )
    reply = webhook("inbox", **{"from": OUTSIDER, "message": "*who"}).content.decode()
    assert weighted_length(reply) <= 160 and reply.endswith("...")


def test_a_wrong_secret_is_404_and_nothing_happens(webhook, family):
    response = webhook("inbox", secret="guess", **{"from": MEMBER, "message": "Hi"})
    assert response.status_code == 404
    assert Message.objects.count() == 0 and InboundSms.objects.count() == 0


def test_without_a_configured_secret_the_webhooks_are_off(client, family, settings):
    settings.GROUPTEXTING_WEBHOOK_SECRET = ""
    assert (
        client.get("/webhooks/grouptexting//inbox", {"from": MEMBER, "message": "x"}).status_code
        == 404
    )
    assert (
        client.get("/webhooks/grouptexting/x/inbox", {"from": MEMBER, "message": "x"}).status_code
        == 404
    )
