"""A deterministic, lazily generated REGOS world: ``generate_dataset(seed=..., ...)``.

Scale. The benchmark serves a million cheques a month, so nothing is built per document up front.
Each (kind, Tashkent calendar day) is generated on first use from a seed derived from (seed, kind,
day) — the same data whatever order days are touched in — into compact ``array`` columns
(~40 bytes a cheque), kept in an LRU of blocks. Documents are rendered to JSON only when a page is
served. Counting a full day with no filter needs no generation at all (``cheques_per_day`` is exact);
filtered counts come from per-block position lists cached per filter.

Identity. Cheque and session uuids, and wholesale ids, encode their day and position, so ``uuids``/
``ids``/``session_uuid`` selections and line-item calls find a document without any index:

* cheque ``{tag}-{day:04x}-4001-8{salt}-{base+i:012x}`` (``tag`` from the seed, ``day`` = days since
  2000-01-01, ``salt``/``base`` from (seed, day)); uuids of one day sort like their positions;
* session ``{tag}-{day:04x}-4002-8{salt}-{base+cash:012x}`` for the shift opened on ``day`` at cash
  register number ``cash``;
* shipment id ``(day_no + 1) * 100000 + i``, return id ``(day_no + 1) * 100000 + 50000 + i``
  (``day_no`` counted from the first generated day).

Realism (all approximate, per cheque draw): ~90 % Closed sales, ~4 % Canceled, ~3 % Default/Opened/
Paying/Delayed/DelayedPayment, ~3 % Closed returns (with a RetailReturnReason object or null);
~20 % without a seller; the cashier is the shift's user.
Every other stock trades late: its shifts close around 02:00 and ~3 % of a day's cheques are in the
small hours, belonging to the previous day's shift (so a shift straddles midnight and the first day
has cheques of a shift opened the day before the range). Nothing dated after the dataset's ``clock()``
is served (today's later cheques appear as time passes). Each day (≥ 10 cheques) has one cheque at
exactly 23:59:59 and, with a late stock, one at exactly 00:00:00 local. The last day's shifts are
still open. Amounts are UZS, mostly whole thousands, ~10 % with tiyin. Shipments: ~15 % in USD at
that day's rate (12650.00–12769.99; the USD currency object carries today's rate instead),
~88 % performed, ~3 % delete-marked drafts; returns have no seller. Shapes are the vendor's: documents
nest full User objects, Stock with its Firm, Currency with ``code_num``/``deleted``/``last_update``, a
Partner; nulls where the schema allows them (every fifth wholesale document's ``blocked`` flags).

Mutations work on any size (an overlay applied on generation); ``add_cheque``/``add_session``/
``add_wholesale*`` are refused — build a ``Dataset`` by hand for that.
"""

from __future__ import annotations

import hashlib
import math
import random
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from payroll.dates import business_date_of_unix, day_bounds_unix, day_start, today
from sync.regos.emulator.dataset import (
    ACTION_SUFFIX,
    CANCELED,
    CHEQUE,
    CLOSED,
    DOC_NAMES,
    DOCUMENT_KINDS,
    FIRM,
    NO_FILTER,
    PARTNER_BASE_ID,
    PARTNERS,
    PRICE_TYPE_WHOLESALE,
    RETURN_REASONS,
    SESSION,
    USD,
    UZS,
    WHOLESALE,
    WHOLESALE_RETURN,
    Block,
    Counts,
    Dataset,
    Filter,
    SortedBlock,
    _now_unix,
    check_lifecycle,
    partner_object,
)
from sync.regos.emulator.protocol import (
    STATUS_NAMES,
    decimal_to_tiyin,
    encode,
    tiyin_text,
    to_decimal,
    to_unix,
)

STOCK_NAMES = (
    "Navoiy filiali",
    "G'ijduvon filiali",
    "Chilonzor do'koni",
    "Buxoro markaziy",
    "Samarqand filiali",
    "Yunusobod do'koni",
    "Qarshi filiali",
    "Urganch filiali",
    "Andijon filiali",
    "Namangan filiali",
    "Farg'ona filiali",
    "Termiz filiali",
    "Nukus filiali",
    "Jizzax filiali",
    "Guliston filiali",
    "Sergeli do'koni",
    "Olmazor do'koni",
    "Kogon filiali",
)
SURNAMES = (
    "Toshmatov", "Karimov", "Rahimov", "Yusupov", "Abdullayev", "Ismoilov", "Qodirov", "Ergashev",
    "Nazarov", "Saidov", "Xolmatov", "Tursunov", "Hamidov", "Jo'rayev", "Mirzayev", "Usmonov",
    "Sobirov", "Olimov", "Rasulov", "Haydarov",
)
MALE_NAMES = (
    "Aziz", "Bobur", "Jasur", "Sardor", "Otabek", "Sherzod", "Javlon", "Rustam", "Dilshod", "Bekzod",
    "Ulug'bek", "Farrux", "Jamshid", "Akmal", "Sanjar", "Shoxrux",
)
FEMALE_NAMES = (
    "Dilnoza", "Nodira", "Gulnora", "Malika", "Shahnoza", "Zarina", "Madina", "Feruza", "Nilufar",
    "Kamola", "Sevara", "Mohira", "Lola", "Munisa",
)

_EPOCH = date(2000, 1, 1)
WS_STRIDE = 100_000
RETURN_OFFSET = 50_000
_KIND_NO = {CHEQUE: 1, SESSION: 2, WHOLESALE: 3, WHOLESALE_RETURN: 4}
_DATED_KINDS = (CHEQUE, WHOLESALE, WHOLESALE_RETURN)

