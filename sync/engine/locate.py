"""Cheque → branch: ``cheque.session`` → DocCashSession (register, shift times) → the register's stock
at the shift's time.

Request-optimal by construction: sessions are looked up in memory, then in the DB cache
(RegosCashSession), then — at most once per run, and only if some session is not cached — by ONE
period listing of the shifts that started from 2 days before the range to its end. Sessions still
unknown after that (a shift opened long before the range) are fetched by uuid in bulk (≤250 per
request, split by the client) as each cheque page arrives: one request per page that brings new
unknown shifts, since pages stream in and are written day by day. Never one request per cheque; a
re-run of cached days asks for documents and the registers only.

Registers move. REGOS moves a register to another stock "without changing historical POS data"
(``OperatingCash/Edit``), so a sale counts for the stock its register had when it was made. Each run
reads every register ONCE (``observe``: one ``OperatingCash/Get``) and records the reading in
``RegisterStockPeriod``, the register's effective-dated history. A cheque takes the stock its register
had over its shift (start to close; the cheque's own time where REGOS gives none): before the first
reading it is the first stock seen, after the last one the last, between two readings that agree
that stock. A shift that touches the window between two readings that disagree ("last seen on A",
"first seen on B") is settled by the stock REGOS wrote on its cheque lines (``ChequeItemOperation``,
through ``batch``, one cheque per such shift — a shift is opened and closed on one register at one
place); the answer is kept with the shift, so it is asked once. Only shifts in such a window cost
requests; with no move, none do.
"""

from __future__ import annotations

import logging
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import NamedTuple

from django.db import IntegrityError
from django.utils import timezone

from payroll.dates import day_start
from sync.engine.documents import UNRESOLVED_STOCK
from sync.models import RegisterStockPeriod, RegosCashSession
from sync.regos.client import RegosClient
from sync.regos.models import DocCashSession, DocCheque

log = logging.getLogger(__name__)

# How far before the range the period listing reaches: a shift opened the evening before the first
# day (or over a weekend) sells into the range.
SESSION_LOOKBEHIND = timedelta(days=2)
IN_CHUNK = 500  # values per SQL IN (...) — far below SQLite's limit, and small documents on MongoDB


def now() -> datetime:
    """The time a register reading is recorded at (whole seconds, as REGOS's own times; tests pin it)."""
    return timezone.now().replace(microsecond=0)


