"""Prometheus metrics at ``/metrics`` (SPEC §10): what the whole service does, not only the
web process that happens to be scraped.

Two sources, chosen so that any one web process answers for every process on every host:

- **Gauges are read at scrape time** from PostgreSQL and Redis by a custom collector: parts
  queued and sending, finished parts of the last hour by status, parts waiting per pool number,
  the oldest queued part's age, fan-outs in flight, system texts by status, each gateway's
  paused state and credits, and the Celery queues' lengths. The workers need no code for
  these: the rows they write are the truth, and nothing drifts when a worker dies.
- **Counters** (API requests by endpoint and error token with a latency histogram, throttle
  refusals by budget) are kept in Redis hashes, so they add up across web processes and
  containers. prometheus_client's multiprocess mode would share them only between processes
  of one host (it writes files in one directory) and needs that directory cleared at every
  start. On the request path a count is a dictionary update in memory: a daemon thread per
  process adds the buffered counts to Redis in one pipeline about once a second, so a
  request never waits on Redis for its metrics. A process killed outright loses at most its
  last second of counts. Without Redis (the embedded mode) the counts are this process's own.
"""

import atexit
import functools
import json
import logging
import os
import threading
import time
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Min
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from groupflier import redis_client

logger = logging.getLogger("groupflier.metrics")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REDIS_PREFIX = "groupflier:metrics:"
FLUSH_EVERY = 1.0  # seconds
FINISHED_WINDOW = 3600  # seconds: final statuses are counted over the last hour


class CounterBuffer:
    """Counts kept in memory and added to Redis by a background thread (see the module doc).

    Keys are (hash name, field); a field is the JSON of the labels, plus ``le`` for a bucket.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], float] = defaultdict(float)
        self._local: dict[tuple[str, str], float] = defaultdict(float)  # embedded mode
        self._pid = None

    def add(self, name: str, field: str, amount: float = 1) -> None:
        with self._lock:
            self._pending[(name, field)] += amount
        self._ensure_flusher()

    def _ensure_flusher(self) -> None:
        # A forked process (gunicorn, Celery prefork) inherits neither the thread nor, usefully,
        # the parent's pending counts: start afresh once per process.
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            threading.Thread(target=self._run, name="metrics-flush", daemon=True).start()
            atexit.register(self._flush_quietly)  # a process that ends cleanly loses nothing

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_EVERY)
            self._flush_quietly()

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except Exception:  # Redis away: the counts are kept for the next try
            pass

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, defaultdict(float)
        if not pending:
            return
        client = redis_client.shared()
        if client is None:
            with self._lock:
                for key, amount in pending.items():
                    self._local[key] += amount
            return
        try:
            pipe = client.pipeline(transaction=False)
            for (name, field), amount in pending.items():
                if float(amount).is_integer():
                    pipe.hincrby(REDIS_PREFIX + name, field, int(amount))
                else:
                    pipe.hincrbyfloat(REDIS_PREFIX + name, field, amount)
            pipe.execute()
        except Exception:
            with self._lock:  # put them back for the next try
                for key, amount in pending.items():
                    self._pending[key] += amount
            raise

    def read(self, name: str) -> dict[str, float]:
        """Totals of one hash, everything buffered so far included."""
        self.flush()
        client = redis_client.shared()
        if client is None:
            with self._lock:
                return {f: v for (n, f), v in self._local.items() if n == name}
        return {
            field.decode(): float(value)
            for field, value in client.hgetall(REDIS_PREFIX + name).items()
        }


counters = CounterBuffer()


def _field(**labels) -> str:
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


def count_throttle_refusal(budget: str) -> None:
    counters.add("throttle_refusals", _field(budget=budget))


def observe_api_request(endpoint: str, error: str, seconds: float) -> None:
    field = _api_field(endpoint, error)
    counters.add("api_requests", field)
    counters.add("api_latency_sum", field, seconds)
    bucket = next((b for b in LATENCY_BUCKETS if seconds <= b), "+Inf")
    counters.add("api_latency_buckets", _api_field(endpoint, error, str(bucket)))


@functools.lru_cache(maxsize=4096)
def _api_field(endpoint: str, error: str, le: str | None = None) -> str:
    """The labels of an API request's series, made once per series rather than per request."""
    if le is None:
        return _field(endpoint=endpoint, error=error)
    return _field(endpoint=endpoint, error=error, le=le)


