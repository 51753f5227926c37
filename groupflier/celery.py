import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "groupflier.settings")

app = Celery("groupflier")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The settings Celery reads on every publish (every /message/send makes one). Each read walks
# the configuration's layers, trying the key's spellings in each, down to Django's settings
# object: a fifth of the publish's CPU (bench/client_calls). Copied into the top layer once the
# configuration is loaded, where the first look finds them. Django's settings do not change
# while a process runs; a test that sets one of these sets it on app.conf, as before.
READ_ON_EVERY_PUBLISH = (
    "task_always_eager",
    "task_default_queue",
    "task_send_sent_event",
    "task_repr_maxlevels",
    "broker_pool_acquire_timeout",
)


@app.on_after_configure.connect
def _keep_publish_settings_at_hand(sender, source, **kwargs):
    for key in READ_ON_EVERY_PUBLISH:
        source[key] = source[key]


@signals.setup_logging.connect
def use_django_logging(**kwargs):
    """Worker and beat log through settings.LOGGING (format, filters) instead of Celery's own."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@signals.task_failure.connect
def log_task_failure(**kwargs):
    from groupflier.logs import log_task_failure

    log_task_failure(**kwargs)


def _refuse_if_misconfigured(process: str) -> None:
    import django

    django.setup()
    from groupflier.startup import refuse_if_misconfigured

    refuse_if_misconfigured(process)


# A worker or beat with a backend that cannot work stops at once, with one line.
@signals.worker_init.connect
def _check_worker(**kwargs):
    _refuse_if_misconfigured("Celery worker")


@signals.beat_init.connect
def _check_beat(**kwargs):
    _refuse_if_misconfigured("Celery beat")


@signals.task_prerun.connect
def _fresh_enough_database_connection(task=None, **kwargs):
    """What Django does around a request, around each task in a worker: a connection that
    failed (the server ended it) or outlived CONN_MAX_AGE is replaced, the others kept
    (Celery's own closing of every connection around every task is held off by
    CELERY_DB_REUSE_MAX). Not for a task run in the caller's process (eagerly): the
    connection is the caller's."""
    from django.db import close_old_connections

    if task is not None and not task.request.is_eager:
        close_old_connections()