# Intraday shape 09:00–23:59: a lunch bump and an evening peak (weights per hour).
_HOUR_WEIGHTS = (4, 5, 6, 8, 9, 8, 7, 7, 8, 9, 10, 10, 8, 6, 4)


def _hour_table(size: int = 4096) -> list[int]:
    total = sum(_HOUR_WEIGHTS)
    table: list[int] = []
    for hour, weight in enumerate(_HOUR_WEIGHTS, start=9):
        table.extend([hour * 3600] * round(weight * size / total))
    return (table + [23 * 3600] * size)[:size]


_HOURS = _hour_table()
# Retail sums: log-uniform 3 000 … 1 500 000 so'm, in whole thousands (index by 10 random bits).
_RETAIL_THOUSANDS = [max(3, round(3 * 500 ** (j / 1023))) for j in range(1024)]
# Wholesale UZS sums: 500 000 … 60 000 000 so'm, in thousands.
_WS_THOUSANDS = [round(500 * 120 ** (j / 1023)) for j in range(1024)]
_REASONS_JSON = [encode(r) for r in RETURN_REASONS] + ["null"]  # index -1 → null


def _mix(*parts: int) -> int:
    """A stable 64-bit hash of integers (Python's hash() is salted per process)."""
    data = b"".join(int(p).to_bytes(9, "little", signed=True) for p in parts)
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


@dataclass(frozen=True)
class GeneratorConfig:
    seed: int
    stocks: int
    cashes_per_stock: int
    users: int
    days: int
    cheques_per_day: int
    end_day: date
    wholesale_per_day: int
    wholesale_returns_per_day: int
    small_hours_share: float = 0.03