class ApiMetricsMiddleware:
    """Counts every API answer by endpoint and error token (``OK`` when none), with its time.

    Only API answers are counted (a DRF response whose body carries ``status``), so admin pages
    and unknown paths cannot multiply the series.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        data = getattr(response, "data", None)
        match = getattr(request, "resolver_match", None)
        if isinstance(data, dict) and "status" in data and match is not None and match.route:
            endpoint = "/" + match.route.strip("/")
            error = data.get("error_type") or "OK"
            observe_api_request(endpoint, error, time.perf_counter() - started)
        return response


# --- The collector -------------------------------------------------------------------------


def _labels(field: str) -> dict:
    return json.loads(field)


class ServiceCollector:
    """Everything ``/metrics`` shows, read when it is scraped."""

    def collect(self):
        # A source that cannot be read (Redis or the database away) is reported as down, and the
        # others are still shown: the scrape is how an operator finds out.
        up = GaugeMetricFamily(
            "groupflier_metrics_source_up",
            "1 when the source of a group of metrics could be read at this scrape",
            labels=["source"],
        )
        sources = {
            "deliveries": self.delivery_metrics,
            "system_texts": self.system_text_metrics,
            "gateway": self.gateway_metrics,
            "celery_queues": self.queue_metrics,
            "counters": self.counter_metrics,
        }
        for name, source in sources.items():
            try:
                families = list(source())
            except Exception:
                logger.exception("Metrics: %s could not be read", name)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up

    def delivery_metrics(self):
        from messaging.gateways.base import get_gateway
        from messaging.models import Delivery, Message

        gateway = get_gateway().name
        Status = Delivery.Status
        by_status = GaugeMetricFamily(
            "groupflier_deliveries",
            "Delivery parts by status: queued and sending all, final ones updated in the last hour",
            labels=["status", "gateway"],
        )
        for status, n in _status_counts(Delivery, (Status.QUEUED, Status.SENDING)):
            by_status.add_metric([status, gateway], n)
        yield by_status

        waiting = GaugeMetricFamily(
            "groupflier_parts_waiting",
            "Delivery parts queued, per pool number they go out from",
            labels=["pool_number"],
        )
        rows = (
            Delivery.objects.filter(status=Status.QUEUED)
            .values_list("from_number")
            .annotate(n=Count("id"))
            .order_by()
        )
        for number, n in rows:
            waiting.add_metric([number or "none"], n)
        yield waiting

        oldest = Delivery.objects.filter(status=Status.QUEUED).aggregate(t=Min("created_at"))["t"]
        yield GaugeMetricFamily(
            "groupflier_oldest_queued_part_age_seconds",
            "Age of the oldest queued delivery part (0 when none waits)",
            value=(timezone.now() - oldest).total_seconds() if oldest else 0,
        )

        busy = Delivery.objects.filter(status__in=(Status.QUEUED, Status.SENDING))
        planning = Message.objects.filter(
            fanned_out_at=None, created_at__gte=timezone.now() - _window()
        )
        in_flight = (
            busy.values("message_id").order_by().union(planning.values("id").order_by()).count()
        )
        yield GaugeMetricFamily(
            "groupflier_fanouts_in_flight",
            "Messages still being planned or with parts queued or sending",
            value=in_flight,
        )

    def system_text_metrics(self):
        from texts.models import OutboundSms

        Status = OutboundSms.Status
        family = GaugeMetricFamily(
            "groupflier_system_texts",
            "System texts (PINs, welcomes, notices, replies) by status: queued and sending "
            "all, final ones updated in the last hour",
            labels=["status"],
        )
        for status, n in _status_counts(OutboundSms, (Status.QUEUED, Status.SENDING)):
            family.add_metric([status], n)
        yield family

    def gateway_metrics(self):
        from messaging.gateways.base import get_gateway
        from messaging.models import GatewayState

        states = {state.gateway: state for state in GatewayState.objects.all()}
        states.setdefault(get_gateway().name, GatewayState(gateway=get_gateway().name))
        paused = GaugeMetricFamily(
            "groupflier_gateway_paused", "1 while the SMS gateway is paused", labels=["gateway"]
        )
        credits = GaugeMetricFamily(
            "groupflier_gateway_credits",
            "The gateway's credit balance at its last check",
            labels=["gateway"],
        )
        for name, state in sorted(states.items()):
            paused.add_metric([name], 1 if state.paused else 0)
            if state.credits is not None:
                credits.add_metric([name], state.credits)
        yield paused
        yield credits

    def queue_metrics(self):
        family = GaugeMetricFamily(
            "groupflier_celery_queue_length",
            "Tasks waiting in each Celery queue of the Redis broker",
            labels=["queue"],
        )
        client = redis_client.shared()
        if client is not None and settings.CELERY_BROKER_URL.startswith("redis"):
            names = celery_queue_names()
            pipe = client.pipeline(transaction=False)
            for name in names:
                pipe.llen(name)
            for name, length in zip(names, pipe.execute(), strict=True):
                family.add_metric([name], length)
        yield family

    def counter_metrics(self):
        refusals = CounterMetricFamily(
            "groupflier_throttle_refusals",
            "Calls or texts refused because a budget was spent",
            labels=["budget"],
        )
        for field, value in counters.read("throttle_refusals").items():
            refusals.add_metric([_labels(field)["budget"]], value)
        yield refusals

        requests = CounterMetricFamily(
            "groupflier_api_requests",
            "API answers by endpoint and error token (OK when none)",
            labels=["endpoint", "error"],
        )
        for field, value in sorted(counters.read("api_requests").items()):
            labels = _labels(field)
            requests.add_metric([labels["endpoint"], labels["error"]], value)
        yield requests
        yield self.latency_histogram()

    def latency_histogram(self):
        family = HistogramMetricFamily(
            "groupflier_api_request_duration_seconds",
            "Time to answer API requests, by endpoint and error token",
            labels=["endpoint", "error"],
        )
        sums = counters.read("api_latency_sum")
        per_series: dict[tuple, dict[str, float]] = defaultdict(dict)
        for field, value in counters.read("api_latency_buckets").items():
            labels = _labels(field)
            per_series[(labels["endpoint"], labels["error"])][labels["le"]] = value
        for (endpoint, error), buckets in sorted(per_series.items()):
            cumulative, running = [], 0.0
            for bound in [*map(str, LATENCY_BUCKETS), "+Inf"]:
                running += buckets.get(bound, 0)
                cumulative.append((bound, running))
            total = sums.get(_field(endpoint=endpoint, error=error), 0.0)
            family.add_metric([endpoint, error], cumulative, total)
        return family


def _window():
    return timedelta(seconds=FINISHED_WINDOW)


def _status_counts(model, open_statuses) -> list[tuple[str, int]]:
    """Rows in each status: every open one, and those that reached a final status lately.

    Counting every final row would scan a table that only grows; the (status, updated_at)
    index answers both of these.
    """
    open_rows = model.objects.filter(status__in=open_statuses)
    recent = model.objects.exclude(status__in=open_statuses).filter(
        updated_at__gte=timezone.now() - _window()
    )
    counts = dict.fromkeys((status for status, _ in model.Status.choices), 0)
    for rows in (open_rows, recent):
        for status, n in rows.values_list("status").annotate(n=Count("id")).order_by():
            counts[status] = n
    return list(counts.items())


def celery_queue_names() -> list[str]:
    """The default queue and every queue a route or the beat schedule names."""
    from groupflier.celery import app

    names = {app.conf.task_default_queue}
    for entry in app.conf.beat_schedule.values():
        queue = entry.get("options", {}).get("queue")
        if queue:
            names.add(queue)
    routes = app.conf.task_routes or {}
    if isinstance(routes, dict):
        names.update(route["queue"] for route in routes.values() if "queue" in route)
    return sorted(names)


registry = CollectorRegistry(auto_describe=False)
registry.register(ServiceCollector())


def authorized(request) -> bool:
    import hmac

    token = settings.GROUPFLIER_METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@never_cache
def metrics_view(request):
    """The metrics, or the API's 404 while ``GROUPFLIER_METRICS_TOKEN`` is empty; 401 without
    the token (constant-time comparison)."""
    from groupflier.api.handlers import not_found

    if not settings.GROUPFLIER_METRICS_TOKEN:
        return not_found(request)
    if not authorized(request):
        response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
