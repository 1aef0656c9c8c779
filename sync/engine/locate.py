"""Cheque → branch: ``cheque.session`` → DocCashSession.operating_cash_id → OperatingCash.stock.

Request-optimal by construction: sessions are looked up in memory, then in the DB cache
(RegosCashSession), then — at most once per run, and only if some session is not cached — by ONE
period listing of the shifts that started from 2 days before the range to its end. Sessions still
unknown after that (a shift opened long before the range) are fetched by uuid in bulk (≤250 per
request, split by the client) as each cheque page arrives: one request per page that brings new
unknown shifts, since pages stream in and are written day by day. Registers come from the DB cache
or ONE ``OperatingCash/Get`` of all registers per run. Never one request per cheque; a re-run of
cached days asks for documents only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, timedelta

from django.db import IntegrityError

from payroll.dates import day_start
from sync.engine.documents import UNRESOLVED_STOCK
from sync.models import RegosCashSession, RegosOperatingCash
from sync.regos.client import RegosClient
from sync.regos.models import DocCashSession, DocCheque, OperatingCash

log = logging.getLogger(__name__)

# How far before the range the period listing reaches: a shift opened the evening before the first
# day (or over a weekend) sells into the range.
SESSION_LOOKBEHIND = timedelta(days=2)
IN_CHUNK = 500  # values per SQL IN (...) — far below SQLite's limit, and small documents on MongoDB


def _chunks(items: list, size: int = IN_CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class StockLocator:
    def __init__(self, client: RegosClient, *, first_day: date, last_day: date) -> None:
        self._client = client
        self._first_day = first_day
        self._last_day = last_day
        self._sessions: dict[str, int] = {}  # session uuid → operating cash id
        self._cashes: dict[int, tuple[int, str]] = {}  # operating cash id → (stock id, stock name)
        self._unknown_sessions: set[str] = set()  # asked REGOS this run; it does not know them
        self._unknown_cashes: set[int] = set()
        self._listed_period = False
        self._fetched_cashes = False
        self.stock_names: dict[int, str] = {}  # stocks seen via registers (for discovery of mappings)

    # --- public ---
    def prepare(self, cheques: Iterable[DocCheque]) -> None:
        """Make every session of these cheques (one page) resolvable, with as few requests as possible."""
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
        cash_ids = {self._sessions[s] for s in wanted if s in self._sessions}
        self._prepare_cashes(cash_ids)

    def locate(self, session_uuid: str) -> tuple[int | None, int]:
        """(operating cash id, stock id) of a prepared session; stock UNRESOLVED_STOCK if unknown."""
        cash_id = self._sessions.get(session_uuid)
        if cash_id is None:
            return None, UNRESOLVED_STOCK
        cash = self._cashes.get(cash_id)
        return cash_id, cash[0] if cash else UNRESOLVED_STOCK

    # --- sessions ---
    def _load_cached_sessions(self, uuids: set[str]) -> None:
        for chunk in _chunks(sorted(uuids)):
            rows = RegosCashSession.objects.filter(session_uuid__in=chunk).values_list(
                "session_uuid", "operating_cash_id"
            )
            self._sessions.update(dict(rows))

    def _list_period(self) -> None:
        self._listed_period = True
        start = day_start(self._first_day) - SESSION_LOOKBEHIND
        end = day_start(self._last_day + timedelta(days=1)) - timedelta(seconds=1)
        for page in self._client.iter_cash_sessions(start=start, end=end):
            self._remember_sessions(page)

    def _remember_sessions(self, sessions: list[DocCashSession]) -> None:
        if not sessions:
            return
        fresh = {s.uuid: s.operating_cash_id for s in sessions if s.uuid not in self._sessions}
        self._sessions.update({s.uuid: s.operating_cash_id for s in sessions})
        if not fresh:
            return
        stored: set[str] = set()
        for chunk in _chunks(sorted(fresh)):
            stored.update(
                RegosCashSession.objects.filter(session_uuid__in=chunk).values_list("session_uuid", flat=True)
            )
        new = [
            RegosCashSession(session_uuid=u, operating_cash_id=c) for u, c in fresh.items() if u not in stored
        ]
        if not new:
            return
        try:
            RegosCashSession.objects.bulk_create(new)
        except IntegrityError:
            # Another run cached some of them meanwhile: a shift never changes register, so keep theirs.
            for row in new:
                RegosCashSession.objects.get_or_create(
                    session_uuid=row.session_uuid, defaults={"operating_cash_id": row.operating_cash_id}
                )

    # --- registers ---
    def _prepare_cashes(self, cash_ids: set[int]) -> None:
        missing = cash_ids - self._cashes.keys() - self._unknown_cashes
        if not missing:
            return
        rows = RegosOperatingCash.objects.filter(regos_id__in=sorted(missing)).values_list(
            "regos_id", "stock_id", "name"
        )
        for regos_id, stock_id, name in rows:
            self._cashes[regos_id] = (stock_id, name)
        missing -= self._cashes.keys()
        if missing and not self._fetched_cashes:
            self._fetched_cashes = True
            self._remember_cashes(self._client.get_operating_cashes())
            missing -= self._cashes.keys()
        if missing:
            log.warning("REGOS does not know operating cash(es) %s", sorted(missing))
            self._unknown_cashes |= missing

    def _remember_cashes(self, cashes: list[OperatingCash]) -> None:
        stored = {
            regos_id: (pk, stock_id)
            for pk, regos_id, stock_id in RegosOperatingCash.objects.values_list("id", "regos_id", "stock_id")
        }
        new: list[RegosOperatingCash] = []
        for cash in cashes:
            self._cashes[cash.id] = (cash.stock.id, cash.stock.name)
            self.stock_names.setdefault(cash.stock.id, cash.stock.name)
            label = (cash.description or "")[:255]
            if cash.id not in stored:
                new.append(RegosOperatingCash(regos_id=cash.id, stock_id=cash.stock.id, name=label))
            elif stored[cash.id][1] != cash.stock.id:
                # A register moved to another stock: later cheques count for the new one.
                RegosOperatingCash.objects.filter(pk=stored[cash.id][0]).update(
                    stock_id=cash.stock.id, name=label
                )
        if new:
            try:
                RegosOperatingCash.objects.bulk_create(new)
            except IntegrityError:
                for row in new:
                    RegosOperatingCash.objects.update_or_create(
                        regos_id=row.regos_id, defaults={"stock_id": row.stock_id, "name": row.name}
                    )
