"""SPEC §1: the transport every endpoint shares."""

import pytest

from groupflier.api.errors import ErrorType
from tests.conftest import MEMBER, OWNER, assert_error, assert_ok

pytestmark = pytest.mark.django_db

CREATE = dict(group="Family", name="Mom", number=OWNER, name_0="Dad", number_0=MEMBER)


@pytest.mark.parametrize("path", ["group/create", "group/create/"])
@pytest.mark.parametrize("via", ["form", "json", "query"])
def test_every_path_answers_with_and_without_slash_by_query_form_and_json(api, path, via):
    method = "get" if via == "query" else "post"
    body = assert_ok(api(path, via=via, method=method, **CREATE))
    assert body["number"].startswith("+1")


def test_query_and_body_are_merged_and_the_body_wins(client):
    response = client.post(
        "/group/create?group=FromQuery&name=Mom&number=" + OWNER,
        {"group": "FromBody", "name_0": "Dad", "number_0": MEMBER},
    )
    assert_ok(response)
    from groups.models import Group

    assert list(Group.objects.values_list("name", flat=True)) == ["FromBody"]


def test_json_body_with_numbers_and_booleans(api):
    assert_ok(api("group/create", via="json", **{**CREATE, "reply_to_owner": True}))
    from groups.models import Group

    assert Group.objects.get().reply_to_owner is True


def test_unknown_path_is_a_json_404(client):
    response = client.post("/no/such/thing", {"x": "1"})
    assert_error(response, "NOT_FOUND", http_status=404)


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_other_methods_are_a_json_405(client, method):
    assert_error(getattr(client, method)("/member/find"), "METHOD_NOT_ALLOWED", http_status=405)


def test_an_unexpected_fault_is_a_json_500_without_a_trace(client, monkeypatch, caplog):
    from members import actions

    def explode(number):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(actions, "find_member", explode)
    response = client.post("/member/find", {"number": OWNER})
    body = assert_error(response, "SERVER_ERROR", http_status=500)
    assert "secret internals" not in response.content.decode()
    assert body == {"status": "ERROR", "error_type": "SERVER_ERROR"}
    assert "secret internals" in caplog.text  # the operator still sees it in the log


def test_answers_are_json_whatever_the_client_accepts(client):
    response = client.get("/member/find", HTTP_ACCEPT="text/html")
    assert_error(response, "MISSING_FIELDS", ["number"])


@pytest.mark.parametrize(
    "body, content_type",
    [("{not json", "application/json"), ("[1, 2]", "application/json"), ("x", "text/plain")],
)
def test_an_unreadable_body_is_a_clear_400(client, body, content_type):
    response = client.post("/member/find", body, content_type=content_type)
    assert_error(response, "BAD_REQUEST", http_status=400)


@pytest.mark.parametrize("value", ["Mo\x00m", "\ud800"])
def test_text_that_cannot_be_stored_is_a_clear_400(api, value):
    # NUL cannot be stored in PostgreSQL text; a lone surrogate cannot be encoded at all.
    response = api("group/create", via="json", **{**CREATE, "name": value})
    assert_error(response, "BAD_REQUEST", "name", http_status=400)
    # A sid that cannot be one is no session (SPEC §1).
    response = api("member/groups", via="json", sid=value)
    assert_error(response, "AUTHORIZATION_REQUIRED", http_status=401)


def test_a_nested_json_value_is_a_clear_400(api):
    response = api("member/find", via="json", number={"nested": "object"})
    assert_error(response, "BAD_REQUEST", "number", http_status=400)


@pytest.mark.parametrize("path", ["member/groups", "member/logout"])
@pytest.mark.parametrize("sid", [None, "", "not-a-session"])
def test_missing_or_unknown_sid_is_401(api, path, sid):
    params = {} if sid is None else {"sid": sid}
    assert_error(api(path, **params), "AUTHORIZATION_REQUIRED", http_status=401)


def test_missing_fields_lists_every_one_in_the_documented_order(api):
    response = api("group/create", email="a@example.com")
    assert_error(response, "MISSING_FIELDS", ["group", "name", "number"])


def test_a_blank_field_counts_as_missing(api):
    response = api("group/create", **{**CREATE, "group": "   ", "name": ""})
    assert_error(response, "MISSING_FIELDS", ["group", "name"])


def test_half_of_a_pair_names_the_absent_half(api):
    response = api("group/create", **CREATE, name_1="Kid", number_2="4155550109")
    assert_error(response, "MISSING_FIELDS", ["number_1", "name_2"])


def test_missing_fields_come_before_format_errors(api):
    response = api("group/create", group="x" * 31, number="nonsense")
    assert_error(response, "MISSING_FIELDS", ["name"])


def test_format_errors_follow_the_documented_order(api):
    response = api("group/create", group="x" * 31, name="Mom", number="nonsense")
    assert_error(response, "TOO_LONG", "x" * 31)


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "True"])
def test_flags_accept_one_and_true_in_any_case(api, value):
    assert_ok(api("group/create", **CREATE, reply_to_owner=value))


@pytest.mark.parametrize("value", ["0", "false", "False"])
def test_flags_accept_zero_and_false(api, value):
    assert_ok(api("group/create", **CREATE, reply_to_owner=value))


@pytest.mark.parametrize("value", ["yes", "2", "on"])
def test_any_other_flag_value_is_invalid_flag_naming_the_field(api, value):
    response = api("group/create", **CREATE, reply_to_owner=value)
    assert_error(response, "INVALID_FLAG", "reply_to_owner")


@pytest.mark.parametrize("given", ["+14445556666", "(444) 555-6666", "4445556666", "444.555.6666"])
def test_phone_numbers_in_any_common_format_become_e164(api, given):
    assert_ok(api("group/create", **{**CREATE, "number": given}))
    from members.models import Member

    assert Member.objects.filter(number="+14445556666").exists()


@pytest.mark.parametrize("given", ["12", "555", "not a number", "+1 (111) 555-6666", "+99912345"])
def test_an_unparseable_or_invalid_number_is_invalid_number_with_the_input(api, given):
    response = api("group/create", **{**CREATE, "number": given})
    assert_error(response, "INVALID_NUMBER", given)


def test_error_tokens_are_one_enum():
    assert ErrorType("MISSING_FIELDS") is ErrorType.MISSING_FIELDS
    assert len({token.value for token in ErrorType}) == len(ErrorType)
