"""Fault plans: which request gets which failure.

A plan is a small spec string, so the same plan can be given to the Python API, the management
command (``--fault-plan``) and the control endpoint (``POST /_emulator/fault-plan``).

Grammar (whitespace around tokens is ignored; method names are case-insensitive)::

    plan  := rule { ";" rule }
    rule  := [ method "#" ] when ":" fault
    when  := N            the N-th request (1-based)
           | N "-" M      requests N..M
           | N "+"        request N and every later one
           | "every=" K   requests K, 2K, 3K, ...
           | "*"          every request
    fault := kind [ "=" value ] [ "x" C ]

Counting: without ``method#`` a rule counts every request to ``/gateway/out/...`` since the plan
was installed — including ones answered with 1096 or 8213 and ones that got a fault; with
``method#`` (e.g. ``DocCheque/Get#2:http503``) it counts only top-level requests to that method
(steps inside a ``batch`` are not HTTP requests and are never faulted). ``xC`` stretches every
firing over C consecutive counted requests: ``9:8213x5`` hits requests 9..13. When several rules
match one request the first rule in the spec wins. Installing a plan restarts the counts.

Kinds:

=========================  ==========================================================================
``http429``                HTTP 429 with an nginx-style HTML body, no ``Retry-After``
``http429-retry-after=S``  HTTP 429 with ``Retry-After: S`` (whole seconds)
``httpNNN``                any HTTP status 400..599 (``http502``, ``http503``, ``http504``, ``http401``)
``slow=S``                 sleep S seconds (0 < S ≤ 600), then answer normally
``reset``                  close the connection without answering (TCP RST)
``cut``                    send headers with the full Content-Length and half the body, then close
``truncated``              a complete HTTP 200 whose JSON body is cut in half (Content-Length matches)
``html200``                HTTP 200 with an HTML error page instead of JSON
``8213``                   ``ok:false`` error 8213 "Too many requests" (counted in ``stats.rate_limited``)
``access``                 ``ok:false`` error 1096, as if the key had been revoked
``error=CODE``             ``ok:false`` with that error code (e.g. ``error=1008``)
``wrongtype``              ``ok:true`` but ``result`` is a string
``stuck-offset``           a page whose ``next_offset`` equals the request's ``offset``
``shrink-total=K``         ``total`` reported K lower than the truth (default 1; never below 0)
``empty-page``             ``ok:true`` with an empty page, ``next_offset`` = ``offset``, ``total`` unchanged
``amount-string``          the first document's ``amount`` is a JSON string ("185000.00")
``amount-missing``         the first document has no ``amount`` key
``amount-letters[=N]``     the N-th document's (default 1st) ``amount`` is a string of letters ("abc")
``date-garbage[=N]``       the N-th document's (default 1st) ``date`` is not a time ("not a time")
``report-drop[=N]``        ``RetailReport/*`` leave out the N-th (default 1st) closed cheque of its
                           Tashkent calendar month, in every range that holds it (REGOS under-reports)
``report-add[=N]``         ``RetailReport/*`` count that cheque twice (REGOS over-reports)
=========================  ==========================================================================

The report faults change what ``RetailReport/Counts`` and ``/Payments`` compute (other methods ignore
them), and pick the cheque by month, not by request, so every sub-range a reconciliation asks
agrees with the others — give them to every report request, e.g. ``*:report-drop``.

``httpNNN``, ``html200``, ``reset``, ``8213``, ``access`` and ``error`` replace the request: it is not
executed and consumes no rate-limit token. ``slow`` delays it. The others alter the real answer of an
executed request (page faults do nothing on answers that are not pages; in a ``batch`` they apply to
every step's response).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sync.regos.emulator.protocol import canonical_method

# How a fault is applied by the server.
PRE = "pre"  # answer instead of executing
DELAY = "delay"  # sleep, then execute normally
POST = "post"  # execute, then alter/break the answer
REPORT = "report"  # execute a RetailReport method with a disagreeing cheque set

_NO_ARG = {
    "http429": PRE,
    "reset": PRE,
    "html200": PRE,
    "8213": PRE,
    "access": PRE,
    "cut": POST,
    "truncated": POST,
    "wrongtype": POST,
    "stuck-offset": POST,
    "empty-page": POST,
    "amount-string": POST,
    "amount-missing": POST,
}
_WITH_ARG = {"http429-retry-after": PRE, "slow": DELAY, "error": PRE}
_OPTIONAL_ARG = {"shrink-total": POST, "amount-letters": POST, "date-garbage": POST,
                 "report-drop": REPORT, "report-add": REPORT}
_HTTP_RE = re.compile(r"http([45]\d\d)")


@dataclass(frozen=True)
class Fault:
    kind: str  # "http" for httpNNN (status in ``value``), else the kind name
    value: float | int | None = None
    stage: str = PRE

    @property
    def label(self) -> str:
        """The spelling used in ``stats.faults``."""
        if self.kind == "http":
            return f"http{self.value}"
        return self.kind if self.value is None else f"{self.kind}={self.value}"


@dataclass(frozen=True)
class Rule:
    method: str | None
    mode: str  # "one" | "range" | "from" | "every" | "all"
    a: int = 0
    b: int = 0
    repeat: int = 1
    fault: Fault = field(default_factory=lambda: Fault("reset"))

    def hits(self, index: int) -> bool:
        c = self.repeat
        if self.mode == "one":
            return self.a <= index < self.a + c
        if self.mode == "range":
            return self.a <= index <= self.b + c - 1
        if self.mode == "from":
            return index >= self.a
        if self.mode == "every":
            return index >= self.a and index % self.a < c
        return True


def _parse_int(text: str, what: str, rule: str) -> int:
    if not text.isdigit():
        raise ValueError(f"fault plan rule {rule!r}: {what} must be a positive integer, got {text!r}")
    value = int(text)
    if value < 1:
        raise ValueError(f"fault plan rule {rule!r}: {what} must be ≥ 1")
    return value


def _parse_fault(text: str, rule: str) -> tuple[Fault, int]:
    repeat = 1
    m = re.fullmatch(r"(.+?)x(\d+)", text)
    if m and not _HTTP_RE.fullmatch(text):
        text, repeat = m.group(1), _parse_int(m.group(2), "the repeat count after 'x'", rule)
    kind, _, arg = text.partition("=")
    kind, arg = kind.strip().lower(), arg.strip()
    has_arg = "=" in text
    http = _HTTP_RE.fullmatch(kind)
    if http:
        if has_arg:
            raise ValueError(f"fault plan rule {rule!r}: {kind} takes no value")
        return Fault("http", int(http.group(1)), PRE), repeat
    if kind in _NO_ARG:
        if has_arg:
            raise ValueError(f"fault plan rule {rule!r}: {kind} takes no value")
        return Fault(kind, None, _NO_ARG[kind]), repeat
    if kind in _WITH_ARG:
        if not arg:
            raise ValueError(f"fault plan rule {rule!r}: {kind} needs a value ({kind}=...)")
        if kind == "slow":
            try:
                seconds = float(arg)
            except ValueError:
                raise ValueError(f"fault plan rule {rule!r}: slow needs seconds, got {arg!r}") from None
            if not 0 < seconds <= 600:
                raise ValueError(f"fault plan rule {rule!r}: slow must be in (0, 600] seconds")
            return Fault("slow", seconds, DELAY), repeat
        if kind == "http429-retry-after":
            if not arg.isdigit():
                raise ValueError(f"fault plan rule {rule!r}: Retry-After must be whole seconds")
            return Fault(kind, int(arg), PRE), repeat
        return Fault("error", _parse_int(arg, "the error code", rule), PRE), repeat
    if kind in _OPTIONAL_ARG:
        what = "the amount" if kind == "shrink-total" else "the document number"
        value = _parse_int(arg, what, rule) if has_arg else 1
        return Fault(kind, value, _OPTIONAL_ARG[kind]), repeat
    known = sorted([*_NO_ARG, *_WITH_ARG, *_OPTIONAL_ARG, "httpNNN"])
    raise ValueError(f"fault plan rule {rule!r}: unknown fault {kind!r} (known: {', '.join(known)})")


def parse_rule(text: str) -> Rule:
    rule = text.strip()
    method: str | None = None
    body = rule
    if "#" in body:
        raw_method, body = body.split("#", 1)
        method = canonical_method(raw_method)
        if method is None:
            raise ValueError(f"fault plan rule {rule!r}: unknown REGOS method {raw_method.strip()!r}")
    if ":" not in body:
        raise ValueError(f"fault plan rule {rule!r}: expected WHEN:FAULT, e.g. 3:http503")
    when, fault_text = (part.strip() for part in body.split(":", 1))
    fault, repeat = _parse_fault(fault_text, rule)
    when = when.replace(" ", "")
    if when == "*":
        return Rule(method, "all", repeat=repeat, fault=fault)
    if when.startswith("every="):
        return Rule(method, "every", _parse_int(when[6:], "every=K", rule), repeat=repeat, fault=fault)
    if when.endswith("+"):
        return Rule(method, "from", _parse_int(when[:-1], "N in N+", rule), repeat=repeat, fault=fault)
    if "-" in when:
        lo, hi = when.split("-", 1)
        a, b = _parse_int(lo, "N in N-M", rule), _parse_int(hi, "M in N-M", rule)
        if b < a:
            raise ValueError(f"fault plan rule {rule!r}: range {a}-{b} is empty")
        return Rule(method, "range", a, b, repeat=repeat, fault=fault)
    return Rule(method, "one", _parse_int(when, "the request number", rule), repeat=repeat, fault=fault)


class FaultPlan:
    """A parsed plan plus its request counters. ``next()`` is called once per gateway request
    (under the server's lock) and returns the fault for that request, if any."""

    def __init__(self, spec: str | None = None) -> None:
        self.spec = (spec or "").strip()
        self.rules: tuple[Rule, ...] = tuple(
            parse_rule(part) for part in self.spec.split(";") if part.strip()
        )
        self.count = 0
        self.method_counts: dict[str, int] = {}

    def __bool__(self) -> bool:
        return bool(self.rules)

    def next(self, method: str) -> Fault | None:
        self.count += 1
        mcount = self.method_counts[method] = self.method_counts.get(method, 0) + 1
        for rule in self.rules:
            index = mcount if rule.method is not None else self.count
            if (rule.method is None or rule.method == method) and rule.hits(index):
                return rule.fault
        return None


def parse_fault_plan(spec: str | None) -> FaultPlan:
    """Validate and parse a spec; raises ValueError with one line naming the bad rule."""
    return FaultPlan(spec)
