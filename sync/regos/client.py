"""REGOS integration API client.

``POST {base_url}/{key}/v1/{Method}`` with a JSON body over one ``requests.Session``. Every answer is
parsed with ``Decimal`` for JSON numbers (money stays exact), its envelope is checked and its
entities are validated with the pydantic models in ``sync.regos.models``.

Behaviour the sync relies on:

* **Pacing**: one token per HTTP attempt from a ``RateLimiter`` (by default the process-wide token
  bucket of the key, see ``sync.regos.ratelimit``).
* **Rate limits** (``ok:false`` error 8213 or HTTP 429): wait (``Retry-After`` if given, else an
  exponential backoff), drain the limiter and retry, up to ``max_rate_limit_retries`` times and
  ``max_rate_limit_wait_s`` seconds per call -> ``RegosRateLimitError``.
* **Transient failures** (HTTP 5xx/408, connection errors, timeouts, bodies that are not a valid
  envelope): exponential backoff with jitter, at most ``max_attempts`` failed attempts per call ->
  ``RegosTransportError`` (network/HTTP) or ``RegosResponseError`` (body).
* **Immediate failures**: 1008 -> ``RegosValidationError``; 1096/9006 and HTTP 401/403 ->
  ``RegosAccessError``; any other REGOS error code -> ``RegosApiError``; other HTTP 4xx/3xx ->
  ``RegosTransportError``; an entity that does not match its model -> ``RegosResponseError`` naming
  the field (``DocCheque/Get: result[3].amount: Input should be a valid decimal``). Retrying does
  not change what REGOS stores, so invalid entities are not retried.
* **Quarantine**: the sync's listings (``listing_*``, and ``get_*`` by ids given a ``rejected`` list)
  validate row by row: a row that does not match its model is handed back as a ``RejectedRow`` (the
  row as received, the reason naming the field, its id and date if readable) and the rest of the page
  is used. One odd document must not stop a sync; every other caller stays strict.
* **Paging** is lazy (one validated page in memory) and refuses to drop rows silently; a page whose
  paging fields do not add up is read again before the listing fails: see ``RegosClient.iter_listing``.
  It asks for the largest page REGOS gives and learns the server's real cap: see ``_PageSizes``.

Retries are a hand-written loop rather than tenacity: two independent budgets (rate limits vs
failures), ``Retry-After``, and the hand-off of waits to a shared limiter read more plainly as one
loop than as a stack of tenacity callbacks.

The integration key is a secret that sits in the URL path. It never appears in log lines,
exception messages or ``repr``; urllib3's own debug lines are masked too (``_KeyMaskingFilter``).
One client is meant for one thread (``requests.Session`` is not thread-safe); the limiter is.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import quote

import requests
from pydantic import BaseModel, TypeAdapter, ValidationError

from payroll.dates import add_months, range_bounds_unix
from regos_admin.env import SECRET_RUN, mask, redact
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
from sync.regos.models import (
    ChequeItemOperation,
    ChequeStatus,
    DocCashSession,
    DocCheque,
    DocWholeSale,
    DocWholeSaleReturn,
    ErrorResult,
    EventPage,
    OperatingCash,
    RetailReportCount,
    RetailReportPayment,
    Stock,
    UnixTime,
    User,
)
from sync.regos.ratelimit import RateLimiter, key_fingerprint, shared_limiter

log = logging.getLogger("sync.regos")

MAX_IDS_PER_REQUEST = 250          # uuids / ids per Get request (documented REGOS maximum)
MAX_BATCH_STEPS = 50               # steps per batch request (documented REGOS maximum)
RATE_LIMIT_CODE = 8213
VALIDATION_CODES = frozenset({1008})
ACCESS_CODES = frozenset({1096, 9006})
SORT_BY_DATE = ({"column": "Date", "direction": "ASC"},)
DEFAULT_PAGE_SIZE = 10_000         # ``limit`` asked first: the cap of the vendor's reference methods (swagger)
MIN_PAGE_SIZE = 100                # a timed-out page is halved down to this, then timeouts count as failures

HEADERS = {
    "Content-Type": "application/json;charset=utf-8",
    "Accept": "application/json",
}

# The one 4xx that still means "try again": a gateway's own request timeout.
_RETRYABLE_4XX = frozenset({408})


@dataclass
class ClientStats:
    requests_made: int = 0                                 # HTTP requests sent (incl. retries)
    by_method: dict[str, int] = field(default_factory=dict)
    rate_limit_waits: int = 0                              # 8213 / 429 answers that were retried
    retries: int = 0                                       # all retried attempts
    wait_s: float = 0.0                                    # seconds spent in the limiter and backoff


@dataclass(frozen=True)
class PageSummary:
    """What a caller remembers of one exact answer of a listing, keyed by the digest of its body.

    ``count``/``total``/``next_offset`` are the page's own paging fields (a function of the bytes), so
    a body seen before is paged without being parsed; ``days`` is the caller's (the engine's business
    days of the page's documents, in order of first appearance).
    """

    count: int
    total: int | None
    next_offset: int | None
    days: tuple[date, ...] = ()


class PageMemo(Protocol):
    def recall(self, digest: str) -> PageSummary | None: ...


class ListingPage[M: BaseModel]:
    """One answer of a listing: the request, the SHA-256 of the body, and its rows.

    A body the memo knows (``known``) is not parsed unless ``rows()`` is called; its paging fields
    come from the memo and pass the same checks as a parsed page's.
    """

    __slots__ = ("request", "digest", "known", "count", "total", "next_offset", "_rows", "_rejected", "_parse")

    def __init__(self, *, request: str, digest: str, count: int, total: int | None, next_offset: int | None,
                 known: PageSummary | None = None, rows: list[M] | None = None,
                 rejected: list[RejectedRow] | None = None,
                 parse: Callable[[], tuple[list[M], list[RejectedRow]]] | None = None) -> None:
        self.request = request
        self.digest = digest
        self.known = known
        self.count = count  # rows on the page as received, rejected ones included (paging counts them)
        self.total = total  # the answer's own paging fields, as received
        self.next_offset = next_offset
        self._rows = rows
        self._rejected = rejected if rejected is not None else ([] if rows is not None else None)
        self._parse = parse

    def _parsed(self) -> None:
        if self._rows is None:
            assert self._parse is not None
            self._rows, self._rejected = self._parse()
            self._parse = None

    def rows(self) -> list[M]:
        """The rows that match the model, in page order."""
        self._parsed()
        assert self._rows is not None
        return self._rows

    def rejected(self) -> list[RejectedRow]:
        """The rows that do not (only a quarantining listing has any)."""
        self._parsed()
        assert self._rejected is not None
        return self._rejected


@dataclass(frozen=True)
class RejectedRow:
    """A listing row that does not match its model: quarantined by the sync instead of failing the page.

    ``raw`` is the row as received (JSON numbers with a fraction as ``Decimal``); ``reason`` names the
    field (``DocCheque/Get: result[3].amount: Input should be a valid decimal``); ``regos_id`` is its
    ``uuid`` or ``id`` as text when readable, else ""; ``date`` its date when readable (else None: the
    sync cannot tell which day lacks it).
    """

    method: str
    index: int
    raw: Any
    reason: str
    regos_id: str = ""
    date: datetime | None = None


@dataclass(frozen=True)
class BatchStep:
    key: str
    path: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class BatchStepResult:
    key: str
    ok: bool
    result: Any
    error_code: int | None = None
    description: str = ""

    def raise_for_error(self, *, path: str = "") -> None:
        """Raise the typed error for a failed step (the same mapping as a direct call)."""
        if self.ok:
            return
        method = path or f"batch step {self.key}"
        if self.error_code is None:
            raise RegosResponseError(f"{method}: {self.description or 'step failed'}", method=method)
        raise _api_error(method, self.error_code, self.description)


class _PageSizes:
    """The ``limit`` each listing method asks for: the largest page REGOS gives, learned as it answers.

    REGOS silently replaces a ``limit`` above its query limit with that cap (docs en docwholesale/get,
    wholesaleoperation/get) and does not publish the number; its reference methods default to and cap
    at 10,000 (the vendor's swagger). So:

    * every method starts at ``page_size`` (``REGOS_PAGE_SIZE``, default 10,000);
    * the first page with fewer rows than asked while ``total`` says more remain shows the server's real
      cap: that method asks for exactly it from then on (learned once per method and client), so each
      page but the last is *full* and a listing of n rows takes ceil(n / cap) requests;
    * a read that times out halves the size and asks for the same offset again at once — not counted
      as a failed attempt — down to ``MIN_PAGE_SIZE`` (or ``page_size`` if smaller); at that floor a
      timeout counts like any failure. A full page answered in more than half of ``timeout_s`` halves
      the size for the next pages the same way (large pages are getting slow: shrink before they time
      out).

    The sizes live as long as the client, i.e. one sync run; the next run starts at ``page_size``.
    """

    def __init__(self, page_size: int) -> None:
        self._start = page_size
        self._floor = min(page_size, MIN_PAGE_SIZE)
        self._size: dict[str, int] = {}
        self._capped: set[str] = set()

    def ask(self, method: str) -> int:
        return self._size.get(method, self._start)

    def learn_cap(self, method: str, rows: int) -> bool:
        """Whether ``rows`` (a capped page) became the method's size (only the first time)."""
        if method in self._capped or rows < 1:
            return False
        self._capped.add(method)
        self._size[method] = min(self.ask(method), rows)
        return True

    def shrink(self, method: str, asked: int) -> int | None:
        """Half of ``asked`` (not below the floor) as the method's size; None at the floor."""
        if asked <= self._floor:
            return None
        smaller = max(self._floor, asked // 2)
        self._size[method] = min(self.ask(method), smaller)
        return smaller

    def as_dict(self) -> dict[str, int]:
        return dict(self._size)


def _listing_changed(method: str, context: str, *, was: int, now: int, offset: int) -> RegosListingChanged:
    return RegosListingChanged(
        f"{method}{context}: the listing changed while paging (total {was} at the start, {now} at offset {offset})",
        method=method)


class _PagingGlitch(Exception):
    """A page whose paging fields do not add up (the message says how); the page is read again."""


@dataclass(frozen=True)
class _Problem:
    """A failed attempt that may be retried."""

    kind: str                       # "rate_limit" | "transport" | "response"
    reason: str
    retry_after: float | None = None
    timed_out: bool = False         # the answer took too long (a listing may ask for a smaller page instead)


# --- pure helpers -------------------------------------------------------------------------------


def month_windows(first_day: date, last_day: date) -> list[tuple[date, date]]:
    """Consecutive windows of whole days, each shorter than one calendar month, covering the period.

    A window runs from its first day to the day before the same day-of-month one month later,
    clamped to ``last_day`` (2026-01-15..2026-03-20 -> 01-15..02-14, 02-15..03-14, 03-15..03-20).
    """
    if last_day < first_day:
        raise ValueError(f"last_day {last_day} is before first_day {first_day}")
    windows = []
    start = first_day
    while start <= last_day:
        end = min(add_months(start, 1) - timedelta(days=1), last_day)
        windows.append((start, end))
        start = end + timedelta(days=1)
    return windows


def parse_retry_after(value: str | None, *, date_header: str | None = None,
                      now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None.

    An HTTP-date is measured against the response's own ``Date`` header when there is one, so a
    skewed local clock does not stretch or cut the wait.
    """
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        when = _parse_http_date(value)
        if when is None:
            return None
        reference = _parse_http_date(date_header) if date_header else None
        seconds = (when - (reference or now or datetime.now(tz=UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _parse_http_date(value: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@lru_cache(maxsize=64)
def _list_adapter(model: type[BaseModel]) -> TypeAdapter[Any]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def _error_path(prefix: str, loc: Iterable[int | str]) -> str:
    return prefix + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)


def _validation_message(method: str, exc: ValidationError, prefix: str, context: str = "") -> str:
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{method}: {_error_path(prefix, first['loc'])}: {first['msg']}{more}{context}"


def parse_entities[M: BaseModel](model: type[M], rows: Any, *, method: str, where: str = "result",
                                  context: str = "") -> list[M]:
    """Validate a list of entities (e.g. a batch step's ``result``); errors name the field."""
    try:
        return _list_adapter(model).validate_python(rows)
    except ValidationError as exc:
        message = _validation_message(method, exc, where, context)
    raise RegosResponseError(message, method=method)


_DATE_ADAPTER: TypeAdapter[datetime] = TypeAdapter(UnixTime)


def _readable_date(raw: Any) -> datetime | None:
    if not isinstance(raw, dict) or "date" not in raw:
        return None
    try:
        return _DATE_ADAPTER.validate_python(raw["date"])
    except (ValidationError, ValueError, OverflowError, OSError):
        return None


def _readable_id(model: type[BaseModel], raw: Any) -> str:
    if not isinstance(raw, dict):
        return ""
    value = raw.get("uuid" if "uuid" in model.model_fields else "id")
    if isinstance(value, str) and 0 < len(value.strip()) <= 64:
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
        return str(value)
    return ""


def parse_rows[M: BaseModel](model: type[M], rows: list[Any], *, method: str,
                             context: str = "") -> tuple[list[M], list[RejectedRow]]:
    """(rows that match ``model``, ``RejectedRow`` for each one that does not), both in page order.

    The whole list is validated at once (the common, clean case costs nothing extra); only when it
    fails are the failing rows — pydantic names them by index — set aside and the others validated.
    """
    adapter = _list_adapter(model)
    try:
        return adapter.validate_python(rows), []
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
    by_row: dict[int, list[Any]] = {}
    for error in errors:
        loc = error["loc"]
        if not loc or not isinstance(loc[0], int) or not 0 <= loc[0] < len(rows):
            # Not about one row: the answer as a whole is unusable.
            raise RegosResponseError(f"{method}: {_error_path('result', loc)}: {error['msg']}{context}",
                                     method=method)
        by_row.setdefault(loc[0], []).append(error)
    good = [index for index in range(len(rows)) if index not in by_row]
    valid: list[M] = adapter.validate_python([rows[index] for index in good])
    rejected = []
    for index, row_errors in sorted(by_row.items()):
        first = row_errors[0]
        more = f" (and {len(row_errors) - 1} more)" if len(row_errors) > 1 else ""
        reason = f"{method}: {_error_path('result', first['loc'])}: {first['msg']}{more}{context}"
        rejected.append(RejectedRow(method=method, index=index, raw=rows[index], reason=reason,
                                    regos_id=_readable_id(model, rows[index]), date=_readable_date(rows[index])))
    return valid, rejected


def parse_entity[M: BaseModel](model: type[M], value: Any, *, method: str, where: str = "result") -> M:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        message = _validation_message(method, exc, where)
    raise RegosResponseError(message, method=method)


def _api_error(method: str, code: int, description: str) -> RegosApiError:
    message = f"{method}: REGOS error {code}: {description}".rstrip(": ")
    if code in VALIDATION_CODES:
        cls: type[RegosApiError] = RegosValidationError
    elif code in ACCESS_CODES:
        cls = RegosAccessError
    else:
        cls = RegosApiError
    return cls(message, method=method, code=code, description=description)


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _reject_constant(name: str) -> Any:
    # NaN/Infinity are not JSON and have no place in money.
    raise ValueError(f"non-standard JSON constant {name}")


# The paging members closing a listing body: `, "next_offset": N, "total": M }` (either order, either alone).
_PAGING_TAIL = re.compile(
    rb',\s*"(next_offset|total)"\s*:\s*(null|-?[0-9]{1,18})\s*'
    rb'(?:,\s*"(next_offset|total)"\s*:\s*(null|-?[0-9]{1,18})\s*)?\}\s*\Z'
)
_TAIL_WINDOW = 160  # bytes searched from the end: the tail is short, the body may be megabytes


def _paging_tail(content: bytes) -> tuple[int, dict[str, int | None]] | None:
    """(where the paging members start, their values) if the body ends with them, else None.

    They close the top-level object (nothing follows but ``}``), so they are the envelope's own, not a
    document's. ``total`` grows with every new document of the window; keeping it out of the digest lets
    the pages before a new document stay known.
    """
    match = _PAGING_TAIL.search(content, max(0, len(content) - _TAIL_WINDOW))
    if match is None or match.group(1) == match.group(3):
        return None
    fields: dict[str, int | None] = {}
    for name, value in ((match.group(1), match.group(2)), (match.group(3), match.group(4))):
        if name is not None:
            fields[name.decode()] = None if value == b"null" else int(value)
    return match.start(), fields


def _peek_memo(memo: PageMemo, seen: list[Any], content: bytes) -> dict[str, Any] | None:
    """The envelope of a body the memo knows (its rows are parsed later, if at all), else None.

    The digest covers the body without its paging members when they close it (their live values are
    used), else the whole body (the memo's values are used: they are part of the same bytes)."""
    tail = _paging_tail(content)
    digest = hashlib.sha256(content if tail is None else content[: tail[0]]).hexdigest()
    known = memo.recall(digest)
    seen[:] = [digest, known, content]
    if known is None:
        return None
    if tail is None:
        return {"ok": True, "result": None, "total": known.total, "next_offset": known.next_offset}
    return {"ok": True, "result": None, "total": tail[1].get("total"), "next_offset": tail[1].get("next_offset")}


def _chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def _unix(moment: datetime, *, name: str) -> float:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be an aware datetime")
    return moment.timestamp()


# --- key masking in third-party logs ---------------------------------------------------------


class _KeyMaskingFilter(logging.Filter):
    """Masks integration keys in urllib3's debug lines (they print the request path).

    Only SHA-256 fingerprints are kept: a path segment in front of ``/v1/`` is masked when its
    fingerprint belongs to a key some client in this process uses, and so is any run of
    ``SECRET_RUN``+ characters whose windows fingerprint as pieces of such a key (a cut key).
    """

    _candidate = re.compile(r"/([A-Za-z0-9._~%-]{4,256})/v1/")
    _key_chars = re.compile(rf"[A-Za-z0-9._~%-]{{{SECRET_RUN},}}")

    def __init__(self) -> None:
        super().__init__()
        self._fingerprints: set[str] = set()
        self._gram_fingerprints: set[str] = set()
        self._lock = threading.Lock()

    def register(self, key: str) -> None:
        grams = {key_fingerprint(key[i:i + SECRET_RUN]) for i in range(len(key) - SECRET_RUN + 1)}
        with self._lock:
            self._fingerprints = self._fingerprints | {key_fingerprint(key)}
            self._gram_fingerprints = self._gram_fingerprints | grams

    def _mask_segment(self, match: re.Match[str]) -> str:
        segment = match.group(1)
        if key_fingerprint(segment) in self._fingerprints:
            return f"/{mask(segment)}/v1/"
        return match.group(0)

    def _mask_runs(self, match: re.Match[str]) -> str:
        word = match.group(0)
        covered = [False] * len(word)
        for i in range(len(word) - SECRET_RUN + 1):
            if key_fingerprint(word[i:i + SECRET_RUN]) in self._gram_fingerprints:
                covered[i:i + SECRET_RUN] = [True] * SECRET_RUN
        if not any(covered):
            return word
        out: list[str] = []
        for i, char in enumerate(word):
            if not covered[i]:
                out.append(char)
            elif i == 0 or not covered[i - 1]:
                out.append("•••")
        return "".join(out)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._fingerprints:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's problem, not ours
            return True
        masked = self._candidate.sub(self._mask_segment, message)
        masked = self._key_chars.sub(self._mask_runs, masked)
        if masked != message:
            record.msg, record.args = masked, None
        return True


# Enough of a non-JSON body to mask every key run that could reach the 80-character snippet.
_SNIPPET_SOURCE_BYTES = 4096

_KEY_FILTER = _KeyMaskingFilter()
_FILTERED_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry", "sync.regos")
_filter_installed = False


def _install_key_filter(key: str) -> None:
    global _filter_installed
    _KEY_FILTER.register(key)
    if not _filter_installed:
        for name in _FILTERED_LOGGERS:
            logging.getLogger(name).addFilter(_KEY_FILTER)
        _filter_installed = True


# --- the client ------------------------------------------------------------------------------


class RegosClient:
    def __init__(self, *, base_url: str, key: str, rate_per_sec: float = 2.0, burst: int = 50,
                 timeout_s: float = 30.0, page_size: int = DEFAULT_PAGE_SIZE, max_attempts: int = 5,
                 limiter: RateLimiter | None = None, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 jitter: Callable[[], float] = random.random,
                 clock: Callable[[], float] = time.monotonic,
                 max_rate_limit_retries: int = 30, max_rate_limit_wait_s: float = 300.0,
                 backoff_base_s: float = 1.0, backoff_max_s: float = 30.0,
                 rate_limit_backoff_max_s: float = 10.0, max_retry_after_s: float = 120.0) -> None:
        """``limiter``: any ``RateLimiter``; default is the process-wide bucket of ``key``.

        ``sleep``, ``jitter`` (a ``random()``-like callable in [0, 1)) and ``clock`` (times each
        attempt, for the slow-page rule of ``_PageSizes``) are injectable so tests neither wait nor
        depend on chance. Backoff for the n-th failure is
        ``min(backoff_max_s, backoff_base_s * 2**(n-1))`` scaled by ``0.5 + 0.5 * jitter()``.
        """
        if not key:
            raise ValueError("the REGOS integration key is empty")
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self._base_url = base_url.rstrip("/")
        self._key = key
        self._quoted_key = quote(key, safe="")
        self._timeout_s = float(timeout_s)
        self._page_size = int(page_size)
        self._sizes = _PageSizes(self._page_size)
        self._last_attempt_s = 0.0  # how long the last answered attempt took (the slow-page rule)
        self._max_attempts = int(max_attempts)
        self._limiter: RateLimiter = limiter if limiter is not None else shared_limiter(
            key, rate_per_sec=rate_per_sec, burst=burst)
        self._session = session if session is not None else requests.Session()
        self._session.headers.update(HEADERS)
        self._sleep = sleep
        self._jitter = jitter
        self._clock = clock
        self._max_rate_limit_retries = int(max_rate_limit_retries)
        self._max_rate_limit_wait_s = float(max_rate_limit_wait_s)
        self._backoff_base_s = float(backoff_base_s)
        self._backoff_max_s = float(backoff_max_s)
        self._rate_limit_backoff_max_s = float(rate_limit_backoff_max_s)
        self._max_retry_after_s = float(max_retry_after_s)
        self.stats = ClientStats()
        _install_key_filter(key)
        if self._quoted_key != key:
            _install_key_filter(self._quoted_key)

    @classmethod
    def from_settings(cls, **overrides: Any) -> RegosClient:
        """Built from django.conf.settings.REGOS_* values (keyword ``overrides`` win)."""
        from django.conf import settings

        options: dict[str, Any] = {
            "base_url": settings.REGOS_BASE_URL,
            "key": settings.REGOS_INTEGRATION_KEY,
            "rate_per_sec": settings.REGOS_RATE_PER_SEC,
            "burst": settings.REGOS_BURST,
            "timeout_s": settings.REGOS_TIMEOUT_S,
            "page_size": settings.REGOS_PAGE_SIZE,
            "max_attempts": settings.REGOS_MAX_ATTEMPTS,
        }
        options.update(overrides)
        if not options["key"]:
            raise RegosAccessError("REGOS_INTEGRATION_KEY is not set", description="no integration key")
        if "limiter" not in options:
            # One bucket for every process using this key (Redis or the database; see shared_limit).
            from sync.regos.shared_limit import limiter_for_settings

            options["limiter"] = limiter_for_settings(
                key=options["key"], rate_per_sec=options["rate_per_sec"], burst=options["burst"]
            )
        return cls(**options)

    stats: ClientStats

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def page_size(self) -> int:
        return self._page_size

    @property
    def page_limits(self) -> dict[str, int]:
        """The ``limit`` asked per listing method where it differs from ``page_size`` (a learned cap or a
        size halved after timeouts); see ``_PageSizes``."""
        return self._sizes.as_dict()

    def masked_url(self, method: str) -> str:
        """The request URL with the key masked: safe for logs and messages."""
        return f"{self._base_url}/{mask(self._key)}/v1/{method}"

    def __repr__(self) -> str:
        return f"RegosClient(base_url={self._base_url!r}, key={mask(self._key)!r})"

    def __enter__(self) -> RegosClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    # --- one request ------------------------------------------------------------------------

    def call(self, method: str, payload: dict[str, Any], *,
             expect: type | tuple[type, ...] | None = None) -> dict[str, Any]:
        """One request (rate-limited, retried); returns the envelope dict when ok:true, else raises.

        ``expect`` (e.g. ``list``) is the JSON type ``result`` must have; another type counts as a
        broken answer and is retried like one.
        """
        return self._request(method, payload, expect=expect)

    def _safe(self, text: str, limit: int = 300) -> str:
        # Masked before it is cut: a cut key is no longer the key, but its runs still are.
        text = redact(text, dict.fromkeys((self._key, self._quoted_key)))
        text = " ".join(text.split())
        return text if len(text) <= limit else text[:limit] + "…"

    def _backoff(self, failure: int, cap: float) -> float:
        base = min(cap, self._backoff_base_s * 2 ** (failure - 1))
        return base * (0.5 + 0.5 * self._jitter())

    def _pause(self, delay: float) -> None:
        """Take a limiter token, making sure at least ``delay`` seconds pass first.

        After a rate-limit answer the limiter has been penalized and usually does the whole wait
        itself; the client sleeps only what the limiter did not (e.g. a limiter that ignores
        penalties, or a plain backoff after a 5xx).
        """
        waited = self._limiter.acquire()
        if delay > waited:
            self._sleep(delay - waited)
            waited = delay
        self.stats.wait_s += waited

    def _request(self, method: str, payload: dict[str, Any], *, expect: type | tuple[type, ...] | None = None,
                 offset: int | None = None, initial_delay: float = 0.0,
                 peek: Callable[[bytes], dict[str, Any] | None] | None = None,
                 smaller: Callable[[], dict[str, Any] | None] | None = None) -> dict[str, Any]:
        """One call, retried. ``smaller`` (listings): after a timeout, the same request for a smaller page,
        sent at once instead of counting the timeout as a failure; None when the page cannot shrink."""
        url = f"{self._base_url}/{self._quoted_key}/v1/{method}"
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        where = "-" if offset is None else offset
        attempts = failures = rate_limited = 0
        rate_limit_waited = 0.0
        delay = initial_delay
        while True:
            self._pause(delay)
            attempts += 1
            self.stats.requests_made += 1
            self.stats.by_method[method] = self.stats.by_method.get(method, 0) + 1
            started = self._clock()
            outcome = self._attempt(method, url, body, expect, peek)
            elapsed = self._clock() - started
            ms = round(elapsed * 1000)

            if isinstance(outcome, dict):
                self._last_attempt_s = elapsed
                log.info("REGOS %s offset=%s rows=%s %d ms attempt %d", method, where,
                         _row_count(outcome.get("result")), ms, attempts)
                return outcome
            if isinstance(outcome, RegosError):
                outcome.attempts = attempts
                log.warning("REGOS %s offset=%s failed after %d ms, attempt %d: %s", method, where, ms,
                            attempts, outcome)
                raise outcome

            problem = outcome
            retry = smaller() if problem.timed_out and smaller is not None else None
            if retry is not None:
                # A page too large to answer in time: ask for a smaller one now; not a failed attempt.
                payload = retry
                body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
                delay = 0.0
                self.stats.retries += 1
                log.warning("REGOS %s offset=%s attempt %d %s; asking for %s rows instead", method, where,
                            attempts, problem.reason, payload.get("limit"))
                continue
            if problem.kind == "rate_limit":
                rate_limited += 1
                delay = (problem.retry_after if problem.retry_after is not None
                         else self._backoff(rate_limited, self._rate_limit_backoff_max_s))
                delay = min(delay, self._max_retry_after_s)
                if (rate_limited > self._max_rate_limit_retries
                        or rate_limit_waited + delay > self._max_rate_limit_wait_s):
                    break
                rate_limit_waited += delay
                self._limiter.penalize(delay)
                self.stats.rate_limit_waits += 1
            else:
                failures += 1
                if failures >= self._max_attempts:
                    break
                delay = (min(problem.retry_after, self._max_retry_after_s) if problem.retry_after is not None
                         else self._backoff(failures, self._backoff_max_s))
            self.stats.retries += 1
            log.warning("REGOS %s offset=%s attempt %d failed after %d ms (%s); retrying in %.2f s",
                        method, where, attempts, ms, problem.reason, delay)

        if problem.kind == "rate_limit":
            error: RegosError = RegosRateLimitError(
                f"{method}: still rate-limited by REGOS after {attempts} attempts "
                f"({rate_limited} rate-limit answers, {rate_limit_waited:.1f} s waited); "
                f"last: {problem.reason}",
                method=method, attempts=attempts)
        elif problem.kind == "transport":
            error = RegosTransportError(f"{method} failed after {attempts} attempts: {problem.reason}",
                                        method=method, attempts=attempts)
        else:
            error = RegosResponseError(
                f"{method}: unusable answer after {attempts} attempts: {problem.reason}",
                method=method, attempts=attempts)
        log.warning("REGOS %s offset=%s gave up: %s", method, where, error)
        raise error

    def _attempt(self, method: str, url: str, body: bytes, expect: type | tuple[type, ...] | None,
                 peek: Callable[[bytes], dict[str, Any] | None] | None = None,
                 ) -> dict[str, Any] | _Problem | RegosError:
        # Errors are returned, not raised, so the caller raises them outside any ``except``: the
        # requests exception (whose text holds the URL, key included) never becomes __context__.
        try:
            response = self._session.post(url, data=body, timeout=self._timeout_s, allow_redirects=False)
        except requests.Timeout as exc:
            # Only a read timeout says the answer took too long; a connect timeout is not about its size.
            return _Problem("transport", f"timed out after {self._timeout_s:g} s ({self._safe(str(exc))})",
                            timed_out=isinstance(exc, requests.ReadTimeout))
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:
            return _Problem("transport", f"connection failed: {type(exc).__name__}: {self._safe(str(exc))}")
        except requests.RequestException as exc:
            return RegosTransportError(f"{method}: the request could not be sent: {type(exc).__name__}: "
                                       f"{self._safe(str(exc))}", method=method)
        if peek is not None and 200 <= response.status_code < 300:
            # A 2xx body seen before (by its digest) is answered from the caller's memo, unparsed.
            known = peek(response.content)
            if known is not None:
                return known
        return self._interpret(method, response, expect)

    def _interpret(self, method: str, response: requests.Response,
                   expect: type | tuple[type, ...] | None) -> dict[str, Any] | _Problem | RegosError:
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("Retry-After"),
                                        date_header=response.headers.get("Date"))
        if status == 429:
            return _Problem("rate_limit", "HTTP 429", retry_after)
        if status in (401, 403):
            return RegosAccessError(f"{method}: REGOS refused the integration key (HTTP {status})",
                                    method=method, description=f"HTTP {status}")
        if status >= 500 or status in _RETRYABLE_4XX:
            return _Problem("transport", f"HTTP {status}", retry_after)
        if not 200 <= status < 300:
            reason = self._safe(response.reason or "")
            return RegosTransportError(f"{method}: unexpected HTTP {status} {reason}".rstrip(), method=method)
        try:
            data = json.loads(response.content, parse_float=Decimal, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            snippet = self._safe(response.content[:_SNIPPET_SOURCE_BYTES].decode("utf-8", "replace"), limit=80)
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            return _Problem("response", f"the body is not valid JSON ({reason}); it starts with {snippet!r}")
        return self._check_envelope(method, data, expect, retry_after)

    def _check_envelope(self, method: str, data: Any, expect: type | tuple[type, ...] | None,
                        retry_after: float | None) -> dict[str, Any] | _Problem | RegosError:
        if not isinstance(data, dict):
            return _Problem("response", f"the body is {_json_kind(data)}, not an envelope object")
        ok = data.get("ok")
        if not isinstance(ok, bool):
            return _Problem("response", "envelope field 'ok' is missing or not true/false")
        if "result" not in data:
            return _Problem("response", "envelope has no 'result'")
        result = data["result"]
        if not ok:
            try:
                error = ErrorResult.model_validate(result)
            except ValidationError:
                return _Problem("response", "ok:false without a valid {error, description} result")
            if error.error == RATE_LIMIT_CODE:
                return _Problem("rate_limit", f"REGOS error {RATE_LIMIT_CODE}", retry_after)
            return _api_error(method, error.error, self._safe(error.description))
        if expect is not None and not isinstance(result, expect):
            names = " or ".join(_json_kind(t()) for t in (expect if isinstance(expect, tuple) else (expect,)))
            return _Problem("response", f"'result' is {_json_kind(result)}, expected {names}")
        for name in ("next_offset", "total"):
            value = data.get(name)
            if isinstance(value, Decimal) and value == value.to_integral_value():
                value = data[name] = int(value)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                return _Problem("response", f"envelope field '{name}' is {_json_kind(value)}, not an integer")
        return data

    # --- paging ---------------------------------------------------------------------------------

    def iter_pages[M: BaseModel](self, method: str, payload: dict[str, Any], model: type[M], *,
                                 label: str = "") -> Iterator[list[M]]:
        """Validated non-empty pages of a listing (one page in memory); paging as in ``iter_listing``."""
        for page in self.iter_listing(method, payload, model, label=label):
            if page.count:
                yield page.rows()

    def iter_listing[M: BaseModel](self, method: str, payload: dict[str, Any], model: type[M], *,
                                   label: str = "", memo: PageMemo | None = None,
                                   quarantine: bool = False) -> Iterator[ListingPage[M]]:
        """Every answer of a ``limit``/``offset`` listing, empty ones included, fetched lazily.

        Asks for the method's page size (``_PageSizes``: ``page_size`` until the server's real cap is
        learned, then that cap). Continues at the rows actually received, ``offset + rows``; REGOS does
        not publish its ``next_offset`` rule, and each of these is followed without losing or repeating
        rows: ``offset + rows``; ``offset + limit asked`` on a page the server capped below what was
        asked (followed naively it would skip the rows between); ``0`` on the last page.

        Stops on an empty page, when ``next_offset`` is missing/0/not past the current offset, or once
        the rows received reach ``total``. A *full* page (as many rows as asked — with the cap learned,
        as many as the server gives) ending exactly at ``total`` is confirmed by one more request: a
        total one row short would otherwise end the listing early. A shorter last page needs no
        confirmation (the server had no more rows to give), so with ``total`` and the cap known a
        listing of n rows takes ceil(n / cap) requests, plus one only when n is a multiple of the cap.
        The one page believed without proof is a first page shorter than asked that ends at ``total``
        before the cap is known: it may be exactly the cap, but confirming every such page would cost
        every small listing a second request. It never drops or repeats rows silently. A page whose
        paging fields do not add up is read again (up to ``max_attempts`` reads, with backoff — a
        one-off glitch heals) and then raises ``RegosResponseError``:

        * ``next_offset`` does not advance while ``total`` says rows remain ("paging did not
          advance at offset N of total T");
        * an empty page at an offset below ``total``;
        * ``next_offset`` past the rows actually received while more remain (rows would be
          skipped; this includes ``next_offset >= total`` with rows still missing) — unless it is
          ``offset + limit`` on a capped page, see above — or inside the page just received (rows
          would be counted twice);
        * more rows after a full page that ended at ``total`` (the total is wrong).

        ``total`` changing between pages raises ``RegosListingChanged`` at once: rows were added or
        removed while paging, so offsets shifted. Pages already yielded cannot be taken back, so the
        listing is not restarted; the run fails (the engine re-reads from its first unwritten day).

        Checks run before a page is yielded, so a page from an inconsistent answer is never handed out.

        With a ``memo``, each body is hashed (SHA-256): a body the memo knows is paged with the memo's
        paging fields — through the same checks — and parsed only if ``rows()`` is asked for.

        With ``quarantine``, rows that do not match ``model`` are set aside (``ListingPage.rejected``)
        instead of failing the page; they still count as rows for the paging checks.
        """
        context = f" ({label})" if label else ""
        offset = 0
        first_total: int | None = None
        while True:
            page, total, next_offset = self._read_page(method, payload, model, offset=offset,
                                                       first_total=first_total, label=label, context=context,
                                                       memo=memo, quarantine=quarantine)
            if first_total is None:
                first_total = total
            yield page
            if next_offset is None:
                return
            offset = next_offset

    def _read_page[M: BaseModel](self, method: str, payload: dict[str, Any], model: type[M], *, offset: int,
                                 first_total: int | None, label: str, context: str,
                                 memo: PageMemo | None = None, quarantine: bool = False,
                                 ) -> tuple[ListingPage[M], int | None, int | None]:
        """(page, total, next offset or None at the end) of the answer at ``offset``, read again while its
        paging fields do not add up."""
        failures = 0
        delay = 0.0
        described = f" (page at offset {offset}{', ' + label if label else ''})"
        signature = ""
        if memo is not None:
            # Without ``limit``: the body says what the page holds, and the size asked may differ between
            # runs (a cap learned earlier in one run) while REGOS answers the same bytes.
            asked_for = {**payload, "offset": offset}
            signature = f"{method} {json.dumps(asked_for, sort_keys=True, separators=(',', ':'), default=str)}"
        while True:
            request = {**payload, "limit": self._sizes.ask(method), "offset": offset}

            def smaller(current: dict[str, Any] = request) -> dict[str, Any] | None:
                limit = self._sizes.shrink(method, current["limit"])
                if limit is None:
                    return None
                current["limit"] = limit
                return dict(current)

            seen: list[Any] = []  # [digest, memo entry or None, body] of the last 2xx answer
            peek: Callable[[bytes], dict[str, Any] | None] | None = None
            if memo is not None:
                peek = functools.partial(_peek_memo, memo, seen)
            envelope = self._request(method, request, expect=list, offset=offset, initial_delay=delay, peek=peek,
                                     smaller=smaller)
            elapsed = self._last_attempt_s
            asked = request["limit"]
            digest, known, content = seen if seen else ("", None, b"")
            page: ListingPage[M]
            sized: Sized
            if known is not None:
                sized = range(known.count)
                page = ListingPage(request=signature, digest=digest, count=known.count,
                                   total=envelope.get("total"), next_offset=envelope.get("next_offset"), known=known,
                                   parse=functools.partial(self._parse_known, method, model, content, described,
                                                           quarantine))
            else:
                result = envelope["result"]
                if quarantine:
                    rows, rejected = parse_rows(model, result, method=method, context=described)
                else:
                    rows, rejected = parse_entities(model, result, method=method, context=described), []
                sized = result  # rejected rows are rows of the page too: the paging checks count them
                page = ListingPage(request=signature, digest=digest, count=len(result), total=envelope.get("total"),
                                   next_offset=envelope.get("next_offset"), rows=rows, rejected=rejected)
            try:
                verdict = self._page_verdict(method, payload, envelope, sized, offset=offset, asked=asked,
                                             first_total=first_total, context=context)
            except _PagingGlitch as glitch:
                failures += 1
                if failures >= self._max_attempts:
                    tries = f" (read {failures} times)" if failures > 1 else ""
                    raise RegosResponseError(f"{method}{context}: {glitch}{tries}", method=method,
                                             attempts=failures) from None
                delay = self._backoff(failures, self._backoff_max_s)
                self.stats.retries += 1
                log.warning("REGOS %s offset=%s: %s; reading the page again in %.2f s", method, offset, glitch,
                            delay)
                continue
            if elapsed > self._timeout_s / 2 and page.count >= self._sizes.ask(method):
                shrunk = self._sizes.shrink(method, self._sizes.ask(method))
                if shrunk is not None:
                    log.warning("REGOS %s offset=%s: a page of %d rows took %.1f s (timeout %g s); asking for %d "
                                "rows from now on", method, offset, page.count, elapsed, self._timeout_s, shrunk)
            return page, *verdict

    def _parse_known[M: BaseModel](self, method: str, model: type[M], content: bytes, context: str,
                                   quarantine: bool = False) -> tuple[list[M], list[RejectedRow]]:
        """Rows of a body the memo knew (it was parsed and checked when it was first seen)."""
        data = json.loads(content, parse_float=Decimal, parse_constant=_reject_constant)
        if quarantine:
            return parse_rows(model, data["result"], method=method, context=context)
        return parse_entities(model, data["result"], method=method, context=context), []

    def _page_verdict(self, method: str, payload: dict[str, Any], envelope: dict[str, Any], rows: Sized, *,
                      offset: int, asked: int, first_total: int | None, context: str) -> tuple[int | None, int | None]:
        """(total, next offset or None at the end); ``_PagingGlitch`` when the paging fields do not add up.

        ``asked`` is the ``limit`` of the request: a page with fewer rows was capped by the server (when
        more remain) or is the last one."""
        total: int | None = envelope.get("total")
        next_offset: int | None = envelope.get("next_offset")
        if total is not None and first_total is not None and total != first_total:
            raise _listing_changed(method, context, was=first_total, now=total, offset=offset)
        if not rows:
            if total is not None and offset < total:
                raise _PagingGlitch(f"empty page at offset {offset} of total {total}")
            return total, None
        received = offset + len(rows)
        if total is not None and received >= total:
            if received == total and len(rows) >= asked:
                self._confirm_end(method, payload, at=received, limit=asked, total=total, context=context)
            return total, None  # the last page, whatever next_offset says (0, offset + rows or + limit)
        if next_offset is None or next_offset <= offset:
            if total is not None:
                raise _PagingGlitch(
                    f"paging did not advance at offset {offset} of total {total} "
                    f"(next_offset {next_offset}, {len(rows)} rows on the page)")
            return total, None  # no total: the server says this is the end
        capped = len(rows) < asked
        if next_offset != received and not (capped and next_offset == offset + asked):
            problem = "skip" if next_offset > received else "repeat"
            of_total = f" of total {total}" if total is not None else ""
            raise _PagingGlitch(
                f"paging would {problem} rows: next_offset {next_offset} after "
                f"{len(rows)} rows at offset {offset}{of_total}")
        if capped and total is not None and self._sizes.learn_cap(method, len(rows)):
            log.info("REGOS %s: the server caps pages at %d rows (asked %d); asking for %d from now on", method,
                     len(rows), asked, self._sizes.ask(method))
        return total, received

    def _confirm_end(self, method: str, payload: dict[str, Any], *, at: int, limit: int, total: int,
                     context: str) -> None:
        """A full page that ends exactly at ``total``: ask once more before believing it.

        With a full last page, "all rows received" rests on ``total`` alone; a total that is one row
        short would end the listing there and lose the rest without a trace. One request more — only
        for a listing whose size is an exact multiple of the page size — turns that into an error.
        """
        envelope = self._request(method, {**payload, "limit": limit, "offset": at}, expect=list,
                                 offset=at)
        extra = len(envelope["result"])
        if not extra:
            return
        now = envelope.get("total")
        if now is not None and now != total:
            raise _listing_changed(method, context, was=total, now=now, offset=at)
        raise _PagingGlitch(
            f"REGOS gave total {total}, yet sent {extra} more rows at offset {at}: its total is wrong, and "
            f"rows past it would be lost")

    def _iter_period[M: BaseModel](self, method: str, model: type[M], first_day: date, last_day: date,
                     filters: dict[str, Any]) -> Iterator[list[M]]:
        for page in self._period_listing(method, model, first_day, last_day, filters):
            if page.count:
                yield page.rows()

    def _period_listing[M: BaseModel](self, method: str, model: type[M], first_day: date, last_day: date,
                                      filters: dict[str, Any], memo: PageMemo | None = None,
                                      quarantine: bool = False) -> Iterator[ListingPage[M]]:
        for window_first, window_last in month_windows(first_day, last_day):
            start, end = range_bounds_unix(window_first, window_last)
            payload = {"start_date": start, "end_date": end, **filters, "sort_orders": list(SORT_BY_DATE)}
            yield from self.iter_listing(method, payload, model, label=f"{window_first}..{window_last}",
                                         memo=memo, quarantine=quarantine)

    def _get_by_ids[M: BaseModel](self, method: str, field_name: str, ids: Sequence[Any],
                                  model: type[M], rejected: list[RejectedRow] | None = None) -> list[M]:
        """Entities by id; with a ``rejected`` list, rows that do not match ``model`` are added to it
        instead of failing the call."""
        unique = list(dict.fromkeys(ids))
        found: list[M] = []
        for chunk in _chunks(unique, MAX_IDS_PER_REQUEST):
            label = f"{len(chunk)} {field_name}"
            for page in self.iter_listing(method, {field_name: chunk}, model, label=label,
                                          quarantine=rejected is not None):
                if page.count:
                    found.extend(page.rows())
                    if rejected is not None:
                        rejected.extend(page.rejected())
        return found

    def _get_all[M: BaseModel](self, method: str, model: type[M],
                               payload: dict[str, Any] | None = None) -> list[M]:
        found: list[M] = []
        for page in self.iter_pages(method, payload or {}, model):
            found.extend(page)
        return found

    # --- documents, each yielding validated pages (lists), lazily ---

    def iter_cheques(self, *, first_day: date, last_day: date,
                     status: ChequeStatus | None = ChequeStatus.CLOSED) -> Iterator[list[DocCheque]]:
        """Cheques dated in Tashkent days first_day..last_day, sorted by date ascending; periods > 1 month
        are split into ≤1-month windows."""
        month_windows(first_day, last_day)  # a reversed period fails here, not at the first next()
        filters = {} if status is None else {"status": ChequeStatus(status).value}
        return self._iter_period("DocCheque/Get", DocCheque, first_day, last_day, filters)

    def iter_wholesales(self, *, first_day: date, last_day: date, performed: bool | None = True,
                        deleted_mark: bool | None = False) -> Iterator[list[DocWholeSale]]:
        """Shipments dated in Tashkent days first_day..last_day, by date, in <=1-month windows.

        ``performed``/``deleted_mark`` filter server-side; ``None`` leaves the filter out.
        """
        month_windows(first_day, last_day)
        return self._iter_period("DocWholeSale/Get", DocWholeSale, first_day, last_day,
                                 _flags(performed, deleted_mark))

    def iter_wholesale_returns(self, *, first_day: date, last_day: date, performed: bool | None = True,
                               deleted_mark: bool | None = False) -> Iterator[list[DocWholeSaleReturn]]:
        """Returns from partners, like ``iter_wholesales``."""
        month_windows(first_day, last_day)
        return self._iter_period("DocWholeSaleReturn/Get", DocWholeSaleReturn, first_day, last_day,
                                 _flags(performed, deleted_mark))

    # --- the same listings as answers (``ListingPage``), for a sync that remembers bodies it has seen ---

    def listing_cheques(self, *, first_day: date, last_day: date,
                        memo: PageMemo | None = None) -> Iterator[ListingPage[DocCheque]]:
        """Closed cheques like ``iter_cheques``, every answer of every window, empty ones included."""
        month_windows(first_day, last_day)
        return self._period_listing("DocCheque/Get", DocCheque, first_day, last_day,
                                    {"status": ChequeStatus.CLOSED.value}, memo, quarantine=True)

    def listing_wholesales(self, *, first_day: date, last_day: date,
                           memo: PageMemo | None = None) -> Iterator[ListingPage[DocWholeSale]]:
        """Performed, not delete-marked shipments like ``iter_wholesales``, as answers."""
        month_windows(first_day, last_day)
        return self._period_listing("DocWholeSale/Get", DocWholeSale, first_day, last_day,
                                    _flags(True, False), memo, quarantine=True)

    def listing_wholesale_returns(self, *, first_day: date, last_day: date,
                                  memo: PageMemo | None = None) -> Iterator[ListingPage[DocWholeSaleReturn]]:
        """Performed, not delete-marked returns from partners like ``iter_wholesale_returns``, as answers."""
        month_windows(first_day, last_day)
        return self._period_listing("DocWholeSaleReturn/Get", DocWholeSaleReturn, first_day, last_day,
                                    _flags(True, False), memo, quarantine=True)

    def get_cheques(self, uuids: Sequence[str], *, rejected: list[RejectedRow] | None = None) -> list[DocCheque]:
        """Cheques by uuid (any status), 250 per request; unknown uuids are simply absent. With
        ``rejected``, cheques that do not match the model are added to it instead of failing the call."""
        return self._get_by_ids("DocCheque/Get", "uuids", uuids, DocCheque, rejected)

    def get_wholesales(self, ids: Sequence[int], *,
                       rejected: list[RejectedRow] | None = None) -> list[DocWholeSale]:
        """Shipments by id (no performed/deleted filter), 250 per request; ``rejected`` as in ``get_cheques``."""
        return self._get_by_ids("DocWholeSale/Get", "ids", ids, DocWholeSale, rejected)

    def get_wholesale_returns(self, ids: Sequence[int], *,
                              rejected: list[RejectedRow] | None = None) -> list[DocWholeSaleReturn]:
        """Returns by id (no performed/deleted filter), 250 per request; ``rejected`` as in ``get_cheques``."""
        return self._get_by_ids("DocWholeSaleReturn/Get", "ids", ids, DocWholeSaleReturn, rejected)

    # --- references ---

    def get_cash_sessions(self, uuids: Sequence[str]) -> list[DocCashSession]:
        """Shifts by uuid, 250 per request."""
        return self._get_by_ids("DocCashSession/Get", "uuids", uuids, DocCashSession)

    def iter_cash_sessions(self, *, start: datetime, end: datetime) -> Iterator[list[DocCashSession]]:
        """Shifts that started between ``start`` and ``end`` (both aware, both inclusive)."""
        start_s = math.ceil(_unix(start, name="start"))
        end_s = math.floor(_unix(end, name="end"))
        if end_s < start_s:
            raise ValueError("end is before start")
        return self.iter_pages("DocCashSession/Get", {"start_date": start_s, "end_date": end_s},
                               DocCashSession, label=f"{start_s}..{end_s}")

    def get_operating_cashes(self, ids: Sequence[int] | None = None) -> list[OperatingCash]:
        """Cash registers with their stock: all of them (``None``) or by id (an empty list asks nothing)."""
        if ids is None:
            return self._get_all("OperatingCash/Get", OperatingCash)
        return self._get_by_ids("OperatingCash/Get", "ids", ids, OperatingCash)

    def retail_report_counts(self, *, start: int, end: int,
                             operating_cash_ids: Sequence[int]) -> RetailReportCount:
        """REGOS's own sale/return cheque counts of the registers in unix seconds [start, end] (≤ 1 month).

        REGOS answers one summed row for all the registers asked (none: nothing sold, zero counts)."""
        rows = self._retail_report("RetailReport/Counts", RetailReportCount, start, end, operating_cash_ids)
        return RetailReportCount(
            sale_count=sum(row.sale_count for row in rows), return_count=sum(row.return_count for row in rows)
        )

    def retail_report_payments(self, *, start: int, end: int,
                               operating_cash_ids: Sequence[int]) -> list[RetailReportPayment]:
        """REGOS's own sale/return amounts by payment type, like ``retail_report_counts``."""
        return self._retail_report("RetailReport/Payments", RetailReportPayment, start, end, operating_cash_ids)

    def _retail_report[M: BaseModel](self, method: str, model: type[M], start: int, end: int,
                                     operating_cash_ids: Sequence[int]) -> list[M]:
        if end < start:
            raise ValueError(f"{method}: end {end} is before start {start}")
        payload = {"start_date": start, "end_date": end, "operating_cash_ids": list(operating_cash_ids)}
        envelope = self.call(method, payload, expect=list)
        return parse_entities(model, envelope["result"], method=method)

    def get_stocks(self) -> list[Stock]:
        return self._get_all("Stock/Get", Stock)

    def get_users(self) -> list[User]:
        return self._get_all("User/Get", User)

    def get_cheque_lines(self, cheque_uuid: str) -> list[ChequeItemOperation]:
        """The lines of one cheque (a plain array, storno pairs included)."""
        method = "ChequeItemOperation/Get"
        envelope = self._request(method, {"doc_sale_uuid": cheque_uuid}, expect=list)
        return parse_entities(ChequeItemOperation, envelope["result"], method=method)

    def get_cheque_lines_many(self, cheque_uuids: Sequence[str]) -> dict[str, list[ChequeItemOperation] | None]:
        """The lines of several cheques through ``batch`` (one step each, 50 steps a request).

        A step REGOS refused (other than the rate limit, which ``batch`` waits out) or answered with
        lines we cannot read gives None for that cheque, logged: one odd cheque does not stop the rest.
        """
        method = "ChequeItemOperation/Get"
        unique = list(dict.fromkeys(cheque_uuids))
        steps = [BatchStep(key=uuid, path=method, payload={"doc_sale_uuid": uuid}) for uuid in unique]
        lines: dict[str, list[ChequeItemOperation] | None] = {}
        for result in self.batch(steps):
            if not result.ok:
                log.warning("REGOS %s for cheque %s failed: %s %s", method, result.key, result.error_code,
                            result.description)
                lines[result.key] = None
                continue
            try:
                lines[result.key] = parse_entities(ChequeItemOperation, result.result, method=method,
                                                   context=f" (cheque {result.key})")
            except RegosResponseError as exc:
                log.warning("%s", exc)
                lines[result.key] = None
        return lines

    # --- batch ---

    def batch(self, steps: Sequence[BatchStep], *, stop_on_error: bool = False) -> list[BatchStepResult]:
        """Run steps through ``batch``, 50 per request; one ``BatchStepResult`` per executed step, in order.

        More than 50 steps are sent as several consecutive batch requests, so a ``${key...}``
        placeholder only resolves against a step in the same group of 50. With ``stop_on_error``
        no later group is sent after a failed step, and steps REGOS skipped are not in the list.
        Without it, steps refused for the rate limit (8213) are re-sent after a wait (bounded like
        any rate limit); other failed steps come back with ``ok=False`` and the REGOS code —
        check them, e.g. with ``BatchStepResult.raise_for_error``. Keys must be unique.
        """
        steps = list(steps)
        keys = [step.key for step in steps]
        if len(set(keys)) != len(keys):
            raise ValueError("batch step keys must be unique")
        results: list[BatchStepResult] = []
        for group in _chunks(steps, MAX_BATCH_STEPS):
            group_results = self._batch_group(group, stop_on_error)
            results.extend(group_results)
            if stop_on_error and not all(result.ok for result in group_results):
                break
        return results

    def _batch_group(self, group: list[BatchStep], stop_on_error: bool) -> list[BatchStepResult]:
        done: dict[str, BatchStepResult] = {}
        pending = group
        rounds = 0
        delay = 0.0
        while pending:
            answers = self._send_batch(pending, stop_on_error, delay)
            limited = [step for step in pending if not stop_on_error and step.key in answers
                       and answers[step.key].error_code == RATE_LIMIT_CODE]
            limited_keys = {step.key for step in limited}
            for step in pending:
                if step.key in answers and step.key not in limited_keys:
                    done[step.key] = answers[step.key]
            if not limited:
                break
            rounds += 1
            if rounds > self._max_rate_limit_retries:
                raise RegosRateLimitError(
                    f"batch: {len(limited)} steps still rate-limited (8213) after {rounds} rounds",
                    method="batch", attempts=rounds)
            delay = self._backoff(rounds, self._rate_limit_backoff_max_s)
            self._limiter.penalize(delay)
            self.stats.rate_limit_waits += 1
            self.stats.retries += 1
            log.warning("REGOS batch: %d steps rate-limited; re-sending them in %.2f s", len(limited), delay)
            pending = limited

        ordered: list[BatchStepResult] = []
        for step in group:
            if step.key in done:
                ordered.append(done[step.key])
            elif stop_on_error and any(not result.ok for result in ordered):
                break  # REGOS skipped the steps after the failure
            else:
                raise RegosResponseError(f"batch: no answer for step {step.key!r}", method="batch")
        return ordered

    def _send_batch(self, steps: list[BatchStep], stop_on_error: bool,
                    delay: float) -> dict[str, BatchStepResult]:
        payload = {"stop_on_error": stop_on_error,
                   "requests": [{"key": s.key, "path": s.path, "payload": s.payload} for s in steps]}
        envelope = self._request("batch", payload, expect=(list, dict), initial_delay=delay)
        items = envelope["result"]
        if isinstance(items, dict):  # some versions wrap the steps: {"responses": [...]}
            items = items.get("responses")
        if not isinstance(items, list):
            raise RegosResponseError("batch: result is not a list of step answers", method="batch")
        wanted = {s.key for s in steps}
        answers: dict[str, BatchStepResult] = {}
        for index, item in enumerate(items):
            where = f"batch: result[{index}]"
            if not isinstance(item, dict) or not isinstance(item.get("key"), str):
                raise RegosResponseError(f"{where}: a step answer needs a string 'key'", method="batch")
            key = item["key"]
            if key not in wanted:
                raise RegosResponseError(f"{where}: answer for unknown step {key!r}", method="batch")
            answers[key] = self._step_result(key, item, where)
        return answers

    def _step_result(self, key: str, item: dict[str, Any], where: str) -> BatchStepResult:
        response = item.get("response")
        if not isinstance(response, dict):
            status = item.get("status")
            return BatchStepResult(key=key, ok=False, result=None,
                                   description=f"step answered status {status} without a response")
        ok = response.get("ok")
        if not isinstance(ok, bool):
            raise RegosResponseError(f"{where}.response.ok: missing or not true/false", method="batch")
        result = response.get("result")
        if ok:
            return BatchStepResult(key=key, ok=True, result=result)
        try:
            error = ErrorResult.model_validate(result)
        except ValidationError:
            return BatchStepResult(key=key, ok=False, result=result,
                                   description="ok:false without a valid {error, description} result")
        return BatchStepResult(key=key, ok=False, result=result, error_code=error.error,
                               description=self._safe(error.description))

    # --- events ---

    def get_events(self, *, last_event_id: str | None = None, from_date: datetime | None = None,
                   limit: int = 1000, actions: Sequence[str] | None = None) -> EventPage:
        """One page of the persistent-event replay; follow ``next_event_id`` while ``has_more``.

        ``connected_integration_id`` (the key) is always sent: without it REGOS answers with the
        events of every integration of the account (vendor schema ``schemas/api/event/event.py``).
        The body is never logged, and REGOS's error texts pass through ``_safe`` (key masked).
        """
        payload: dict[str, Any] = {"connected_integration_id": self._key}
        if last_event_id is not None:
            payload["last_event_id"] = last_event_id
        if from_date is not None:
            payload["from_date"] = math.floor(_unix(from_date, name="from_date"))
        payload["limit"] = limit
        if actions:
            payload["actions"] = list(actions)
        envelope = self._request("Event/Get", payload, expect=dict)
        return parse_entity(EventPage, envelope["result"], method="Event/Get")


def _flags(performed: bool | None, deleted_mark: bool | None) -> dict[str, bool]:
    flags = {}
    if performed is not None:
        flags["performed"] = performed
    if deleted_mark is not None:
        flags["deleted_mark"] = deleted_mark
    return flags


def _row_count(result: Any) -> int | None:
    if isinstance(result, list):
        return len(result)
    if isinstance(result, dict) and isinstance(result.get("events"), list):
        return len(result["events"])
    return None
