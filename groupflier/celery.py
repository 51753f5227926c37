import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "groupflier.settings")

app = Celery("groupflier")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


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
