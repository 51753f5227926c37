"""No secret, PIN, sid or card number in any log line of the web process (gunicorn, as
scripts/run starts it) or the dev server (`manage.py runserver`): real processes, real
requests carrying them in query strings and paths, their output grepped."""

import logging
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from contextlib import contextmanager

import pytest

from groupflier.logs import RedactingFormatter
from tests.workers import ROOT, stop, wait_until, worker_environment

SID = "Zk3sidSECRETvalue0123456789abcdefghijklmnop"
PIN = "482913"
CARD = "4242424242424242"
PASSWORD = "hunter2-secret-pass"
WEBHOOK_SECRET = "whk-9f8e7d6c5b4a"
SECRETS = (SID, PIN, CARD, PASSWORD, WEBHOOK_SECRET)

REQUESTS = [
    f"/member/groups?sid={SID}",
    f"/member/login?number=4155550101&pin={PIN}",
    f"/member/login/?number=4155550101&pin={PASSWORD}",
    f"/account/set?sid={SID}&cc_number={CARD}&cc_expiration=2031-01",
    f"/group/set?pin_number=4155550101&pin={PIN}&number=2025550100",
    f"/webhooks/grouptexting/{WEBHOOK_SECRET}/inbox?from=4155550101&message=hi",
    f"/webhooks/grouptexting/{WEBHOOK_SECRET}/nothing-here",
    f"/no/such/path?sid={SID}",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


@contextmanager
def serving(command, log_path, port):
    env = worker_environment(GROUPTEXTING_WEBHOOK_SECRET=WEBHOOK_SECRET, LOG_LEVEL="DEBUG")
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until(
                lambda: get(f"http://127.0.0.1:{port}/") is not None,
                timeout=60,
                what="the web process to answer",
            )
            yield f"http://127.0.0.1:{port}"
        finally:
            stop(process)


def assert_no_secret_logged(log_text):
    assert "/member/groups" in log_text  # the requests were logged at all
    for secret in SECRETS:
        assert secret not in log_text, f"{secret!r} logged:\n{log_text}"


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_gunicorn_as_scripts_run_starts_it_logs_no_secret(tmp_path):
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    command = [
        sys.executable, "-m", "gunicorn", "groupflier.wsgi", "--bind", f"127.0.0.1:{port}",
        "--workers", "1", "--access-logfile", "-",
        "--logger-class", "groupflier.logs.RedactingLogger",
        "--access-logformat", '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms %(r)s',
    ]  # fmt: skip
    with serving(command, log_path, port) as base:
        for path in REQUESTS:
            get(base + path)
    assert_no_secret_logged(log_path.read_text())


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_dev_server_logs_no_secret(tmp_path):
    port = free_port()
    log_path = tmp_path / "runserver.log"
    command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    with serving(command, log_path, port) as base:
        for path in REQUESTS:
            get(base + path)
    assert_no_secret_logged(log_path.read_text())


def test_a_log_line_with_a_secret_in_it_is_redacted(settings):
    settings.GROUPTEXTING_WEBHOOK_SECRET = WEBHOOK_SECRET
    record = logging.LogRecord(
        "django.request", logging.ERROR, __file__, 1,
        "Internal Server Error: %s", (f"/webhooks/grouptexting/{WEBHOOK_SECRET}/inbox",),
        None,
    )  # fmt: skip
    line = RedactingFormatter("%(message)s").format(record)
    assert WEBHOOK_SECRET not in line and "/webhooks/grouptexting/***/inbox" in line
    record.msg, record.args = f'"GET /x?sid={SID}&cc_number={CARD} HTTP/1.1" 200 5', ()
    assert RedactingFormatter("%(message)s").format(record) == '"GET /x HTTP/1.1" 200 5'
    record.msg = f"called with pin={PIN} and password={PASSWORD}"
    line = RedactingFormatter("%(message)s").format(record)
    assert PIN not in line and PASSWORD not in line


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_worker_logs_no_pin(client, tmp_path):
    """The console gateway logs what it 'sends'; the worker's log line keeps the PIN out."""
    import re

    from messaging.models import OutboxMessage
    from tests.conftest import MEMBER, OWNER, assert_ok
    from tests.workers import running_worker

    params = {"group": "Family", "name": "Mom", "number": OWNER}
    assert_ok(client.post("/group/create", {**params, "name_0": "Dad", "number_0": MEMBER}))
    log_path = tmp_path / "worker.log"
    with running_worker(log_path=log_path):
        assert_ok(client.post("/member/find", {"number": OWNER}))
        text = wait_until(
            lambda: OutboxMessage.objects.filter(to=OWNER).values_list("text", flat=True).first(),
            timeout=30,
            what="the PIN text",
        )
    pin = re.search(r"\d{6}", text).group(0)
    log_text = log_path.read_text()
    assert "SMS from" in log_text  # the console gateway did log the text
    assert pin not in log_text, log_text
