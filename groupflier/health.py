"""Health endpoints for load balancers and orchestrators (SPEC §10).

``/healthz`` answers 200 while the web process answers at all: a liveness probe, touching
nothing else, so a database outage does not get every web container restarted.
``/readyz`` checks what the service needs to do its work, each check named with its time:
the database, the broker, the cache, the migrations and the gateway (not paused). It answers
503 when any fails, so a proxy stops sending traffic and an operator sees which.

Cheap enough to call every few seconds: one ``SELECT 1``, one Redis ``PING`` per Redis
connection, one indexed lookup of the gateway's state, and the migration plan only until it
first comes out empty (migrations are never unapplied under a running process).
"""

import os
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from groupflier import redis_client

_migrations_applied = False


def check_database() -> str | None:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
    return None


def check_broker() -> str | None:
    if settings.CELERY_BROKER_URL.startswith("redis"):
        redis_client.for_url(settings.CELERY_BROKER_URL).ping()
        return None
    # The embedded mode's filesystem broker: its folder must be there and writable.
    folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in", "")
    if not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
        return f"the broker folder {folder} is missing or read-only"
    return None


def check_cache() -> str | None:
    # A read is enough to prove the connection; a write on every probe would churn Redis.
    cache.get("groupflier:readyz")
    return None


def check_migrations() -> str | None:
    global _migrations_applied
    if _migrations_applied:
        return None
    connection = connections[DEFAULT_DB_ALIAS]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        return f"{len(plan)} migration(s) not applied (run manage.py migrate)"
    _migrations_applied = True
    return None


def check_gateway() -> str | None:
    from messaging.gateways.base import get_gateway
    from messaging.models import GatewayState

    name = get_gateway().name
    state = GatewayState.objects.filter(gateway=name, paused=True).only("reason").first()
    if state is not None:
        return f"the SMS gateway {name} is paused: {state.reason or 'no reason given'}"
    return None


CHECKS: dict[str, Callable[[], str | None]] = {
    "database": check_database,
    "broker": check_broker,
    "cache": check_cache,
    "migrations": check_migrations,
    "gateway": check_gateway,
}


def run_checks() -> dict[str, dict]:
    """Each check's result: ``ok``, its time in ``ms``, and what is wrong as ``error``."""
    results = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            problem = check()
        except Exception as exc:  # an unreachable service raises its own kind of error
            problem = f"{type(exc).__name__}: {exc}"[:300]
        result = {"ok": problem is None, "ms": round((time.perf_counter() - started) * 1000, 1)}
        if problem is not None:
            result["error"] = problem
        results[name] = result
    return results


@never_cache
@require_safe
def healthz(request):
    return JsonResponse({"status": "OK"})


@never_cache
@require_safe
def readyz(request):
    checks = run_checks()
    ok = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "OK" if ok else "ERROR", "checks": checks}, status=200 if ok else 503
    )


class HealthCheckMiddleware:
    """Answers /healthz and /readyz before any other middleware: a container's healthcheck or
    a load balancer asks by IP address, which ALLOWED_HOSTS rightly refuses everywhere else."""

    VIEWS = {"/healthz": healthz, "/readyz": readyz}

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        view = self.VIEWS.get(request.path_info)
        return view(request) if view else self.get_response(request)
