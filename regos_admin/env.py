"""Settings read from the environment, typed and validated.

Everything configurable lives here; ``settings.py`` only turns these values into Django settings.
A bad value stops start-up with one line that names the variable (see ``ConfigError``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE_PATH = BASE_DIR / "db.sqlite3"
DEFAULT_DATABASE_URL = f"sqlite:///{DEFAULT_SQLITE_PATH}"
DEFAULT_REGOS_BASE_URL = "https://integration.regos.uz/gateway/out"
# A development-only key; refusing it in production is done by `check --deploy` (W009).
INSECURE_DEV_SECRET_KEY = "django-insecure-local-development-only-key-change-me"  # noqa: S105


class ConfigError(Exception):
    """One bad environment variable; ``str()`` is a single line naming it."""


class AppEnv(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore")

    DATABASE_URL: str = DEFAULT_DATABASE_URL
    DJANGO_SECRET_KEY: str = INSECURE_DEV_SECRET_KEY
    DJANGO_DEBUG: bool = True
    DJANGO_ALLOWED_HOSTS: str = "127.0.0.1,localhost"
    DJANGO_CSRF_TRUSTED_ORIGINS: str = ""
    DJANGO_SECURE_SSL_REDIRECT: bool = False
    DJANGO_HSTS_SECONDS: int = Field(default=0, ge=0)
    DJANGO_LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    DJANGO_REQUEST_DB_TIMEOUT_S: float = Field(default=30.0, gt=0, le=600)

    REGOS_BASE_URL: str = DEFAULT_REGOS_BASE_URL
    REGOS_INTEGRATION_KEY: str = ""
    REGOS_RATE_PER_SEC: float = Field(default=2.0, gt=0, le=1000)
    REGOS_BURST: int = Field(default=50, ge=1, le=10000)
    REGOS_TIMEOUT_S: float = Field(default=30.0, gt=0, le=600)
    REGOS_LOOKBACK_DAYS: int = Field(default=3, ge=1, le=62)
    REGOS_PAGE_SIZE: int = Field(default=10000, ge=1, le=10000)  # first `limit` asked; see sync.regos.client._PageSizes
    REGOS_MAX_ATTEMPTS: int = Field(default=5, ge=1, le=20)
    REGOS_ATTRIBUTION: Literal["seller_or_cashier", "seller", "cashier"] = "seller_or_cashier"
    REGOS_SYNC_MAX_DAYS: int = Field(default=366, ge=1, le=3660)
    REGOS_SYNC_CRON: str = "59 23 * * *"
    REGOS_STALE_AFTER_HOURS: float = Field(default=26, gt=0)
    REGOS_WEBHOOK_SECRET: str = ""
    REGOS_RUN_STALE_AFTER_S: int = Field(default=600, ge=5)
    REGOS_SKIP_UNCHANGED_DAYS: bool = True

    # Production and scale-out (README.md, "Production").
    DJANGO_STATIC_ROOT: str = ""  # empty: <repo>/staticfiles
    REDIS_URL: str = ""  # set: django-q2's broker and the shared REGOS rate limit live in Redis
    REGOS_RATE_LIMIT_STORE: Literal["auto", "redis", "database", "process"] = "auto"
    DJANGO_Q_WORKERS: int = Field(default=2, ge=1, le=64)
    DJANGO_Q_SCHEDULER: bool = True

    @field_validator("DJANGO_STATIC_ROOT")
    @classmethod
    def _static_root(cls, value: str) -> str:
        value = value.strip()
        if value and not Path(value).is_absolute():
            raise ValueError("must be an absolute directory path such as /var/lib/regos-admin/static")
        return value

    @field_validator("REDIS_URL")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        # Never echo the value: it may carry a password.
        parts = urlsplit(value)
        shape = "must look like redis://127.0.0.1:6379/0 (or rediss://..., unix:///path/redis.sock)"
        if parts.scheme in ("redis", "rediss"):
            try:
                parts.port  # noqa: B018 — raises ValueError for a port that is not a number
            except ValueError:
                raise ValueError(shape) from None
            if not parts.hostname:
                raise ValueError(shape)
        elif parts.scheme == "unix":
            if not parts.path.startswith("/"):
                raise ValueError(shape)
        else:
            raise ValueError(shape)
        return value

    @field_validator("REGOS_BASE_URL")
    @classmethod
    def _base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL such as https://integration.regos.uz/gateway/out")
        return value.rstrip("/")

    @field_validator("REGOS_INTEGRATION_KEY")
    @classmethod
    def _key(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"[A-Za-z0-9_-]{8,128}", value):
            # Never echo the value: it is a secret.
            raise ValueError("must be 8-128 letters, digits, '-' or '_' (the key from REGOS.Online)")
        return value

    @field_validator("DATABASE_URL")
    @classmethod
    def _db_url(cls, value: str) -> str:
        parse_database_url(value)
        return value

    @field_validator("REGOS_SYNC_CRON")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(value):
            raise ValueError("must be a 5-field cron expression such as '59 23 * * *'")
        return value


    @model_validator(mode="after")
    def _rate_limit_store(self) -> AppEnv:
        if self.REGOS_RATE_LIMIT_STORE == "redis" and not self.REDIS_URL:
            raise ValueError("REGOS_RATE_LIMIT_STORE=redis needs REDIS_URL")
        return self

    @model_validator(mode="after")
    def _production_secret(self) -> AppEnv:
        if not self.DJANGO_DEBUG and (
            self.DJANGO_SECRET_KEY == INSECURE_DEV_SECRET_KEY or len(self.DJANGO_SECRET_KEY) < 50
        ):
            raise ValueError("DJANGO_SECRET_KEY must be set to 50+ random characters when DJANGO_DEBUG is false")
        return self


# No write may be lost to lock contention (measured by bench/sqlite_locks.py, see README "SQLite"):
# - transaction_mode IMMEDIATE: a transaction takes the write lock at BEGIN, waiting for it with the
#   busy timeout. A deferred one (Django's default) that reads and then writes — django-q2's
#   scheduler does — fails AT ONCE with "database is locked" while another connection writes: SQLite
#   does not wait when a reader would have to become a writer, whatever the timeout.
# - timeout 30 s: a write waits this long for another transaction (one sync day) to commit.
# - WAL (set per connection by regos_admin.sqlite): readers (the web pages) never wait for a writer.
SQLITE_OPTIONS: dict[str, object] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}


def parse_database_url(url: str) -> dict[str, object]:
    """Turn DATABASE_URL into a Django DATABASES['default'] entry."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        if path.startswith("//"):  # sqlite:////abs/path — the usual four-slash absolute form
            path = path[1:]
        if parts.netloc:
            raise ValueError("sqlite URLs look like sqlite:///absolute/path/db.sqlite3")
        if path.startswith("/") and len(path) > 1:
            name = path if path != "/:memory:" else ":memory:"
        else:
            raise ValueError("sqlite URLs look like sqlite:///absolute/path/db.sqlite3")
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": name, "OPTIONS": dict(SQLITE_OPTIONS)}
    if parts.scheme in ("mongodb", "mongodb+srv"):
        name = parts.path.lstrip("/")
        if not name or "/" in name:
            raise ValueError("MongoDB URLs must name the database: mongodb://host:27017/regos_admin")
        return {"ENGINE": "django_mongodb_backend", "HOST": url, "NAME": name}
    raise ValueError("must start with sqlite:///, mongodb:// or mongodb+srv://")


