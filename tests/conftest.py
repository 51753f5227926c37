"""Shared fixtures: an API client speaking the GroupFlier contract, and a group with an owner,
a member and an outsider, each with a session.

Tests run on PostgreSQL and Redis (scripts/test sets DATABASE_URL and REDIS_URL). Celery tasks
run eagerly here, when the request's transaction commits; tests marked ``e2e`` start real
worker processes instead.
"""

import json
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.test import override_settings

from groupflier.celery import app as celery_app
from groups import actions as group_actions
from members.sessions import create_session
from messaging.models import OutboxMessage

OWNER = "+14155550101"
MEMBER = "+14155550102"
OUTSIDER = "+14155550103"


def pytest_configure(config):
    celery_app.conf.task_always_eager = True


@pytest.fixture(autouse=True, scope="session")
def _static_files_without_manifest():
    # Pages rendered in the test process name static files as found in the apps, so no
    # collectstatic is needed; the browser tests (tests/test_webapp_browser.py) collect them and
    # serve the hashed names through whitenoise, as production does.
    plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    from django.conf import settings

    with override_settings(STORAGES={**settings.STORAGES, "staticfiles": plain}):
        yield


@pytest.fixture(autouse=True)
def _fresh_budgets():
    # Throttle budgets live in the cache (Redis): each test starts with full ones.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Production's PBKDF2 is slow on purpose; the tests check behaviour, not its cost.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class Api:
    """Calls endpoints the way a client does. Each call ends like a real request: its
    transaction's on-commit work (queued tasks) runs before the answer is read."""

    def __init__(self, client, capture_on_commit):
        self.client = client
        self.capture = capture_on_commit

    def __call__(self, path, *, via="form", method="post", **params):
        path = "/" + path.lstrip("/")
        with self.capture(execute=True):
            if via == "json":
                response = self.client.generic(
                    method.upper(), path, json.dumps(params), content_type="application/json"
                )
            elif via == "query":
                response = self.client.generic(method.upper(), path + "?" + urlencode(params))
            else:
                response = getattr(self.client, method.lower())(path, params)
        return response


@pytest.fixture
def api(client, django_capture_on_commit_callbacks):
    return Api(client, django_capture_on_commit_callbacks)


def assert_ok(response) -> dict:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == "OK", body
    return body


def assert_error(response, error_type, subtype=..., http_status=200) -> dict:
    assert response.status_code == http_status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == "ERROR", body
    assert body["error_type"] == error_type, body
    if subtype is not ...:
        assert body.get("error_subtype") == subtype, body
    return body


def texts_to(number) -> list[str]:
    return list(
        OutboxMessage.objects.filter(to=number).order_by("id").values_list("text", flat=True)
    )


@dataclass
class Person:
    number: str
    sid: str
    name: str
    member: object = None


@dataclass
class Family:
    """An active group "Family": owner Mom, member Dad; Zed is in no group."""

    group: object
    owner: Person
    member: Person
    outsider: Person

    def address_of(self, person: Person) -> str:
        membership = self.group.memberships.get(member__number=person.number)
        return str(membership.address.number)


def make_active_group(name, owner_name, owner_number, members):
    """An active group, made through the same action /group/create uses with a creator's sid."""
    from members.actions import get_or_create_member

    owner = get_or_create_member(owner_number)
    return group_actions.create_group(
        group_actions.NewGroup(
            name=name, creator_name=owner_name, creator_number=owner_number, members=members
        ),
        session_member=owner,
    )


def login_as(number) -> str:
    from members.models import Member

    return create_session(Member.objects.get(number=number))


@pytest.fixture
def family(db):
    from members.actions import get_or_create_member

    created = make_active_group("Family", "Mom", OWNER, [("Dad", MEMBER)])
    outsider = get_or_create_member(OUTSIDER)
    return Family(
        group=created.group,
        owner=Person(OWNER, login_as(OWNER), "Mom", created.group.owner),
        member=Person(MEMBER, login_as(MEMBER), "Dad"),
        outsider=Person(OUTSIDER, create_session(outsider), "Zed", outsider),
    )
