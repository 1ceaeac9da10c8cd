"""One settings module, driven by the environment.

With no variables set the project runs embedded: SQLite in WAL mode, the in-memory channel layer
and kombu's filesystem transport as the Celery broker. DEBUG is off unless DEBUG=true says
otherwise (`make run` and the test suite set it for the developer run), so a deployment that
forgets it gets the strict defaults, never the debug pages. Production sets DATABASE_URL
(PostgreSQL through psycopg 3) and REDIS_URL (channel layer, Celery broker and cache). Every
variable is listed in .env.example; a malformed value raises at start-up rather than being
guessed at.
"""

from __future__ import annotations

import contextlib
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
# Runtime state of the embedded mode (SQLite file, broker folders, uploads) lives in one ignored dir.
VAR_DIR = Path(environ.Env().str("SWITCHBOARD_VAR_DIR", default=str(BASE_DIR / ".var")))

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_bool(name: str, default: bool) -> bool:
    """A boolean variable; anything but a clear yes/no is an error, not a silent False."""
    raw = env.str(name, default="").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true/false).")


def env_int(name: str, default: int, *, minimum: int) -> int:
    """A whole number of at least `minimum`; a typo or a negative value is an error, not a default."""
    raw = env.str(name, default="").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}.")
    return value


DEBUG = env_bool("DEBUG", default=False)
_DEV_SECRET = "dev-only-insecure-secret-key-do-not-use-in-production-0123456789"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY must be set when DEBUG is off (DEBUG defaults to off). "
        "For a developer run on this machine set DEBUG=true, as `make run` does."
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

DATABASE_URL = env.str("DATABASE_URL", default="")
REDIS_URL = env.str("REDIS_URL", default="")
CHANNEL_LAYER_MAX_CONNECTIONS = env.int("CHANNEL_LAYER_MAX_CONNECTIONS", default=2000)
CHANNEL_LAYER_SOCKET_TIMEOUT = 30  # seconds; channels_redis blocks 5 s per read (see CHANNEL_LAYERS)
# seconds a websocket stays a group member without renewing (apps.interactions.consumers renews
# every third of it): how long the sockets of a daphne that died keep receiving pushes.
CHANNEL_LAYER_GROUP_EXPIRY = 300

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "axes",
    "csp",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_celery_beat",
    "apps.core",
    "apps.accounts",
    "apps.customers",
    "apps.interactions",
    "apps.campaigns",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A timed-out wait for a pooled database connection is a 503 with Retry-After, not a 500.
    "apps.core.middleware.DatabaseBusyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.core.middleware.ContentSecurityPolicyMiddleware",
    # Last, as django-axes asks: it turns a sign-in that axes refused into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.accounts.context_processors.role",
            ],
        },
    },
]


