"""The admin login is limited per client address and per user name (django-axes), and its
cookies can be marked Secure behind TLS (GROUPFLIER_SECURE_COOKIES,
GROUPFLIER_PROXY_SSL_HEADER)."""

import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model

from tests.workers import ROOT

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser("boss", "boss@example.com", PASSWORD)


def log_in(client, username, password, address="203.0.113.7"):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


def logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


def test_the_right_password_logs_in(client, admin_user):
    assert logged_in(log_in(client, "boss", PASSWORD))


def test_after_five_wrong_passwords_even_the_right_one_is_refused(client, admin_user):
    for _ in range(5):
        assert not logged_in(log_in(client, "boss", "guess"))
    response = log_in(client, "boss", PASSWORD)
    assert not logged_in(response) and response.status_code == 429


def test_guesses_at_one_user_name_from_many_addresses_lock_it(client, admin_user):
    for n in range(5):
        log_in(client, "boss", "guess", address=f"198.51.100.{n}")
    assert not logged_in(log_in(client, "boss", PASSWORD, address="192.0.2.99"))


def test_guesses_at_many_user_names_from_one_address_lock_the_address(client, admin_user):
    for n in range(5):
        log_in(client, f"user{n}", "guess", address="198.51.100.50")
    assert not logged_in(log_in(client, "boss", PASSWORD, address="198.51.100.50"))
    assert logged_in(log_in(client, "boss", PASSWORD, address="198.51.100.51"))


def settings_under(**env) -> dict:
    """The settings a process started with ``env`` reads."""
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_PROXY_SSL_HEADER]))"
    )
    import json
    import os

    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "groupflier.settings", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    secure_session, secure_csrf, proxy_header = json.loads(result.stdout)
    return {"session": secure_session, "csrf": secure_csrf, "proxy": proxy_header}


def test_secure_cookies_and_the_proxy_ssl_header_are_settings():
    assert settings_under() == {"session": False, "csrf": False, "proxy": None}
    assert settings_under(
        GROUPFLIER_SECURE_COOKIES="1", GROUPFLIER_PROXY_SSL_HEADER="X-Forwarded-Proto"
    ) == {"session": True, "csrf": True, "proxy": ["HTTP_X_FORWARDED_PROTO", "https"]}


def test_with_secure_cookies_the_admin_session_cookie_is_secure(client, admin_user, settings):
    settings.SESSION_COOKIE_SECURE = True
    response = log_in(client, "boss", PASSWORD)
    assert logged_in(response) and response.cookies["sessionid"]["secure"]
