"""``FakeRegosServer``: the REGOS integration gateway over HTTP, on 127.0.0.1.

Protocol (see shared/reference/regos-api.md). ``POST /gateway/out/{key}/v1/{Method}`` with a JSON
object body; the method path is case-insensitive. Everything REGOS processes answers HTTP 200:

* success: ``{"ok": true, "result": ...}`` and, for paged lists, ``"next_offset": offset + len(page)``
  and ``"total"``;
* failure: ``{"ok": false, "result": {"error": CODE, "description": "..."}}`` — 1096 wrong key,
  1008 invalid parameters / not a POST / body not a JSON object, 8213 rate limited, 1002 unknown
  method (the last code is ours; REGOS does not publish one).

Checks run in this order: fault plan (see faults.py), key (1096, costs no token), POST (1008), rate
limit (8213), JSON body (1008), method (1002), parameters (1008).

Paging. One server page cap (``page_cap``, default 1000) for every method, references included, so
a benchmark can count pages as ceil(n / page_cap). A missing ``limit`` means ``page_cap``; a larger
one is silently capped; ``limit`` < 1 or ``offset`` < 0 is 1008. ``next_offset`` follows the rule
``next_offset`` ("rows": offset + rows, the default; "limit": offset + the limit asked, even on a
capped page; "zero": 0 on the last page — see ``protocol.NEXT_OFFSET_RULES``). Order is fixed whatever
``sort_orders`` says (it is accepted and ignored): cheques by (date, uuid), wholesale documents by
(date, id), cash sessions by (start_date, uuid), references by id — so pages never overlap or skip.

Selections. ``DocCheque/Get`` needs ``uuids`` (≤ 250), ``session_uuid`` or both ``start_date`` and
``end_date``; the period (both ends inclusive) must satisfy end ≥ start and end − start < 31×86400
seconds ("at most one month"; 31 full days minus a second is the longest accepted span), but the
month rule does not apply with uuids/session_uuid. Filters: ``status`` (name any case, or code),
``is_return``, ``seller_ids``, ``cashier_ids``. Wholesale (+returns): ``ids`` or an optional period,
``performed``, ``deleted_mark``, ``stock_ids``, ``attached_user_ids``; deleted documents are gone.
``DocCashSession/Get``: ``uuids``, ``operating_cash_ids``, ``is_close``, a period on ``start_date``.
``OperatingCash/Get``: ``ids``, ``stock_ids``; ``Stock/Get``: ``ids``, ``deleted_mark``;
``User/Get``: ``ids``, ``active``. An empty id list means "not filtered". The newer
``filters: [...]`` contract is not emulated and answers 1008 rather than silently ignoring it.

Line items. ``ChequeItemOperation/Get`` (and its legacy alias ``DocChequeOperation/Get``) and
``ChequePaymentOperation/Get`` take ``doc_sale_uuid`` and return a plain array whose
quantity × price (resp. value) sums exactly to the cheque amount; each cheque line carries the
``stock_id`` its register had at the sale (registers move: ``Dataset.move_operating_cash``, and
``OperatingCash/Get`` answers the stock at the dataset's ``clock``). ``WholeSaleOperation/Get`` and
``WholeSaleReturnOperation/Get`` take ``document_ids`` with exactly one id, paged.

Batch. ``batch`` runs ≤ 50 steps ``{"key", "path", "payload"}`` (unique keys; ``stop_on_error``
honoured; ``${...}`` placeholders are not emulated) and answers
``result = [{"key", "status": 200, "response": <envelope>}]``. It costs ONE rate-limit token — REGOS
does not publish whether a batch counts as one request or as one per step; this is our choice.
``stats.total`` counts HTTP requests; ``stats.by_method`` counts ``batch`` once and every step again
under its own path.

Rate limit. A token bucket per key (starts full, ``burst`` tokens, refilled at ``rate_per_sec``),
off unless ``rate_per_sec`` or ``burst`` is given (the missing one defaults to 2 /s or 50); the clock
is injectable so tests need no real waiting.

Events. ``Event/Get`` pages the dataset's event log by ``last_event_id`` (exclusive) and/or
``from_date`` (unix, inclusive) with ``actions`` and ``limit`` (≤ page cap); an unknown
``last_event_id`` is 1008. With ``webhook_url`` set every new event is POSTed, in order, from a
background thread in the REGOS webhook envelope (3 attempts; outcomes in ``webhook_log``).

Control endpoints (outside ``/gateway/out``; for a server in another process): ``GET
/_emulator/health``, ``GET /_emulator/stats``, ``POST /_emulator/reset-stats``, ``POST
/_emulator/fault-plan {"spec"}``, ``POST /_emulator/mutate {"op", "uuid"|"id", "amount"}``, ``GET
/_emulator/counts?first=YYYY-MM-DD&last=YYYY-MM-DD``, ``POST /_emulator/key {"key"}``, ``POST
/_emulator/rate-limit {"rate", "burst"}`` (nulls switch it off), ``POST /_emulator/paging
{"page_cap", "next_offset"}`` (either may be left out). They need no key: bind to 127.0.0.1.

The key is never logged or printed; request logging is off.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import queue
import random
import re
import socket
import struct
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid as uuid_module
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from payroll.dates import business_date_of_unix, month_bounds, range_bounds_unix
from sync.regos.emulator.dataset import (
    CASH,
    CHEQUE,
    ITEMS,
    NO_FILTER,
    SESSION,
    STOCK,
    USER,
    WHOLESALE,
    WHOLESALE_RETURN,
    Dataset,
    EventCursorError,
    Filter,
)
from sync.regos.emulator.faults import DELAY, POST, PRE, REPORT, Fault, FaultPlan
from sync.regos.emulator.protocol import (
    ERR_ACCESS,
    ERR_RATE_LIMIT,
    ERR_UNKNOWN_METHOD,
    ERR_VALIDATION,
    NEXT_OFFSET_RULES,
    canonical_method,
    decimal_text,
    encode,
    encode_bytes,
    error_body,
    loads,
    next_offset,
    status_code,
)

DEMO_KEY = "demo0000regos0000local0000key000"
MAX_UUIDS = 250
MAX_BATCH_STEPS = 50
MONTH_SECONDS = 31 * 86400
_GATEWAY_RE = re.compile(r"^/gateway/out/([^/]+)/v1/(.+)$")
_JSON = "application/json; charset=utf-8"
_HTML = "text/html; charset=utf-8"


class ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _invalid(detail: str) -> ApiError:
    return ApiError(ERR_VALIDATION, f"Input validation error: parameters are invalid. Details: {detail}")


@dataclass
class EmulatorStats:
    total: int = 0  # HTTP requests to /gateway/out (every one: rejected, faulted, batch = 1)
    by_method: dict[str, int] = field(default_factory=dict)  # incl. each batch step by its own path
    rate_limited: int = 0  # answers with error 8213 (bucket or fault plan)
    timestamps: list[float] = field(default_factory=list)  # server clock at each request
    faults: dict[str, int] = field(default_factory=dict)  # injected faults by label
    errors: dict[int, int] = field(default_factory=dict)  # top-level ok:false answers by code
    documents: int = 0  # items served in paged results (incl. batch steps)
    pages: int = 0  # paged results served (incl. batch steps)
    connections: int = 0  # TCP connections accepted (keep-alive reuse shows as few connections)
    events_without_integration: int = 0  # Event/Get requests without connected_integration_id

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total, "by_method": dict(self.by_method), "rate_limited": self.rate_limited,
            "faults": dict(self.faults), "errors": {str(k): v for k, v in self.errors.items()},
            "documents": self.documents, "pages": self.pages, "connections": self.connections,
            "events_without_integration": self.events_without_integration, "timestamps": list(self.timestamps),
        }


class TokenBucket:
    """REGOS's limiter per key: ``burst`` tokens, refilled continuously at ``rate`` per second."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate, self.burst, self._clock = rate, burst, clock
        self.tokens = float(burst)
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self._at) * self.rate)
        self._at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = _JSON
    headers: tuple[tuple[str, str], ...] = ()
    action: str = "send"  # "send" | "reset" (RST, no answer) | "cut" (half the body, then close)


