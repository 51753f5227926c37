"""Real Celery worker and beat processes for end-to-end tests.

They are started as the production command lines start them, against the test database and
the tests' Redis, so a test exercises API -> broker -> worker -> gateway for real.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from urllib.parse import urlencode

import redis
from celery import Celery
from django.conf import settings
from django.db import connection

from groupflier.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent
QUEUES = tuple(queue.name for queue in settings.CELERY_TASK_QUEUES)
ALL_QUEUES = ",".join(QUEUES)


def database_url(application_name: str = "") -> str:
    """The test database's URL; an ``application_name`` lets a test find these processes'
    connections in ``pg_stat_activity``."""
    database = settings.DATABASES["default"]
    url = (
        f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:"
        f"{database['PORT'] or 5432}/{connection.settings_dict['NAME']}"
    )
    return f"{url}?application_name={application_name}" if application_name else url


def worker_environment(**extra) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "PYTHONUNBUFFERED": "1",
    }
    env.update({key: str(value) for key, value in extra.items()})
    return env


@contextmanager
def celery_process(*args, log_path=None, ready=None, **env):
    """``celery -A groupflier ARGS`` in its own process group, stopped at the end."""
    celery_app.conf.task_always_eager = False
    log = open(log_path or os.devnull, "a")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "groupflier", *args],
        cwd=ROOT,
        env=worker_environment(**env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        if ready:
            wait_until(ready, timeout=30, what=f"celery {args[0]} to start")
        yield process
    finally:
        stop(process)
        log.close()
        celery_app.conf.task_always_eager = True


def stop(process, sig=signal.SIGTERM) -> None:
    """Stop a celery process and its pool children; SIGKILL stops them at once, mid-task."""
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def running_worker(
    concurrency=2, queues=ALL_QUEUES, name="w1", log_path=None, beat_schedule=None, **env
):
    """A `celery worker`; tasks the test queues on commit go to it through Redis (the tests'
    own, or the one ``REDIS_URL`` in ``env`` names).

    ``queues=None`` starts it without --queues, as most deployments do; ``beat_schedule``
    (a file) embeds beat in it (``-B``)."""
    broker = env.get("REDIS_URL")
    options = [] if queues is None else [f"--queues={queues}"]
    if beat_schedule is not None:
        options += ["--beat", f"--schedule={beat_schedule}"]
    return celery_process(
        "worker",
        f"--concurrency={concurrency}",
        *options,
        "--loglevel=INFO",
        f"--hostname={name}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        log_path=log_path,
        ready=lambda: _responds(name, broker),
        **env,
    )


def running_beat(schedule_file, log_path=None, **env):
    return celery_process(
        "beat", "--loglevel=INFO", f"--schedule={schedule_file}", log_path=log_path, **env
    )


def purge_queues() -> None:
    """Drop tasks an earlier test left in the broker."""
    with celery_app.connection_for_write() as broker:
        for queue in QUEUES:
            try:
                broker.default_channel.queue_purge(queue)
            except Exception:  # noqa: BLE001 - a queue never declared has nothing to purge
                pass


def _responds(name, broker_url=None) -> bool:
    app = celery_app if broker_url is None else _probe(broker_url)
    replies = app.control.ping(timeout=0.5)
    return any(host.startswith(f"{name}@") for reply in replies for host in reply)


@cache
def _probe(broker_url: str) -> Celery:
    # An app of its own: a broadcast publishes through the app's producer pool, which a
    # connection passed to ping() does not change.
    return Celery("probe", broker=broker_url, set_as_current=False)


def pool_children(process) -> list[int]:
    """The process ids of a celery worker's pool processes (Linux)."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text()
    return [int(pid) for pid in children.split()]


def free_port() -> int:
    """A loopback port nobody listens on now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- Processes a fault test starts and stops --------------------------------------------------


class RedisServer:
    """A private ``redis-server`` on a free loopback port that keeps nothing on disk, so a test
    can stop it, or kill it and start it again empty, without touching the shared Redis."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = free_port()
        self.process = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--daemonize", "no"]
            + ["--dir", str(self.directory), "--logfile", str(self.directory / "redis.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.responds, timeout=15, what="redis-server to start")
        return self

    def responds(self) -> bool:
        client = redis.Redis.from_url(self.url, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def kill(self, sig=signal.SIGKILL) -> None:
        """Stop it at once (its data is gone: it never saves)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=15)

    def restart_empty(self, down_for: float = 0.0) -> None:
        self.kill()
        time.sleep(down_for)
        self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.kill()


@contextmanager
def running_web(log_path=None, **env):
    """The web process as production runs it (gunicorn) on a free loopback port; yields its
    base URL."""
    port = free_port()
    log = open(log_path or os.devnull, "a")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "groupflier.wsgi", "--bind", f"127.0.0.1:{port}"]
        + ["--workers", "1", "--access-logfile", "-"],
        cwd=ROOT,
        env=worker_environment(**env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _serves(url), timeout=30, what="the web process to start")
        yield url
    finally:
        stop(process)
        log.close()


def call(base_url: str, path: str, timeout: float = 30, **params) -> dict:
    """POST a form to the web process the way a client does; the JSON answer."""
    request = urllib.request.Request(
        f"{base_url}/{path.lstrip('/')}", data=urlencode(params).encode(), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise AssertionError(f"/{path} answered HTTP {error.code}: {error.read()[:200]}") from None


def _serves(url: str) -> bool:
    try:
        urllib.request.urlopen(f"{url}/healthz", timeout=2).close()
    except urllib.error.HTTPError:
        return True  # an answer all the same: it serves
    except OSError:
        return False
    return True


def wait_until(condition, *, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout}s waiting for {what}")