def _database_from_url(url: str) -> dict:
    """PostgreSQL from DATABASE_URL; anything else is refused instead of half-working."""
    scheme = urlparse(url).scheme
    if scheme not in {"postgres", "postgresql", "pgsql"}:
        raise ImproperlyConfigured(f"DATABASE_URL must be a postgres:// URL, got {scheme!r}.")
    config = env.db_url_config(url)
    config["ENGINE"] = "django.db.backends.postgresql"
    config["CONN_HEALTH_CHECKS"] = True
    options = config.setdefault("OPTIONS", {})
    # A pool per process (psycopg_pool through Django), on by default. Without it every thread
    # holds its own connection: daphne runs each request's sync code in a thread of its own and
    # Channels' consumers in more, so a busy web process opened as many connections as it had
    # threads and PostgreSQL ran out ("too many clients"). With it a process never holds more than
    # DATABASE_POOL_MAX_SIZE; a thread past that waits up to DATABASE_POOL_TIMEOUT seconds, then
    # gets a 503 (apps.core.middleware). Django returns a connection to the pool when a request
    # or task ends, which needs CONN_MAX_AGE=0 (Django refuses a pool with persistent ones).
    if env_bool("DATABASE_POOL", default=True):
        if env.str("DATABASE_CONN_MAX_AGE", default="0").strip() not in {"", "0"}:
            raise ImproperlyConfigured(
                "DATABASE_CONN_MAX_AGE must be 0 (or unset) while DATABASE_POOL is on: pooled "
                "connections go back to the pool after each request. Set DATABASE_POOL=false "
                "to keep persistent connections instead."
            )
        config["CONN_MAX_AGE"] = 0
        pool_min = env_int("DATABASE_POOL_MIN_SIZE", 1, minimum=0)
        pool_max = env_int("DATABASE_POOL_MAX_SIZE", 10, minimum=1)
        if pool_min > pool_max:
            raise ImproperlyConfigured(
                f"DATABASE_POOL_MIN_SIZE={pool_min} must not exceed DATABASE_POOL_MAX_SIZE={pool_max}."
            )
        options["pool"] = {
            "min_size": pool_min,
            "max_size": pool_max,
            "timeout": env_int("DATABASE_POOL_TIMEOUT", 10, minimum=1),
        }
    else:
        # Persistent connections: each thread of a process keeps one for this many seconds.
        config["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0)
    # Prepared statements for routing's hot SQL only (apps.interactions.acd.sql.hot_cursor: its
    # cursors bind on the server; Django's bind on the client and never prepare): psycopg
    # prepares a statement after it has run this many times. "none" turns them off, e.g.
    # behind a pooler in transaction mode that cannot keep them.
    threshold = env.str("DATABASE_PREPARE_THRESHOLD", default="5").strip().lower()
    if threshold != "none" and not threshold.isdigit():
        raise ImproperlyConfigured(
            f"DATABASE_PREPARE_THRESHOLD must be a number or 'none', got {threshold!r}."
        )
    options["prepare_threshold"] = None if threshold == "none" else int(threshold)
    return config


def _close_database_pools_before_fork() -> None:
    """A forked child must not inherit its parent's pool: the pool's worker threads do not
    survive fork and its connections' sockets would be shared by two processes (the child then
    hangs waiting for a connection). So every fork (Celery's prefork children, the customer
    import's fork pool) closes the pools first; parent and child each open a fresh one on their
    next query. Connections checked out at that moment keep working and are closed when they
    are returned."""
    from django.db import connections
    from django.db.backends.postgresql.base import DatabaseWrapper

    for connection in connections.all(initialized_only=True):
        if isinstance(connection, DatabaseWrapper) and connection.settings_dict["OPTIONS"].get("pool"):
            with contextlib.suppress(KeyError):  # two threads forking at once: the first closed it
                connection.close_pool()


if DATABASE_URL:
    DATABASES = {"default": _database_from_url(DATABASE_URL)}
    if DATABASES["default"]["OPTIONS"].get("pool"):
        os.register_at_fork(before=_close_database_pools_before_fork)
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env.str("SQLITE_PATH", default=str(VAR_DIR / "db.sqlite3")),
            "OPTIONS": {
                # WAL lets the web, worker and beat processes read while one of them writes;
                # IMMEDIATE transactions take the write lock up front instead of failing mid-way.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # channels_redis's layer, group_send in fewer Redis commands (see the module).
            "BACKEND": "apps.core.redis_layer.RedisChannelLayer",
            # Each open websocket's consumer holds a pooled Redis connection while it waits for
            # messages; redis-py's default pool of 100 starved a daphne with 500 wallboards
            # (make bench, realtime). One pool per daphne process: size it for its sockets.
            # socket_timeout: redis-py 8 reads with a 5 s timeout by default, the very time
            # channels_redis blocks in BZPOPMIN for a consumer's next message (brpop_timeout),
            # so a socket idle for 5 s raised TimeoutError and its consumer died. Longer than
            # that block, it still cuts a connection to a Redis that stopped answering.
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "max_connections": CHANNEL_LAYER_MAX_CONNECTIONS,
                        "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT,
                    }
                ],
                "prefix": "switchboard",
                "group_expiry": CHANNEL_LAYER_GROUP_EXPIRY,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "switchboard",
        }
    }
else:
    # Embedded: an in-memory layer per process. run_stack gives the worker, beat and simulator
    # SWITCHBOARD_EVENT_RELAY (never the web process), so their group sends reach daphne's
    # websockets over a signed loopback POST (apps.core.layers says why and how).
    EVENT_RELAY_URL = env.str("SWITCHBOARD_EVENT_RELAY", default="")
    if EVENT_RELAY_URL and (
        urlparse(EVENT_RELAY_URL).scheme not in {"http", "https"} or not urlparse(EVENT_RELAY_URL).netloc
    ):
        raise ImproperlyConfigured(f"SWITCHBOARD_EVENT_RELAY={EVENT_RELAY_URL!r} is not an http(s) URL.")
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "apps.core.layers.RelayChannelLayer", "CONFIG": {"relay_url": EVENT_RELAY_URL}}
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: Redis in production; kombu's filesystem transport embedded (no server to run).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    (_broker_dir / "queue").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "control").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=60 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# Imports run on their own queue, served by their own worker (`celery worker -Q imports`), so a
# large or hostile file never holds the worker slots the offer and dial timers need.
CELERY_TASK_DEFAULT_QUEUE = "celery"
IMPORT_QUEUE = "imports"
CELERY_TASK_ROUTES = {"apps.customers.tasks.import_run": {"queue": IMPORT_QUEUE}}
# What an import file may hold. XLSX files are zip archives: their members are checked before
# openpyxl opens them (total uncompressed size, compression ratio of each large member), so a
# small upload cannot expand into gigabytes; rows, columns and cell length bound the work.
IMPORT_MAX_UPLOAD_MB = env_int("IMPORT_MAX_UPLOAD_MB", default=512, minimum=1)
IMPORT_MAX_UNCOMPRESSED_MB = env_int("IMPORT_MAX_UNCOMPRESSED_MB", default=1024, minimum=1)
IMPORT_MAX_COMPRESSION_RATIO = env_int("IMPORT_MAX_COMPRESSION_RATIO", default=100, minimum=2)
IMPORT_MAX_ROWS = env_int("IMPORT_MAX_ROWS", default=2_000_000, minimum=1)
IMPORT_MAX_COLUMNS = env_int("IMPORT_MAX_COLUMNS", default=200, minimum=1)
IMPORT_MAX_CELL_CHARS = env_int("IMPORT_MAX_CELL_CHARS", default=10_000, minimum=256)
# A running job whose worker has not reported for this long (it died, or was killed at its time
# limit) is marked failed by the beat task customers.import_jobs_fail_stalled.
IMPORT_STALLED_AFTER_SECONDS = env_int("IMPORT_STALLED_AFTER_SECONDS", default=15 * 60, minimum=60)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# axes first: it refuses a locked-out sign-in before the password is even checked, and it has no
# get_user, so force_login and the session still use ModelBackend.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:home"
LOGOUT_REDIRECT_URL = "accounts:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# Phones typed without a country code are read in this region (ISO 3166-1 alpha-2).
DEFAULT_PHONE_REGION = env.str("DEFAULT_PHONE_REGION", default="US").upper()
PHONENUMBER_DEFAULT_REGION = DEFAULT_PHONE_REGION

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))
MEDIA_URL = "media/"
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024

