from celery import shared_task

from groups import actions


@shared_task
def expire_pending_groups() -> int:
    """Beat's sweep of staged groups past their 24 hours (GROUPFLIER_PENDING_GROUP_TTL).

    Each group is retired under its row lock and only while still pending, so two beats, a
    rerun or an activation at the same moment change nothing twice.
    """
    return actions.expire_pending_groups()
