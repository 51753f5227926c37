"""The production stack as written (SPEC §10): docker/compose.yaml read as Compose reads it,
and the image's commands run here against the test database and Redis (no Docker engine)."""

import json
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import yaml

from tests.workers import ROOT, purge_queues, stop, wait_until, worker_environment

COMPOSE = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ["web", "worker", "scheduler", "beat"]


def test_the_stack_has_its_named_services():
    assert {"web", "worker", "beat", "migrate", "postgres", "redis"} <= set(SERVICES)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_process_waits_for_the_migrations_and_healthy_services(name):
    service = SERVICES[name]
    assert service["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert service["restart"] == "unless-stopped"
    assert service["env_file"] == ".env"
    assert "healthcheck" in service


def test_migrate_runs_once():
    migrate = SERVICES["migrate"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert migrate["restart"] == "no"
    assert migrate["env_file"] == ".env"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}


def test_web_is_checked_through_its_health_endpoint():
    test = " ".join(SERVICES["web"]["healthcheck"]["test"])
    assert "/healthz" in test or "/readyz" in test


def test_postgres_and_redis_have_healthchecks_and_keep_their_data():
    for name in ("postgres", "redis"):
        assert SERVICES[name]["healthcheck"]["test"]
        assert SERVICES[name]["restart"] == "unless-stopped"
        assert SERVICES[name]["volumes"]
    redis = " ".join(SERVICES["redis"]["command"])
    assert "--appendonly yes" in redis
    assert "--maxmemory-policy noeviction" in redis  # queued work is never evicted


def test_beat_is_single():
    beat = SERVICES["beat"]
    assert beat["deploy"]["replicas"] == 1
    assert beat["container_name"]  # Compose refuses to scale a service with a fixed name


def test_secrets_come_from_the_env_file_and_are_required():
    app = SERVICES["web"]["environment"]
    assert app["SECRET_KEY"].startswith("${SECRET_KEY:?")
    assert "${POSTGRES_PASSWORD:?" in SERVICES["postgres"]["environment"]["POSTGRES_PASSWORD"]


def readme_settings() -> set[str]:
    """Every variable the README's tables name in their first column."""
    names = set()
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", first))
    return names


def test_the_env_example_documents_every_setting_of_the_readme():
    example = (ROOT / "docker" / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    assert readme_settings(), "the README's settings tables were not found"
    assert readme_settings() - listed == set()


def test_the_env_file_stays_out_of_git_and_the_image():
    assert "docker/.env" in (ROOT / ".gitignore").read_text().split()
    assert "docker/.env" in (ROOT / ".dockerignore").read_text().split()


def test_the_image_runs_what_web_runs():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE).group(1))
    assert cmd == SERVICES["web"]["command"]


# --- The commands, run here -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(name, tmp_path, **env):
    """The service's command line as the image runs it, from the repository root."""
    command = list(SERVICES[name]["command"])
    # The image's python and scripts; here, the virtualenv's.
    if command[0] == "python":
        command[0] = sys.executable
    elif command[0] in ("celery", "gunicorn"):
        command[0:1] = [sys.executable, "-m", command[0]]
    log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed by the caller's stop
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=worker_environment(GROUPFLIER_VAR_DIR=tmp_path, **env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_migrate_command_succeeds(tmp_path):
    process = start("migrate", tmp_path)
    assert process.wait(timeout=120) == 0, (tmp_path / "migrate.log").read_text()


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return None, b""


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_web_command_serves_health_and_readiness(tmp_path):
    port = free_port()
    process = start("web", tmp_path, HOST="127.0.0.1", PORT=port, WEB_WORKERS=1)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _get(base + "/healthz")[0] == 200, timeout=60, what="gunicorn")
        status, body = _get(base + "/readyz")
        assert status == 200, body
        assert json.loads(body)["status"] == "OK"
    finally:
        stop(process)
    log = (tmp_path / "web.log").read_text()
    assert '"GET /healthz HTTP/1.1" 200' in log  # the access log, one line per request


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_web_command_logs_json_lines_when_asked(tmp_path):
    port = free_port()
    process = start("web", tmp_path, HOST="127.0.0.1", PORT=port, WEB_WORKERS=1, LOG_FORMAT="json")
    try:
        url = f"http://127.0.0.1:{port}/healthz"
        wait_until(lambda: _get(url)[0] == 200, timeout=60, what="gunicorn")
    finally:
        stop(process)
    lines = (tmp_path / "web.log").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line, gunicorn's own included
    assert any(r["logger"] == "gunicorn.error" for r in records)
    assert any('"GET /healthz HTTP/1.1" 200' in r["message"] for r in records)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_worker_command_starts_a_worker_that_answers(tmp_path):
    from groupflier.celery import app

    purge_queues()
    process = start("worker", tmp_path)
    try:

        def answers():
            replies = app.control.ping(timeout=0.5)
            return any(host.startswith("worker@") for reply in replies for host in reply)

        wait_until(answers, timeout=60, what="the worker to answer a ping")
    finally:
        stop(process)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_beat_logs_in_json_without_a_line_per_frequent_task(tmp_path):
    process = start("beat", tmp_path, LOG_FORMAT="json", LOG_LEVEL="INFO")
    try:
        time.sleep(7)  # beat sends the scheduled-message check three times meanwhile
        assert process.poll() is None, (tmp_path / "beat.log").read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        stop(process)
        purge_queues()
    log = (tmp_path / "beat.log").read_text()
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert records, log
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["logger"] == "celery.beat" for r in records)
    assert "send_due_scheduled" not in log


def test_no_command_line_interpolates_compose_variables():
    # The test above runs them as written: a ${VAR} there would mean something else in Compose.
    for name in [*APP_SERVICES, "migrate"]:
        assert "$" not in shlex.join(SERVICES[name]["command"])
