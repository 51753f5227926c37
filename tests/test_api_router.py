"""API endpoints take their own short chain (settings.API_MIDDLEWARE, groupflier.api.router):
the same answers as through Django's URL resolution, without the admin's session, CSRF and
login machinery, with the host still checked and the call still counted."""

import pytest

from groupflier import metrics
from tests.conftest import assert_error, assert_ok

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/message/grand/total", "/message/grand/total/"])
def test_an_endpoint_answers_with_or_without_its_trailing_slash(client, path):
    response = client.post(path)
    assert_ok(response)
    assert response["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware still runs
    assert not response.cookies  # no session or CSRF cookie set by the admin's middleware


def test_a_host_not_allowed_is_refused_on_the_api_too(client, settings):
    settings.ALLOWED_HOSTS = ["groupflier.example.org"]
    response = client.post("/message/grand/total", HTTP_HOST="attacker.example.com")
    assert_error(response, "BAD_REQUEST", http_status=400)
    allowed = client.post("/message/grand/total", HTTP_HOST="groupflier.example.org")
    assert_ok(allowed)


def test_a_call_is_counted_under_its_endpoint(client):
    before = metrics.counters.read("api_requests")
    field = metrics._api_field("/message/grand/total", "OK")
    client.post("/message/grand/total/")
    assert metrics.counters.read("api_requests").get(field, 0) == before.get(field, 0) + 1


def test_other_paths_still_take_the_whole_chain(client):
    # The admin's login page sets its CSRF cookie: Django's own chain served it.
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert "csrftoken" in response.cookies
    assert_error(client.post("/no/such/endpoint"), "NOT_FOUND", http_status=404)
