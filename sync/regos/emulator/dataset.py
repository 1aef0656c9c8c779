"""What the emulator serves: a hand-built ``Dataset`` (tests) and the query engine shared with the
lazily generated datasets (``generator.py``).

Serving path. Every document kind is exposed as an ordered sequence of *blocks*: time-disjoint runs
of documents sorted by the REGOS sort key — ``(date, uuid)`` for cheques, ``(date, id)`` for
wholesale documents, ``(start_date, uuid)`` for cash sessions and ``id`` for references. A hand-built
dataset has one block per kind; a generated one has one block per Tashkent calendar day, generated
on demand. The engine (``query``/``lookup``) only asks a block for ``select(filter, start, end)``
(ascending positions) and ``render(positions)`` (pre-encoded JSON per document), so paging is exact
and stable for both: page k is positions [offset, offset+limit) of one global order, never a
re-sort that could skip or repeat a document.

Events. Mutations (``cancel_cheque``, ``perform_wholesale`` …) change the document, move its
``last_update`` and append a REGOS event (``DocChequeCanceled`` …) to ``events``; servers subscribed
with ``subscribe()`` deliver it as a webhook. ``add_*`` methods do not emit events (they build the
world the test starts from); ``record_event()`` appends any event by hand.

Registers move (``move_operating_cash``, REGOS's ``OperatingCash/Edit``): ``OperatingCash/Get``
answers each register's stock at ``clock()`` (real time unless a test sets it), sessions keep their
``operating_cash_id`` and cheque lines carry the stock the register had when the cheque was made.

Lifecycle rules are REGOS's: DeleteMark/Delete/Edit only on non-performed wholesale documents,
Perform refused on delete-marked ones. Breaking them raises ValueError, so a test cannot build a
history REGOS would never produce.
"""

from __future__ import annotations

import random
import threading
import uuid as uuid_module
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

from payroll.dates import range_bounds_unix
from sync.regos.emulator.protocol import (
    STATUS_CODES,
    STATUS_NAMES,
    encode,
    status_code,
    to_decimal,
    to_unix,
)

CHEQUE = "cheque"
WHOLESALE = "wholesale"
WHOLESALE_RETURN = "wholesale_return"
SESSION = "session"
CASH = "operating_cash"
STOCK = "stock"
USER = "user"
KINDS = (CHEQUE, WHOLESALE, WHOLESALE_RETURN, SESSION, CASH, STOCK, USER)
DOCUMENT_KINDS = (CHEQUE, WHOLESALE, WHOLESALE_RETURN, SESSION)

CLOSED = STATUS_CODES["Closed"]
CANCELED = STATUS_CODES["Canceled"]

# Reference objects as REGOS nests them: the full vendor shapes (``regos-software/py-integrations``,
# ``schemas/api/references/{firm,currency,retail_return_reason}.py``), nulls where the schema allows.
REFERENCE_LAST_UPDATE = 1735689600  # 2025-01-01T00:00:00Z: references changed long before any document
FIRM = {"id": 1, "group": {"id": 1, "name": "Asosiy"}, "deleted_mark": False,
        "last_update": REFERENCE_LAST_UPDATE, "name": '"Baraka Savdo Group" MChJ',
        "fullname": '"Baraka Savdo Group" mas\'uliyati cheklangan jamiyati', "boss_name": None,
        "address": "Toshkent sh., Amir Temur ko'chasi, 15", "phones": None, "description": None,
        "inn": "305123456", "bank_name": None, "mfo": None, "rs": None, "oked": None, "vat_index": None}
UZS = {"id": 1, "code_num": 860, "code_chr": "UZS", "name": "So'm", "is_base": True, "deleted": False,
       "last_update": REFERENCE_LAST_UPDATE}
USD = {"id": 2, "code_num": 840, "code_chr": "USD", "name": "AQSh dollari", "is_base": False, "deleted": False,
       "last_update": REFERENCE_LAST_UPDATE}
USER_GROUP = {"id": 2, "parent_id": None, "name": "Sotuvchilar", "child_count": 0,
              "last_update": REFERENCE_LAST_UPDATE}
# A RetailReturnReason is an object in REGOS, not a text.
RETURN_REASONS = (
    {"id": 1, "name": "Mijoz fikridan qaytdi", "description": None, "enabled": True,
     "last_update": REFERENCE_LAST_UPDATE},
    {"id": 2, "name": "Nuqsonli mahsulot", "description": "Zavod nuqsoni", "enabled": True,
     "last_update": REFERENCE_LAST_UPDATE},
    {"id": 3, "name": "O'lchami to'g'ri kelmadi", "description": None, "enabled": None,
     "last_update": REFERENCE_LAST_UPDATE},
)


def return_reason_object(reason: str | dict[str, Any] | None) -> dict[str, Any] | None:
    """A return reason as REGOS sends it: a known name → its object, another name → a new object."""
    if reason is None or isinstance(reason, dict):
        return reason
    for known in RETURN_REASONS:
        if known["name"] == reason:
            return dict(known)
    return {"id": 100 + sum(map(ord, reason)) % 900, "name": reason, "description": None, "enabled": True,
            "last_update": REFERENCE_LAST_UPDATE}


