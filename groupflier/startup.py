"""Processes refuse to start on a configuration that cannot work (issue: a mistyped gateway
used to start cleanly and leave every PIN stuck, the traceback only in the worker's log).

``manage.py check`` and ``migrate`` run the system checks themselves; the web process
(``groupflier.wsgi``) and the Celery worker and beat (``groupflier.celery``) call
``refuse_if_misconfigured``, which runs the checks tagged ``backends`` (every SMS gateway,
push and payment backend built from its settings: ``groupflier.backends``) and stops the
process with one line per problem rather than a traceback.
"""

import sys

from django.core import checks


def misconfigurations() -> list[str]:
    """One line per backend that cannot be built from the settings."""
    messages = checks.run_checks(tags=["backends"], include_deployment_checks=False)
    return [f"{message.id}: {message.msg}" for message in messages if message.is_serious()]


def refuse_if_misconfigured(process: str, *, exit_code: int = 1) -> None:
    problems = misconfigurations()
    if not problems:
        return
    # sys.__stderr__: Celery may have redirected sys.stderr into its logging by now.
    for problem in problems:
        sys.__stderr__.write(f"The {process} cannot start: {problem}\n")
    sys.__stderr__.flush()
    raise SystemExit(exit_code)