# --- small payload readers: strict types, because a sloppy client must fail here, not in prod ----
def _opt_int(p: dict[str, Any], name: str, *, minimum: int | None = None) -> int | None:
    value = p.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(f"{name} must be an integer")
    if minimum is not None and value < minimum:
        raise _invalid(f"{name} must be ≥ {minimum}")
    return value


def _opt_bool(p: dict[str, Any], name: str) -> bool | None:
    value = p.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise _invalid(f"{name} must be true or false")


def _opt_ints(p: dict[str, Any], name: str) -> frozenset[int] | None:
    value = p.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or any(isinstance(v, bool) or not isinstance(v, int) for v in value):
        raise _invalid(f"{name} must be an array of integers")
    return frozenset(value) if value else None


def _opt_strs(p: dict[str, Any], name: str) -> list[str] | None:
    value = p.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or any(not isinstance(v, str) for v in value):
        raise _invalid(f"{name} must be an array of strings")
    return value or None


def _opt_str(p: dict[str, Any], name: str) -> str | None:
    value = p.get(name)
    if value is None or isinstance(value, str):
        return value or None
    raise _invalid(f"{name} must be a string")


def _period(p: dict[str, Any], *, month_limit: bool = False) -> tuple[int | None, int | None]:
    start, end = _opt_int(p, "start_date", minimum=0), _opt_int(p, "end_date", minimum=0)
    if start is None and end is None:
        return None, None
    if start is None or end is None:
        raise _invalid("start_date and end_date must be given together")
    if end < start:
        raise _invalid("end_date must not be earlier than start_date")
    if month_limit and end - start >= MONTH_SECONDS:
        raise _invalid("the period must not be longer than one month (end_date - start_date < 31 days)")
    return start, end


