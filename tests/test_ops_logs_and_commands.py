"""Logs an operator can read, and command-line tools that behave (issue 16)."""

import json
import logging
import subprocess
import sys

import pytest

from groupflier.logs import QuietPeriodicTasks, describe_task_args, json_formatter, log_task_failure
from tests.workers import ROOT, worker_environment


def record(name, msg, args, level=logging.INFO):
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_beat_and_worker_say_nothing_routine_about_frequent_tasks():
    quiet = QuietPeriodicTasks()
    frequent = "messaging.tasks.send_due_scheduled"
    rare = "groups.tasks.expire_pending_groups"
    sending = "Scheduler: Sending due task %s (%s)"
    assert not quiet.filter(record("celery.beat", sending, ("messaging-send-due", frequent)))
    assert quiet.filter(record("celery.beat", sending, ("groups-expire", rare)))
    for logger in ("celery.app.trace", "celery.worker.strategy"):
        routine = {"name": frequent, "id": "x"}
        assert not quiet.filter(record(logger, "Task %(name)s[%(id)s] received", (routine,)))
        assert quiet.filter(record(logger, "Task %(name)s[%(id)s] received", ({"name": rare},)))
    # A failure of a frequent task still shows.
    failed = record(
        "celery.app.trace", "Task %(name)s failed", ({"name": frequent},), logging.ERROR
    )
    assert quiet.filter(failed)


def test_json_log_lines_are_one_object_each():
    try:
        raise ValueError("boom")
    except ValueError:
        entry = logging.LogRecord(
            "groupflier.tasks", logging.ERROR, __file__, 1, "Task %s", ("x",), sys.exc_info()
        )
    line = json_formatter().format(entry)
    assert "\n" not in line
    body = json.loads(line)
    assert body["level"] == "ERROR" and body["logger"] == "groupflier.tasks"
    assert body["message"] == "Task x" and "ValueError: boom" in body["exc_info"]


@pytest.mark.django_db
def test_a_failed_task_is_logged_with_its_message_and_delivery_ids(family, caplog):
    from messaging.models import Delivery, Message

    message = Message.objects.create(group=family.group, seq=7, text="hi")
    ids = [
        Delivery.objects.create(message=message, part=i, to_number="+14155550199").pk
        for i in (1, 2)
    ]

    class Task:
        name = "messaging.tasks.send_deliveries"

    log_task_failure(sender=Task(), task_id="t-1", exception=RuntimeError("db gone"), args=[ids])
    line = caplog.records[-1].getMessage()
    assert f"deliveries {ids[0]},{ids[1]} of message(s) {message.pk}" in line
    assert "RuntimeError: db gone" in line and "t-1" in line
    assert describe_task_args("messaging.tasks.fan_out", [41]) == "message 41"


# --- manage.py --------------------------------------------------------------------------------


def manage(*args, **env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=worker_environment(**env),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.django_db
def test_grouptexting_without_credentials_says_so_in_one_line():
    done = manage("grouptexting", "credits/check", GROUPTEXTING_USER="", GROUPTEXTING_PASSWORD="")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "CommandError: The Group Texting gateway needs GROUPTEXTING_USER and GROUPTEXTING_PASSWORD"
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args, said",
    [
        (["outbox", "--to", "notanumber"], "--to 'notanumber' is not a phone number"),
        (["inbound", "--from", "abc", "hello"], "--from 'abc' is not a phone number"),
        (["inbound", "--from", "4155550102", "--to", "x", "hi"], "--to 'x' is not a phone number"),
    ],
)
def test_bad_numbers_on_the_command_line_are_errors(args, said):
    done = manage(*args)
    assert done.returncode == 1
    assert said in done.stderr and "Traceback" not in done.stderr
