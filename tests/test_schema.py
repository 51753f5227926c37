"""The OpenAPI document, and schemathesis fuzzing every endpoint it lists.

Endpoints added later are fuzzed automatically: the document is generated from the same
declarations the contract layer enforces.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from groupflier.urls import ENDPOINTS
from groupflier.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


@pytest.fixture(scope="module", autouse=True)
def _keep_the_test_transactions_connection():
    # Django's WSGI handler closes the connection when a request ends; the test client
    # disconnects that for the same reason: the test's transaction lives on it.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def document(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def test_every_endpoint_is_documented_with_both_methods(document):
    documented = {path.strip("/") for path in document["paths"]}
    assert documented == {endpoint.path for endpoint in ENDPOINTS}
    for operations in document["paths"].values():
        assert {"get", "post"} <= set(operations)


def test_every_error_token_an_endpoint_answers_is_documented(document):
    for endpoint in ENDPOINTS:
        operation = document["paths"]["/" + endpoint.path]["post"]
        answers = operation["responses"]["200"]["content"]["application/json"]["schema"]
        tokens = set()
        for alternative in answers.get("oneOf", []):
            tokens.update(alternative["properties"].get("error_type", {}).get("enum", []))
        assert tokens == {str(token) for token in endpoint.error_types()}, endpoint.path
        for token in tokens:
            assert token in operation["description"]


def test_group_create_documents_its_numbered_member_fields(document):
    body = document["paths"]["/group/create"]["post"]["requestBody"]["content"]
    properties = body["application/x-www-form-urlencoded"]["schema"]["properties"]
    assert {"name_0", "number_0", "name_100", "number_100"} <= set(properties)
    assert properties["send_pin"]["enum"] == ["0", "1", "true", "false"]


def test_the_interactive_page_is_served_without_the_internet(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger-ui" in response.content
    assert b"cdn." not in response.content  # assets come from this server (sidecar)


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_fuzz_every_endpoint(case):
    case.call_and_validate(
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ]
    )