def user_object(id: int, full_name: str | None, *, login: str | None = None, active: bool | None = True,  # noqa: A002
                seller_barcode: str | None = None) -> dict[str, Any]:
    """A full REGOS User (``schemas/api/rbac/user.py``), nulls where the schema allows them."""
    last, _, first = (full_name or "").partition(" ")
    return {
        "id": int(id), "full_name": full_name, "main_phone": None, "internal_phone": None,
        "user_group": dict(USER_GROUP), "enable_hints": False, "system": False, "sub": None,
        "photo_url": None, "fields": None,
        "seller_barcode": seller_barcode if seller_barcode is not None else f"2000000{int(id):06d}",
        "first_name": first or None, "last_name": last or None, "middle_name": None, "sex": None,
        "date_of_birth": None, "address": None, "phones": None, "email": None, "description": None,
        "login": login if login is not None else f"user{id}", "can_authorize": True, "active": active,
        "language_code": "uz", "last_update": REFERENCE_LAST_UPDATE,
    }


def stock_object(id: int, name: str, *, address: str | None = None, deleted_mark: bool = False,  # noqa: A002
                 ) -> dict[str, Any]:
    """A full REGOS Stock with its Firm (``schemas/api/references/stock.py``)."""
    return {"id": int(id), "name": name, "address": address, "firm": dict(FIRM), "area": None,
            "description": None, "deleted_mark": bool(deleted_mark), "last_update": REFERENCE_LAST_UPDATE}


def partner_object(partner_id: int) -> dict[str, Any]:
    """A REGOS Partner (``schemas/api/references/partner.py``), most of it null."""
    return {"id": partner_id, "group": None, "deleted_mark": False, "fields": None,
            "last_update": REFERENCE_LAST_UPDATE, "legal_status": None,
            "name": PARTNERS[(partner_id - PARTNER_BASE_ID) % len(PARTNERS)], "fullname": None,
            "boss_name": None, "address": None, "phones": None, "email": None, "description": None,
            "inn": None, "bank_name": None, "mfo": None, "rs": None, "oked": None, "vat_index": None}


PRICE_TYPE_WHOLESALE = {"id": 2, "name": "Ulgurji", "last_update": REFERENCE_LAST_UPDATE}
PARTNERS = (
    "Baraka Savdo MChJ",
    "Orzu Trade MChJ",
    "Zamin Invest XK",
    "Navbahor Ulgurji",
    "Oltin Vodiy MChJ",
    "Sharq Distribution",
    "Mehr Savdo XK",
    "Buxoro Tekstil MChJ",
    "Samarqand Non Mahsulotlari",
    "Farg'ona Agro Servis",
)
PARTNER_BASE_ID = 80

# A small product catalogue for line items (id, name, department id, department name).
ITEMS = (
    (1201, "Choy qora 100g", 2, "Oziq-ovqat"),
    (1202, "Shakar 1kg", 2, "Oziq-ovqat"),
    (1203, "Guruch Lazer 1kg", 2, "Oziq-ovqat"),
    (1204, "Paxta yog'i 1l", 2, "Oziq-ovqat"),
    (1205, "Non patir", 2, "Oziq-ovqat"),
    (2101, "Sovun Duru", 3, "Maishiy kimyo"),
    (2102, "Kir yuvish kukuni 3kg", 3, "Maishiy kimyo"),
    (3301, "Ko'ylak erkaklar", 4, "Kiyim-kechak"),
    (3302, "Atlas ro'mol", 4, "Kiyim-kechak"),
    (4401, "Choynak chinni", 5, "Uy-ro'zg'or"),
    (4402, "Piyola 6 dona", 5, "Uy-ro'zg'or"),
    (5501, "Telefon zaryadlovchi", 6, "Elektronika"),
)


# --- filters --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Filter:
    """Non-period selection of a request. Hashable so blocks can cache the positions it selects.
    ``None`` means "not filtered"; an empty id set selects nothing (the server maps ``[]`` to None)."""

    status: int | None = None
    is_return: bool | None = None
    seller_ids: frozenset[int] | None = None
    cashier_ids: frozenset[int] | None = None
    session: str | None = None
    performed: bool | None = None
    deleted_mark: bool | None = None
    stock_ids: frozenset[int] | None = None
    attached_user_ids: frozenset[int] | None = None
    operating_cash_ids: frozenset[int] | None = None
    closed: bool | None = None
    ids: frozenset[int] | None = None
    active: bool | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


NO_FILTER = Filter()


def _ref_id(ref: dict[str, Any] | None) -> int | None:
    return None if ref is None else ref["id"]


def _matches(kind: str, doc: dict[str, Any], f: Filter) -> bool:
    """The predicate for hand-built documents (generated blocks compile the same rules to arrays)."""
    if f.ids is not None and doc.get("id") not in f.ids:
        return False
    if kind == CHEQUE:
        return (
            (f.status is None or STATUS_CODES[doc["status"]] == f.status)
            and (f.is_return is None or doc["is_return"] == f.is_return)
            and (f.seller_ids is None or _ref_id(doc["seller"]) in f.seller_ids)
            and (f.cashier_ids is None or _ref_id(doc["cashier"]) in f.cashier_ids)
            and (f.session is None or doc["session"] == f.session)
        )
    if kind in (WHOLESALE, WHOLESALE_RETURN):
        return (
            (f.performed is None or doc["performed"] == f.performed)
            and (f.deleted_mark is None or doc["deleted_mark"] == f.deleted_mark)
            and (f.stock_ids is None or doc["stock"]["id"] in f.stock_ids)
            and (f.attached_user_ids is None or _ref_id(doc["attached_user"]) in f.attached_user_ids)
        )
    if kind == SESSION:
        return (f.operating_cash_ids is None or doc["operating_cash_id"] in f.operating_cash_ids) and (
            f.closed is None or doc["closed"] == f.closed
        )
    if kind == CASH:
        return f.stock_ids is None or doc["stock_id"] in f.stock_ids
    if kind == STOCK:
        return f.deleted_mark is None or doc["deleted_mark"] == f.deleted_mark
    if kind == USER:
        return f.active is None or doc["active"] == f.active
    return True


