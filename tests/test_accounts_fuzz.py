"""schemathesis on the /account/* endpoints as a logged-in owner with a card on file, so that the
generated values reach the parameter checks and the actions behind the session (the schema
test's own fuzzing is answered 401 for want of a sid)."""

from contextlib import contextmanager

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

from groupflier.wsgi import application
from tests.accounts_helpers import set_card

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application).include(
    path_regex="^/account/"
)


@contextmanager
def keeping_the_tests_connection():
    # Django's WSGI handler closes the connection when a request ends, and the test's
    # transaction lives on it. (Django's test client reconnects these signals after each of
    # its requests, so they are disconnected around each call here.)
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def owner_sid(api, family):
    set_card(api, family.owner)
    return family.owner.sid


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_fuzz_account_endpoints_with_a_session(case, owner_sid):
    if isinstance(case.body, dict):
        case.body["sid"] = owner_sid
    else:
        case.query = {**(case.query or {}), "sid": owner_sid}
    with keeping_the_tests_connection():
        response = case.call_and_validate(
            checks=[
                not_a_server_error,
                status_code_conformance,
                content_type_conformance,
                response_schema_conformance,
            ]
        )
    assert response.status_code != 401  # the session reached the endpoint
