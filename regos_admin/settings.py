"""Django settings: every value comes from the environment through ``regos_admin.env``."""

from __future__ import annotations

from pathlib import Path

from django.utils.translation import gettext_lazy as _

from regos_admin.env import BASE_DIR, DEFAULT_SQLITE_PATH, load_env, parse_database_url

# Lower-case on purpose: Django treats only UPPER-CASE names as settings, so the debug error page
# (which prints every setting) never sees the object that holds every secret.
_env = load_env()

SECRET_KEY = _env.DJANGO_SECRET_KEY
DEBUG = _env.DJANGO_DEBUG
ALLOWED_HOSTS = [h.strip() for h in _env.DJANGO_ALLOWED_HOSTS.split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in _env.DJANGO_CSRF_TRUSTED_ORIGINS.split(",") if o.strip()]

DATABASES = {"default": parse_database_url(_env.DATABASE_URL)}
USING_MONGODB = DATABASES["default"]["ENGINE"] == "django_mongodb_backend"
USING_DEFAULT_SQLITE = DATABASES["default"].get("NAME") == str(DEFAULT_SQLITE_PATH)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_q",
    "payroll",
    "sync",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "regos_admin.request_limits.RequestTimeLimitMiddleware",  # DJANGO_REQUEST_DB_TIMEOUT_S per request
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "regos_admin.throttle.LoginThrottleMiddleware",  # 5 failed logins per username+address per 15 min
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "regos_admin.security.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "regos_admin.urls"
WSGI_APPLICATION = "regos_admin.wsgi.application"

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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

AUTHENTICATION_BACKENDS = ["regos_admin.auth.PermissionBackend"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Business days are cut at Asia/Tashkent midnight; see payroll/dates.py.
TIME_ZONE = "Asia/Tashkent"
USE_TZ = True
USE_I18N = True
LANGUAGE_CODE = "uz"
LANGUAGES = [("uz", _("Uzbek")), ("ru", _("Russian")), ("en", _("English"))]
# locale/ is ours (makemessages keeps it in step with the code); locale_overrides/ holds translations of
# Django and django-q2 msgids whose own uz catalogs lack them. Both outrank the apps' catalogs.
LOCALE_PATHS = [BASE_DIR / "locale", BASE_DIR / "locale_overrides"]
USE_THOUSAND_SEPARATOR = True
# One date format per language, used everywhere: regos_admin/formats/<lang>/formats.py.
FORMAT_MODULE_PATH = "regos_admin.formats"

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(_env.DJANGO_STATIC_ROOT) if _env.DJANGO_STATIC_ROOT else BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The DEBUG error page and error e-mails: every secret value masked, not just settings named *KEY*.
DEFAULT_EXCEPTION_REPORTER = "regos_admin.logging.RedactingExceptionReporter"
DEFAULT_EXCEPTION_REPORTER_FILTER = "regos_admin.logging.SecretValueFilter"
LOGIN_URL = "admin:login"
# With no ?next=, a login lands on the home page (Django's default /accounts/profile/ is a 404 here).
LOGIN_REDIRECT_URL = "/"

# --- security (check --deploy is clean when DJANGO_DEBUG=false; regos_admin/security.py adds the
# Content-Security-Policy and says in check --deploy's output which warnings are silenced) ---
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the admin's JS does not read it, but Django's default is kept
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "regos_admin.errors.csrf_failure"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = _env.DJANGO_SECURE_SSL_REDIRECT
    SECURE_HSTS_SECONDS = _env.DJANGO_HSTS_SECONDS
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _env.DJANGO_HSTS_SECONDS > 0
    SECURE_HSTS_PRELOAD = _env.DJANGO_HSTS_SECONDS > 0
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # HSTS and the HTTPS redirect are a deployment choice (a LAN shop may serve plain HTTP behind
    # nothing); they are documented in the README and silenced here rather than forced.
    SILENCED_SYSTEM_CHECKS = [] if _env.DJANGO_HSTS_SECONDS else ["security.W004"]
    if not _env.DJANGO_SECURE_SSL_REDIRECT:
        SILENCED_SYSTEM_CHECKS.append("security.W008")

# The database work of one web request is cut off after this long (regos_admin/request_limits.py).
REQUEST_DB_TIMEOUT_S = _env.DJANGO_REQUEST_DB_TIMEOUT_S

# --- REGOS ---
REGOS_BASE_URL = _env.REGOS_BASE_URL
REGOS_INTEGRATION_KEY = _env.REGOS_INTEGRATION_KEY
REGOS_RATE_PER_SEC = _env.REGOS_RATE_PER_SEC
REGOS_BURST = _env.REGOS_BURST
REGOS_TIMEOUT_S = _env.REGOS_TIMEOUT_S
REGOS_LOOKBACK_DAYS = _env.REGOS_LOOKBACK_DAYS
REGOS_PAGE_SIZE = _env.REGOS_PAGE_SIZE
REGOS_MAX_ATTEMPTS = _env.REGOS_MAX_ATTEMPTS
REGOS_ATTRIBUTION = _env.REGOS_ATTRIBUTION
REGOS_SYNC_MAX_DAYS = _env.REGOS_SYNC_MAX_DAYS
REGOS_SYNC_CRON = _env.REGOS_SYNC_CRON
REGOS_STALE_AFTER_HOURS = _env.REGOS_STALE_AFTER_HOURS
REGOS_WEBHOOK_SECRET = _env.REGOS_WEBHOOK_SECRET
REGOS_RUN_STALE_AFTER_S = _env.REGOS_RUN_STALE_AFTER_S
REGOS_SKIP_UNCHANGED_DAYS = _env.REGOS_SKIP_UNCHANGED_DAYS

# --- django-q2: the ORM broker on the default database ---
Q_CLUSTER = {
    "name": "regos-admin",
    "orm": "default",
    "workers": _env.DJANGO_Q_WORKERS,
    # Exactly one qcluster of the deployment runs the scheduler (DJANGO_Q_SCHEDULER=false on the others).
    "scheduler": _env.DJANGO_Q_SCHEDULER,
    # A month of one chain at 2 requests/s is a few thousand requests: an hour is ample.
    "timeout": 3600,
    # Must be larger than timeout, or a slow task is handed to a second worker while still running.
    "retry": 3900,
    # Bounded: 0 would retry a failing sync forever.
    "max_attempts": 3,
    # A worker that was down for days must not replay every missed slot: the lookback covers them.
    "catch_up": False,
    "save_limit": 1000,
    "label": "Django Q2",
}
# Several worker machines: the broker moves to Redis (the ORM broker stays the default).
REDIS_URL = _env.REDIS_URL
if REDIS_URL:
    del Q_CLUSTER["orm"]
    Q_CLUSTER["redis"] = REDIS_URL
# Where the REGOS token bucket shared by all workers lives (sync/regos/shared_limit.py).
REGOS_RATE_LIMIT_STORE = _env.REGOS_RATE_LIMIT_STORE

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_regos_key": {"()": "regos_admin.logging.MaskRegosKeyFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["mask_regos_key"],
        }
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "sync": {"level": _env.DJANGO_LOG_LEVEL},
        "payroll": {"level": _env.DJANGO_LOG_LEVEL},
        "django-q": {"level": "INFO"},  # django-q2 logs under this name
    },
}

if USING_MONGODB:
    from regos_admin.mongo import configure_mongodb

    configure_mongodb(globals())
