"""Wire-level constants of the emulated REGOS API and an exact JSON encoder.

REGOS sends money as JSON numbers. Our client parses them into Decimal from the JSON text, so the
emulator must write the number text exactly (``Decimal("185000.10")`` → ``185000.10``); going
through float would lose trailing zeros and, for large sums, tiyin. ``encode`` therefore refuses
floats outright: every amount in the emulator is a Decimal or an integer number of tiyin.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

# --- error codes -------------------------------------------------------------------------------
# 1008, 1096 and 8213 are documented by REGOS; 1002 is our choice (the real code for an unknown
# method is not published).
ERR_VALIDATION = 1008
ERR_ACCESS = 1096
ERR_RATE_LIMIT = 8213
ERR_UNKNOWN_METHOD = 1002

# --- cheque statuses (REGOS enum: name ↔ code; 0 = Default, vendor schema docs/doc_cheque.py) -----
STATUS_CODES: dict[str, int] = {
    "Default": 0,
    "Opened": 1,
    "Paying": 2,
    "Closed": 3,
    "Delayed": 4,
    "DelayedPayment": 5,
    "Canceled": 6,
}
STATUS_NAMES: dict[int, str] = {code: name for name, code in STATUS_CODES.items()}
_STATUS_BY_LOWER = {name.lower(): code for name, code in STATUS_CODES.items()}


def status_code(value: Any) -> int:
    """The integer code of a status given by name (any case) or code; ValueError if unknown."""
    if isinstance(value, bool):
        raise ValueError(f"unknown cheque status {value!r}")
    if isinstance(value, int):
        if value in STATUS_NAMES:
            return value
    elif isinstance(value, str) and value.lower() in _STATUS_BY_LOWER:
        return _STATUS_BY_LOWER[value.lower()]
    raise ValueError(f"unknown cheque status {value!r}")


# --- paging ------------------------------------------------------------------------------------
# REGOS does not publish what ``next_offset`` it answers, so the emulator can send each rule a server
# might follow (REGOS silently caps ``limit`` at its query limit; docs en docwholesale/get):
#   "rows"  offset + rows on the page (the default);
#   "limit" offset + the limit asked, even when the page was capped below it (and on the last page);
#   "zero"  offset + rows, but 0 on the last page (seen in a third-party fixture).
NEXT_OFFSET_RULES: tuple[str, ...] = ("rows", "limit", "zero")


def next_offset(rule: str, *, offset: int, rows: int, asked: int, total: int) -> int:
    """The ``next_offset`` a page of ``rows`` rows at ``offset`` carries under ``rule``."""
    if rule == "limit":
        return offset + asked
    if rule == "zero" and offset + rows >= total:
        return 0
    if rule in ("rows", "zero"):
        return offset + rows
    raise ValueError(f"unknown next_offset rule {rule!r} (one of {', '.join(NEXT_OFFSET_RULES)})")


# --- methods ------------------------------------------------------------------------------------
# Canonical spelling → itself; lookups are case-insensitive (REGOS paths are, in practice).
METHODS: tuple[str, ...] = (
    "DocCheque/Get",
    "DocWholeSale/Get",
    "DocWholeSaleReturn/Get",
    "DocCashSession/Get",
    "OperatingCash/Get",
    "Stock/Get",
    "User/Get",
    "ChequeItemOperation/Get",
    "DocChequeOperation/Get",  # legacy alias of ChequeItemOperation/Get, still served by REGOS
    "ChequePaymentOperation/Get",
    "WholeSaleOperation/Get",
    "WholeSaleReturnOperation/Get",
    "Event/Get",
    "RetailReport/Counts",
    "RetailReport/Payments",
    "batch",
)
_METHODS_BY_LOWER = {m.lower(): m for m in METHODS}


def canonical_method(path: str) -> str | None:
    """``"doccheque/get"`` → ``"DocCheque/Get"``; tolerates a leading ``/`` or ``v1/``; None if unknown."""
    p = path.strip().strip("/")
    if p.lower().startswith("v1/"):
        p = p[3:]
    return _METHODS_BY_LOWER.get(p.lower())


# --- time ---------------------------------------------------------------------------------------
def to_unix(value: datetime | int) -> int:
    """Unix seconds of an aware datetime (or an int passed through). Naive datetimes are refused:
    a naive time is exactly the bug (which zone?) this project must not have."""
    if isinstance(value, bool):
        raise TypeError("expected an aware datetime or unix seconds, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: pass an aware datetime (e.g. tzinfo=TASHKENT)")
        return int(value.timestamp())
    raise TypeError(f"expected an aware datetime or unix seconds, got {type(value).__name__}")


def iso_utc(unix: int) -> str:
    """ISO-8601 UTC as REGOS writes ``occurred_at``."""
    return datetime.fromtimestamp(unix, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- money --------------------------------------------------------------------------------------
def to_decimal(value: Any, what: str = "amount") -> Decimal:
    """Decimal from Decimal/int/str; floats are refused (they already lost the exact value)."""
    if isinstance(value, bool) or value is None:
        raise TypeError(f"{what} must be a Decimal, got {value!r}")
    if isinstance(value, float):
        raise TypeError(f"{what} must be a Decimal, not a float ({value!r})")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        result = Decimal(value)
    else:
        raise TypeError(f"{what} must be a Decimal, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{what} must be finite, got {result}")
    return result


def decimal_text(value: Decimal) -> str:
    """The JSON number text of a Decimal, digits exactly as stored, never in exponent form."""
    if not value.is_finite():
        raise ValueError(f"cannot write {value} as a JSON number")
    return format(value, "f")


def tiyin_text(tiyin: int) -> str:
    """``18500010`` tiyin → ``"185000.10"`` (an integer number of hundredths, sign-safe)."""
    sign = "-" if tiyin < 0 else ""
    whole, frac = divmod(abs(tiyin), 100)
    return f"{sign}{whole}.{frac:02d}"


def decimal_to_tiyin(value: Decimal, what: str = "amount") -> int:
    """Exact hundredths of a Decimal with at most two decimal places; ValueError otherwise."""
    scaled = value * 100
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{what} {value} has more than two decimal places (tiyin)")
    return int(scaled)


# --- JSON ---------------------------------------------------------------------------------------
_encode_str: Callable[[str], str] = json.encoder.encode_basestring


def _encode(obj: Any, out: Callable[[str], None]) -> None:
    if obj is None:
        out("null")
    elif obj is True:
        out("true")
    elif obj is False:
        out("false")
    elif isinstance(obj, str):
        out(_encode_str(obj))
    elif isinstance(obj, Decimal):
        out(decimal_text(obj))
    elif isinstance(obj, int):
        out(int.__repr__(obj))
    elif isinstance(obj, float):
        raise TypeError(f"float {obj!r} in emulator JSON: use Decimal so the digits are exact")
    elif isinstance(obj, dict):
        out("{")
        first = True
        for key, value in obj.items():
            if not first:
                out(",")
            first = False
            out(_encode_str(str(key)))
            out(":")
            _encode(value, out)
        out("}")
    elif isinstance(obj, list | tuple):
        out("[")
        for i, value in enumerate(obj):
            if i:
                out(",")
            _encode(value, out)
        out("]")
    elif isinstance(obj, RawJSON):
        out(obj.text)
    else:
        raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


class RawJSON:
    """Already-encoded JSON text embedded as-is (pre-rendered documents)."""

    __slots__ = ("text",)

    def __init__(self, text: str | bytes) -> None:
        self.text = text.decode() if isinstance(text, bytes) else text


def encode(obj: Any) -> str:
    parts: list[str] = []
    _encode(obj, parts.append)
    return "".join(parts)


def encode_bytes(obj: Any) -> bytes:
    return encode(obj).encode()


def loads(data: bytes | str) -> Any:
    """Parse JSON keeping numbers with a fraction as Decimal (the way our client reads REGOS)."""
    return json.loads(data, parse_float=Decimal)


def error_body(code: int, description: str) -> bytes:
    return encode_bytes({"ok": False, "result": {"error": code, "description": description}})
