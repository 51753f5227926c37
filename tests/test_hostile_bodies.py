"""SPEC §1 bodies: a body over GROUPFLIER_MAX_BODY_BYTES answers 413 REQUEST_TOO_LARGE, one
that cannot be parsed 400 BAD_REQUEST, both in the envelope; never a 500, never a traceback
logged at ERROR. Any unusable sid is 401."""

import json
import logging

import pytest

from tests.conftest import assert_error

pytestmark = pytest.mark.django_db

WEBHOOK = "/webhooks/grouptexting/s3cret/inbox"
PATHS = ["/member/find", "/group/create", "/message/send", WEBHOOK]


@pytest.fixture(autouse=True)
def _webhook_on(settings):
    settings.GROUPTEXTING_WEBHOOK_SECRET = "s3cret"


@pytest.fixture
def no_error_logged(caplog):
    caplog.set_level(logging.INFO)
    yield
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert loud == [], [r.getMessage() for r in loud]


@pytest.mark.parametrize("path", PATHS)
def test_a_3_mb_form_body_is_413(client, no_error_logged, path):
    response = client.post(path, {"number": "4155550101", "junk": "x" * 3_000_000})
    assert_error(response, "REQUEST_TOO_LARGE", http_status=413)


@pytest.mark.parametrize("path", PATHS)
def test_a_3_mb_json_body_is_413(client, no_error_logged, path):
    body = json.dumps({"number": "4155550101", "junk": "x" * 3_000_000})
    response = client.post(path, body, content_type="application/json")
    assert_error(response, "REQUEST_TOO_LARGE", http_status=413)


def test_the_limit_is_a_setting(client, settings, no_error_logged):
    settings.GROUPFLIER_MAX_BODY_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post("/member/find", {"number": "4155550101", "junk": "x" * 2000})
    assert_error(response, "REQUEST_TOO_LARGE", http_status=413)


@pytest.mark.parametrize("path", PATHS)
def test_1500_form_fields_are_400(client, no_error_logged, path):
    fields = {f"f{n}": "x" for n in range(1500)}
    assert_error(client.post(path, fields), "BAD_REQUEST", http_status=400)


@pytest.mark.parametrize("path", PATHS)
def test_1500_query_fields_are_400(client, no_error_logged, path):
    query = "&".join(f"f{n}=x" for n in range(1500))
    assert_error(client.get(f"{path}?{query}"), "BAD_REQUEST", http_status=400)


@pytest.mark.parametrize("path", ["/member/find", "/group/create", "/message/send"])
def test_json_nested_100000_deep_is_400(client, no_error_logged, path):
    body = "[" * 100_000 + "]" * 100_000
    response = client.post(path, body, content_type="application/json")
    assert_error(response, "BAD_REQUEST", http_status=400)
    body = '{"number": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = client.post(path, body, content_type="application/json")
    assert_error(response, "BAD_REQUEST", http_status=400)


@pytest.mark.parametrize("path", PATHS)
def test_a_bad_multipart_body_is_400(client, no_error_logged, path):
    body = b'--nope\r\nContent-Disposition: form-data; name="number"\r\n\r\n4155550101'
    response = client.generic("POST", path, body, content_type="multipart/form-data")
    assert_error(response, "BAD_REQUEST", http_status=400)
    bad_boundary = "multipart/form-data; boundary=" + "b" * 300  # over the 200 Django reads
    response = client.generic("POST", path, body, content_type=bad_boundary)
    assert_error(response, "BAD_REQUEST", http_status=400)


@pytest.mark.parametrize("sid", ["\x00", "abc\x00def", "\ud800", 12, ["a"], {"a": "b"}, "x" * 5000])
def test_any_unusable_sid_is_401(client, no_error_logged, sid):
    body = json.dumps({"sid": sid})
    response = client.post("/member/groups", body, content_type="application/json")
    assert_error(response, "AUTHORIZATION_REQUIRED", http_status=401)


def test_a_nul_sid_in_the_query_string_is_401(client, no_error_logged):
    response = client.get("/member/groups?sid=%00")
    assert_error(response, "AUTHORIZATION_REQUIRED", http_status=401)
