"""The web app's pages and the development phone page (SPEC §9), in the test process. The
browser drives the whole app in tests/test_webapp_browser.py."""

import re
from pathlib import Path

import pytest

from groupflier.api.errors import ErrorType
from members.models import Member
from messaging.inbound import STOPPED, STRANGER
from tests.conftest import MEMBER, OUTSIDER, texts_to
from texts.models import OutboundSms

STATIC = Path(__file__).resolve().parent.parent / "webapp" / "static" / "webapp"


def test_the_root_leads_to_the_app(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/app/"


@pytest.mark.parametrize("path", ["/app/", "/app/join/family-k7m2qx", "/app/join/family-k7m2qx/"])
def test_the_app_is_one_shell_that_loads_nothing_from_outside(client, path):
    response = client.get(path)
    assert response.status_code == 200
    page = response.content.decode()
    assert '<script type="module" src="/static/webapp/app' in page
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert not re.search(r"(src|href)=\"(https?:)?//", page)


def test_the_app_uses_no_file_from_outside_the_server():
    for path in STATIC.rglob("*"):
        if path.suffix in (".js", ".css"):
            assert not re.search(r"https?://", path.read_text()), path


def test_every_error_token_reads_as_a_sentence():
    sentences = (STATIC / "errors.js").read_text()
    written = set(re.findall(r"^  ([A-Z_]+): ", sentences, re.MULTILINE))
    assert {token.value for token in ErrorType} <= written


def test_the_api_answers_as_before_beside_the_app(api):
    response = api("member/find", number="12")
    assert response.json()["error_type"] == "INVALID_NUMBER"
    assert api("nowhere").status_code == 404


# --- The development phone page ------------------------------------------------------------


def send_from_phone(client, sender, to, text):
    return client.post("/app/dev/phones/send", {"from": sender, "to": to, "text": text})


def test_the_phone_page_is_there_with_the_console_gateway(client, db):
    response = client.get("/app/dev/phones/")
    assert response.status_code == 200
    assert b"Text in as any number" in response.content
    assert "default-src 'self'" in response["Content-Security-Policy"]


def test_the_phone_page_is_refused_without_the_console_gateway(client, settings):
    settings.GROUPFLIER_SMS_GATEWAY = "messaging.gateways.grouptexting.GroupTextingGateway"
    settings.GROUPTEXTING_USER = settings.GROUPTEXTING_PASSWORD = "dev"
    for path in ("/app/dev/phones/", "/app/dev/phones/texts"):
        response = client.get(path)
        assert response.status_code == 404
        assert b"only with the console SMS gateway" in response.content
    assert send_from_phone(client, MEMBER, "", "hi").status_code == 404


def test_a_member_texts_the_group_from_the_phone_page(
    client, family, django_capture_on_commit_callbacks
):
    address = family.address_of(family.member)
    with django_capture_on_commit_callbacks(execute=True):
        response = send_from_phone(client, "(415) 555-0102", address, "Running late")
    assert response.json() == {"status": "OK", "reply": None}
    assert texts_to(family.owner.number)[-1] == "Dad: Running late"
    texts = client.get("/app/dev/phones/texts").json()
    assert {
        "phone": MEMBER,
        "other": address,
        "direction": "sent",
        "text": "Running late",
    }.items() <= ([t for t in texts["texts"] if t["direction"] == "sent"][-1].items())
    assert address in texts["service_numbers"]


def test_a_star_commands_reply_comes_back_as_a_text(
    client, family, django_capture_on_commit_callbacks
):
    address = family.address_of(family.member)
    with django_capture_on_commit_callbacks(execute=True):
        reply = send_from_phone(client, MEMBER, address, "*who").json()["reply"]
    assert "Mom" in reply and "Dad" in reply
    assert texts_to(MEMBER)[-1] == reply
    sent = OutboundSms.objects.get(to=MEMBER, kind=OutboundSms.Kind.REPLY)
    assert sent.from_number == address


def test_a_stranger_gets_the_help_text_on_their_phone(
    client, db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        send_from_phone(client, "+14155550199", "+12025550100", "hello?")
    assert texts_to("+14155550199") == [STRANGER]


def test_stop_is_confirmed_by_one_text_and_then_nothing(
    client, family, django_capture_on_commit_callbacks
):
    address = family.address_of(family.member)
    with django_capture_on_commit_callbacks(execute=True):
        send_from_phone(client, MEMBER, address, "STOP")
    assert Member.objects.get(number=MEMBER).blocked
    assert texts_to(MEMBER)[-1] == STOPPED
    with django_capture_on_commit_callbacks(execute=True):
        send_from_phone(client, MEMBER, address, "*who")
    assert texts_to(MEMBER)[-1] == STOPPED


def test_a_bad_number_on_the_phone_page_says_so(client, db):
    response = send_from_phone(client, "12", "", "")
    assert response.status_code == 400
    assert set(response.json()["problems"]) == {"from", "text"}


def test_manage_inbound_texts_the_reply_back(family, django_capture_on_commit_callbacks):
    from django.core.management import call_command

    with django_capture_on_commit_callbacks(execute=True):
        call_command("inbound", "hello", "--from", OUTSIDER, "--to", "+12025550100")
    assert texts_to(OUTSIDER)[-1] == STRANGER