# --- line items: deterministic, and summing exactly to the document amount ----------------------
def split_amount(seed: str, amount: Decimal, *, wholesale: bool = False) -> list[tuple[int, Decimal]]:
    """(quantity, price) lines with Σ quantity × price == amount exactly: every line but the last
    has a whole-hundreds price; the last line (quantity 1) carries the remainder, tiyin included."""
    rng = random.Random(seed)
    k = rng.randint(1, 4)
    if amount <= 0 or amount < 2000 * k:
        return [(1, amount)]
    lines: list[tuple[int, Decimal]] = []
    remaining = amount
    for j in range(k - 1):
        qty = rng.randint(5, 200) if wholesale else rng.randint(1, 3)
        ceiling = int(remaining * Decimal("0.8") / (k - j) / qty / 100)
        if ceiling < 1:
            break
        price = Decimal(rng.randint(max(1, ceiling // 2), ceiling) * 100)
        lines.append((qty, price))
        remaining -= qty * price
    lines.append((1, remaining))
    return lines


def payment_parts(uuid: str, amount: Decimal) -> list[tuple[Decimal, dict[str, Any]]]:
    """How a cheque was paid: all cash, or (for ~30% of cheques of ≥ 20 000) 40% cash + 60% card —
    deterministic per cheque, so ``ChequePaymentOperation/Get`` and ``RetailReport/Payments`` agree."""
    cash = {"id": 1, "name": "Naqd", "is_cash": True}
    if random.Random(f"pay:{uuid}").random() < 0.3 and amount >= 20000:
        card = (amount * Decimal("0.6")).quantize(Decimal(1))
        return [(amount - card, cash), (card, {"id": 2, "name": "Uzcard", "is_cash": False})]
    return [(amount, cash)]


def _item(seed: str, order: int) -> dict[str, Any]:
    item_id, name, dept_id, dept_name = ITEMS[random.Random(f"{seed}:{order}").randrange(len(ITEMS))]
    return {"id": item_id, "code": item_id, "name": name, "fullname": name,
            "department": {"id": dept_id, "name": dept_name}, "group": None}


def _line_uuid(parent: str, order: int, kind: str = "op") -> str:
    return str(uuid_module.uuid5(uuid_module.NAMESPACE_URL, f"regos-emulator:{kind}:{parent}:{order}"))


# --- the server -----------------------------------------------------------------------------------
class FakeRegosServer:
    """A REGOS gateway serving ``dataset``; see the module docstring for the protocol."""

    def __init__(self, dataset: Dataset, key: str = DEMO_KEY, page_cap: int = 1000,
                 rate_per_sec: float | None = None, burst: int | None = None,
                 fault_plan: str | None = None, webhook_url: str | None = None, *,
                 next_offset: str = "rows",
                 host: str = "127.0.0.1", port: int = 0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.dataset = dataset
        self.key = key
        self.page_cap = 1000
        self.next_offset = "rows"
        self.host, self.port = host, port
        self.webhook_url = webhook_url
        self.webhook_log: list[dict[str, Any]] = []
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self.set_paging(page_cap=page_cap, next_offset=next_offset)
        self._stats = EmulatorStats()
        self._plan = FaultPlan(fault_plan)
        self._buckets: dict[str, TokenBucket] = {}
        self._rate: tuple[float, int] | None = None
        self.set_rate_limit(rate_per_sec, burst)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._webhooks: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._webhook_thread: threading.Thread | None = None
        self._methods: dict[str, Callable[[dict[str, Any]], str]] = {
            "DocCheque/Get": self._doc_cheque,
            "DocWholeSale/Get": lambda p: self._wholesale(WHOLESALE, p),
            "DocWholeSaleReturn/Get": lambda p: self._wholesale(WHOLESALE_RETURN, p),
            "DocCashSession/Get": self._sessions,
            "OperatingCash/Get": self._cashes,
            "Stock/Get": self._stocks,
            "User/Get": self._users,
            "ChequeItemOperation/Get": self._cheque_lines,
            "DocChequeOperation/Get": self._cheque_lines,
            "ChequePaymentOperation/Get": self._cheque_payments,
            "WholeSaleOperation/Get": lambda p: self._wholesale_lines(WHOLESALE, p),
            "WholeSaleReturnOperation/Get": lambda p: self._wholesale_lines(WHOLESALE_RETURN, p),
            "Event/Get": self._events,
            "RetailReport/Counts": self._report_counts,
            "RetailReport/Payments": self._report_payments,
        }
        # The report fault of the request being served (``report-drop``/``report-add``), per thread.
        self._report_fault = threading.local()

    # ---- lifecycle ----
    def start(self) -> str:
        """Listen (port 0 → a free port) and serve from a background thread; returns ``base_url``."""
        if self._httpd is not None:
            return self.base_url
        httpd = _HTTPServer((self.host, self.port), _Handler)
        httpd.emulator = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"regos-emulator-{self.port}", daemon=True)
        self._thread.start()
        self._webhook_thread = threading.Thread(target=self._webhook_loop, daemon=True,
                                                name=f"regos-emulator-webhooks-{self.port}")
        self._webhook_thread.start()
        self.dataset.subscribe(self._on_event)
        return self.base_url

    def stop(self) -> None:
        """Stop listening and drop open keep-alive connections (a pooled client sees them close)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self.dataset.unsubscribe(self._on_event)
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._webhooks.put(None)
        if self._webhook_thread is not None:
            self._webhook_thread.join(timeout=15)

    def __enter__(self) -> FakeRegosServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/gateway/out"

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ---- knobs ----
    @property
    def stats(self) -> EmulatorStats:
        return self._stats

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = EmulatorStats()

    def set_fault_plan(self, spec: str | None) -> None:
        """Install a plan (ValueError if invalid; the old plan stays); counting restarts at 1."""
        plan = FaultPlan(spec)
        with self._lock:
            self._plan = plan

    @property
    def fault_plan(self) -> str:
        return self._plan.spec

    def set_rate_limit(self, rate_per_sec: float | None, burst: int | None) -> None:
        """Both None: off. Otherwise a fresh, full bucket per key (missing value: 2 /s or 50)."""
        if rate_per_sec is None and burst is None:
            rate = None
        else:
            r = 2.0 if rate_per_sec is None else float(rate_per_sec)
            b = 50 if burst is None else int(burst)
            if r <= 0 or b < 1:
                raise ValueError("rate_per_sec must be > 0 and burst ≥ 1")
            rate = (r, b)
        with self._lock:
            self._rate = rate
            self._buckets = {}

    def set_paging(self, *, page_cap: int | None = None, next_offset: str | None = None) -> None:
        """The page cap and the ``next_offset`` rule (None leaves one as it is); ValueError if invalid."""
        if page_cap is not None and (isinstance(page_cap, bool) or not isinstance(page_cap, int) or page_cap < 1):
            raise ValueError("page_cap must be an integer ≥ 1")
        if next_offset is not None and next_offset not in NEXT_OFFSET_RULES:
            raise ValueError(f"next_offset must be one of {', '.join(NEXT_OFFSET_RULES)}")
        with self._lock:
            if page_cap is not None:
                self.page_cap = page_cap
            if next_offset is not None:
                self.next_offset = next_offset

    # ---- the gateway ----
    def handle_gateway(self, verb: str, key: str, method_path: str, body: bytes) -> Reply:
        method = canonical_method(method_path)
        name = method or method_path.strip("/")
        with self._lock:
            stats = self._stats
            stats.total += 1
            stats.timestamps.append(self._clock())
            stats.by_method[name] = stats.by_method.get(name, 0) + 1
            fault = self._plan.next(name) if self._plan else None
            if fault is not None:
                stats.faults[fault.label] = stats.faults.get(fault.label, 0) + 1
        if fault is not None and fault.stage == PRE:
            return self._pre_fault(fault)
        if fault is not None and fault.stage == DELAY:
            self._sleep(float(fault.value or 0))
        self._report_fault.value = fault if fault is not None and fault.stage == REPORT else None
        reply = self._execute(verb, key, method, name, body)
        if fault is not None and fault.stage == POST:
            reply = self._post_fault(fault, reply, batch=method == "batch", body=body)
        return reply

    def _error(self, code: int, description: str) -> Reply:
        with self._lock:
            self._stats.errors[code] = self._stats.errors.get(code, 0) + 1
            if code == ERR_RATE_LIMIT:
                self._stats.rate_limited += 1
        return Reply(body=error_body(code, description))

    def _execute(self, verb: str, key: str, method: str | None, name: str, body: bytes) -> Reply:
        if not hmac.compare_digest(key.encode(), self.key.encode()):
            return self._error(ERR_ACCESS, "Access denied: the integration key is not valid")
        if verb != "POST":
            return self._error(ERR_VALIDATION, "Input validation error: use POST with a JSON body")
        if not self._take_token(key):
            return self._error(ERR_RATE_LIMIT, "Too many requests")
        try:
            payload = loads(body) if body.strip() else None
        except (ValueError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict):
            return self._error(ERR_VALIDATION, "Input validation error: the body must be a JSON object")
        if method is None:
            return self._error(ERR_UNKNOWN_METHOD, f"Method not found: {name}")
        try:
            text = self._batch(payload) if method == "batch" else self._run(method, payload)
        except ApiError as exc:
            return self._error(exc.code, exc.description)
        return Reply(body=text.encode())

    def _take_token(self, key: str) -> bool:
        with self._lock:
            if self._rate is None:
                return True
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(*self._rate, self._clock)
            return bucket.take()

    def _run(self, method: str, payload: dict[str, Any]) -> str:
        """The success envelope's text; raises ApiError."""
        if payload.get("filters"):
            raise _invalid("the 'filters' contract is not emulated; use the top-level fields")
        return self._methods[method](payload)

    # ---- envelopes ----
    def _page(self, items: list[str], offset: int, total: int, asked: int) -> str:
        with self._lock:
            self._stats.pages += 1
            self._stats.documents += len(items)
        page = ",".join(items)
        after = next_offset(self.next_offset, offset=offset, rows=len(items), asked=asked, total=total)
        return f'{{"ok":true,"result":[{page}],"next_offset":{after},"total":{total}}}'

    @staticmethod
    def _plain(result: Any) -> str:
        return encode({"ok": True, "result": result})

    def _paging(self, p: dict[str, Any]) -> tuple[int, int, int]:
        """(offset, rows served at most, limit asked — the page cap when none is given)."""
        offset = _opt_int(p, "offset", minimum=0) or 0
        asked = _opt_int(p, "limit", minimum=1) or self.page_cap
        return offset, min(asked, self.page_cap), asked

    # ---- methods ----
    def _doc_cheque(self, p: dict[str, Any]) -> str:
        uuids = _opt_strs(p, "uuids")
        session = _opt_str(p, "session_uuid")
        if uuids is not None and len(uuids) > MAX_UUIDS:
            raise _invalid(f"uuids: at most {MAX_UUIDS} values")
        start, end = _period(p, month_limit=uuids is None and session is None)
        if uuids is None and session is None and start is None:
            raise _invalid("start_date and end_date are required without uuids or session_uuid")
        status = p.get("status")
        try:
            code = None if status is None else status_code(status)
        except ValueError:
            raise _invalid(f"status: unknown value {status!r}") from None
        flt = Filter(status=code, is_return=_opt_bool(p, "is_return"),
                     seller_ids=_opt_ints(p, "seller_ids"), cashier_ids=_opt_ints(p, "cashier_ids"),
                     session=session)
        offset, limit, asked = self._paging(p)
        ds = self.dataset
        if uuids is not None:
            items, total = ds.lookup(CHEQUE, uuids, flt, start, end, offset, limit)
        else:
            items, total = ds.query(CHEQUE, flt, start, end, offset, limit)
        return self._page(items, offset, total, asked)

    def _wholesale(self, kind: str, p: dict[str, Any]) -> str:
        ids = _opt_ints(p, "ids")
        start, end = _period(p)
        flt = Filter(performed=_opt_bool(p, "performed"), deleted_mark=_opt_bool(p, "deleted_mark"),
                     stock_ids=_opt_ints(p, "stock_ids"),
                     attached_user_ids=_opt_ints(p, "attached_user_ids"))
        offset, limit, asked = self._paging(p)
        if ids is not None:
            items, total = self.dataset.lookup(kind, sorted(ids), flt, start, end, offset, limit)
        else:
            items, total = self.dataset.query(kind, flt, start, end, offset, limit)
        return self._page(items, offset, total, asked)

    def _sessions(self, p: dict[str, Any]) -> str:
        uuids = _opt_strs(p, "uuids")
        start, end = _period(p)
        flt = Filter(operating_cash_ids=_opt_ints(p, "operating_cash_ids"), closed=_opt_bool(p, "is_close"))
        offset, limit, asked = self._paging(p)
        if uuids is not None:
            items, total = self.dataset.lookup(SESSION, uuids, flt, start, end, offset, limit)
        else:
            items, total = self.dataset.query(SESSION, flt, start, end, offset, limit)
        return self._page(items, offset, total, asked)

    def _reference(self, kind: str, p: dict[str, Any], flt: Filter) -> str:
        offset, limit, asked = self._paging(p)
        items, total = self.dataset.query(kind, flt, None, None, offset, limit)
        return self._page(items, offset, total, asked)

    def _cashes(self, p: dict[str, Any]) -> str:
        return self._reference(CASH, p, Filter(ids=_opt_ints(p, "ids"), stock_ids=_opt_ints(p, "stock_ids")))

    def _stocks(self, p: dict[str, Any]) -> str:
        flt = Filter(ids=_opt_ints(p, "ids"), deleted_mark=_opt_bool(p, "deleted_mark"))
        return self._reference(STOCK, p, flt)

    def _users(self, p: dict[str, Any]) -> str:
        return self._reference(USER, p, Filter(ids=_opt_ints(p, "ids"), active=_opt_bool(p, "active")))

    def _cheque_target(self, p: dict[str, Any]) -> tuple[str, tuple[Decimal, int, int | None, int] | None]:
        uuid = _opt_str(p, "doc_sale_uuid")
        if uuid is None:
            if p.get("uuids"):
                raise _invalid("selecting lines by their own uuids is not emulated; use doc_sale_uuid")
            raise _invalid("doc_sale_uuid is required")
        return uuid, self.dataset.cheque_facts(uuid)

    def _cheque_lines(self, p: dict[str, Any]) -> str:
        uuid, facts = self._cheque_target(p)
        if facts is None:
            return self._plain([])
        amount, _when, stock_id, last_update = facts
        lines = []
        for order, (qty, price) in enumerate(split_amount(uuid, amount), start=1):
            lines.append({
                "uuid": _line_uuid(uuid, order), "has_storno": False, "storno_uuid": None,
                "document": uuid, "stock_id": stock_id, "item": _item(uuid, order), "order": order,
                "quantity": Decimal(qty), "price": price, "price2": price, "promo_id": None,
                "vat_value": 12, "last_update": last_update,
            })
        return self._plain(lines)

    def _cheque_payments(self, p: dict[str, Any]) -> str:
        uuid, facts = self._cheque_target(p)
        if facts is None:
            return self._plain([])
        rows = []
        for order, (value, payment_type) in enumerate(payment_parts(uuid, facts[0]), start=1):
            rows.append({
                "uuid": _line_uuid(uuid, order, "pay"), "has_storno": False, "storno_uuid": None,
                "document": uuid, "order": order, "payment_type": payment_type,
                "value": value, "has_change": False, "change_uuid": None,
            })
        return self._plain(rows)

    # ---- RetailReport: REGOS's own figures, computed from the dataset (never from our sync code) ----
    def _report_cheques(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        """The closed cheques of the period and registers asked, as the report counts them (with the
        request's report fault applied: one cheque left out or counted twice)."""
        start, end = _period(p, month_limit=True)
        if start is None or end is None:
            raise _invalid("start_date and end_date are required")
        cashes = _opt_ints(p, "operating_cash_ids") or None
        fault: Fault | None = getattr(self._report_fault, "value", None)
        picked: set[str] = set()
        if fault is not None:
            months = {business_date_of_unix(start).replace(day=1), business_date_of_unix(end).replace(day=1)}
            picked = {uuid for month in months if (uuid := self._nth_closed(month, int(fault.value or 1)))}
        found: list[dict[str, Any]] = []
        register: dict[str, int | None] = {}
        for doc in self._closed_cheques(start, end):
            session = doc["session"]
            if session not in register:
                hit = self.dataset.locate(SESSION, session)
                register[session] = None if hit is None else hit[0].doc(hit[1])["operating_cash_id"]
            if cashes is not None and register[session] not in cashes:
                continue
            times = 1
            if doc["uuid"] in picked and fault is not None:
                times = 0 if fault.kind == "report-drop" else 2
            found.extend([doc] * times)
        return found

    def _closed_cheques(self, start: int, end: int) -> Iterator[dict[str, Any]]:
        for block in self.dataset.blocks(CHEQUE, start, end):
            for pos in block.select(NO_FILTER, start, end):
                doc = block.doc(pos)
                if doc["status"] == "Closed":
                    yield doc

    def _nth_closed(self, month: date, number: int) -> str | None:
        first, last = month_bounds(month)
        for index, doc in enumerate(self._closed_cheques(*range_bounds_unix(first, last)), start=1):
            if index == number:
                return str(doc["uuid"])
        return None

    def _report_counts(self, p: dict[str, Any]) -> str:
        cheques = self._report_cheques(p)
        returns = sum(1 for doc in cheques if doc["is_return"])
        return self._plain([{
            "sale_count": len(cheques) - returns, "return_count": returns,
            "debt_amount": Decimal(0), "debt_paid_amount": Decimal(0), "gross_profit": None,
        }])

    def _report_payments(self, p: dict[str, Any]) -> str:
        by_type: dict[str, list[Decimal]] = {}
        for doc in self._report_cheques(p):
            for value, payment_type in payment_parts(doc["uuid"], doc["amount"]):
                sums = by_type.setdefault(payment_type["name"], [Decimal(0), Decimal(0)])
                sums[1 if doc["is_return"] else 0] += value
        return self._plain([
            {"payment_type_name": name, "sale_amount": sale, "return_amount": ret}
            for name, (sale, ret) in sorted(by_type.items())
        ])

    def _wholesale_lines(self, kind: str, p: dict[str, Any]) -> str:
        ids = p.get("document_ids")
        if (not isinstance(ids, list) or len(ids) != 1 or isinstance(ids[0], bool)
                or not isinstance(ids[0], int)):
            raise _invalid("document_ids must hold exactly one document id")
        doc_id = ids[0]
        offset, limit, asked = self._paging(p)
        facts = self.dataset.wholesale_facts(kind, doc_id)
        lines: list[str] = []
        if facts is not None:
            amount, _when, last_update = facts
            for order, (qty, price) in enumerate(split_amount(f"ws:{doc_id}", amount, wholesale=True), 1):
                lines.append(encode({
                    "id": doc_id * 100 + order, "document_id": doc_id, "item": _item(f"ws:{doc_id}", order),
                    "quantity": Decimal(qty), "order": order, "price": price, "price2": price,
                    "vat_value": 0, "last_purchase_cost": (price * Decimal("0.85")).quantize(Decimal("0.01")),
                    "vat_calculation_type": "No", "description": None, "last_update": last_update,
                }))
        return self._page(lines[offset : offset + limit], offset, len(lines), asked)

    def _events(self, p: dict[str, Any]) -> str:
        last = _opt_str(p, "last_event_id")
        from_date = _opt_int(p, "from_date", minimum=0)
        limit = _opt_int(p, "limit", minimum=1) or self.page_cap
        actions = _opt_strs(p, "actions")
        integration = _opt_str(p, "connected_integration_id")
        if integration is not None and not hmac.compare_digest(integration.encode(), self.key.encode()):
            # Another integration's events: this emulated account has only the one integration.
            return self._plain({"events": [], "next_event_id": None, "has_more": False})
        # Without connected_integration_id REGOS answers with the whole account's events; the
        # emulated account has one integration, so both are the same list (``stats`` counts the
        # requests that left it out).
        if integration is None:
            self._stats.events_without_integration += 1
        try:
            events, next_id, has_more = self.dataset.events_page(
                last_event_id=last, from_date=from_date, limit=min(limit, self.page_cap), actions=actions)
        except EventCursorError as exc:
            raise _invalid(str(exc)) from None
        return self._plain({"events": events, "next_event_id": next_id, "has_more": has_more})

    def _batch(self, p: dict[str, Any]) -> str:
        steps = p.get("requests")
        if not isinstance(steps, list) or not steps:
            raise _invalid("requests must be a non-empty array")
        if len(steps) > MAX_BATCH_STEPS:
            raise _invalid(f"requests: at most {MAX_BATCH_STEPS} steps")
        stop_on_error = _opt_bool(p, "stop_on_error") or False
        parsed = []
        for i, step in enumerate(steps):
            if not isinstance(step, dict):
                raise _invalid(f"requests[{i}] must be an object")
            key = step.get("key", step.get("Key"))
            path = step.get("path", step.get("Path"))
            payload = step.get("payload", step.get("Payload", {}))
            if not isinstance(key, str) or not key or not isinstance(path, str):
                raise _invalid(f"requests[{i}] needs a string key and path")
            if not isinstance(payload, dict):
                raise _invalid(f"requests[{i}].payload must be an object")
            parsed.append((key, path, payload))
        if len({k for k, _, _ in parsed}) != len(parsed):
            raise _invalid("request keys must be unique within a batch")
        results = []
        for key, path, payload in parsed:
            method = canonical_method(path)
            name = method or path.strip("/")
            with self._lock:
                self._stats.by_method[name] = self._stats.by_method.get(name, 0) + 1
            ok = True
            try:
                if method is None:
                    raise ApiError(ERR_UNKNOWN_METHOD, f"Method not found: {name}")
                if method == "batch":
                    raise _invalid("a batch cannot contain a batch")
                text = self._run(method, payload)
            except ApiError as exc:
                ok = False
                text = error_body(exc.code, exc.description).decode()
            results.append(f'{{"key":{encode(key)},"status":200,"response":{text}}}')
            if stop_on_error and not ok:
                break
        return f'{{"ok":true,"result":[{",".join(results)}]}}'

    # ---- faults ----
    def _pre_fault(self, fault: Fault) -> Reply:
        if fault.kind == "http":
            return _html_reply(int(fault.value or 500))
        if fault.kind == "http429-retry-after":
            reply = _html_reply(429)
            reply.headers = (("Retry-After", str(fault.value)),)
            return reply
        if fault.kind == "html200":
            body = ("<!DOCTYPE html><html><head><title>REGOS</title></head><body><h1>Xatolik yuz berdi</h1>"
                    "<p>Service temporarily unavailable. Please try again later.</p></body></html>")
            return Reply(200, body.encode(), _HTML)
        if fault.kind == "reset":
            return Reply(action="reset")
        if fault.kind == "8213":
            return self._error(ERR_RATE_LIMIT, "Too many requests")
        if fault.kind == "access":
            return self._error(ERR_ACCESS, "Access denied: the integration key is not valid")
        return self._error(int(fault.value or ERR_VALIDATION), f"Emulated error {fault.value}")

    def _post_fault(self, fault: Fault, reply: Reply, *, batch: bool, body: bytes) -> Reply:
        if fault.kind == "truncated":
            reply.body = reply.body[: max(1, len(reply.body) // 2)]
            return reply
        if fault.kind == "cut":
            reply.action = "cut"
            return reply
        envelope = loads(reply.body)
        if fault.kind == "wrongtype":
            if envelope.get("ok"):
                envelope["result"] = "Internal data"
        elif batch and isinstance(envelope.get("result"), list):
            offsets = _step_offsets(body)
            for step in envelope["result"]:
                _alter_page(fault, step.get("response", {}), offsets.get(str(step.get("key")), 0))
        else:
            _alter_page(fault, envelope, _offset_of(_payload_of(body)))
        reply.body = encode_bytes(envelope)
        return reply

    # ---- webhooks ----
    def _on_event(self, event: dict[str, Any]) -> None:
        if self.webhook_url:
            self._webhooks.put(event)

    def _webhook_loop(self) -> None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while True:
            event = self._webhooks.get()
            if event is None:
                return
            url = self.webhook_url
            if not url or not url.startswith(("http://", "https://")):
                continue
            body = encode_bytes({
                "action": "HandleWebhook", "event_id": event["event_id"],
                "occurred_at": event["occurred_at"], "connected_integration_id": self.key,
                "data": {"action": event["action"], "data": event["data"]},
            })
            outcome: dict[str, Any] = {"event_id": event["event_id"], "status": None, "attempts": 0,
                                       "error": None}
            for attempt in range(3):
                outcome["attempts"] = attempt + 1
                # Only http(s) URLs reach here (checked above).
                request = urllib.request.Request(url, data=body, method="POST",  # noqa: S310
                                                 headers={"Content-Type": _JSON})
                try:
                    with opener.open(request, timeout=10) as response:
                        outcome["status"], outcome["error"] = response.status, None
                        break
                except urllib.error.HTTPError as exc:
                    outcome["status"], outcome["error"] = exc.code, f"HTTP {exc.code}"
                except OSError as exc:
                    outcome["error"] = type(exc).__name__
                if attempt < 2:
                    self._sleep(0.2 * (attempt + 1))
            with self._lock:
                self.webhook_log.append(outcome)

    def wait_for_webhooks(self, count: int, timeout: float = 10.0) -> bool:
        """Block until ``count`` deliveries were attempted to completion (a test helper)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.webhook_log) >= count:
                    return True
            time.sleep(0.01)
        return False

    # ---- control endpoints ----
    def handle_control(self, verb: str, path: str, query: str, body: bytes) -> Reply:
        name = path[len("/_emulator/"):].strip("/")
        try:
            payload = loads(body) if body.strip() else {}
        except ValueError:
            return _control(400, {"ok": False, "error": "body must be JSON"})
        if not isinstance(payload, dict):
            return _control(400, {"ok": False, "error": "body must be a JSON object"})
        routes: dict[tuple[str, str], Callable[[], Reply]] = {
            ("GET", "health"): lambda: _control(200, {"ok": True}),
            ("GET", "stats"): lambda: _control(200, {
                "ok": True, **self._stats.as_dict(), "fault_plan": self._plan.spec,
                "webhooks": len(self.webhook_log), "page_cap": self.page_cap, "next_offset": self.next_offset,
                "rate_limit": None if self._rate is None else {"rate": self._rate[0], "burst": self._rate[1]},
            }),
            ("POST", "reset-stats"): self._control_reset,
            ("POST", "fault-plan"): lambda: self._control_fault_plan(payload),
            ("POST", "mutate"): lambda: self._control_mutate(payload),
            ("GET", "counts"): lambda: self._control_counts(query),
            ("POST", "key"): lambda: self._control_key(payload),
            ("POST", "rate-limit"): lambda: self._control_rate(payload),
            ("POST", "paging"): lambda: self._control_paging(payload),
        }
        handler = routes.get((verb, name))
        if handler is None:
            allowed = [v for v, n in routes if n == name]
            return _control(405 if allowed else 404, {"ok": False, "error": f"no {verb} /_emulator/{name}"})
        return handler()

    def _control_reset(self) -> Reply:
        self.reset_stats()
        return _control(200, {"ok": True})

    def _control_fault_plan(self, payload: dict[str, Any]) -> Reply:
        spec = payload.get("spec")
        if spec is not None and not isinstance(spec, str):
            return _control(400, {"ok": False, "error": "spec must be a string or null"})
        try:
            self.set_fault_plan(spec)
        except ValueError as exc:
            return _control(400, {"ok": False, "error": str(exc)})
        return _control(200, {"ok": True, "spec": self._plan.spec})

    def _control_mutate(self, payload: dict[str, Any]) -> Reply:
        op = payload.get("op")
        args = {k: v for k, v in payload.items() if k in ("uuid", "id", "amount")}
        if "amount" in args and not isinstance(args["amount"], Decimal | int | str):
            return _control(400, {"ok": False, "error": "amount must be a number or a numeric string"})
        try:
            event = self.dataset.mutate(str(op), **args)
        except (KeyError, ValueError, TypeError) as exc:
            return _control(400, {"ok": False, "error": str(exc).strip("'\"")})
        return _control(200, {"ok": True, "event": event})

    def _control_counts(self, query: str) -> Reply:
        params = parse_qs(query)
        try:
            first = date.fromisoformat(params["first"][0])
            last = date.fromisoformat(params.get("last", params["first"])[0])
        except (KeyError, ValueError):
            return _control(400, {"ok": False, "error": "use ?first=YYYY-MM-DD&last=YYYY-MM-DD"})
        return _control(200, {"ok": True, **self.dataset.counts(first, last).as_dict()})

    def _control_key(self, payload: dict[str, Any]) -> Reply:
        key = payload.get("key")
        if not isinstance(key, str) or not key:
            return _control(400, {"ok": False, "error": "key must be a non-empty string"})
        self.key = key
        return _control(200, {"ok": True})

    def _control_rate(self, payload: dict[str, Any]) -> Reply:
        try:
            self.set_rate_limit(payload.get("rate"), payload.get("burst"))
        except (TypeError, ValueError) as exc:
            return _control(400, {"ok": False, "error": str(exc)})
        return _control(200, {"ok": True})

    def _control_paging(self, payload: dict[str, Any]) -> Reply:
        try:
            self.set_paging(page_cap=payload.get("page_cap"), next_offset=payload.get("next_offset"))
        except ValueError as exc:
            return _control(400, {"ok": False, "error": str(exc)})
        return _control(200, {"ok": True, "page_cap": self.page_cap, "next_offset": self.next_offset})

    # ---- connection tracking (for stop) ----
    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
                self._stats.connections += 1
            else:
                self._conns.discard(conn)


def _payload_of(body: bytes) -> dict[str, Any]:
    try:
        payload = loads(body) if body.strip() else {}
    except (ValueError, UnicodeDecodeError):
        return {}
    return payload if isinstance(payload, dict) else {}


def _offset_of(payload: Any) -> int:
    offset = payload.get("offset") if isinstance(payload, dict) else None
    return offset if isinstance(offset, int) and not isinstance(offset, bool) and offset > 0 else 0


def _step_offsets(body: bytes) -> dict[str, int]:
    """The ``offset`` asked by each step of a batch request, by step key."""
    steps = _payload_of(body).get("requests")
    offsets: dict[str, int] = {}
    for step in steps if isinstance(steps, list) else []:
        if isinstance(step, dict):
            key = step.get("key", step.get("Key"))
            offsets[str(key)] = _offset_of(step.get("payload", step.get("Payload")))
    return offsets


def _alter_page(fault: Fault, envelope: dict[str, Any], offset: int) -> None:
    """Page faults on one envelope (``offset``: the one asked); answers that are not lists are left alone
    (amount faults also reach plain arrays such as line items; offset/total faults only real pages)."""
    result = envelope.get("result")
    if not envelope.get("ok") or not isinstance(result, list):
        return
    if fault.kind in ("amount-letters", "date-garbage"):
        # One document REGOS sends unusable (the sync quarantines it); the page's other rows stay right.
        docs = [doc for doc in result if isinstance(doc, dict)]
        number = int(fault.value or 1)
        if len(docs) >= number:
            if fault.kind == "amount-letters":
                docs[number - 1]["amount"] = "abc"
            else:
                docs[number - 1]["date"] = "not a time"
        return
    if fault.kind in ("amount-string", "amount-missing"):
        for doc in result:
            if isinstance(doc, dict) and "amount" in doc:
                if fault.kind == "amount-string":
                    value = doc["amount"]
                    doc["amount"] = decimal_text(value) if isinstance(value, Decimal) else str(value)
                else:
                    del doc["amount"]
                return
        return
    if "next_offset" not in envelope:
        return
    if fault.kind == "stuck-offset":
        envelope["next_offset"] = offset
    elif fault.kind == "shrink-total":
        envelope["total"] = max(0, envelope["total"] - int(fault.value or 1))
    elif fault.kind == "empty-page":
        envelope["result"] = []
        envelope["next_offset"] = offset


def _control(status: int, obj: dict[str, Any]) -> Reply:
    # Control answers carry float timestamps and no money, so the plain encoder is right here.
    return Reply(status, json.dumps(obj, default=str).encode())


def _html_reply(status: int) -> Reply:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    body = (f"<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
            f"<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n")
    return Reply(status, body.encode(), _HTML)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: FakeRegosServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError | OSError):
            return  # the client went away (or a fault closed the socket): nothing to report
        traceback.print_exc()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a requests.Session reuses its connection
    server_version = "REGOS-emulator/1.0"
    sys_version = ""
    disable_nagle_algorithm = True  # one write per answer, but never wait on delayed ACKs
    timeout = 120  # idle keep-alive connections are dropped eventually
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.emulator._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.emulator._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        # The request line carries the integration key: never log it.
        return

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle("PATCH")

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self, verb: str) -> None:
        emulator = self.server.emulator
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        path, _, query = self.path.partition("?")
        try:
            if path.startswith("/_emulator/"):
                reply = emulator.handle_control(verb, path, query, body)
            elif match := _GATEWAY_RE.match(path):
                reply = emulator.handle_gateway(verb, match.group(1), match.group(2), body)
            else:
                reply = Reply(404, b"Not Found", "text/plain; charset=utf-8")
        except Exception:  # an emulator bug must show as a 500 with a traceback, not a hang
            traceback.print_exc()
            reply = Reply(500, json.dumps({"ok": False, "emulator_error": True}).encode())
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        conn = self.connection
        if reply.action == "reset":
            self.close_connection = True
            try:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.rfile.close()  # drop the makefile reference so close() really closes → RST
                conn.close()
            except OSError:
                pass
            return
        phrase = _phrase(reply.status)
        head = [f"HTTP/1.1 {reply.status} {phrase}", f"Server: {self.server_version}",
                f"Date: {formatdate(usegmt=True)}", f"Content-Type: {reply.content_type}",
                f"Content-Length: {len(reply.body)}"]
        head += [f"{k}: {v}" for k, v in reply.headers]
        if self.close_connection:
            head.append("Connection: close")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if reply.action == "cut":
            self.close_connection = True
            try:
                self.wfile.write(data + reply.body[: len(reply.body) // 2])
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.wfile.write(data + reply.body)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
