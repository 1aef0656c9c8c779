"""Why a sync failed, in one line a reader understands: the ONE place failures are classified.

A failed run stores its technical text (``SyncRun.error``, key masked) and, since issue 18, a
machine-readable cause code (``SyncRun.error_code``) chosen here from the exception when the run
fails (``cause_of``). Pages show the code's label in the reader's language, with the technical text
folded below it. Runs stored before the code existed (or a scheduled job's error, kept in a
KeyValue) are classified from their stored text (``cause_from_text``), which names the exception
type at its start for anything that is not a REGOS error.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext_lazy as _

from sync.regos.errors import (
    RegosAccessError,
    RegosApiError,
    RegosError,
    RegosListingChanged,
    RegosRateLimitError,
    RegosResponseError,
    RegosTransportError,
    RegosValidationError,
)

REGOS_UNREACHABLE = "regos_unreachable"
REGOS_KEY = "regos_key"
REGOS_NO_KEY = "regos_no_key"
REGOS_RATE_LIMIT = "regos_rate_limit"
REGOS_UNREADABLE = "regos_unreadable"
REGOS_CHANGED = "regos_changed"
REGOS_REFUSED = "regos_refused"
DATABASE = "database"
REDIS = "redis"
WORKER_STOPPED = "worker_stopped"
PROCESS_GONE = "process_gone"
NEVER_STARTED = "never_started"
ABANDONED = "abandoned"
DAYS_FAILED = "days_failed"
UNEXPECTED = "unexpected"

LABELS = {
    REGOS_UNREACHABLE: _("REGOS is not reachable"),
    REGOS_KEY: _("REGOS refused the integration key"),
    REGOS_NO_KEY: _("No REGOS integration key is configured"),
    REGOS_RATE_LIMIT: _("REGOS rate limit"),
    REGOS_UNREADABLE: _("REGOS answered something we cannot read"),
    REGOS_CHANGED: _("Documents changed in REGOS while they were being read"),
    REGOS_REFUSED: _("REGOS refused the request"),
    DATABASE: _("The database is not reachable"),
    REDIS: _("Redis is not reachable"),
    WORKER_STOPPED: _("The worker stopped during the sync"),
    PROCESS_GONE: _("The process running the sync was stopped or killed"),
    NEVER_STARTED: _("No worker picked the sync up"),
    ABANDONED: _("The sync was stopped by another process"),
    DAYS_FAILED: _("Some days could not be synced"),
    UNEXPECTED: _("An unexpected error stopped the sync"),
}

# Exception types by the module that raises them (so none of these packages must be importable here).
_DATABASE_MODULES = ("django.db", "sqlite3", "pymongo", "django_mongodb_backend")
_TRANSPORT_MODULES = ("requests", "urllib3", "socket", "ssl")


def cause_of(exc: BaseException) -> str:
    """The cause code of an exception that stopped a sync."""
    from sync.engine.runs import RunAbandoned

    if isinstance(exc, RegosAccessError):
        return REGOS_NO_KEY if exc.description == "no integration key" else REGOS_KEY
    if isinstance(exc, RegosRateLimitError):
        return REGOS_RATE_LIMIT
    if isinstance(exc, RegosListingChanged):
        return REGOS_CHANGED
    if isinstance(exc, RegosResponseError):
        return REGOS_UNREADABLE
    if isinstance(exc, RegosTransportError):
        return REGOS_UNREACHABLE
    if isinstance(exc, RegosValidationError | RegosApiError):
        return REGOS_REFUSED
    if isinstance(exc, RegosError):
        return REGOS_UNREACHABLE
    if isinstance(exc, RunAbandoned):
        return ABANDONED
    module = type(exc).__module__ or ""
    if module.startswith(_DATABASE_MODULES):
        return DATABASE
    if module.startswith("redis"):
        return REDIS
    if module.startswith(_TRANSPORT_MODULES) or isinstance(exc, ConnectionError | TimeoutError):
        return REGOS_UNREACHABLE
    return UNEXPECTED


_TEXT_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), code) for pattern, code in (
        (r"REGOS_INTEGRATION_KEY is not set", REGOS_NO_KEY),
        (r"refused the integration key|HTTP 40[13]\b", REGOS_KEY),
        (r"rate.limit", REGOS_RATE_LIMIT),
        (r"listing changed", REGOS_CHANGED),
        (r"^(OperationalError|DatabaseError|InterfaceError|ServerSelectionTimeoutError|AutoReconnect"
         r"|ConnectionFailure|NetworkTimeout)\b|database is locked|unable to open database", DATABASE),
        (r"^(redis\.)?(exceptions\.)?(ConnectionError|TimeoutError): Error \d+ connecting", REDIS),
        (r"ConnectionError|HTTPConnectionPool|HTTPSConnectionPool|Max retries exceeded|timed out|"
         r"connection failed|could not be sent|unexpected HTTP|HTTP 5\d\d", REGOS_UNREACHABLE),
        (r"unusable answer|not JSON|not a valid|field required|step failed", REGOS_UNREADABLE),
        (r"no heartbeat", WORKER_STOPPED),
        (r"never started by a worker", NEVER_STARTED),
        (r"no longer running", ABANDONED),
    )
)


def cause_from_text(error: str) -> str:
    """The cause code of a stored error text without one (older runs, the scheduled job's error)."""
    text = error.strip()
    if not text:
        return ""
    for pattern, code in _TEXT_RULES:
        if pattern.search(text):
            return code
    return UNEXPECTED


def cause_label(code: str, error: str = "") -> str:
    """The one-line cause in the current language ("" when there is no error at all)."""
    code = code if code in LABELS else cause_from_text(error)
    return str(LABELS[code]) if code else ""
