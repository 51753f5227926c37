from celery import shared_task

from accounts import billing


@shared_task
def resume_pending_charges() -> int:
    """The periodic sweep of charges a dead process left unsettled (see Charge)."""
    return billing.resume_pending_charges()
