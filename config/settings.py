"""NewRetail settings: one module, every value from the environment (django-environ).

Defaults are for development: with no variables set the project runs on SQLite and a
Celery broker that needs no server (kombu's filesystem transport). Production sets
``DJANGO_DEBUG=false`` and must then provide ``DJANGO_SECRET_KEY`` and
``DJANGO_ALLOWED_HOSTS``; it refuses to start without them. Every variable is listed in
``.env.example`` and the README.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"  # development-only local state (SQLite, filesystem broker, media)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=True)

_DEV_SECRET = "django-insecure-development-only-key-change-me"  # noqa: S105
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=_DEV_SECRET if DEBUG else "")
if not DEBUG and (not SECRET_KEY or SECRET_KEY == _DEV_SECRET):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is false.")

ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG else []
)
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set when DJANGO_DEBUG is false.")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# Master key for hashing customer identifiers (e-mail, phone, loyalty number): each merchant's key is derived
# from it. Changing it makes existing customers unrecognisable, so production sets it explicitly.
IDENTITY_HASH_KEY = env.str("IDENTITY_HASH_KEY", default=f"identity:{SECRET_KEY}" if DEBUG else "")
if not DEBUG and not IDENTITY_HASH_KEY:
    raise ImproperlyConfigured("IDENTITY_HASH_KEY must be set when DJANGO_DEBUG is false.")

# Public base URL used in e-mails (invitation and password links) sent outside a request.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # third party
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "drf_standardized_errors",
    "django_htmx",
    "django_countries",
    "django_celery_beat",
    "axes",
    # project
    "core",
    "accounts",
    "merchants",
    "stores",
    "catalog",
    "sales",
    "analytics",
    "recommendations",
    "reports",
]

MIDDLEWARE = [
    # First: a cached GET /api/v1/recommendations/ answered without the rest (applies Security's and X-Frame's
    # headers itself; everything else goes down the stack).
    "recommendations.middleware.RecommendationsFastPathMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Axes last: it answers locked-out sign-ins.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "merchants.context_processors.tenancy",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Bound every statement so a runaway query cannot hold a worker forever.
    statement_timeout_ms = env.int("DB_STATEMENT_TIMEOUT_MS", default=60_000)
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = f"-c statement_timeout={statement_timeout_ms}"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache, Celery -------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # Shared between processes (web and worker) without a server: fine for development.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "celery-broker"
    for _sub in ("out", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),  # broadcast (inspect, revoke); else ./control in the cwd
        "store_processed": False,
    }
else:
    # Longer than any task may run, so Redis never re-delivers a task that is still running.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=4 * 3600)}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True  # job rows in the database hold status and progress
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=30 * 60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=35 * 60)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Periodic housekeeping; django-celery-beat copies these into its tables, where staff can change them in admin.
CELERY_BEAT_SCHEDULE = {
    "sales-idempotency-records-purge": {"task": "sales.idempotency_records_purge", "schedule": 3600.0},
    # One computation per active merchant every 24 h (staff can pin it to a night hour in admin's periodic tasks).
    "recommendations-compute-nightly": {"task": "recommendations.recommendations_compute_nightly", "schedule": 86400.0},
    # The dashboard's preset answers after each merchant's midnight (presets are relative to its today).
    "analytics-presets-precompute-due": {"task": "analytics.presets_precompute_due", "schedule": 900.0},
}
CELERY_TIMEZONE = "UTC"

# --- Reports (reports/) -----------------------------------------------------------------------
REPORTS_EXPIRY_DAYS = env.int("REPORTS_EXPIRY_DAYS", default=7)  # files are deleted after this, downloads → 410
REPORTS_MAX_RUNNING = env.int("REPORTS_MAX_RUNNING", default=3)  # per merchant; more wait, queued
REPORTS_STATEMENT_TIMEOUT = env.int("REPORTS_STATEMENT_TIMEOUT", default=300_000)  # ms, per export query (chunk)
REPORTS_SOFT_TIME_LIMIT = env.int("REPORTS_SOFT_TIME_LIMIT", default=3600)  # s: the job fails cleanly
REPORTS_TIME_LIMIT = env.int("REPORTS_TIME_LIMIT", default=3900)  # s: the worker process is killed
REPORTS_CHUNK_ROWS = env.int("REPORTS_CHUNK_ROWS", default=250_000)  # rows between progress saves/cancel checks
REPORTS_STALLED_SECONDS = env.int("REPORTS_STALLED_SECONDS", default=600)  # no heartbeat for this long: swept
REPORTS_SCHEDULE_HOUR = env.int("REPORTS_SCHEDULE_HOUR", default=6)  # scheduled reports run at this local hour
# Temporary files of exports in progress (default: MEDIA_ROOT/reports/tmp, same file system as the published ones so
# that publishing is an atomic rename). CELERY_VISIBILITY_TIMEOUT must stay longer than REPORTS_TIME_LIMIT.
REPORTS_TEMP_DIR = env.str("REPORTS_TEMP_DIR", default="")
CELERY_BEAT_SCHEDULE |= {
    "reports-schedules-run": {"task": "reports.report_schedules_run", "schedule": 900.0},
    "reports-jobs-sweep": {"task": "reports.report_jobs_sweep", "schedule": 300.0},
    "reports-files-expire": {"task": "reports.report_files_expire", "schedule": 3600.0},
    "reports-temp-files-purge": {"task": "reports.report_temp_files_purge", "schedule": 3600.0},
}

# --- Recommendations (recommendations/) ------------------------------------------------------
# Read the sales lines with parallel psql processes (when psql is installed); false: COPY through the connection.
RECOMMENDATIONS_PSQL_READ = env.bool("RECOMMENDATIONS_PSQL_READ", default=True)

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "merchants:home-redirect"
LOGOUT_REDIRECT_URL = "accounts:login"

# Brute-force protection (django-axes): lock an (e-mail, IP) pair after repeated failures.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_USERNAME_CALLABLE = "accounts.security.axes_username"  # one counter per address, whatever its case
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)

# --- E-mail ---------------------------------------------------------------------------------
EMAIL_CONFIG = env.email("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="NewRetail <no-reply@newretail.local>")

# --- I18N -----------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = env.path("DJANGO_MEDIA_ROOT", default=str(VAR_DIR / "media"))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=20 * 1024 * 1024)

# --- Security (production) ------------------------------------------------------------------
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- REST framework -------------------------------------------------------------------------
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="600/minute")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["merchants.api_auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["merchants.api_auth.HasApiKeyScope"],
    "DEFAULT_THROTTLE_CLASSES": ["merchants.api_auth.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": API_RATE_LIMIT},
    "DEFAULT_PAGINATION_CLASS": "config.api.StandardPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "config.api_schema.AutoSchema",
    "EXCEPTION_HANDLER": "drf_standardized_errors.handler.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
DRF_STANDARDIZED_ERRORS = {
    "ENABLE_IN_DEBUG_FOR_UNHANDLED_EXCEPTIONS": True,
    # Also turns a service's Django ValidationError into the same 400 body.
    "EXCEPTION_HANDLER_CLASS": "config.api.ExceptionHandler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "NewRetail partner API",
    "DESCRIPTION": (
        "Manage a merchant's stores, catalog and sales data. Authenticate every request with an API key: "
        "`Authorization: Bearer <key>`. A key belongs to one merchant and carries scopes. Errors share one "
        "format: `{type, errors: [{code, detail, attr}]}`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No call to validator.swagger.io: the docs page talks to this server only.
    "SWAGGER_UI_SETTINGS": {"validatorUrl": None, "persistAuthorization": True, "displayOperationId": True},
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ValidationErrorEnum": "drf_standardized_errors.openapi_serializers.ValidationErrorEnum.choices",
        "ClientErrorEnum": "drf_standardized_errors.openapi_serializers.ClientErrorEnum.choices",
        "ServerErrorEnum": "drf_standardized_errors.openapi_serializers.ServerErrorEnum.choices",
        "ErrorCode401Enum": "drf_standardized_errors.openapi_serializers.ErrorCode401Enum.choices",
        "ErrorCode403Enum": "drf_standardized_errors.openapi_serializers.ErrorCode403Enum.choices",
        "ErrorCode404Enum": "drf_standardized_errors.openapi_serializers.ErrorCode404Enum.choices",
        "ErrorCode405Enum": "drf_standardized_errors.openapi_serializers.ErrorCode405Enum.choices",
        "ErrorCode406Enum": "drf_standardized_errors.openapi_serializers.ErrorCode406Enum.choices",
        "ErrorCode415Enum": "drf_standardized_errors.openapi_serializers.ErrorCode415Enum.choices",
        "ErrorCode429Enum": "drf_standardized_errors.openapi_serializers.ErrorCode429Enum.choices",
        "ErrorCode500Enum": "drf_standardized_errors.openapi_serializers.ErrorCode500Enum.choices",
        "OrderStatusEnum": "sales.models.OrderStatus.choices",
        "StoreStatusEnum": "stores.models.StoreStatus.choices",
        "RecommendationRuleKindEnum": "recommendations.models.RuleKind.choices",
        "ReportKindEnum": "reports.models.ReportKind.choices",
        "ReportFormatEnum": "reports.models.ReportFormat.choices",
        "ReportChannelEnum": "reports.serializers.CHANNEL_CHOICES",
        # the same field names with other choices elsewhere (imports' format, order lines' kind and channel)
        "ImportFormatEnum": "sales.models.ImportFormat.choices",
        "LineKindEnum": "sales.models.LineKind.choices",
        "SalesChannelEnum": "sales.models.Channel.choices",
        "ChannelOrAllEnum": "recommendations.models.RuleChannel.choices",  # all/online/offline (rules, reports)
    },
    "POSTPROCESSING_HOOKS": ["drf_standardized_errors.openapi_hooks.postprocess_schema_enums"],
}

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}

# --- Analytics ------------------------------------------------------------------------------
# PostgreSQL work_mem for the analytics reads that group many rows (distinct customers, top products), set per
# transaction: the server default (4MB) makes their hash aggregates spill to disk.
ANALYTICS_WORK_MEM = env.str("ANALYTICS_WORK_MEM", default="64MB")

VAR_DIR.mkdir(exist_ok=True)
Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)  # WhiteNoise warns when it is missing