def _chunks(items: list, size: int = IN_CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Shift(NamedTuple):
    cash_id: int
    start: datetime | None
    close: datetime | None
    stock: int | None  # settled from the cheque lines (the shift was in a window of a move)


class _Period(NamedTuple):
    pk: object
    stock: int
    first: datetime
    last: datetime


def register_periods_record(*, readings: dict[int, int], seen_at: datetime) -> None:
    """Record one ``OperatingCash/Get`` (register id → stock id) read at ``seen_at``.

    Idempotent, order-independent and safe without transactions: a reading inside a stretch of the
    same stock changes nothing; one that agrees with the stretch just before it extends that stretch
    (conditional update: a later reading stored meanwhile is never shortened); any other starts a
    stretch keyed by (register, seen_at) — a second process recording the same reading finds it.
    """
    periods: dict[int, list[_Period]] = defaultdict(list)
    ids = sorted(readings)
    for chunk in _chunks(ids):
        rows = RegisterStockPeriod.objects.filter(regos_id__in=chunk).values_list(
            "id", "regos_id", "stock_id", "first_seen_at", "last_seen_at"
        )
        for pk, regos_id, stock_id, first, last in rows:
            periods[regos_id].append(_Period(pk, stock_id, first, last))
    extend: list[object] = []
    new: list[RegisterStockPeriod] = []
    for regos_id in ids:
        stock = readings[regos_id]
        known = periods[regos_id]
        if any(p.stock == stock and p.first <= seen_at <= p.last for p in known):
            continue
        before = [p for p in known if p.first <= seen_at]
        prev = max(before, key=lambda p: p.first) if before else None
        if prev is not None and prev.stock == stock and not any(
            p is not prev and (prev.last < p.first < seen_at or prev.last < p.last < seen_at) for p in known
        ):
            extend.append(prev.pk)
        else:
            new.append(RegisterStockPeriod(regos_id=regos_id, stock_id=stock, first_seen_at=seen_at,
                                           last_seen_at=seen_at))
    for chunk in _chunks(extend):
        RegisterStockPeriod.objects.filter(pk__in=chunk, last_seen_at__lt=seen_at).update(last_seen_at=seen_at)
    if not new:
        return
    try:
        RegisterStockPeriod.objects.bulk_create(new)
    except IntegrityError:
        for row in new:  # another process recorded the same reading meanwhile
            RegisterStockPeriod.objects.get_or_create(
                regos_id=row.regos_id, first_seen_at=row.first_seen_at,
                defaults={"stock_id": row.stock_id, "last_seen_at": row.last_seen_at},
            )


class RegisterTimeline:
    """One register's readings as points in time; what they say about its stock at any moment."""

    def __init__(self, periods: Iterable[tuple[int, datetime, datetime]]) -> None:
        points = sorted((moment, stock) for stock, first, last in periods for moment in (first, last))
        self._times = [moment for moment, _ in points]
        self._stocks = [stock for _, stock in points]

    def stock_at(self, moment: datetime) -> int | None:
        """The stock at ``moment``, or None inside a window between two readings that disagree."""
        i, j = bisect_right(self._times, moment), bisect_left(self._times, moment)
        before = self._stocks[i - 1] if i else None
        after = self._stocks[j] if j < len(self._stocks) else None
        if before is None or after is None:
            return after if before is None else before  # before the first reading / after the last
        return before if before == after else None

    def stock_over(self, start: datetime, end: datetime) -> int | None:
        """The stock all through ``start..end``, or None if the readings do not settle it."""
        first = self.stock_at(start)
        inside = self._stocks[bisect_left(self._times, start) : bisect_right(self._times, end)]
        if first is None or self.stock_at(end) != first or any(stock != first for stock in inside):
            return None
        return first

    def stock_before(self, moment: datetime) -> int:
        """The last stock read at or before ``moment`` (the first one read if none): the fallback of
        a shift whose lines did not say — the move is taken to have happened after it."""
        i = bisect_right(self._times, moment)
        return self._stocks[i - 1] if i else self._stocks[0]

    def signature(self) -> str:
        """What attribution depends on: the stocks in order and the readings around each change.
        A reading that only extends the latest stretch leaves it as it is."""
        parts: list[str] = []
        for i, stock in enumerate(self._stocks):
            if i == 0:
                parts.append(str(stock))
            elif stock != self._stocks[i - 1]:
                parts.append(f"{self._times[i - 1].timestamp():.0f}>{self._times[i].timestamp():.0f}:{stock}")
        return "|".join(parts)


def register_timelines() -> dict[int, RegisterTimeline]:
    periods: dict[int, list[tuple[int, datetime, datetime]]] = defaultdict(list)
    rows = RegisterStockPeriod.objects.values_list("regos_id", "stock_id", "first_seen_at", "last_seen_at")
    for regos_id, stock_id, first, last in rows:
        periods[regos_id].append((stock_id, first, last))
    return {regos_id: RegisterTimeline(items) for regos_id, items in periods.items()}


def timelines_signature(timelines: dict[int, RegisterTimeline]) -> str:
    return ";".join(f"{regos_id}:{timelines[regos_id].signature()}" for regos_id in sorted(timelines))


class StockLocator:
    def __init__(self, client: RegosClient, *, first_day: date, last_day: date) -> None:
        self._client = client
        self._first_day = first_day
        self._last_day = last_day
        self._sessions: dict[str, _Shift] = {}  # session uuid → its register, times, settled stock
        self._timelines: dict[int, RegisterTimeline] = {}  # register id → its readings
        self._unknown_sessions: set[str] = set()  # asked REGOS this run; it does not know them
        self._listed_period = False
        self._observed = False
        self.signature = ""  # of the register histories this run attributes with (for day digests)
        # Shifts in a window of a move whose lines named no stock: given the stock before the move,
        # and their days get no digest, so the next run asks again.
        self.unsettled: set[str] = set()
        self.stock_names: dict[int, str] = {}  # stocks seen via registers (for discovery of mappings)

    # --- public ---
    def observe(self) -> None:
        """Read every register once for this run (one ``OperatingCash/Get``), record the reading and
        load the register histories every cheque of the run is attributed with."""
        if self._observed:
            return
        self._observed = True
        seen_at = now()
        cashes = self._client.get_operating_cashes()
        for cash in cashes:
            self.stock_names.setdefault(cash.stock.id, cash.stock.name)
        register_periods_record(readings={cash.id: cash.stock.id for cash in cashes}, seen_at=seen_at)
        self._timelines = register_timelines()
        self.signature = timelines_signature(self._timelines)
        unknown = sorted(set(self._timelines) - {cash.id for cash in cashes})
        if unknown:
            log.info("registers %s are no longer listed by REGOS; their last stock is kept", unknown)

    def prepare(self, cheques: Iterable[DocCheque]) -> None:
        """Make every session of these cheques (one page) resolvable, with as few requests as possible."""
        self.observe()
        cheques = list(cheques)
        wanted = {c.session for c in cheques}
        missing = wanted - self._sessions.keys() - self._unknown_sessions
        if missing:
            self._load_cached_sessions(missing)
            missing -= self._sessions.keys()
        if missing and not self._listed_period:
            self._list_period()
            missing -= self._sessions.keys()
        if missing:
            found = self._client.get_cash_sessions(sorted(missing))
            self._remember_sessions(found)
            missing -= self._sessions.keys()
            if missing:
                log.warning(
                    "REGOS does not know %d cash session(s), e.g. %s", len(missing), sorted(missing)[0]
                )
                self._unknown_sessions |= missing
        self._settle(cheques)

    def locate(self, cheque: DocCheque) -> tuple[int | None, int]:
        """(operating cash id, stock id) of a prepared cheque; stock UNRESOLVED_STOCK if unknown."""
        shift = self._sessions.get(cheque.session)
        if shift is None:
            return None, UNRESOLVED_STOCK
        if shift.stock is not None:
            return shift.cash_id, shift.stock
        timeline = self._timelines.get(shift.cash_id)
        if timeline is None:
            return shift.cash_id, UNRESOLVED_STOCK
        start, end = _span(shift, cheque)
        stock = timeline.stock_over(start, end)
        return shift.cash_id, stock if stock is not None else timeline.stock_before(start)

    # --- registers that moved ---
    def _settle(self, cheques: list[DocCheque]) -> None:
        """Ask the lines of one cheque of every shift in a window of a move (one batch step each)."""
        asked: dict[str, str] = {}  # cheque uuid → its session
        sessions: set[str] = set()
        for cheque in cheques:
            shift = self._sessions.get(cheque.session)
            if shift is None or shift.stock is not None:
                continue
            if cheque.session in sessions or cheque.session in self.unsettled:
                continue
            timeline = self._timelines.get(shift.cash_id)
            if timeline is not None and timeline.stock_over(*_span(shift, cheque)) is None:
                asked[cheque.uuid] = cheque.session
                sessions.add(cheque.session)
        if not asked:
            return
        answers = self._client.get_cheque_lines_many(list(asked))
        for cheque_uuid, session in asked.items():
            stocks = Counter(line.stock_id for line in answers.get(cheque_uuid) or () if line.stock_id)
            if not stocks:
                log.warning(
                    "cash session %s falls between two readings of register %s that disagree, and the lines "
                    "of cheque %s name no stock; counted for the stock before the move until REGOS says",
                    session, self._sessions[session].cash_id, cheque_uuid,
                )
                self.unsettled.add(session)
                continue
            stock = stocks.most_common(1)[0][0]
            self._sessions[session] = self._sessions[session]._replace(stock=stock)
            RegosCashSession.objects.filter(session_uuid=session).update(stock_id=stock)

    # --- sessions ---
    def _load_cached_sessions(self, uuids: set[str]) -> None:
        for chunk in _chunks(sorted(uuids)):
            rows = RegosCashSession.objects.filter(session_uuid__in=chunk).values_list(
                "session_uuid", "operating_cash_id", "start_date", "close_date", "stock_id"
            )
            for session_uuid, cash_id, start, close, stock in rows:
                self._sessions[session_uuid] = _Shift(cash_id, start, close, stock)

    def _list_period(self) -> None:
        self._listed_period = True
        start = day_start(self._first_day) - SESSION_LOOKBEHIND
        end = day_start(self._last_day + timedelta(days=1)) - timedelta(seconds=1)
        for page in self._client.iter_cash_sessions(start=start, end=end):
            self._remember_sessions(page)

    def _remember_sessions(self, sessions: list[DocCashSession]) -> None:
        if not sessions:
            return
        fresh = {s.uuid: s for s in sessions if s.uuid not in self._sessions}
        for s in fresh.values():
            self._sessions[s.uuid] = _Shift(s.operating_cash_id, s.start_date, s.close_date, None)
        if not fresh:
            return
        stored: set[str] = set()
        for chunk in _chunks(sorted(fresh)):
            stored.update(
                RegosCashSession.objects.filter(session_uuid__in=chunk).values_list("session_uuid", flat=True)
            )
        new = [
            RegosCashSession(session_uuid=s.uuid, operating_cash_id=s.operating_cash_id, start_date=s.start_date,
                             close_date=s.close_date)
            for u, s in fresh.items()
            if u not in stored
        ]
        if not new:
            return
        try:
            RegosCashSession.objects.bulk_create(new)
        except IntegrityError:
            # Another run cached some of them meanwhile: a shift never changes register, so keep theirs.
            for row in new:
                RegosCashSession.objects.get_or_create(
                    session_uuid=row.session_uuid,
                    defaults={"operating_cash_id": row.operating_cash_id, "start_date": row.start_date,
                              "close_date": row.close_date},
                )


def _span(shift: _Shift, cheque: DocCheque) -> tuple[datetime, datetime]:
    """The shift's time (start to close), stretched to the cheque's own time where REGOS gives none."""
    start = min(shift.start or cheque.date, cheque.date)
    end = max(shift.close or cheque.date, cheque.date)
    return start, end
