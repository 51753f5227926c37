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