def env_file() -> Path | None:
    """The dotenv file settings read: ``ENV_FILE`` (relative to the checkout), default ``.env``;
    ``ENV_FILE=`` (empty) reads none. The same rule as ``scripts/serve.sh``, so ``manage.py``
    (createsuperuser, regos_check, ...), gunicorn and the worker all see one configuration.
    A variable set in the real environment wins over the file."""
    name = os.environ.get("ENV_FILE", ".env")
    if not name:
        return None
    path = Path(name)
    return path if path.is_absolute() else BASE_DIR / path


def load_env() -> AppEnv:
    try:
        env = AppEnv(_env_file=env_file())  # type: ignore[call-arg]
        _ENV_URLS.update(DATABASE_URL=env.DATABASE_URL, REDIS_URL=env.REDIS_URL)
        return env
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ".".join(str(p) for p in error.get("loc", ()))
        message = error.get("msg", "invalid value").removeprefix("Value error, ")
        if not name:  # a cross-field rule; its message names the variables
            raise ConfigError(f"Invalid environment: {message}") from None
        raise ConfigError(f"Invalid environment variable {name}: {message}") from None


# A run of this many characters of a secret is treated as the secret: a body cut mid-key, or a
# key split across two log fields, must not show most of it (issue 15, item 3).
SECRET_RUN = 8