REST_FRAMEWORK = {
    # Token first: DRF answers a failed authentication with the first class's WWW-Authenticate
    # challenge, so an expired or unknown token gets 401 (a session alone has no challenge: 403).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["rest_framework.filters.OrderingFilter"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Switchboard API",
    "DESCRIPTION": "CRM and contact center: customers, contact points, notes and more.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Choice sets that share a field name (status, channel, kind) across apps get names of their
    # own instead of hashed ones.
    "ENUM_NAME_OVERRIDES": {
        "CampaignChannelEnum": "apps.campaigns.models.CampaignChannel",
        "CampaignStatusEnum": "apps.campaigns.models.CampaignStatus",
        "LeadStatusEnum": "apps.campaigns.models.LeadStatus",
        "AttemptStatusEnum": "apps.campaigns.models.AttemptStatus",
        "DncListKindEnum": "apps.campaigns.models.DncListKind",
        "ChannelEnum": "apps.interactions.models.Channel",
        "ContactPointKindEnum": "apps.customers.models.ContactPointKind",
        "ImportJobStatusEnum": "apps.customers.models.ImportStatus",
    },
    # The 4xx answers of every operation (apps.core.api), after drf-spectacular's own enum hook.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.core.api.schema_error_responses",
    ],
}

# Security: strict by default whenever DEBUG is off; each can be relaxed from the environment.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# API tokens (apps.accounts.authentication): refused once older than this; POST username and
# password to /api/v1/auth/token/ again for a new one.
API_TOKEN_TTL = timedelta(hours=env_int("API_TOKEN_TTL_HOURS", 24, minimum=1))

# Sign-in throttling (django-axes), on the login page, the admin's and the API token endpoint.
# Counted per username *and* address: agents of one contact center usually share one office
# address, so counting by address alone would lock the whole floor out after one person's typos,
# and counting by username alone would let anybody lock any agent out from anywhere. Each failure
# while locked out starts the wait again, so "try again in N minutes" is always true; a successful
# sign-in clears the count. Attempts live in the database (axes' AccessAttempt, in the admin,
# where an admin can delete one to unlock at once): every web process sees the same counts,
# whatever the cache (axes' cache handler refuses the embedded mode's per-process locmem cache).
# Behind a proxy, run daphne with --proxy-headers so the address is the client's, not the proxy's.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True
AXES_LOCKOUT_CALLABLE = "apps.accounts.views.locked_out"

# Content-Security-Policy (django-csp 4). No inline script, style or eval anywhere: our pages
# load static files only, and htmx is told not to eval (templates/base.html). The middleware
# (apps.core.middleware) adds this host's websocket URL to connect-src and relaxes the API docs.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=[])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "axes.apps": {"level": "WARNING"},  # its version banner, at the start of every process
    },
}

# Email (campaign sends) and the public links in them. Django's SMTP default has no timeout,
# which would outlast a task's time limit on a mail server that hangs.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Switchboard <noreply@localhost>")
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://localhost:8000")  # unsubscribe links
MESSAGING_SENDER_NAME = env.str("MESSAGING_SENDER_NAME", default="Switchboard")  # in replies and footers
MESSAGING_HELP_CONTACT = env.str("MESSAGING_HELP_CONTACT", default="")  # in the SMS HELP reply
