import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "groupflier.settings")

app = Celery("groupflier")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


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