@lru_cache(maxsize=32)
def _grams(secret: str) -> frozenset[str]:
    return frozenset(secret[i:i + SECRET_RUN] for i in range(len(secret) - SECRET_RUN + 1))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret, and every run of ``SECRET_RUN``+ characters of one, masked.

    A covered stretch becomes ``mask(secret)`` when it is the whole secret and ``•••`` otherwise.
    """
    for secret in secrets:
        if len(secret) < SECRET_RUN:
            if secret and secret in text:
                text = text.replace(secret, mask(secret))
            continue
        # Every occurrence of every SECRET_RUN-long piece (str.find: fast on a large debug page).
        hits: list[tuple[int, int]] = []
        for gram in _grams(secret):
            at = text.find(gram)
            while at != -1:
                hits.append((at, at + SECRET_RUN))
                at = text.find(gram, at + 1)
        if not hits:
            continue
        hits.sort()
        merged = [list(hits[0])]
        for start, end in hits[1:]:
            if start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        for start, end in reversed(merged):  # right to left: earlier offsets stay valid
            text = text[:start] + (mask(secret) if text[start:end] == secret else "•••") + text[end:]
    return text


def secret_values() -> list[str]:
    """Every secret value of this deployment, from the live settings (for masking)."""
    from django.conf import settings

    values = [
        getattr(settings, "REGOS_INTEGRATION_KEY", ""),
        getattr(settings, "REGOS_WEBHOOK_SECRET", ""),
        getattr(settings, "SECRET_KEY", ""),
    ]
    # The published development key is no secret, and its pieces ("developm...") are ordinary words.
    values = [v for v in values if v != INSECURE_DEV_SECRET_KEY]
    for url in (_ENV_URLS.get("DATABASE_URL", ""), _ENV_URLS.get("REDIS_URL", ""),
                getattr(settings, "REDIS_URL", "")):
        values.extend(_url_secrets(url))
    database = getattr(settings, "DATABASES", {}).get("default", {})
    if database.get("ENGINE") == "django_mongodb_backend":
        values.extend(_url_secrets(str(database.get("HOST", ""))))
    values.append(str(database.get("PASSWORD", "") or ""))
    return [v for v in dict.fromkeys(values) if v]


def _url_secrets(url: str) -> list[str]:
    """A URL that may carry a password: the URL itself and the password are both secret."""
    if not url or url.startswith("sqlite:"):
        return []
    password = urlsplit(url).password or ""
    return [url, password, unquote(password)]


# The raw DATABASE_URL / REDIS_URL as read at start-up (settings keep only their parsed forms).
_ENV_URLS: dict[str, str] = {}


def mask_key(text: str, key: str | None = None) -> str:
    """Replace the REGOS integration key, and any long run of its characters, wherever it appears."""
    if key is None:
        from django.conf import settings

        key = getattr(settings, "REGOS_INTEGRATION_KEY", "")
    return redact(text, [key]) if key else text


def mask(key: str) -> str:
    return "•••" + key[-4:] if len(key) >= 16 else "•••"
