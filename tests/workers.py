"""Real Celery worker and beat processes for end-to-end tests.

They are started as the production command lines start them, against the test database and
the tests' Redis, so a test exercises API -> broker -> worker -> gateway for real.
"""

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

from groupflier.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent
QUEUES = tuple(queue.name for queue in settings.CELERY_TASK_QUEUES)
ALL_QUEUES = ",".join(QUEUES)


def worker_environment(**extra) -> dict:
    database = settings.DATABASES["default"]
    url = (
        f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:"
        f"{database['PORT'] or 5432}/{connection.settings_dict['NAME']}"
    )
    env = {
        **os.environ,
        "DATABASE_URL": url,
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
    """A `celery worker`; tasks the test queues on commit go to it through Redis.

    ``queues=None`` starts it without --queues, as most deployments do; ``beat_schedule``
    (a file) embeds beat in it (``-B``)."""
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
        ready=lambda: _responds(name),
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


def _responds(name) -> bool:
    replies = celery_app.control.ping(timeout=0.5)
    return any(host.startswith(f"{name}@") for reply in replies for host in reply)


def wait_until(condition, *, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout}s waiting for {what}")