# --- blocks and the engine -------------------------------------------------------------------------
class Block(Protocol):
    n: int

    def select(self, flt: Filter, start: int | None, end: int | None) -> Sequence[int]: ...

    def render(self, positions: Iterable[int]) -> list[str]: ...

    def sort_key(self, pos: int) -> tuple[Any, ...]: ...

    def doc(self, pos: int) -> dict[str, Any]: ...


class SortedBlock:
    """Positions 0..n-1 sorted by ``dates``; subclasses provide ``match`` (non-period filter)."""

    n: int
    dates: Sequence[int]
    hidden: bool = False  # some positions are deleted documents: never selected
    _MATCH_CACHE = 16

    def __init__(self) -> None:
        self._match_cache: dict[Filter, Sequence[int]] = {}
        # Handler threads share blocks: the lock keeps the cache consistent and computes each
        # filter once instead of once per concurrent page request.
        self._match_lock = threading.Lock()

    # Every subclass provides these (the Block protocol); declared here so code holding a
    # SortedBlock may call them.
    def compute_match(self, flt: Filter) -> Sequence[int]:
        raise NotImplementedError

    def render(self, positions: Iterable[int]) -> list[str]:
        raise NotImplementedError

    def sort_key(self, pos: int) -> tuple[Any, ...]:
        raise NotImplementedError

    def doc(self, pos: int) -> dict[str, Any]:
        raise NotImplementedError

    def match(self, flt: Filter) -> Sequence[int]:
        with self._match_lock:
            cached = self._match_cache.get(flt)
            if cached is None:
                cached = self.compute_match(flt)
                if len(self._match_cache) >= self._MATCH_CACHE:
                    self._match_cache.pop(next(iter(self._match_cache)))
                self._match_cache[flt] = cached
            return cached

    def invalidate(self) -> None:
        with self._match_lock:
            self._match_cache = {}

    def contains(self, flt: Filter, pos: int) -> bool:
        """Whether the document at ``pos`` passes ``flt`` (and is not deleted)."""
        if flt.empty and not self.hidden:
            return True
        matched = self.match(flt)
        i = bisect_left(matched, pos)
        return i < len(matched) and matched[i] == pos

    def select(self, flt: Filter, start: int | None, end: int | None) -> Sequence[int]:
        n = self.n
        i0 = 0 if start is None else bisect_left(self.dates, start)
        i1 = n if end is None else bisect_right(self.dates, end)
        if i0 >= i1:
            return range(0)
        if flt.empty and not self.hidden:
            return range(i0, i1)
        matched = self.match(flt)
        if i0 == 0 and i1 == n:
            return matched
        return matched[bisect_left(matched, i0) : bisect_left(matched, i1)]