def generate_dataset(seed: int = 1, stocks: int = 5, cashes_per_stock: int = 2, users: int = 12,
                     days: int = 30, cheques_per_day: int = 200, end_day: date | None = None,
                     wholesale_per_day: int | None = None, wholesale_returns_per_day: int | None = None,
                     *, block_cache: int = 256) -> GeneratedDataset:
    """A deterministic dataset for (seed, sizes, end_day); ``end_day`` defaults to today in Tashkent.

    ``wholesale_per_day`` defaults to max(1, cheques_per_day // 50), ``wholesale_returns_per_day`` to
    max(1, wholesale_per_day // 8). ``block_cache`` bounds how many day blocks stay in memory (keep it
    above the number of days × kinds a client pages through at once)."""
    wpd = max(1, cheques_per_day // 50) if wholesale_per_day is None else wholesale_per_day
    rpd = max(1, wpd // 8) if wholesale_returns_per_day is None else wholesale_returns_per_day
    checks = {"stocks": stocks, "cashes_per_stock": cashes_per_stock, "users": users, "days": days}
    for name, value in checks.items():
        if value < 1:
            raise ValueError(f"{name} must be ≥ 1, got {value}")
    if cheques_per_day < 0 or wpd < 0 or rpd < 0:
        raise ValueError("per-day counts must be ≥ 0")
    if cashes_per_stock > 99:
        raise ValueError("cashes_per_stock must be ≤ 99 (cash ids are stock_id*100 + n)")
    if max(wpd, rpd) >= RETURN_OFFSET:
        raise ValueError(f"wholesale documents per day must be < {RETURN_OFFSET}")
    if cheques_per_day >= 1 << 28:
        raise ValueError("cheques_per_day is too large")
    config = GeneratorConfig(seed, stocks, cashes_per_stock, users, days, cheques_per_day,
                             end_day or today(), wpd, rpd)
    return GeneratedDataset(config, block_cache=block_cache)


class _DayHandle:
    """A day block that is generated only when a filter or a partial period needs its contents."""

    __slots__ = ("ds", "kind", "day", "n", "lo", "hi")

    def __init__(self, ds: GeneratedDataset, kind: str, day: date, n: int) -> None:
        self.ds, self.kind, self.day, self.n = ds, kind, day, n
        self.lo, self.hi = day_bounds_unix(day)

    def select(self, flt: Filter, start: int | None, end: int | None) -> Sequence[int]:
        covered = (start is None or start <= self.lo) and (end is None or end >= self.hi)
        if covered and flt.empty and (self.kind, self.day.toordinal()) not in self.ds._hidden_days:
            return range(self.n)
        return self.ds.block(self.kind, self.day).select(flt, start, end)

    def render(self, positions: Iterable[int]) -> list[str]:
        return self.ds.block(self.kind, self.day).render(positions)

    def sort_key(self, pos: int) -> tuple[Any, ...]:
        return self.ds.block(self.kind, self.day).sort_key(pos)

    def doc(self, pos: int) -> dict[str, Any]:
        return self.ds.block(self.kind, self.day).doc(pos)


class _ChequeBlock(SortedBlock):
    def __init__(self, ds: GeneratedDataset, day: date, cols: dict[str, array]) -> None:
        super().__init__()
        self.ds, self.day = ds, day
        self.dates = cols["date"]
        self.n = len(self.dates)
        self.st, self.ret, self.cash, self.prev = cols["status"], cols["ret"], cols["cash"], cols["prev"]
        self.seller, self.cashier, self.amount = cols["seller"], cols["cashier"], cols["amount"]
        self.code, self.lu, self.reason = cols["code"], cols["lu"], cols["reason"]
        self.prefix, self.base = ds.uuid_parts(CHEQUE, day)
        # Session uuid per (cash, prev): index cash*2 + prev.
        prev_day = day - timedelta(days=1)
        self.sessions = [ds.session_uuid(d, c) for c in range(ds.n_cash) for d in (day, prev_day)]

    def apply(self, pos: int, changes: dict[str, Any]) -> None:
        if "status" in changes:
            self.st[pos] = changes["status"]
        if "amount" in changes:
            self.amount[pos] = changes["amount"]
        if "last_update" in changes:
            self.lu[pos] = changes["last_update"]
        self.invalidate()

    def compute_match(self, flt: Filter) -> Sequence[int]:
        pos: Iterable[int] = range(self.n)
        if flt.status is not None:
            st, code = self.st, flt.status
            pos = [i for i in pos if st[i] == code]
        if flt.is_return is not None:
            ret, want = self.ret, int(flt.is_return)
            pos = [i for i in pos if ret[i] == want]
        if flt.seller_ids is not None:
            seller, wanted = self.seller, self.ds.user_indexes(flt.seller_ids)
            pos = [i for i in pos if seller[i] in wanted]
        if flt.cashier_ids is not None:
            cashier, wanted = self.cashier, self.ds.user_indexes(flt.cashier_ids)
            pos = [i for i in pos if cashier[i] in wanted]
        if flt.session is not None:
            decoded = self.ds.decode_uuid(flt.session, SESSION)
            if decoded is None or (self.day - decoded[0]).days not in (0, 1):
                return array("l")
            cash, prev, c = self.cash, self.prev, decoded[1]
            p = (self.day - decoded[0]).days
            pos = [i for i in pos if cash[i] == c and prev[i] == p]
        return array("l", pos)

    def uuid(self, pos: int) -> str:
        return f"{self.prefix}{self.base + pos:012x}"

    def render(self, positions: Iterable[int]) -> list[str]:
        dates, st, ret, cash, prev = self.dates, self.st, self.ret, self.cash, self.prev
        seller, cashier, amount, code, lu = self.seller, self.cashier, self.amount, self.code, self.lu
        reason, sessions, users = self.reason, self.sessions, self.ds.user_json
        prefix, base = self.prefix, self.base
        out = []
        for i in positions:
            s = seller[i]
            out.append(
                f'{{"uuid":"{prefix}{base + i:012x}","date":{dates[i]},"code":"{code[i]:06d}",'
                f'"status":"{STATUS_NAMES[st[i]]}","session":"{sessions[cash[i] * 2 + prev[i]]}",'
                f'"cashier":{users[cashier[i]]},"seller":{users[s] if s >= 0 else "null"},'
                f'"is_return":{"true" if ret[i] else "false"},"return_reason":{_REASONS_JSON[reason[i]]},'
                f'"card":null,"amount":{tiyin_text(amount[i])},"agregate_status":"New",'
                f'"last_update":{lu[i]}}}'
            )
        return out

    def sort_key(self, pos: int) -> tuple[Any, ...]:
        return (self.dates[pos], self.uuid(pos))

    def doc(self, pos: int) -> dict[str, Any]:
        ds, s = self.ds, self.seller[pos]
        return {
            "uuid": self.uuid(pos), "date": self.dates[pos], "code": f"{self.code[pos]:06d}",
            "status": STATUS_NAMES[self.st[pos]],
            "session": self.sessions[self.cash[pos] * 2 + self.prev[pos]],
            "cashier": ds.user_ref(self.cashier[pos]), "seller": ds.user_ref(s) if s >= 0 else None,
            "is_return": bool(self.ret[pos]),
            "return_reason": dict(RETURN_REASONS[self.reason[pos]]) if self.reason[pos] >= 0 else None,
            "card": None, "amount": Decimal(tiyin_text(self.amount[pos])), "agregate_status": "New",
            "last_update": self.lu[pos],
        }


class _WholesaleBlock(SortedBlock):
    def __init__(self, ds: GeneratedDataset, kind: str, day: date, cols: dict[str, array],
                 rate_hundredths: int) -> None:
        super().__init__()
        self.ds, self.kind, self.day = ds, kind, day
        self.dates = cols["date"]
        self.n = len(self.dates)
        self.stock, self.usd, self.amount = cols["stock"], cols["usd"], cols["amount"]
        self.seller, self.attached, self.partner = cols["seller"], cols["attached"], cols["partner"]
        self.performed, self.marked, self.deleted = cols["performed"], cols["marked"], cols["deleted"]
        self.lu = cols["lu"]
        self.hidden = any(self.deleted)
        self.rate = tiyin_text(rate_hundredths)
        self.first_id = ds.first_doc_id(kind, day)
        self.code_base = (day - ds.first_day).days * (ds.config.wholesale_per_day if kind == WHOLESALE
                                                      else ds.config.wholesale_returns_per_day)
        self.code_prefix = "WS" if kind == WHOLESALE else "WR"

    def apply(self, pos: int, changes: dict[str, Any]) -> None:
        for key, column in (("performed", self.performed), ("deleted_mark", self.marked),
                            ("deleted", self.deleted), ("amount", self.amount), ("last_update", self.lu)):
            if key in changes:
                column[pos] = int(changes[key])
        self.hidden = any(self.deleted)
        self.invalidate()

    def compute_match(self, flt: Filter) -> Sequence[int]:
        deleted = self.deleted
        pos: Iterable[int] = [i for i in range(self.n) if not deleted[i]]
        if flt.performed is not None:
            col, want = self.performed, int(flt.performed)
            pos = [i for i in pos if col[i] == want]
        if flt.deleted_mark is not None:
            col, want = self.marked, int(flt.deleted_mark)
            pos = [i for i in pos if col[i] == want]
        if flt.stock_ids is not None:
            col, wanted = self.stock, self.ds.stock_indexes(flt.stock_ids)
            pos = [i for i in pos if col[i] in wanted]
        if flt.attached_user_ids is not None:
            col, wanted = self.attached, self.ds.user_indexes(flt.attached_user_ids)
            pos = [i for i in pos if col[i] in wanted]
        if flt.ids is not None:
            first = self.first_id
            pos = [i for i in pos if first + i in flt.ids]
        return array("l", pos)

    def render(self, positions: Iterable[int]) -> list[str]:
        return [encode(self.doc(i)) for i in positions]

    def sort_key(self, pos: int) -> tuple[Any, ...]:
        return (self.dates[pos], self.first_id + pos)

    def doc(self, pos: int) -> dict[str, Any]:
        ds = self.ds
        usd = bool(self.usd[pos])
        partner = self.partner[pos]
        doc: dict[str, Any] = {
            "id": self.first_id + pos, "date": self.dates[pos],
            "code": f"{self.code_prefix}-{self.code_base + pos + 1:06d}",
            "partner": partner_object(PARTNER_BASE_ID + partner),
            "stock": ds.stock_ref(self.stock[pos]),
            "currency": {**USD, "exchange_rate": ds.usd_rate} if usd else {**UZS, "exchange_rate": 1},
            "contract": None, "description": "", "amount": Decimal(tiyin_text(self.amount[pos])),
            "vat_calculation_type": "No", "exchange_rate": Decimal(self.rate) if usd else Decimal(1),
            "attached_user": ds.user_ref(self.attached[pos]),
        }
        if self.kind == WHOLESALE:
            s = self.seller[pos]
            doc["seller"] = ds.user_ref(s) if s >= 0 else None
            doc["price_type"] = dict(PRICE_TYPE_WHOLESALE)
        # Every fifth document has the editing-lock flags null, as the vendor's schema allows.
        lock = None if pos % 5 == 4 else False
        doc.update({"blocked": lock, "current_user_blocked": lock, "performed": bool(self.performed[pos]),
                    "deleted_mark": bool(self.marked[pos]), "last_update": self.lu[pos]})
        return doc


class _SessionBlock(SortedBlock):
    def __init__(self, ds: GeneratedDataset, day: date) -> None:
        super().__init__()
        self.ds, self.day = ds, day
        infos = [ds.session_info(day, c) for c in range(ds.n_cash)]
        self.order = sorted(range(ds.n_cash), key=lambda c: (infos[c][0], c))
        self.pos_of_cash = {c: p for p, c in enumerate(self.order)}
        self.infos = [infos[c] for c in self.order]
        self.dates = array("q", [info[0] for info in self.infos])
        self.n = len(self.order)

    def compute_match(self, flt: Filter) -> Sequence[int]:
        ds = self.ds
        out = []
        for p, c in enumerate(self.order):
            if flt.operating_cash_ids is not None and ds.cash_ids[c] not in flt.operating_cash_ids:
                continue
            if flt.closed is not None and (self.infos[p][1] is not None) != flt.closed:
                continue
            out.append(p)
        return array("l", out)

    def render(self, positions: Iterable[int]) -> list[str]:
        return [encode(self.doc(p)) for p in positions]

    def sort_key(self, pos: int) -> tuple[Any, ...]:
        return (self.dates[pos], self.ds.session_uuid(self.day, self.order[pos]))

    def doc(self, pos: int) -> dict[str, Any]:
        ds, cash = self.ds, self.order[pos]
        start, close, cashier = self.infos[pos]
        user = ds.user_ref(cashier)
        return {
            "uuid": ds.session_uuid(self.day, cash), "code": f"{self.day:%y%m%d}-{ds.cash_ids[cash]}",
            "operating_cash_id": ds.cash_ids[cash], "start_date": start, "start_user": user,
            "close_date": close, "close_user": user if close is not None else None,
            "closed": close is not None, "start_amount": 0, "close_amount": None,
        }


class GeneratedDataset(Dataset):
    """See the module docstring. References (stocks, users, cash registers) are ordinary
    hand-built entries; documents are generated per day."""

    def __init__(self, config: GeneratorConfig, *, block_cache: int = 256) -> None:
        super().__init__(seed=config.seed)
        self.config = config
        self.first_day = config.end_day - timedelta(days=config.days - 1)
        self.last_day = config.end_day
        self._block_cache_size = max(8, block_cache)
        self._cache: OrderedDict[tuple[str, int], SortedBlock] = OrderedDict()
        self._overlay: dict[tuple[str, int], dict[int, dict[str, Any]]] = {}
        self._hidden_days: set[tuple[str, int]] = set()
        self.generated_blocks = 0  # how many day blocks were built (a test of laziness reads it)
        self._tag = _mix(config.seed, 0) & 0xFFFFFFFF
        self._build_references()
        # Today's USD rate for the currency object: the end day's rate, not any document's.
        self.usd_rate = Decimal(tiyin_text(self._usd_rate_hundredths(self.last_day)))

    # ---- references ----
    def _build_references(self) -> None:
        cfg = self.config
        rng = random.Random(_mix(cfg.seed, 100))
        self.stock_ids: list[int] = []
        self.late_stock: list[bool] = []
        for s in range(cfg.stocks):
            base = STOCK_NAMES[s % len(STOCK_NAMES)]
            name = base if s < len(STOCK_NAMES) else f"{base} {s // len(STOCK_NAMES) + 1}"
            self.add_stock(s + 1, name, address=f"{name.split()[0]} sh., {rng.randint(1, 120)}-uy")
            self.stock_ids.append(s + 1)
            self.late_stock.append(s % 2 == 0)
        self._stock_index = {sid: i for i, sid in enumerate(self.stock_ids)}

        self.user_ids: list[int] = []
        used: set[str] = set()
        for u in range(cfg.users):
            for _ in range(1000):
                female = rng.random() < 0.45
                surname = rng.choice(SURNAMES) + ("a" if female else "")
                first = rng.choice(FEMALE_NAMES if female else MALE_NAMES)
                full = f"{surname} {first}"
                if full not in used:
                    break
            else:
                full = f"{surname} {first} {u + 1}"
            used.add(full)
            login = f"{first[0].lower()}.{surname.lower().replace(chr(39), '')}"
            self.add_user(u + 1, full, login)
            self.user_ids.append(u + 1)
        self._user_index = {uid: i for i, uid in enumerate(self.user_ids)}
        # Documents nest the full User object, as REGOS does (encoded once, not per document).
        self.user_json = [encode(self._users[uid]) for uid in self.user_ids]

        # Users work at a home stock (round robin); the first half of a stock's staff (at most one
        # per till) are cashiers, the rest sellers. Stocks without staff borrow from everyone.
        staff: list[list[int]] = [[] for _ in range(cfg.stocks)]
        for u in range(cfg.users):
            staff[u % cfg.stocks].append(u)
        all_cashiers: list[int] = []
        all_sellers: list[int] = []
        self.stock_cashiers: list[list[int]] = []
        self.stock_sellers: list[list[int]] = []
        for members in staff:
            k = min(cfg.cashes_per_stock, math.ceil(len(members) / 2))
            self.stock_cashiers.append(members[:k])
            self.stock_sellers.append(members[k:])
            all_cashiers += members[:k]
            all_sellers += members[k:]
        for s in range(cfg.stocks):
            self.stock_cashiers[s] = self.stock_cashiers[s] or all_cashiers or [0]
            self.stock_sellers[s] = self.stock_sellers[s] or all_sellers

        self.cash_ids: list[int] = []
        self.cash_stock: list[int] = []
        for s, sid in enumerate(self.stock_ids):
            for k in range(cfg.cashes_per_stock):
                cid = sid * 100 + k + 1
                self.add_operating_cash(cid, sid, description=f"Kassa {k + 1}")
                self.cash_ids.append(cid)
                self.cash_stock.append(s)
        self.n_cash = len(self.cash_ids)
        self._cash_index = {cid: i for i, cid in enumerate(self.cash_ids)}
        self.late_cashes = [c for c in range(self.n_cash) if self.late_stock[self.cash_stock[c]]]

    def user_ref(self, index: int) -> dict[str, Any]:
        """The full User object of user ``index``, as REGOS nests it in documents."""
        return dict(self._users[self.user_ids[index]])

    def stock_ref(self, index: int) -> dict[str, Any]:
        """The full Stock object (with its Firm) of stock ``index``."""
        return dict(self._stocks[self.stock_ids[index]])

    def user_indexes(self, ids: frozenset[int]) -> set[int]:
        return {self._user_index[i] for i in ids if i in self._user_index}

    def stock_indexes(self, ids: frozenset[int]) -> set[int]:
        return {self._stock_index[i] for i in ids if i in self._stock_index}

    # ---- identity ----
    def uuid_parts(self, kind: str, day: date) -> tuple[str, int]:
        dord = (day - _EPOCH).days
        h = _mix(self.config.seed, 10 + _KIND_NO[kind], dord)
        prefix = f"{self._tag:08x}-{dord & 0xFFFF:04x}-400{_KIND_NO[kind]}-8{h & 0xFFF:03x}-"
        return prefix, (h >> 12) & ((1 << 47) - 1)

    def session_uuid(self, day: date, cash: int) -> str:
        prefix, base = self.uuid_parts(SESSION, day)
        return f"{prefix}{base + cash:012x}"

    def decode_uuid(self, value: str, kind: str) -> tuple[date, int] | None:
        """(day, position or cash number) of a generated uuid of ``kind``, or None."""
        if not isinstance(value, str):
            return None
        parts = value.lower().split("-")
        if len(parts) != 5 or len(parts[4]) != 12 or parts[2] != f"400{_KIND_NO[kind]}":
            return None
        try:
            day = _EPOCH + timedelta(days=int(parts[1], 16))
            number = int(parts[4], 16)
        except ValueError:
            return None
        lo = self.first_day - timedelta(days=1) if kind == SESSION else self.first_day
        if not lo <= day <= self.last_day:
            return None
        prefix, base = self.uuid_parts(kind, day)
        limit = self.n_cash if kind == SESSION else self.config.cheques_per_day
        if value.lower()[: len(prefix)] != prefix or not 0 <= number - base < limit:
            return None
        return day, number - base

    def first_doc_id(self, kind: str, day: date) -> int:
        base = ((day - self.first_day).days + 1) * WS_STRIDE
        return base if kind == WHOLESALE else base + RETURN_OFFSET

    def decode_id(self, value: int, kind: str) -> tuple[date, int] | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return None
        day_no, rest = divmod(value, WS_STRIDE)
        day_no -= 1
        offset = 0 if kind == WHOLESALE else RETURN_OFFSET
        per_day = (self.config.wholesale_per_day if kind == WHOLESALE
                   else self.config.wholesale_returns_per_day)
        if not 0 <= day_no < self.config.days or not 0 <= rest - offset < per_day:
            return None
        return self.first_day + timedelta(days=day_no), rest - offset

    # ---- sessions ----
    def session_info(self, day: date, cash: int) -> tuple[int, int | None, int]:
        """(start, close or None, cashier user index) of the shift opened on ``day`` at ``cash``."""
        h = _mix(self.config.seed, 2, day.toordinal(), cash)
        start = int(day_start(day).timestamp()) + 8 * 3600 + 1800 + h % 1800
        stock = self.cash_stock[cash]
        cashiers = self.stock_cashiers[stock]
        cashier = cashiers[(day.toordinal() + cash) % len(cashiers)]
        if day >= self.last_day:
            return start, None, cashier
        next_start = int(day_start(day + timedelta(days=1)).timestamp())
        if self.late_stock[stock]:
            close = next_start + 2 * 3600 + (h >> 16) % 1800
        else:
            close = next_start + 30 + (h >> 16) % 570
        return start, close, cashier

    # ---- blocks ----
    def _day_range(self, kind: str) -> tuple[date, date]:
        first = self.first_day - timedelta(days=1) if kind == SESSION else self.first_day
        return first, self.last_day

    def _per_day(self, kind: str) -> int:
        return {CHEQUE: self.config.cheques_per_day, SESSION: self.n_cash,
                WHOLESALE: self.config.wholesale_per_day,
                WHOLESALE_RETURN: self.config.wholesale_returns_per_day}[kind]

    def blocks(self, kind: str, start: int | None = None, end: int | None = None,
               flt: Filter = NO_FILTER) -> list[Block]:
        if kind not in DOCUMENT_KINDS:
            return super().blocks(kind, start, end, flt)
        lo, hi = self._day_range(kind)
        if start is not None:
            lo = max(lo, business_date_of_unix(start))
        if end is not None:
            hi = min(hi, business_date_of_unix(end))
        if kind == CHEQUE and flt.session is not None:
            decoded = self.decode_uuid(flt.session, SESSION)
            if decoded is None:
                return []
            lo, hi = max(lo, decoded[0]), min(hi, decoded[0] + timedelta(days=1))
        n = self._per_day(kind)
        out: list[Block] = []
        day = lo
        while day <= hi:
            out.append(_DayHandle(self, kind, day, n))
            day += timedelta(days=1)
        return out

    # The world has no documents dated after "now" (``clock()``): today's day block is generated whole
    # (its figures stay deterministic), and what is not yet due is left out where documents are served.
    def _until_now(self, kind: str, end: int | None) -> int | None:
        if kind not in _DATED_KINDS:
            return end
        now = self.clock()
        return now if end is None else min(end, now)

    def query(self, kind: str, flt: Filter = NO_FILTER, start: int | None = None, end: int | None = None,
              offset: int = 0, limit: int = 1000) -> tuple[list[str], int]:
        return super().query(kind, flt, start, self._until_now(kind, end), offset, limit)

    def lookup(self, kind: str, keys: Iterable[str | int], flt: Filter = NO_FILTER,
               start: int | None = None, end: int | None = None, offset: int = 0,
               limit: int = 1000) -> tuple[list[str], int]:
        return super().lookup(kind, keys, flt, start, self._until_now(kind, end), offset, limit)

    def iter_docs(self, kind: str, first_day: date | None = None,
                  last_day: date | None = None) -> Iterator[dict[str, Any]]:
        due = self._until_now(kind, None)
        for doc in super().iter_docs(kind, first_day, last_day):
            if due is None or doc["date"] <= due:
                yield doc

    def block(self, kind: str, day: date) -> SortedBlock:
        key = (kind, day.toordinal())
        with self.lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
            built = self._build(kind, day)
            for pos, changes in self._overlay.get(key, {}).items():
                built.apply(pos, changes)  # type: ignore[attr-defined]
            self._cache[key] = built
            self.generated_blocks += 1
            while len(self._cache) > self._block_cache_size:
                self._cache.popitem(last=False)
            return built

    def _build(self, kind: str, day: date) -> SortedBlock:
        if kind == CHEQUE:
            return _ChequeBlock(self, day, self._generate_cheques(day))
        if kind == SESSION:
            return _SessionBlock(self, day)
        return _WholesaleBlock(self, kind, day, self._generate_wholesale(kind, day),
                               self._usd_rate_hundredths(day))

    def locate(self, kind: str, key: str | int) -> tuple[SortedBlock, int] | None:
        if kind in (CHEQUE, SESSION):
            decoded = self.decode_uuid(key, kind) if isinstance(key, str) else None
            if decoded is None:
                return None
            block = self.block(kind, decoded[0])
            if kind == SESSION:
                return block, block.pos_of_cash[decoded[1]]  # type: ignore[attr-defined]
            return block, decoded[1]
        if kind in (WHOLESALE, WHOLESALE_RETURN):
            decoded = self.decode_id(key, kind) if isinstance(key, int) else None
            if decoded is None:
                return None
            block = self.block(kind, decoded[0])
            if block.deleted[decoded[1]]:  # type: ignore[attr-defined]
                return None
            return block, decoded[1]
        return super().locate(kind, key)

    # ---- generation ----
    def _generate_cheques(self, day: date) -> dict[str, array]:
        cfg = self.config
        n = cfg.cheques_per_day
        d0 = int(day_start(day).timestamp())
        rng = random.Random(_mix(cfg.seed, 1, day.toordinal()))
        gb = rng.getrandbits
        late = self.late_cashes
        specials = n >= 10
        n_small = max(1, round(n * cfg.small_hours_share)) if late and specials else 0
        small = sorted([d0] + [d0 + gb(32) % 7200 for _ in range(n_small - 1)]) if n_small else []
        hours = _HOURS
        n_day = n - n_small
        daytime = [d0 + hours[b & 4095] + (b >> 12) % 3600 for b in (gb(32) for _ in range(n_day))]
        if specials and n_day:
            daytime[0] = d0 + 86399
        daytime.sort()
        times = small + daytime

        n_cash, cash_stock = self.n_cash, self.cash_stock
        sellers_of = self.stock_sellers
        prev_day = day - timedelta(days=1)
        cashier_of = [self.session_info(day, c)[2] for c in range(n_cash)]
        cashier_prev = [self.session_info(prev_day, c)[2] for c in range(n_cash)]
        n_late = len(late)
        st_col, ret_col, cash_col, prev_col = [], [], [], []
        seller_col, cashier_col, amount_col, code_col, lu_col, reason_col = [], [], [], [], [], []
        counters = [0] * (2 * n_cash)
        retail = _RETAIL_THOUSANDS
        for i in range(n):
            r = gb(64)
            u = r & 1023
            if u < 922:
                st, ret = CLOSED, 0
            elif u < 963:
                st, ret = CANCELED, 0
            elif u < 994:
                st, ret = (1, 2, 4, 5)[(r >> 10) & 3], 0
            else:
                st, ret = CLOSED, 1
            r >>= 12
            is_small = i < n_small
            cash = late[(r & 0xFFFF) % n_late] if is_small else (r & 0xFFFF) % n_cash
            r >>= 16
            sellers = sellers_of[cash_stock[cash]]
            seller = -1 if (r & 1023) < 205 or not sellers else sellers[(r >> 10) % len(sellers)]
            r >>= 24
            slot = cash * 2 + is_small
            counters[slot] += 1
            r2 = gb(64)
            if st == 1 and r2 >> 63:  # half the Opened ones are in status Default (0): never counted
                st = 0
            thousands = retail[r2 & 1023]
            if (r2 >> 10) & 1023 < 102:  # noqa: SIM108 — ~10 % of amounts carry tiyin
                amount = thousands * 100_000 + (r2 >> 20) % 100_000 - 50_000
            else:
                amount = thousands * 100_000
            st_col.append(st)
            ret_col.append(ret)
            cash_col.append(cash)
            prev_col.append(is_small)
            seller_col.append(seller)
            cashier_col.append(cashier_prev[cash] if is_small else cashier_of[cash])
            amount_col.append(amount)
            code_col.append(counters[slot] + (90000 if is_small else 0))
            lu_col.append(times[i] + 3 + (r & 127))
            reason_col.append((r >> 7) % (len(RETURN_REASONS) + 1) - 1 if ret else -1)
        return {
            "date": array("q", times), "status": array("b", st_col), "ret": array("b", ret_col),
            "cash": array("h", cash_col), "prev": array("b", prev_col), "seller": array("h", seller_col),
            "cashier": array("h", cashier_col), "amount": array("q", amount_col),
            "code": array("l", code_col), "lu": array("q", lu_col), "reason": array("b", reason_col),
        }

    def _usd_rate_hundredths(self, day: date) -> int:
        return 1_265_000 + _mix(self.config.seed, 7, day.toordinal()) % 12_000

    def _generate_wholesale(self, kind: str, day: date) -> dict[str, array]:
        cfg = self.config
        n = self._per_day(kind)
        d0 = int(day_start(day).timestamp())
        rng = random.Random(_mix(cfg.seed, _KIND_NO[kind], day.toordinal()))
        gb = rng.getrandbits
        times = sorted(d0 + 9 * 3600 + gb(32) % (10 * 3600) for _ in range(n))
        cols: dict[str, list[int]] = {k: [] for k in (
            "stock", "usd", "amount", "seller", "attached", "partner", "performed", "marked", "lu")}
        n_users, n_stocks = len(self.user_ids), len(self.stock_ids)
        for i in range(n):
            r = gb(64)
            stock = (r & 0xFFFF) % n_stocks
            r >>= 16
            usd = (r & 1023) < 154
            r >>= 10
            u = r & 1023
            performed, marked = (1, 0) if u < (900 if kind == WHOLESALE else 940) else (
                (0, 1) if u < 970 else (0, 0))
            r >>= 10
            sellers = self.stock_sellers[stock]
            seller = -1 if kind != WHOLESALE or (r & 1023) < 300 or not sellers else sellers[
                (r >> 10) % len(sellers)]
            r >>= 20
            r2 = gb(64)
            # USD: $150.00 … $25 000.00 in cents; UZS: whole thousands of so'm, in tiyin.
            amount = 15_000 + r2 % 2_485_000 if usd else _WS_THOUSANDS[r2 & 1023] * 100_000
            cols["stock"].append(stock)
            cols["usd"].append(usd)
            cols["amount"].append(amount)
            cols["seller"].append(seller)
            cols["attached"].append((r2 >> 32) % n_users)
            cols["partner"].append((r2 >> 48) % len(PARTNERS))
            cols["performed"].append(performed)
            cols["marked"].append(marked)
            cols["lu"].append(times[i] + 60 + r % 3540)
        return {
            "date": array("q", times), "stock": array("h", cols["stock"]), "usd": array("b", cols["usd"]),
            "amount": array("q", cols["amount"]), "seller": array("h", cols["seller"]),
            "attached": array("h", cols["attached"]), "partner": array("b", cols["partner"]),
            "performed": array("b", cols["performed"]), "marked": array("b", cols["marked"]),
            "deleted": array("b", bytes(n)), "lu": array("q", cols["lu"]),
        }

    # ---- document-level facts (line items, sessions) ----
    def cheque_facts(self, uuid: str) -> tuple[Decimal, int, int | None, int] | None:
        decoded = self.decode_uuid(uuid, CHEQUE)
        if decoded is None:
            return None
        block: _ChequeBlock = self.block(CHEQUE, decoded[0])  # type: ignore[assignment]
        pos = decoded[1]
        stock = self.stock_of_cash_at(self.cash_ids[block.cash[pos]], block.dates[pos])
        return Decimal(tiyin_text(block.amount[pos])), block.dates[pos], stock, block.lu[pos]

    def stock_of_session(self, session_uuid: str, *, at: int | None = None) -> int | None:
        decoded = self.decode_uuid(session_uuid, SESSION)
        if decoded is None:
            return None
        when = self.session_info(*decoded)[0] if at is None else at
        return self.stock_of_cash_at(self.cash_ids[decoded[1]], when)

    def wholesale_facts(self, kind: str, id: int) -> tuple[Decimal, int, int] | None:  # noqa: A002
        found = self.locate(kind, id)
        if found is None:
            return None
        block, pos = found
        doc = block.doc(pos)
        return doc["amount"], doc["date"], doc["last_update"]

    def session_span(self, session_uuid: str) -> tuple[int, int | None] | None:
        decoded = self.decode_uuid(session_uuid, SESSION)
        if decoded is None:
            return None
        start, close, _ = self.session_info(*decoded)
        return start, close

    def counts(self, first_day: date, last_day: date) -> Counts:
        first, last = max(first_day, self.first_day), min(last_day, self.last_day)
        cheques = closed = ws = wr = 0
        sessions: set[tuple[int, int]] = set()
        day = first
        while day <= last:
            block: _ChequeBlock = self.block(CHEQUE, day)  # type: ignore[assignment]
            cheques += block.n
            closed += block.st.count(CLOSED)
            ordinal = day.toordinal()
            sessions.update((ordinal - p, c) for c, p in set(zip(block.cash, block.prev, strict=True)))
            for kind in (WHOLESALE, WHOLESALE_RETURN):
                wb: _WholesaleBlock = self.block(kind, day)  # type: ignore[assignment]
                counted = sum(1 for p, m, d in zip(wb.performed, wb.marked, wb.deleted, strict=True)
                              if p and not m and not d)
                if kind == WHOLESALE:
                    ws += counted
                else:
                    wr += counted
            day += timedelta(days=1)
        return Counts(cheques, closed, len(sessions), ws, wr)

    # ---- mutations: an overlay re-applied whenever a day is regenerated ----
    def add_session(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise TypeError("a generated dataset's documents are generated; build a Dataset by hand to add them")

    add_cheque = add_wholesale = add_wholesale_return = add_session

    def _remember(self, kind: str, day: date, pos: int, changes: dict[str, Any]) -> SortedBlock:
        key = (kind, day.toordinal())
        self._overlay.setdefault(key, {}).setdefault(pos, {}).update(changes)
        if changes.get("deleted"):
            self._hidden_days.add(key)
        block = self.block(kind, day)
        block.apply(pos, changes)  # type: ignore[attr-defined]
        return block

    def _mutate_cheque(self, uuid: str, changes: dict[str, Any], action: str,
                       at: datetime | int | None) -> dict[str, Any]:
        when = _now_unix() if at is None else to_unix(at)
        decoded = self.decode_uuid(uuid, CHEQUE)
        if decoded is None:
            raise KeyError(f"no cheque {uuid!r}")
        new = {"last_update": when}
        if "status" in changes:
            new["status"] = changes["status"]
        if "amount" in changes:
            new["amount"] = decimal_to_tiyin(to_decimal(changes["amount"]))
        with self.lock:
            block = self._remember(CHEQUE, decoded[0], decoded[1], new)
            doc = block.doc(decoded[1])
        self.record_event(action, {"uuid": block.sort_key(decoded[1])[1]}, at=when)
        return doc

    def _mutate_ws(self, kind: str, id: int, op: str, at: datetime | int | None,  # noqa: A002
                   amount: Decimal | None = None) -> dict[str, Any]:
        when = _now_unix() if at is None else to_unix(at)
        with self.lock:
            found = self.locate(kind, int(id))
            if found is None:
                raise KeyError(f"no {kind} {id!r}")
            block, pos = found
            current = block.doc(pos)
            new: dict[str, Any] = dict(check_lifecycle(kind, int(id), op, current))
            if op == "delete":
                new["deleted"] = True
            if amount is not None:
                new["amount"] = decimal_to_tiyin(amount)
            new["last_update"] = when
            day = business_date_of_unix(current["date"])
            block = self._remember(kind, day, pos, new)
            doc = block.doc(pos)
        self.record_event(DOC_NAMES[kind] + ACTION_SUFFIX[op], {"id": int(id)}, at=when)
        return doc

    def cache_info(self) -> dict[str, int]:
        """Blocks in memory now and built so far (for laziness tests and the benchmark)."""
        with self.lock:
            return {"cached_blocks": len(self._cache), "generated_blocks": self.generated_blocks}


__all__ = ["FIRM", "GeneratedDataset", "GeneratorConfig", "generate_dataset"]
