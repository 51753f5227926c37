"""Pluggable backends (SMS gateways, push services, payment processors): one loader that takes
short names and dotted paths, one error base, and a misconfiguration that stops every process
at start-up with one line (manage.py check and migrate, the web process, the Celery worker)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from accounts.payments.base import PAYMENT_BACKEND, PaymentError, backend_path
from accounts.payments.sandbox import SandboxBackend
from devices.push.base import PushError, close_backends, get_backend
from devices.push.log import LogBackend
from groupflier.backends import BackendError, ErrorEffect
from messaging.gateways.base import SMS_GATEWAY, GatewayError, get_gateway
from messaging.gateways.console import ConsoleGateway
from messaging.gateways.grouptexting.backend import GroupTextingGateway

ROOT = Path(__file__).resolve().parent.parent

GROUPTEXTING = {"GROUPTEXTING_USER": "user", "GROUPTEXTING_PASSWORD": "pass"}


@pytest.fixture(autouse=True)
def fresh_backends():
    yield
    SMS_GATEWAY.cache_clear()
    PAYMENT_BACKEND.cache_clear()
    close_backends()


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "grouptexting",
        "messaging.gateways.grouptexting.GroupTextingGateway",
        "messaging.gateways.grouptexting.Gateway",
        "messaging.gateways.grouptexting.backend.GroupTextingGateway",
    ],
)
def test_a_gateway_is_named_by_its_short_name_or_a_dotted_path(settings, name):
    settings.GROUPTEXTING_USER, settings.GROUPTEXTING_PASSWORD = "user", "pass"
    settings.GROUPFLIER_SMS_GATEWAY = name
    gateway = get_gateway()
    assert type(gateway) is GroupTextingGateway
    assert gateway.name == "grouptexting"  # the key of its GatewayState row, however named


@pytest.mark.parametrize("name", ["console", "messaging.gateways.console.ConsoleGateway"])
def test_the_console_gateway_by_either_name(settings, name):
    settings.GROUPFLIER_SMS_GATEWAY = name
    assert type(get_gateway()) is ConsoleGateway
    assert get_gateway().name == "console"


def test_push_and_payment_backends_take_short_names_too(settings):
    settings.GROUPFLIER_PUSH_APNS_BACKEND = "log"
    settings.GROUPFLIER_PAYMENT_BACKEND = "sandbox"
    assert type(get_backend("apns")) is LogBackend
    assert type(PAYMENT_BACKEND.get()) is SandboxBackend
    # An account's card is kept under the class's path, whichever name the setting uses.
    assert backend_path() == "accounts.payments.sandbox.SandboxBackend"


def test_an_unknown_short_name_lists_the_known_ones(settings):
    settings.GROUPFLIER_SMS_GATEWAY = "grouptextin"
    with pytest.raises(ImproperlyConfigured, match=r"'grouptextin' is not a known name \(.*"):
        get_gateway()
    with pytest.raises(ImproperlyConfigured, match=r"console, grouptexting"):
        get_gateway()


# --- one error base ------------------------------------------------------------------------


def test_every_backend_error_has_permanent_and_an_effect():
    errors = [
        GatewayError("HTTP 503", permanent=False),
        GatewayError("-104", effect=ErrorEffect.RECIPIENT_OPTED_OUT_GLOBALLY, code="-104"),
        PushError("410 Unregistered", permanent=False, unregistered=True),
        PushError("429", permanent=False, retry_after=30),
        PaymentError("generic_decline", permanent=True),
    ]
    assert all(isinstance(error, BackendError) for error in errors)
    assert [(e.permanent, e.effect) for e in errors] == [
        (False, ErrorEffect.RETRY),
        (True, ErrorEffect.RECIPIENT_OPTED_OUT_GLOBALLY),
        (True, ErrorEffect.UNREGISTERED),
        (False, ErrorEffect.RETRY),
        (True, ErrorEffect.FAIL),
    ]
    assert errors[2].unregistered and not errors[3].unregistered
    assert errors[3].retry_after == 30
    assert errors[4].reason == "generic_decline"


# --- refusing to start ---------------------------------------------------------------------


def run(*command, timeout=60, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_check_passes_with_every_backend_named_short_and_configured():
    result = run(
        sys.executable,
        "manage.py",
        "check",
        GROUPFLIER_SMS_GATEWAY="grouptexting",
        GROUPFLIER_PUSH_APNS_BACKEND="log",
        GROUPFLIER_PAYMENT_BACKEND="stripe",
        GROUPFLIER_PAYMENT_BACKEND_OPTIONS='{"secret_key": "sk_test_x"}',
        **GROUPTEXTING,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_names_each_misconfigured_backend_in_one_line():
    result = run(
        sys.executable,
        "manage.py",
        "check",
        GROUPFLIER_SMS_GATEWAY="grouptexting",  # without its user and password
        GROUPFLIER_PUSH_FCM_BACKEND="devices.push.nowhere.Backend",
        GROUPFLIER_PAYMENT_BACKEND="stripe",  # without its secret key
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "groupflier.E001" in line]
    assert len(errors) == 3, result.stderr
    assert "Traceback" not in result.stderr
    joined = "\n".join(errors)
    assert "The Group Texting gateway needs GROUPTEXTING_USER and GROUPTEXTING_PASSWORD" in joined
    assert "GROUPFLIER_PUSH_FCM_BACKEND 'devices.push.nowhere.Backend' cannot be imported" in joined
    assert "The Stripe payment backend needs GROUPFLIER_PAYMENT_BACKEND_OPTIONS" in joined


def test_migrate_refuses_a_mistyped_gateway():
    result = run(sys.executable, "manage.py", "migrate", GROUPFLIER_SMS_GATEWAY="grouptextin")
    assert result.returncode == 1
    assert "GROUPFLIER_SMS_GATEWAY 'grouptextin' is not a known name" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_celery_worker_refuses_to_start_with_a_gateway_missing_its_options():
    result = run(
        sys.executable,
        *("-m", "celery", "-A", "groupflier", "worker", "--concurrency=1", "--pool=solo"),
        GROUPFLIER_SMS_GATEWAY="grouptexting",
    )
    assert result.returncode != 0
    assert (
        "The Celery worker cannot start: groupflier.E001: The Group Texting gateway needs "
        "GROUPTEXTING_USER and GROUPTEXTING_PASSWORD"
    ) in result.stderr
    assert "Traceback" not in result.stderr
    assert "ready." not in result.stdout + result.stderr


def test_the_web_process_refuses_to_start_with_a_gateway_that_does_not_import():
    result = run(
        sys.executable,
        *("-m", "gunicorn", "groupflier.wsgi", "--bind", "127.0.0.1:0", "--workers", "1"),
        GROUPFLIER_SMS_GATEWAY="messaging.gateways.nowhere.Gateway",
    )
    assert result.returncode != 0
    assert (
        "The web process cannot start: groupflier.E001: GROUPFLIER_SMS_GATEWAY "
        "'messaging.gateways.nowhere.Gateway' cannot be imported"
    ) in result.stderr
    assert "Traceback" not in result.stderr
    assert "Worker failed to boot" in result.stderr  # gunicorn stopped rather than retrying