class ManualBlock(SortedBlock):
    """A hand-built dataset's documents of one kind, in serving order."""

    def __init__(self, kind: str, docs: list[dict[str, Any]], date_of: Callable[[dict[str, Any]], int],
                 key_of: Callable[[dict[str, Any]], tuple[Any, ...]],
                 public_of: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        super().__init__()
        self.kind = kind
        self.docs = sorted(docs, key=key_of)
        self.n = len(self.docs)
        self.dates = [date_of(d) for d in self.docs]
        self.pos_by_id = {id(d): i for i, d in enumerate(self.docs)}
        self._key_of = key_of
        self._public_of = public_of

    def compute_match(self, flt: Filter) -> Sequence[int]:
        return [i for i, d in enumerate(self.docs) if _matches(self.kind, d, flt)]

    def render(self, positions: Iterable[int]) -> list[str]:
        return [encode(self._public_of(self.docs[i])) for i in positions]

    def sort_key(self, pos: int) -> tuple[Any, ...]:
        return self._key_of(self.docs[pos])

    def doc(self, pos: int) -> dict[str, Any]:
        """The document as served (names resolved)."""
        return self._public_of(self.docs[pos])


def query(blocks: Iterable[Block], flt: Filter, start: int | None, end: int | None, offset: int,
          limit: int) -> tuple[list[str], int]:
    """One page (rendered JSON of each document) and the total, over blocks in serving order."""
    items: list[str] = []
    total = 0
    for block in blocks:
        positions = block.select(flt, start, end)
        count = len(positions)
        if count and len(items) < limit and offset < total + count:
            lo = max(0, offset - total)
            hi = min(count, lo + limit - len(items))
            items.extend(block.render(positions[lo:hi]))
        total += count
    return items, total


def lookup(found: Iterable[tuple[SortedBlock, int]], flt: Filter, start: int | None, end: int | None,
           offset: int, limit: int) -> tuple[list[str], int]:
    """A page of documents selected by key (``uuids``/``ids``), filtered and in serving order."""
    hits: dict[tuple[Any, ...], tuple[SortedBlock, int]] = {}
    for block, pos in found:
        when = block.dates[pos]
        if (start is None or when >= start) and (end is None or when <= end) and block.contains(flt, pos):
            hits[block.sort_key(pos)] = (block, pos)
    ordered = [hits[k] for k in sorted(hits)]
    page = ordered[offset : offset + limit]
    return [block.render([pos])[0] for block, pos in page], len(ordered)


# --- counts ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Counts:
    """Documents dated in Tashkent days first..last (both inclusive).

    ``sessions`` is the number of distinct cash sessions referenced by those cheques (any status);
    ``wholesale``/``wholesale_returns`` count only performed, not delete-marked documents."""

    cheques: int
    closed_cheques: int
    sessions: int
    wholesale: int
    wholesale_returns: int

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# --- events -------------------------------------------------------------------------------------------
class EventCursorError(ValueError):
    """``last_event_id`` is not in the log (unknown or expired)."""


class _EventLog:
    def __init__(self, seed: int) -> None:
        self.events: list[dict[str, Any]] = []
        self._times: list[int] = []
        self._index: dict[str, int] = {}
        self._rng = random.Random(f"regos-emulator-events:{seed}")

    def append(self, action: str, data: dict[str, Any], at: int) -> dict[str, Any]:
        event_id = str(uuid_module.UUID(int=self._rng.getrandbits(128), version=4))
        event = {
            "event_id": event_id,
            "occurred_at": datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "action": action,
            "data": dict(data),
        }
        self._index[event_id] = len(self.events)
        self.events.append(event)
        self._times.append(at)
        return event

    def page(self, last_event_id: str | None, from_date: int | None, limit: int,
             actions: frozenset[str] | None) -> tuple[list[dict[str, Any]], str | None, bool]:
        begin = 0
        if last_event_id is not None:
            if last_event_id not in self._index:
                raise EventCursorError(f"unknown last_event_id {last_event_id!r}")
            begin = self._index[last_event_id] + 1
        chosen: list[dict[str, Any]] = []
        has_more = False
        for i in range(begin, len(self.events)):
            event = self.events[i]
            if from_date is not None and self._times[i] < from_date:
                continue
            if actions is not None and event["action"] not in actions:
                continue
            if len(chosen) == limit:
                has_more = True
                break
            chosen.append(event)
        next_id = chosen[-1]["event_id"] if chosen else last_event_id
        if next_id is None and self.events and not has_more:
            # Nothing matched: hand back the newest id so a client can resume from "now".
            next_id = self.events[-1]["event_id"]
        return chosen, next_id, has_more


def _now_unix() -> int:
    return int(datetime.now(tz=UTC).timestamp())


# --- the hand-built dataset ------------------------------------------------------------------------------
class Dataset:
    """Documents and references added one by one; the model for tests.

    Times are aware datetimes (or unix seconds), money is Decimal. The JSON each document is served
    as is fixed here and validates against ``sync.regos.models``. User and stock names are resolved
    when a document is served, so references may be added in any order."""

    usd_rate: Decimal

    def __init__(self, *, seed: int = 0, usd_rate: Decimal = Decimal("12800.00")) -> None:
        # ``usd_rate`` is the USD currency object's *current* rate, deliberately different from
        # each document's own exchange_rate: converting with the wrong one must show up in tests.
        self.usd_rate = to_decimal(usd_rate, "usd_rate")
        self.lock = threading.RLock()
        self._stocks: dict[int, dict[str, Any]] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._cashes: dict[int, dict[str, Any]] = {}
        self._sessions: dict[str, dict[str, Any]] = {}
        self._cheques: dict[str, dict[str, Any]] = {}
        self._wholesales: dict[int, dict[str, Any]] = {}
        self._wholesale_returns: dict[int, dict[str, Any]] = {}
        self._version = 0
        self._manual_blocks: dict[str, tuple[int, ManualBlock]] = {}
        self._code_seq = 0
        # Register moves (``move_operating_cash``): register id → [(from unix time, stock id)], sorted.
        self._cash_moves: dict[int, list[tuple[int, int]]] = {}
        # "Now" of the REGOS world, unix seconds: OperatingCash/Get answers each register's stock at it.
        self.clock: Callable[[], int] = _now_unix
        self._log = _EventLog(seed)
        self._listeners: list[Callable[[dict[str, Any]], None]] = []

    # ---- references ----
    def add_stock(self, id: int, name: str, deleted_mark: bool = False, *,  # noqa: A002
                  address: str | None = None) -> dict[str, Any]:
        doc = stock_object(id, name, address=address, deleted_mark=deleted_mark)
        return self._put(self._stocks, doc["id"], doc, "stock")

    def add_user(self, id: int, full_name: str, login: str | None = None,  # noqa: A002
                 active: bool = True, *, seller_barcode: str | None = None) -> dict[str, Any]:
        doc = user_object(id, full_name, login=login, active=bool(active), seller_barcode=seller_barcode)
        return self._put(self._users, doc["id"], doc, "user")

    def add_operating_cash(self, id: int, stock_id: int, *, description: str | None = None,  # noqa: A002
                           virtual: bool = False) -> dict[str, Any]:
        doc = {"id": int(id), "stock_id": int(stock_id), "key": None, "price_type": None,
               "description": description if description is not None else f"Kassa {id}",
               "virtual": bool(virtual), "auto_close": None, "max_cheque_quantity_in_session": None,
               "last_update": REFERENCE_LAST_UPDATE, "UserAccept": None}
        return self._put(self._cashes, doc["id"], doc, "operating cash")

    def move_operating_cash(self, id: int, stock_id: int, *, at: datetime | int) -> None:  # noqa: A002
        """REGOS ``OperatingCash/Edit``: from ``at`` on, the register belongs to ``stock_id``.

        Past sales keep their stock ("without changing historical POS data"): cheque lines carry the
        stock the register had at the sale, sessions keep their ``operating_cash_id``, and
        ``OperatingCash/Get`` answers the stock at ``clock()``. Moves may be scripted in any order."""
        with self.lock:
            cash = self._cashes.get(int(id))
            if cash is None:
                raise KeyError(f"no operating cash {id!r}")
            moves = self._cash_moves.setdefault(int(id), [(-(2**62), cash["stock_id"])])
            moves.append((to_unix(at), int(stock_id)))
            moves.sort(key=lambda move: move[0])
            self._version += 1

    def stock_of_cash_at(self, cash_id: int, when: int) -> int | None:
        """The stock register ``cash_id`` belonged to at unix time ``when`` (None: no such register)."""
        moves = self._cash_moves.get(cash_id)
        if moves is not None:
            return [stock for start, stock in moves if start <= when][-1]
        cash = self._cashes.get(cash_id)
        return None if cash is None else cash["stock_id"]

    def _follow_moves(self) -> None:
        """Bring every moved register's served stock to the one it has at ``clock()``."""
        if not self._cash_moves:
            return
        now = self.clock()
        for cash_id in self._cash_moves:
            stock = self.stock_of_cash_at(cash_id, now)
            if self._cashes[cash_id]["stock_id"] != stock:
                self._cashes[cash_id]["stock_id"] = stock
                self._version += 1

    def add_session(self, uuid: str, operating_cash_id: int, start: datetime | int,
                    close: datetime | int | None = None, *, start_user_id: int | None = None,
                    close_user_id: int | None = None, code: str | None = None) -> dict[str, Any]:
        start_unix = to_unix(start)
        close_unix = None if close is None else to_unix(close)
        if close_unix is not None and close_unix < start_unix:
            raise ValueError(f"session {uuid}: close is before start")
        closer = close_user_id if close_user_id is not None else start_user_id
        doc = {
            "uuid": uuid, "code": code if code is not None else f"S-{len(self._sessions) + 1:04d}",
            "operating_cash_id": int(operating_cash_id), "start_date": start_unix,
            "start_user": self._user_ref(start_user_id), "close_date": close_unix,
            "close_user": self._user_ref(closer) if close_unix is not None else None,
            "closed": close_unix is not None, "start_amount": 0, "close_amount": None,
        }
        return self._put(self._sessions, uuid, doc, "session")

    # ---- documents ----
    def add_cheque(self, uuid: str, date: datetime | int, session: str, amount: Decimal,
                   status: str | int = "Closed", is_return: bool = False, seller_id: int | None = None,
                   cashier_id: int | None = None, code: str | None = None, *,
                   return_reason: str | dict[str, Any] | None = None, last_update: datetime | int | None = None,
                   ) -> dict[str, Any]:
        """Returns the stored cheque dict (Decimal amount); later mutations change it in place.
        ``cashier_id`` defaults to the session's start user, as at a real till."""
        when = to_unix(date)
        if cashier_id is None and session in self._sessions and self._sessions[session]["start_user"]:
            cashier_id = self._sessions[session]["start_user"]["id"]
        self._code_seq += 1
        doc = {
            "uuid": uuid, "date": when, "code": code if code is not None else f"{self._code_seq:06d}",
            "status": STATUS_NAMES[status_code(status)], "session": session,
            "cashier": self._user_ref(cashier_id), "seller": self._user_ref(seller_id),
            "is_return": bool(is_return), "return_reason": return_reason_object(return_reason), "card": None,
            "amount": to_decimal(amount), "agregate_status": "New",
            "last_update": to_unix(last_update) if last_update is not None else when,
        }
        return self._put(self._cheques, uuid, doc, "cheque")

    def add_wholesale(self, id: int, date: datetime | int, stock_id: int, amount: Decimal,  # noqa: A002
                      currency: str = "UZS", exchange_rate: Decimal | None = None,
                      seller_id: int | None = None, attached_user_id: int | None = None,
                      performed: bool = True, deleted_mark: bool = False, *, code: str | None = None,
                      partner_id: int | None = None, last_update: datetime | int | None = None,
                      ) -> dict[str, Any]:
        doc = self._wholesale_doc(id, date, stock_id, amount, currency, exchange_rate, attached_user_id,
                                  performed, deleted_mark, code or f"WS-{int(id):06d}", partner_id,
                                  last_update)
        doc["seller"] = self._user_ref(seller_id)
        doc["price_type"] = dict(PRICE_TYPE_WHOLESALE)
        return self._put(self._wholesales, doc["id"], doc, "wholesale")

    def add_wholesale_return(self, id: int, date: datetime | int, stock_id: int,  # noqa: A002
                             amount: Decimal, currency: str = "UZS", exchange_rate: Decimal | None = None,
                             attached_user_id: int | None = None, performed: bool = True,
                             deleted_mark: bool = False, *, code: str | None = None,
                             partner_id: int | None = None, last_update: datetime | int | None = None,
                             ) -> dict[str, Any]:
        """Same as a shipment minus ``seller`` (REGOS sends none on returns)."""
        doc = self._wholesale_doc(id, date, stock_id, amount, currency, exchange_rate, attached_user_id,
                                  performed, deleted_mark, code or f"WR-{int(id):06d}", partner_id,
                                  last_update)
        return self._put(self._wholesale_returns, doc["id"], doc, "wholesale return")

    def _wholesale_doc(self, id: int, date: datetime | int, stock_id: int, amount: Decimal,  # noqa: A002
                       currency: str, exchange_rate: Decimal | None, attached_user_id: int | None,
                       performed: bool, deleted_mark: bool, code: str, partner_id: int | None,
                       last_update: datetime | int | None) -> dict[str, Any]:
        cur = currency.upper()
        if cur not in ("UZS", "USD"):
            raise ValueError(f"currency must be UZS or USD, got {currency!r}")
        if exchange_rate is None:
            rate = Decimal(1) if cur == "UZS" else self.usd_rate
        else:
            rate = to_decimal(exchange_rate, "exchange_rate")
        when = to_unix(date)
        partner = partner_id if partner_id is not None else PARTNER_BASE_ID + int(id) % len(PARTNERS)
        return {
            "id": int(id), "date": when, "code": code,
            "partner": partner_object(partner),
            "stock": {"id": int(stock_id), "name": ""}, "currency": cur, "contract": None,
            "description": "", "amount": to_decimal(amount), "vat_calculation_type": "No",
            "exchange_rate": rate, "attached_user": self._user_ref(attached_user_id),
            "blocked": False, "current_user_blocked": False, "performed": bool(performed),
            "deleted_mark": bool(deleted_mark),
            "last_update": to_unix(last_update) if last_update is not None else when,
        }

    # ---- mutations (each appends a REGOS event) ----
    def cancel_cheque(self, uuid: str, *, at: datetime | int | None = None) -> dict[str, Any]:
        return self._mutate_cheque(uuid, {"status": CANCELED}, "DocChequeCanceled", at)

    def close_cheque(self, uuid: str, *, at: datetime | int | None = None) -> dict[str, Any]:
        return self._mutate_cheque(uuid, {"status": CLOSED}, "DocChequeClosed", at)

    def set_cheque_amount(self, uuid: str, amount: Decimal, *, at: datetime | int | None = None,
                          action: str = "DocChequeClosed") -> dict[str, Any]:
        """REGOS has no "cheque edited" event; the emulator announces the change as ``action``
        (DocChequeClosed by default), which is what a sync must react to anyway."""
        return self._mutate_cheque(uuid, {"amount": to_decimal(amount)}, action, at)

    def perform_wholesale(self, id: int, *, at: datetime | int | None = None) -> dict[str, Any]:  # noqa: A002
        return self._mutate_ws(WHOLESALE, id, "perform", at)

    def perform_cancel_wholesale(self, id: int, *, at: datetime | int | None = None) -> dict[str, Any]:  # noqa: A002
        return self._mutate_ws(WHOLESALE, id, "perform_cancel", at)

    def delete_mark_wholesale(self, id: int, *, at: datetime | int | None = None) -> dict[str, Any]:  # noqa: A002
        return self._mutate_ws(WHOLESALE, id, "delete_mark", at)

    def delete_wholesale(self, id: int, *, at: datetime | int | None = None) -> dict[str, Any]:  # noqa: A002
        return self._mutate_ws(WHOLESALE, id, "delete", at)

    def set_wholesale_amount(self, id: int, amount: Decimal, *,  # noqa: A002
                             at: datetime | int | None = None) -> dict[str, Any]:
        return self._mutate_ws(WHOLESALE, id, "edit", at, amount=to_decimal(amount))

    def perform_wholesale_return(self, id: int, *, at: datetime | int | None = None) -> dict[str, Any]:  # noqa: A002
        return self._mutate_ws(WHOLESALE_RETURN, id, "perform", at)

    def perform_cancel_wholesale_return(self, id: int, *,  # noqa: A002
                                        at: datetime | int | None = None) -> dict[str, Any]:
        return self._mutate_ws(WHOLESALE_RETURN, id, "perform_cancel", at)

    def delete_mark_wholesale_return(self, id: int, *,  # noqa: A002
                                     at: datetime | int | None = None) -> dict[str, Any]:
        return self._mutate_ws(WHOLESALE_RETURN, id, "delete_mark", at)

    def delete_wholesale_return(self, id: int, *, at: datetime | int | None = None) -> dict[str, Any]:  # noqa: A002
        return self._mutate_ws(WHOLESALE_RETURN, id, "delete", at)

    def set_wholesale_return_amount(self, id: int, amount: Decimal, *,  # noqa: A002
                                    at: datetime | int | None = None) -> dict[str, Any]:
        return self._mutate_ws(WHOLESALE_RETURN, id, "edit", at, amount=to_decimal(amount))

    # Names accepted by ``mutate()`` (the control endpoint) → argument it needs.
    MUTATIONS: dict[str, str] = {
        "cancel_cheque": "uuid", "close_cheque": "uuid", "set_cheque_amount": "uuid",
        "perform_wholesale": "id", "perform_cancel_wholesale": "id", "delete_mark_wholesale": "id",
        "delete_wholesale": "id", "set_wholesale_amount": "id",
        "perform_wholesale_return": "id", "perform_cancel_wholesale_return": "id",
        "delete_mark_wholesale_return": "id", "delete_wholesale_return": "id",
        "set_wholesale_return_amount": "id",
    }

    def mutate(self, op: str, **args: Any) -> dict[str, Any]:
        """Run a mutation by name (for the control endpoint); returns the appended event."""
        if op not in self.MUTATIONS:
            raise ValueError(f"unknown mutation {op!r}; known: {', '.join(sorted(self.MUTATIONS))}")
        key_name = self.MUTATIONS[op]
        if key_name not in args:
            raise ValueError(f"{op} needs {key_name!r}")
        kwargs: dict[str, Any] = {}
        if op.startswith("set_"):
            if "amount" not in args:
                raise ValueError(f"{op} needs 'amount'")
            kwargs["amount"] = to_decimal(args["amount"])
        getattr(self, op)(args[key_name], **kwargs)
        return self._log.events[-1]

    # ---- events ----
    @property
    def events(self) -> list[dict[str, Any]]:
        return self._log.events

    def record_event(self, action: str, data: dict[str, Any], *,
                     at: datetime | int | None = None) -> dict[str, Any]:
        with self.lock:
            event = self._log.append(action, data, _now_unix() if at is None else to_unix(at))
        for listener in list(self._listeners):
            listener(event)
        return event

    def events_page(self, *, last_event_id: str | None = None, from_date: int | None = None,
                    limit: int = 1000, actions: Iterable[str] | None = None,
                    ) -> tuple[list[dict[str, Any]], str | None, bool]:
        with self.lock:
            return self._log.page(last_event_id, from_date, limit,
                                  None if actions is None else frozenset(actions))

    def subscribe(self, listener: Callable[[dict[str, Any]], None]) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[dict[str, Any]], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    # ---- serving interface (shared with generated datasets) ----
    def blocks(self, kind: str, start: int | None = None, end: int | None = None,
               flt: Filter = NO_FILTER) -> list[Block]:
        """Blocks that may hold documents of ``kind`` in [start, end], in serving order."""
        return [self._manual_block(kind)]

    def locate(self, kind: str, key: str | int) -> tuple[SortedBlock, int] | None:
        """Where the document with this uuid/id is, or None (unknown or deleted)."""
        block = self._manual_block(kind)
        doc = self._store(kind).get(key)
        pos = None if doc is None else block.pos_by_id.get(id(doc))
        return None if pos is None else (block, pos)

    def query(self, kind: str, flt: Filter = NO_FILTER, start: int | None = None, end: int | None = None,
              offset: int = 0, limit: int = 1000) -> tuple[list[str], int]:
        return query(self.blocks(kind, start, end, flt), flt, start, end, offset, limit)

    def lookup(self, kind: str, keys: Iterable[str | int], flt: Filter = NO_FILTER,
               start: int | None = None, end: int | None = None, offset: int = 0,
               limit: int = 1000) -> tuple[list[str], int]:
        found = [hit for key in dict.fromkeys(keys) if (hit := self.locate(kind, key)) is not None]
        return lookup(found, flt, start, end, offset, limit)

    def iter_docs(self, kind: str, first_day: date | None = None,
                  last_day: date | None = None) -> Iterator[dict[str, Any]]:
        """Every document of ``kind`` (optionally dated in Tashkent days first..last) as the dict
        it is served as (Decimal amounts), in serving order — for tests to compute expectations."""
        start = end = None
        if first_day is not None or last_day is not None:
            start, end = range_bounds_unix(first_day or date(1970, 1, 2), last_day or date(9999, 12, 30))
        for block in self.blocks(kind, start, end):
            for pos in block.select(NO_FILTER, start, end):
                yield block.doc(pos)

    def counts(self, first_day: date, last_day: date) -> Counts:
        start, end = range_bounds_unix(first_day, last_day)
        cheques = closed = 0
        sessions: set[str] = set()
        for doc in self._cheques.values():
            if start <= doc["date"] <= end:
                cheques += 1
                closed += doc["status"] == "Closed"
                sessions.add(doc["session"])
        return Counts(cheques, closed, len(sessions),
                      self._count_counted(self._wholesales, start, end),
                      self._count_counted(self._wholesale_returns, start, end))

    # ---- details used by the line-item methods ----
    def cheque_facts(self, uuid: str) -> tuple[Decimal, int, int | None, int] | None:
        """(amount, date, stock id or None, last_update) of a cheque, for ChequeItemOperation/Get."""
        doc = self._cheques.get(uuid)
        if doc is None:
            return None
        stock = self.stock_of_session(doc["session"], at=doc["date"])
        return doc["amount"], doc["date"], stock, doc["last_update"]

    def stock_of_session(self, session_uuid: str, *, at: int | None = None) -> int | None:
        """The stock of the session's register at unix time ``at`` (the session's start if None)."""
        session = self._sessions.get(session_uuid)
        if session is None:
            return None
        return self.stock_of_cash_at(session["operating_cash_id"], session["start_date"] if at is None else at)

    def wholesale_facts(self, kind: str, id: int) -> tuple[Decimal, int, int] | None:  # noqa: A002
        """(amount in document currency, date, last_update) of a shipment/return."""
        doc = self._store(kind).get(id)
        if doc is None:
            return None
        return doc["amount"], doc["date"], doc["last_update"]

    def session_span(self, session_uuid: str) -> tuple[int, int | None] | None:
        doc = self._sessions.get(session_uuid)
        return None if doc is None else (doc["start_date"], doc["close_date"])

    # ---- internals ----
    def _put(self, store: dict[Any, dict[str, Any]], key: Any, doc: dict[str, Any],
             what: str) -> dict[str, Any]:
        with self.lock:
            if key in store:
                raise ValueError(f"{what} {key!r} already exists")
            store[key] = doc
            self._version += 1
        return doc

    def _store(self, kind: str) -> dict[Any, dict[str, Any]]:
        # Annotated: the stores are keyed by str (uuids) or int (ids), which would join to object.
        stores: dict[str, dict[Any, dict[str, Any]]] = {
            CHEQUE: self._cheques, WHOLESALE: self._wholesales, WHOLESALE_RETURN: self._wholesale_returns,
            SESSION: self._sessions, CASH: self._cashes, STOCK: self._stocks, USER: self._users,
        }
        return stores[kind]

    def _user_ref(self, user_id: int | None) -> dict[str, Any] | None:
        if user_id is None:
            return None
        user = self._users.get(int(user_id))
        return {"id": int(user_id), "full_name": user["full_name"] if user else ""}

    def _resolve_user(self, ref: dict[str, Any] | None) -> dict[str, Any] | None:
        """The full User object REGOS nests (a user added later is resolved when served)."""
        if ref is None:
            return None
        user = self._users.get(ref["id"])
        return dict(user) if user else user_object(ref["id"], ref["full_name"] or None)

    def _stock_ref(self, stock_id: int) -> dict[str, Any]:
        stock = self._stocks.get(stock_id)
        return dict(stock) if stock else stock_object(stock_id, "")

    def _currency(self, code: str) -> dict[str, Any]:
        if code == "UZS":
            return {**UZS, "exchange_rate": Decimal(1)}
        return {**USD, "exchange_rate": self.usd_rate}

    def _public(self, kind: str, doc: dict[str, Any]) -> dict[str, Any]:
        """The dict exactly as served (names resolved, nested objects filled in)."""
        if kind == CHEQUE:
            return {**doc, "cashier": self._resolve_user(doc["cashier"]),
                    "seller": self._resolve_user(doc["seller"])}
        if kind in (WHOLESALE, WHOLESALE_RETURN):
            out = {**doc, "stock": self._stock_ref(doc["stock"]["id"]),
                   "currency": self._currency(doc["currency"]),
                   "attached_user": self._resolve_user(doc["attached_user"])}
            if kind == WHOLESALE:
                out["seller"] = self._resolve_user(doc["seller"])
            return out
        if kind == SESSION:
            return {**doc, "start_user": self._resolve_user(doc["start_user"]),
                    "close_user": self._resolve_user(doc["close_user"])}
        if kind == CASH:
            out = {k: v for k, v in doc.items() if k != "stock_id"}
            out["stock"] = self._stock_ref(doc["stock_id"])
            return out
        return dict(doc)

    def _manual_block(self, kind: str) -> ManualBlock:
        with self.lock:
            if kind == CASH:
                self._follow_moves()
            cached = self._manual_blocks.get(kind)
            if cached is not None and cached[0] == self._version:
                return cached[1]
            block = ManualBlock(kind, list(self._store(kind).values()), lambda d: _date_of(kind, d),
                                lambda d: _key_of(kind, d), lambda d: self._public(kind, d))
            self._manual_blocks[kind] = (self._version, block)
            return block

    def _mutate_cheque(self, uuid: str, changes: dict[str, Any], action: str,
                       at: datetime | int | None) -> dict[str, Any]:
        when = _now_unix() if at is None else to_unix(at)
        with self.lock:
            doc = self._cheques.get(uuid)
            if doc is None:
                raise KeyError(f"no cheque {uuid!r}")
            if "status" in changes:
                doc["status"] = STATUS_NAMES[changes["status"]]
            if "amount" in changes:
                doc["amount"] = changes["amount"]
            doc["last_update"] = when
            self._version += 1
        self.record_event(action, {"uuid": uuid}, at=when)
        return doc

    def _mutate_ws(self, kind: str, id: int, op: str, at: datetime | int | None,  # noqa: A002
                   amount: Decimal | None = None) -> dict[str, Any]:
        when = _now_unix() if at is None else to_unix(at)
        with self.lock:
            store = self._store(kind)
            doc = store.get(int(id))
            if doc is None:
                raise KeyError(f"no {DOC_NAMES[kind]} {id!r}")
            state = {"performed": doc["performed"], "deleted_mark": doc["deleted_mark"]}
            new = check_lifecycle(kind, int(id), op, state)
            if op == "delete":
                del store[int(id)]
            else:
                doc.update(new)
                if amount is not None:
                    doc["amount"] = amount
                doc["last_update"] = when
            self._version += 1
        self.record_event(DOC_NAMES[kind] + ACTION_SUFFIX[op], {"id": int(id)}, at=when)
        return doc

    @staticmethod
    def _count_counted(store: dict[int, dict[str, Any]], start: int, end: int) -> int:
        return sum(1 for d in store.values()
                   if start <= d["date"] <= end and d["performed"] and not d["deleted_mark"])


DOC_NAMES = {WHOLESALE: "DocWholeSale", WHOLESALE_RETURN: "DocWholeSaleReturn"}
ACTION_SUFFIX = {"perform": "Performed", "perform_cancel": "PerformCanceled",
                  "delete_mark": "DeleteMarked", "delete": "Deleted", "edit": "Edited"}


def check_lifecycle(kind: str, id: int, op: str, state: dict[str, bool]) -> dict[str, bool]:  # noqa: A002
    """The new flags after ``op`` on a wholesale document, or ValueError where REGOS refuses it."""
    name = f"{DOC_NAMES[kind]} {id}"
    performed, marked = state["performed"], state["deleted_mark"]
    if op == "perform":
        if performed:
            raise ValueError(f"{name} is already performed")
        if marked:
            raise ValueError(f"{name} is delete-marked: REGOS refuses Perform on it")
        return {"performed": True}
    if op == "perform_cancel":
        if not performed:
            raise ValueError(f"{name} is not performed")
        return {"performed": False}
    if performed:
        verb = {"delete_mark": "DeleteMark", "delete": "Delete", "edit": "Edit"}[op]
        raise ValueError(f"{name} is performed: REGOS refuses {verb} on it (perform-cancel it first)")
    if op == "delete_mark":
        return {"deleted_mark": True}
    return {}


def _date_of(kind: str, doc: dict[str, Any]) -> int:
    if kind in (CHEQUE, WHOLESALE, WHOLESALE_RETURN):
        return doc["date"]
    if kind == SESSION:
        return doc["start_date"]
    return doc["id"]


def _key_of(kind: str, doc: dict[str, Any]) -> tuple[Any, ...]:
    if kind == CHEQUE:
        return (doc["date"], doc["uuid"])
    if kind in (WHOLESALE, WHOLESALE_RETURN):
        return (doc["date"], doc["id"])
    if kind == SESSION:
        return (doc["start_date"], doc["uuid"])
    return (doc["id"],)
