"""Settings, read from the environment in one place (names from the API contract)."""

from __future__ import annotations

from pathlib import Path

from config import libraries, services

# DRF's and the API documentation's settings live beside these (config.api).
from config.api import REST_FRAMEWORK, SPECTACULAR_SETTINGS  # noqa: F401
from config.env import (
    COUNT_MODES,
    env_addresses,
    env_bool,
    env_choice,
    env_cron,
    env_database,
    env_int,
    env_list,
    env_networks,
    env_rate,
    env_redis_url,
    env_required,
    env_str,
    env_time_zone,
    mysql_url_from_parts,
    read_env_file,
    redis_url_with_next_db,
)

BASE_DIR = Path(__file__).resolve().parent.parent
# .env next to manage.py (see .env.example), or the file ENV_FILE names.
read_env_file(Path(env_str("ENV_FILE", str(BASE_DIR / ".env"))))
# Files the service writes itself (SQLite databases, the embedded demo library).
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var"))).resolve()

SECRET_KEY = env_required(
    "SECRET_KEY", "set it to a long random string (scripts/run generates one for local use)"
)
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

# --- Security ----------------------------------------------------------------------------------
# Dashboards often live on another origin (the library's website): allow those explicitly.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", [])
# Patterns as corsheaders reads them (none by default); set here so the fast path's per-request
# read is a plain attribute, not a miss on the settings object.
CORS_ALLOWED_ORIGIN_REGEXES: list[str] = []
CORS_ALLOW_METHODS = ["GET", "HEAD", "OPTIONS", "POST"]
CORS_URLS_REGEX = r"^/(api/|docs/json$)"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (serving.edge);
# from any other peer those headers are ignored, so a client cannot pick its own address.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")
# HTTPS=true when the service is reached over HTTPS (usually a reverse proxy terminating TLS):
# secure cookies, HSTS, redirects.
HTTPS = env_bool("HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
# No SECURE_PROXY_SSL_HEADER: the edge sets the ASGI scheme from X-Forwarded-Proto, and only
# when a trusted proxy sent it.
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^metrics$"]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- The libraries -----------------------------------------------------------------------------
# One library (LIBRARY_DATABASE_URL, or the embedded demo) or the libraries of LIBRARIES_FILE
# (TOML, config.libraries). The home library (`default`, else the file's first) is read through
# the `library` alias and keeps its own tables in `default`; every other library in its own pair.
LIBRARIES_FILE = env_str("LIBRARIES_FILE")
_listed = libraries.read(Path(LIBRARIES_FILE)) if LIBRARIES_FILE else []
if _listed:
    libraries.check_sources(Path(LIBRARIES_FILE))
_library_url = env_str("LIBRARY_DATABASE_URL") or mysql_url_from_parts()
EMBEDDED_LIBRARY_PATH = DATA_DIR / "demo-library.sqlite3"
LIBRARY_IS_EMBEDDED = _library_url is None and not LIBRARIES_FILE
# DEMO_LIBRARIES=n: the embedded demo as a network of n demo libraries (/network).
DEMO_LIBRARIES = env_int("DEMO_LIBRARIES", 1, minimum=1, maximum=20)
if LIBRARY_IS_EMBEDDED and DEMO_LIBRARIES > 1:
    _listed = libraries.demo_network(DEMO_LIBRARIES, EMBEDDED_LIBRARY_PATH)
_home = libraries.home_of(_listed) if _listed else None
# A library's own time_zone, else LIBRARY_TIME_ZONE.
_zone = env_time_zone("LIBRARY_TIME_ZONE", "Asia/Jakarta")
LIBRARY_TIME_ZONE = (_home and _home.time_zone) or _zone
# SLiMS stores naive local datetimes; Django's active zone equals the library connection's
# TIME_ZONE, so date functions are emitted as plain DATE() with no CONVERT_TZ and MySQL needs
# no time zone tables. A library of another zone is served with its zone active
# (config.library.serving).
TIME_ZONE = LIBRARY_TIME_ZONE
USE_TZ = True
USE_I18N = True
LANGUAGE_CODE = env_choice("LANGUAGE_CODE", "en", ("en", "id"))
LANGUAGES = [("en", "English"), ("id", "Bahasa Indonesia")]
# Translations live in metrics_cache/locale, found as an installed app's (and so installed with it).

_home_database = (
    _home.database
    if _home
    else env_database("LIBRARY_DATABASE_URL", _library_url or f"sqlite:///{EMBEDDED_LIBRARY_PATH}")
)
LIBRARY_DATABASE = libraries.reading(
    _home_database, LIBRARY_TIME_ZONE, libraries.test_name(_home_database, "", DATA_DIR)
)

# The library's name on the reports' spreadsheets; its database's name unless set.
LIBRARY_NAME = env_str("LIBRARY_NAME") or (_home and _home.name)
LIBRARY_NAME = LIBRARY_NAME or Path(str(LIBRARY_DATABASE["NAME"])).stem

DATABASES = {
    "default": env_database("DATABASE_URL", f"sqlite:///{DATA_DIR / 'app.sqlite3'}"),
    "library": LIBRARY_DATABASE,
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Write-ahead log, synced at checkpoints: a commit appends to the log without waiting for
    # the disk (rolled back at a power cut, never corrupted; the rollups recount from SLiMS),
    # and a reader does not wait for the writer. Without it each of a job's ~20 commits synced
    # its journal and file (the largest cost of a small library's nightly jobs after the ORM).
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL",
    }
    # Tests use a file too: an in-memory database shared between threads fails at once on a
    # lock ("database table is locked") where a file waits its turn, as in production.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-app.sqlite3")}
# Every library of the file: its aliases, its SLiMS database and its own tables.
LIBRARIES = (
    libraries.placed(_listed, _home, _zone)
    if _listed
    else [libraries.Library(libraries.DEFAULT_SLUG, None, LIBRARY_DATABASE, None, None)]
)
DATABASES.update(libraries.their_databases(LIBRARIES, DATABASES["default"], DATA_DIR))
# The paths without /l/<slug>/ serve the home library (one library, or one named `default`).
LIBRARIES_UNPREFIXED = not _listed or libraries.serves_unprefixed(_listed)
DATABASE_ROUTERS = ["config.library.LibraryRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis and Celery --------------------------------------------------------------------------
REDIS_URL = env_redis_url("REDIS_URL", "redis://127.0.0.1:6379/0")
# Redis Sentinel instead of REDIS_URL's host and port (the database numbers stay REDIS_URL's).
REDIS_SENTINELS = env_addresses("REDIS_SENTINELS")
REDIS_SENTINEL_MASTER = env_str("REDIS_SENTINEL_MASTER")
services.check(REDIS_SENTINELS, REDIS_SENTINEL_MASTER)
CACHES = {"default": services.cache(REDIS_URL, REDIS_SENTINELS, REDIS_SENTINEL_MASTER)}
CELERY_BROKER_URL = services.broker(
    env_redis_url("CELERY_BROKER_URL", redis_url_with_next_db(REDIS_URL)), REDIS_SENTINELS
)
CELERY_BROKER_TRANSPORT_OPTIONS = services.broker_options(REDIS_SENTINEL_MASTER)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = LIBRARY_TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A job is acknowledged once done: a worker killed mid-job (or its host gone) leaves it to
# another worker, which the broker hands it to once its visibility timeout passes.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One message reserved per worker process: a lost worker holds back no queue of others' jobs.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_QUEUES = services.task_queues()
CELERY_TASK_ROUTES = services.task_routes()

# --- The service -------------------------------------------------------------------------------
TODAY_COUNT_MODE = (_home and _home.count_mode) or env_choice(
    "TODAY_COUNT_MODE", "delta", COUNT_MODES
)
TODAY_INCREMENT_TOKEN = env_str("TODAY_INCREMENT_TOKEN")
TODAY_RECONCILE_SECONDS = env_int("TODAY_RECONCILE_SECONDS", 60, minimum=1)
VISITOR_SYNC_MIN_INTERVAL_MS = env_int("VISITOR_SYNC_MIN_INTERVAL_MS", 5000, minimum=100)
VISITOR_SYNC_BUFFER_MS = env_int("VISITOR_SYNC_BUFFER_MS", 500, minimum=0)
VISITOR_SLOW_CRON = env_cron("VISITOR_SLOW_CRON", "5 0 * * *")
BOOKS_SLOW_CRON = env_cron("BOOKS_SLOW_CRON", "10 0 * * *")
# The rollups' weekly drift check (recomputed side by side from SLiMS): Sunday night.
ROLLUP_VERIFY_CRON = env_cron("ROLLUP_VERIFY_CRON", "30 2 * * 0")
AGGREGATE_TTL_SECONDS = env_int("AGGREGATE_TTL_SECONDS", 90000, minimum=60)
SUMMARY_TTL_SECONDS = env_int("SUMMARY_TTL_SECONDS", 15, minimum=1)
ENABLE_SSE_TODAY = env_bool("ENABLE_SSE_TODAY", True)
# What anonymous requests see of members in top lists (staff always see everything).
MEMBER_DETAILS = env_choice("MEMBER_DETAILS", "masked", ("full", "masked", "hidden"))
ENABLE_DOCS = env_bool("ENABLE_DOCS", True)
# Requests per client address, counted in front of Django on every URL. Screens behind one NAT
# share an address: 20 requests/s covers a few dozen dashboards polling several endpoints.
THROTTLE_ANON_RATE = env_rate("THROTTLE_ANON_RATE", "1200/min")
# The SLiMS tables rolled up: each domain app declares its Source beside its own tables, and the
# rollup engine reads them only from here (metrics_cache.rollups.sources).
ROLLUP_SOURCES = ["visitors.rollups.SOURCE", "books.rollups.SOURCE"]
# The reports (/api/reports/...), declared by each domain app beside its rollups
# (metrics_cache.reports.catalog).
REPORTS = ["visitors.reports.REPORT", "books.reports.REPORT"]
# Statements at once on one library database server, from every worker together (0: no limit).
LIBRARY_HOST_CONCURRENCY = env_int("LIBRARY_HOST_CONCURRENCY", 4)
# Who may read the reports: everyone, or staff (a session or an API token).
REPORTS_ACCESS = env_choice("REPORTS_ACCESS", "public", ("public", "staff"))

# --- Django ------------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "visitors",
    "books",
    "metrics_cache",
    "demo",
]

MIDDLEWARE = [
    "metrics_cache.serving.instruments.RequestTimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # Static files (admin, API docs) from daphne itself: it serves none on its own.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The dashboard page in the browser's language (Accept-Language), else LANGUAGE_CODE.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
# Paths are exact: no trailing-slash redirects.
APPEND_SLASH = False

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
STATIC_URL = "static/"
# collectstatic's target (the Docker image collects at build time); WhiteNoise serves it, and
# straight from the installed apps as well, so running from a checkout needs no collect step.
STATIC_ROOT = env_str("STATIC_ROOT")
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# One line per event: "keyvalue" for people reading a terminal, "json" for log collectors
# (job runs carry metric, rows, ms and status as fields).
LOG_FORMAT = env_choice("LOG_FORMAT", "keyvalue", ("keyvalue", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "keyvalue": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
