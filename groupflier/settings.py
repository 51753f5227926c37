"""Settings, read from the environment (the README has the table).

With no variable set the service runs embedded: SQLite in WAL mode, Celery's
filesystem broker and a file cache under ``var/``, and the console SMS gateway.
Production sets ``DATABASE_URL`` (PostgreSQL) and ``REDIS_URL`` (broker, cache,
throttles) instead.
"""

import json
import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from messaging.gateways import provider_packages

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("GROUPFLIER_VAR_DIR", BASE_DIR / "var"))


def env(name, default=None):
    value = os.environ.get(name, "").strip()
    return value if value else default


def env_bool(name, default=False):
    value = env(name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}")


def env_int(name, default):
    value = env(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def env_float(name, default):
    value = env(name)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None


def env_list(name, default):
    value = env(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_json(name, default):
    value = env(name)
    if value is None:
        return default
    try:
        return json.loads(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be JSON, not {value!r}") from None


def _embedded_secret_key():
    # A key generated once and kept, so sessions survive a restart of the embedded service.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env("SECRET_KEY") or _embedded_secret_key()
# Old keys, newest first, still accepted for the admin's sessions and signed values while a new
# SECRET_KEY takes over (README: Rotating SECRET_KEY).
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "phonenumber_field",
    "texts",
    "members",
    "groups",
    "accounts",
    "messaging",
    "devices",
    "axes",
    "groupflier",  # the operations commands: backup, restore
    # Each SMS provider's package is an app too (its management commands): found, not listed.
    *[f"messaging.gateways.{provider}" for provider in provider_packages()],
    "webapp",
]

MIDDLEWARE = [
    "groupflier.health.HealthCheckMiddleware",
    # An API endpoint's path leaves here for API_MIDDLEWARE below (groupflier.api.router).
    "groupflier.api.router.ApiRouterMiddleware",
    "groupflier.metrics.ApiMetricsMiddleware",
    "groupflier.api.middleware.RequestBodyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it answers a locked-out admin login.
    "axes.middleware.AxesMiddleware",
]
# What an API endpoint's call goes through: the rest of MIDDLEWARE serves the admin, the web
# app and static files (sessions, CSRF, logins), which a call made with a sid never uses.
API_MIDDLEWARE = [
    "groupflier.metrics.ApiMetricsMiddleware",
    "groupflier.api.middleware.RequestBodyMiddleware",
    "django.middleware.security.SecurityMiddleware",
]

# --- The admin's login (issue 12) -------------------------------------------------------------
# django-axes counts failed admin logins per client address and per user name (either one
# locks), in the database, so the limit holds across web processes.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("GROUPFLIER_ADMIN_LOGIN_FAILURES", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("GROUPFLIER_ADMIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
# Its start-up banner would be a line at every manage.py command.
AXES_VERBOSE = False
# The address the API's throttles count too (GROUPFLIER_TRUSTED_PROXIES).
AXES_CLIENT_IP_CALLABLE = "groupflier.admin_login.client_ip"

# Behind TLS: cookies marked Secure, and the proxy's header that says the request was HTTPS
# (e.g. X-Forwarded-Proto; set it only when the proxy always sets or strips that header).
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("GROUPFLIER_SECURE_COOKIES", False)
_proxy_ssl_header = env("GROUPFLIER_PROXY_SSL_HEADER")
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https") if _proxy_ssl_header else None
)

# Request bodies (SPEC §1): a larger one answers 413 REQUEST_TOO_LARGE before it is read.
GROUPFLIER_MAX_BODY_BYTES = env_int("GROUPFLIER_MAX_BODY_BYTES", 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = GROUPFLIER_MAX_BODY_BYTES

ROOT_URLCONF = "groupflier.urls"
WSGI_APPLICATION = "groupflier.wsgi.application"
# Every API path answers with and without its trailing slash; a redirect would lose a POST body.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # groupflier/templates: the admin's base page with the operator alerts.
        "DIRS": [BASE_DIR / "groupflier" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "groupflier.alerts.context",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
DATABASE_URL = env("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Parameters sent apart from the statement, and a statement a connection has run five
        # times prepared (psycopg's default, which Django turns off unless asked): PostgreSQL
        # then plans the polled read path's queries once per connection instead of on every
        # call; planning took longer than running them (bench/api).
        options = DATABASES["default"].setdefault("OPTIONS", {})
        options["server_side_binding"] = True
        options.setdefault("prepare_threshold", 5)
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            "OPTIONS": {
                # WAL lets the web process read while the worker writes; IMMEDIATE takes the
                # write lock at BEGIN so concurrent writers queue instead of failing mid-way.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker, cache, throttles ------------------------------------------------------
REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", "groupflier"),
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT = "groupflier.broker:Transport"  # kombu's, one client per channel
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
else:
    # Shared by every local process (web, worker, beat) through the file system.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": VAR_DIR / "cache",
        }
    }
    # A worker looks for a task this often when it has none (kombu's default: 1 s). Each
    # message is two tasks in a row (fan-out, then sending), so the wait counts twice.
    GROUPFLIER_EMBEDDED_POLL_INTERVAL = env_float("GROUPFLIER_EMBEDDED_POLL_INTERVAL", 0.1)
    if GROUPFLIER_EMBEDDED_POLL_INTERVAL <= 0:  # 0 would spin a core per worker
        raise ImproperlyConfigured("GROUPFLIER_EMBEDDED_POLL_INTERVAL must be above 0 seconds")
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        # The exchange tables; kombu's default is ./control, wherever the process started.
        "control_folder": str(_broker_dir / "control"),
        "polling_interval": GROUPFLIER_EMBEDDED_POLL_INTERVAL,
    }

# --- Celery ---------------------------------------------------------------------------------
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery closes the database connection around every task unless told to reuse it: a new
# connection per batch of 100 parts cost more than the batch's own queries. A broken one is
# replaced all the same (Django's checks, and the pipeline's reconnecting writes).
CELERY_DB_REUSE_MAX = 1000
# Workers and beat log through LOGGING below (its redacting formatter), not Celery's own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {}
# Every queue the service routes to, declared: a worker started without --queues consumes them
# all, so a plain `celery -A groupflier worker -B` runs everything. Dedicated workers
# (scripts/run) pick theirs with --queues.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = [Queue("celery"), Queue("scheduler")]
CELERY_TASK_CREATE_MISSING_QUEUES = False  # a route to an undeclared queue fails loudly

# --- Web ------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"  # collectstatic fills it; whitenoise serves it
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Hashed names (app.3f2a9c.js), so whitenoise serves them with a year's cache lifetime.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "webapp.storage.StaticStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # The API authenticates by its own `sid` parameter (groupflier.api.endpoint).
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "groupflier.api.handlers.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "groupflier.api.schema.EndpointSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "GroupFlier API",
    "DESCRIPTION": (
        "A self-hosted re-implementation of the GroupFlier group-texting API. Every endpoint "
        "answers GET and POST, reads its parameters from the query string, a form body or a JSON "
        "object body, and answers a JSON object whose `status` is `OK` or `ERROR`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["groupflier.api.schema.only_api_endpoints"],
}

# One line per event, each through groupflier.logs.redact: no secret, PIN, sid or card number
# in a log (a GET's query string, the webhook secret in a path). LOG_FORMAT=json writes each as
# a JSON object, the routine lines of frequent periodic tasks are dropped, and Celery uses this
# same setup. django.server is runserver's request log, which would otherwise print full query
# strings through its own handler.
LOG_FORMAT = env("LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT is plain or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"quiet_periodic_tasks": {"()": "groupflier.logs.QuietPeriodicTasks"}},
    "formatters": {
        "plain": {
            "()": "groupflier.logs.RedactingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
        },
        "json": {"()": "groupflier.logs.json_formatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["quiet_periodic_tasks"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

# --- GroupFlier -----------------------------------------------------------------------------
PHONENUMBER_DEFAULT_REGION = env("GROUPFLIER_PHONE_REGION", "US")
PHONENUMBER_DEFAULT_FORMAT = "E164"

# The service's own numbers that members text. Fictional 555-01xx numbers by default.
GROUPFLIER_POOL_NUMBERS = env_list("GROUPFLIER_POOL_NUMBERS", [f"+1202555010{i}" for i in range(5)])

# A short name (console, grouptexting, twilio, android: messaging/gateways/<name>) or a dotted path.
GROUPFLIER_SMS_GATEWAY = env("GROUPFLIER_SMS_GATEWAY", "console")
GROUPFLIER_SMS_GATEWAY_OPTIONS = env_json("GROUPFLIER_SMS_GATEWAY_OPTIONS", {})
# The service's address as a provider calls it back (Twilio's status callbacks and the
# signatures of its webhooks are for this address + path), e.g. https://sms.example.org.
GROUPFLIER_PUBLIC_URL = env("GROUPFLIER_PUBLIC_URL", "")

# Each gateway's own settings (GROUPTEXTING_USER, TWILIO_AUTH_TOKEN...) are read from the
# environment by its package (messaging/gateways/<provider>/backend.py; the README lists them).
# Any gateway with a credit balance: checked periodically, resumes a paused gateway when it
# can send again, warns below the threshold.
GROUPFLIER_GATEWAY_CREDIT_CHECK_SECONDS = env_int("GROUPFLIER_GATEWAY_CREDIT_CHECK_SECONDS", 300)
GROUPFLIER_GATEWAY_LOW_CREDITS = env_int("GROUPFLIER_GATEWAY_LOW_CREDITS", 100)
CELERY_IMPORTS = ["messaging.gateway_tasks", "groupflier.pipeline.tasks"]
CELERY_BEAT_SCHEDULE["messaging-check-gateway-credits"] = {
    "task": "messaging.gateway_tasks.check_gateway_credits",
    "schedule": float(GROUPFLIER_GATEWAY_CREDIT_CHECK_SECONDS),
}

# Push notifications (SPEC §7): a backend per service by dotted path, its options as JSON
# (devices/push/apns.py and fcm.py list them). The log backend only records pushes in the
# admin's push outbox; set devices.push.apns.ApnsBackend / devices.push.fcm.FcmBackend to send.
GROUPFLIER_PUSH_APNS_BACKEND = env("GROUPFLIER_PUSH_APNS_BACKEND", "devices.push.log.LogBackend")
GROUPFLIER_PUSH_APNS_OPTIONS = env_json("GROUPFLIER_PUSH_APNS_OPTIONS", {})
GROUPFLIER_PUSH_FCM_BACKEND = env("GROUPFLIER_PUSH_FCM_BACKEND", "devices.push.log.LogBackend")
GROUPFLIER_PUSH_FCM_OPTIONS = env_json("GROUPFLIER_PUSH_FCM_OPTIONS", {})

GROUPFLIER_MAX_GROUP_MEMBERS = env_int("GROUPFLIER_MAX_GROUP_MEMBERS", 200)
GROUPFLIER_MAX_PENDING_GROUPS = 3
GROUPFLIER_PENDING_GROUP_TTL = timedelta(hours=24)
CELERY_BEAT_SCHEDULE["groups-expire-pending-groups"] = {
    "task": "groups.tasks.expire_pending_groups",
    "schedule": 600.0,  # a staged group outlives its 24 hours by at most 10 minutes
}

GROUPFLIER_PIN_TTL = timedelta(minutes=10)
GROUPFLIER_LOGIN_MAX_FAILURES = 5
GROUPFLIER_LOGIN_FAILURE_WINDOW = timedelta(minutes=15)
GROUPFLIER_LOGIN_LOCKOUT = timedelta(minutes=15)
GROUPFLIER_SESSION_IDLE_TIMEOUT = timedelta(days=90)
# Memory each web process gives to the /message/get answers it keeps while their group's
# history is unchanged (messaging.history): ~15-30 KB an answer of the latest 100 messages.
GROUPFLIER_HISTORY_CACHE_MB = env_int("GROUPFLIER_HISTORY_CACHE_MB", 32)

# Throttle budgets, "COUNT/PERIOD" with PERIOD one of second, minute, hour, day.
GROUPFLIER_THROTTLE_PER_ADDRESS = env("GROUPFLIER_THROTTLE_PER_ADDRESS", "60/minute")
GROUPFLIER_THROTTLE_PIN_PER_NUMBER = env("GROUPFLIER_THROTTLE_PIN_PER_NUMBER", "5/hour")
# Every system text (PINs, welcomes, replies) of the whole service: past it they wait.
GROUPFLIER_BUDGET_SYSTEM_TEXTS = env("GROUPFLIER_BUDGET_SYSTEM_TEXTS", "600/minute")
# SPEC §6, SMS pumping: staged group creations per client address, members added per account
# (each is texted a welcome), welcome and notice texts per destination number.
GROUPFLIER_THROTTLE_CREATE_PER_ADDRESS = env("GROUPFLIER_THROTTLE_CREATE_PER_ADDRESS", "10/hour")
GROUPFLIER_BUDGET_ADDS_PER_ACCOUNT = env("GROUPFLIER_BUDGET_ADDS_PER_ACCOUNT", "500/day")
GROUPFLIER_BUDGET_NOTICES_PER_NUMBER = env("GROUPFLIER_BUDGET_NOTICES_PER_NUMBER", "3/day")
# Reverse proxies in front of the web process that append to X-Forwarded-For (0: none, so the
# peer's address is the client's).
GROUPFLIER_TRUSTED_PROXIES = env_int("GROUPFLIER_TRUSTED_PROXIES", 0)

GROUPFLIER_TRIAL_BALANCE = env_int("GROUPFLIER_TRIAL_BALANCE", 500)
# Accounts and billing (SPEC §5). Amounts in pennies.
GROUPFLIER_SMS_PRICE = env_int("GROUPFLIER_SMS_PRICE", 2)  # per SMS part of a group message
GROUPFLIER_CURRENCY = env("GROUPFLIER_CURRENCY", "usd")
GROUPFLIER_PAYMENT_BACKEND = env(
    "GROUPFLIER_PAYMENT_BACKEND", "accounts.payments.sandbox.SandboxBackend"
)
GROUPFLIER_PAYMENT_BACKEND_OPTIONS = env_json("GROUPFLIER_PAYMENT_BACKEND_OPTIONS", {})
# Cards an account may submit to the processor: stops using /account/set to test stolen cards.
GROUPFLIER_THROTTLE_CARDS_PER_ACCOUNT = env("GROUPFLIER_THROTTLE_CARDS_PER_ACCOUNT", "10/hour")
# A charge without an idempotency_key repeating one of the same amount within this window is
# taken as its retry (accounts.billing.charge_account).
GROUPFLIER_CHARGE_RETRY_WINDOW = timedelta(
    minutes=env_int("GROUPFLIER_CHARGE_RETRY_WINDOW_MINUTES", 10)
)
GROUPFLIER_CHARGE_RESUME_AFTER = timedelta(minutes=2)
CELERY_BEAT_SCHEDULE["accounts-resume-pending-charges"] = {
    "task": "accounts.tasks.resume_pending_charges",
    "schedule": 300.0,  # a charge a dead process left unsettled is finished within minutes
}

# The delivery pipeline (SPEC §3). Seconds in the environment, for tests that need them short.
# Parts per send task. Each task and its batch's claim, write-back and checks cost what some
# thirty parts do: bench/fanout used about 470 us of machine CPU a part in batches of 100 and
# 395 in batches of 250, and a group large enough to matter still spreads over every worker.
GROUPFLIER_DELIVERY_BATCH = env_int("GROUPFLIER_DELIVERY_BATCH", 250)
GROUPFLIER_DELIVERY_MAX_ATTEMPTS = env_int("GROUPFLIER_DELIVERY_MAX_ATTEMPTS", 8)
# A part still "sending" this long after its claim was in a worker that died: unknown.
GROUPFLIER_DELIVERY_UNKNOWN_AFTER = timedelta(
    seconds=env_int("GROUPFLIER_DELIVERY_UNKNOWN_AFTER", 120)
)
# A part still "queued" this long after its last change has no task coming: queue it again.
# Longer than the longest retry backoff, so a part waiting for its retry is left alone.
GROUPFLIER_DELIVERY_REDRIVE_AFTER = timedelta(
    seconds=env_int("GROUPFLIER_DELIVERY_REDRIVE_AFTER", 120)
)
GROUPFLIER_DELIVERY_SWEEP_LIMIT = 20_000
GROUPFLIER_SWEEP_EVERY = env_int("GROUPFLIER_SWEEP_EVERY", 30)
# One sweep for everything that is sent: deliveries, system texts, pushes (groupflier.pipeline).
CELERY_BEAT_SCHEDULE["pipeline-sweep"] = {
    "task": "groupflier.pipeline.tasks.sweep_rows",
    "schedule": float(GROUPFLIER_SWEEP_EVERY),
}
# Scheduled messages go out within seconds of their time: the beat task runs this often, on
# its own queue, so a long fan-out does not hold it up (scripts/run starts a worker for it).
CELERY_BEAT_SCHEDULE["messaging-send-due-scheduled"] = {
    "task": "messaging.tasks.send_due_scheduled",
    "schedule": 2.0,
    "options": {"queue": "scheduler", "expires": 10},
}

# --- Operations (SPEC §10) --------------------------------------------------------------------
# /metrics answers only with "Authorization: Bearer <token>"; empty: /metrics is off (404).
GROUPFLIER_METRICS_TOKEN = env("GROUPFLIER_METRICS_TOKEN", "")
