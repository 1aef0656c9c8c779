"""One sync run: a date-sorted stream of the range's documents, written day by day.

The three REGOS streams (closed cheques, performed shipments, performed returns — each sorted by date,
cheque periods split into ≤1-month windows by the client) are merged by document time. The current
day's facts are buffered; when the stream passes midnight the day is flushed:

    HistoryDay → rebuilding, window-replace the day's facts, rebuild its history rows, HistoryDay → clean

so memory is about one day plus one page, and a crash between two days leaves every finished day fully
new and every other day fully old (and flagged "rebuilding" if it was cut mid-way). The next run repairs.
Days without any document are flushed too: their facts are cleared and their history emptied.
After the last day the Branch month-to-date and Employee latest-day totals are recomputed.

A document REGOS sent in a shape the figures cannot use is quarantined (``sync.engine.quarantine``): it
stands in the stream at its date, its day is written without it and gets no digest (the next sync reads
it again), and the run counts it — one odd document never stops the run.

A day whose REGOS answers are byte for byte those it was last written from is left alone
(``sync.engine.unchanged``): answers seen before stand in the stream as one ``_KnownDay`` per day
they hold, and are parsed only if such a day must be written after all.
"""

from __future__ import annotations

import datetime as dt
import heapq
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from payroll.dates import business_date, day_start
from payroll.dates import days as days_between
from sync.engine import history, runs, unchanged
from sync.engine.documents import UNRESOLVED_STOCK, DocumentError, FactRow, cheque_fact, wholesale_fact
from sync.engine.facts import facts_window_replace
from sync.engine.locate import StockLocator
from sync.engine.quarantine import (
    Quarantined,
    quarantine_day_replace,
    quarantine_upsert,
    quarantined_document,
    quarantined_from,
)
from sync.models import SalesFact, SellerMapping, StockMapping, SyncRun
from sync.regos.client import ListingPage, RegosClient
from sync.regos.errors import RegosListingChanged
from sync.regos.models import DocCheque, DocWholeSale, DocWholeSaleReturn

log = logging.getLogger(__name__)

HEARTBEAT_EVERY_S = 15.0
LISTING_RESTARTS = 3
Kind = SalesFact.Kind


@dataclass
class DayReport:
    """What one day's flush did; handed to ``on_day`` (the command prints it)."""

    # dt.date, not date: inside this class body the name ``date`` is this field, not the type.
    date: dt.date
    cheques: int = 0
    wholesale: int = 0  # shipments + returns
    inserted: int = 0
    updated: int = 0
    removed: int = 0
    history_rows: int = 0  # rows the day has afterwards
    history_written: int = 0
    quarantined: int = 0  # documents of the day REGOS sent in a shape we cannot use (the day is incomplete)
    # "followed": a day finished by another process, only its document count known;
    # "unchanged": REGOS answered exactly as when the day was written, nothing was read or written.
    status: str = "done"
    # Other days that lost a document to this one (REGOS date edited): their history is rebuilt at the end.
    moved_from: set[dt.date] = field(default_factory=set)
    flagged: set[dt.date] = field(default_factory=set)  # of those, the ones flagged "rebuilding" until then

    @property
    def documents(self) -> int:
        return self.cheques + self.wholesale


class _Stream:
    """One document listing as fact rows, keeping a chain digest of every answer read so far.

    An answer seen before (``page.known``) is not parsed: it yields one ``_KnownDay`` per business
    day it holds, and ``rows_of`` parses it only if one of those days has to be written.
    """

    def __init__(self, pages: Iterator[ListingPage[Any]],
                 to_rows: Callable[[list[Any]], Iterable[FactRow | Quarantined]],
                 memo: unchanged.PageMemo | None, on_page: Callable[[], None], *, kind: str,
                 undated: list[Quarantined]) -> None:
        self.chain = ""
        self._pages = pages
        self._to_rows = to_rows
        self._memo = memo
        self._on_page = on_page
        self._kind = kind
        self._undated = undated
        self._parsed: dict[int, tuple[ListingPage[Any], list[FactRow | Quarantined]]] = {}

    def __iter__(self) -> Iterator[FactRow | Quarantined | _KnownDay]:
        for page in self._pages:
            self._on_page()
            if self._memo is None:
                yield from self._items(page)
                continue
            self.chain = unchanged.chain_next(self.chain, page)
            if page.known is not None:
                for day in page.known.days:
                    yield _KnownDay(day, day_start(day), page, self)
                continue
            rows = self._items(page)
            # Quarantined documents' days too: a known answer must bring them back to their day's flush.
            self._memo.note(page, days=dict.fromkeys(row.business_date for row in rows if row.business_date))
            yield from rows

    def _items(self, page: ListingPage[Any]) -> list[FactRow | Quarantined]:
        """The page's fact rows and, at their time, its quarantined documents (in time order)."""
        items: list[FactRow | Quarantined] = list(self._to_rows(page.rows()))
        rejected = page.rejected()
        if not rejected:
            return items
        for row in rejected:
            item = quarantined_from(kind=self._kind, row=row)
            if item.occurred_at is None:
                self._undated.append(item)  # its date is unreadable: no day to hold it
            else:
                items.append(item)
        items.sort(key=_when)  # stable: the page's own order among equal times
        return items

    def rows_of(self, page: ListingPage[Any]) -> list[FactRow | Quarantined]:
        cached = self._parsed.get(id(page))
        if cached is None:
            if len(self._parsed) >= 4:  # a day's known answers are consecutive: keep the last few
                self._parsed.pop(next(iter(self._parsed)))
            cached = self._parsed[id(page)] = (page, self._items(page))
        return cached[1]


def _when(item: FactRow | Quarantined) -> datetime:
    assert item.occurred_at is not None
    return item.occurred_at


@dataclass(frozen=True, slots=True)
class _KnownDay:
    """Stands in the merged stream for ``business_date``'s documents in an answer seen before."""

    business_date: date
    occurred_at: datetime  # the day's start: merged before any document of the day
    page: ListingPage[Any]
    stream: _Stream


@dataclass
class _DayBuffer:
    day: date
    rows: dict[tuple[str, str], FactRow] = field(default_factory=dict)
    known: list[_KnownDay] = field(default_factory=list)
    quarantined: dict[tuple[str, str], Quarantined] = field(default_factory=dict)

    def add(self, row: FactRow | Quarantined | _KnownDay) -> None:
        if isinstance(row, _KnownDay):
            self.known.append(row)
            return
        if isinstance(row, Quarantined):
            self.quarantined[row.key] = row
            return
        # Keyed by document: a document seen twice (window boundary overlap) counts once, latest wins.
        self.rows[row.key] = row

    def materialized(self) -> dict[tuple[str, str], FactRow]:
        """The day's rows, those of answers seen before parsed now (rows read this time win); their
        quarantined documents join ``quarantined``."""
        if not self.known:
            return self.rows
        rows: dict[tuple[str, str], FactRow] = {}
        for item in self.known:
            for row in item.stream.rows_of(item.page):
                if row.business_date != self.day:
                    continue
                if isinstance(row, Quarantined):
                    self.quarantined.setdefault(row.key, row)
                else:
                    rows[row.key] = row
        rows.update(self.rows)
        return rows


def day_flush(
    *,
    day: date,
    rows: dict[tuple[str, str], FactRow],
    run_id: uuid.UUID | None,
    mappings: history.Mappings,
    digest: str = "",
    quarantined: Iterable[Quarantined] = (),
) -> DayReport:
    """Write one business day: facts first, history last, the HistoryDay marker around both.

    Module-level on purpose: the crash tests replace it to fail between two days.

    On SQLite the day is also one transaction: one commit (one fsync) instead of one per statement, and
    a crash inside it leaves the day fully old. On MongoDB ``atomic`` does nothing and the marker alone
    carries crash safety, as before. No REGOS request is made inside it (the shared rate limiter must
    not run inside a transaction on SQLite).

    ``digest``: of the REGOS answers ``rows`` came from (``sync.engine.unchanged``), stored with the
    clean marker; empty when unknown.

    ``quarantined``: the day's documents REGOS sent unusable; they become the day's quarantine (and the
    day's earlier quarantine of documents now counted or gone is cleared).
    """
    cheques = sum(1 for kind, _ in rows if kind == Kind.CHEQUE)
    wholesale = len(rows) - cheques
    with transaction.atomic():
        history.history_day_mark_rebuilding(day=day)
        facts = facts_window_replace(day=day, rows=rows, run_id=run_id)
        # The day's facts are now exactly ``rows``: history is built from them, not read back.
        rebuilt = history.history_day_rebuild(day=day, mappings=mappings, facts=rows.values())
        history.history_day_mark_clean(day=day, synced=True, source=(digest, cheques, wholesale))
        held = quarantine_day_replace(day=day, items=quarantined, parsed=rows.keys(), run_id=run_id)
    report = DayReport(
        date=day,
        cheques=cheques,
        wholesale=wholesale,
        inserted=facts.inserted,
        updated=facts.updated,
        removed=facts.removed,
        history_rows=rebuilt.rows,
        history_written=rebuilt.written,
        quarantined=held,
        moved_from=facts.moved_from,
        flagged=facts.flagged,
    )
    return report


class RangeSync:
    """Sync ``run``'s days — or, as one slice of a sliced run, only ``first..last`` of them.

    A slice (``slice_mode``) shares its parent run with other slices working in parallel, so it never
    writes the run's ``progress`` list, totals or status: it adds its counters with ``F()`` increments
    after each day and leaves history of days it took documents from, and the totals, to
    ``sync_run_finalize`` (``moved_days`` lists those days).
    """

    def __init__(
        self,
        *,
        run: SyncRun,
        client: RegosClient,
        on_day: Callable[[DayReport], None] | None = None,
        first: date | None = None,
        last: date | None = None,
        slice_mode: bool = False,
    ) -> None:
        self.run = run
        self.client = client
        self.on_day = on_day
        self.first = first or run.date_from
        self.last = last or run.date_to
        self.slice_mode = slice_mode
        self.locator = StockLocator(client, first_day=self.first, last_day=self.last)
        self.progress: list[dict[str, object]] = runs.progress_initial(
            date_from=self.first, date_to=self.last
        )
        self.counts = {
            "documents_seen": 0,
            "facts_inserted": 0,
            "facts_updated": 0,
            "facts_removed": 0,
            "history_rows_written": 0,
            "quarantined": 0,
        }
        self.days_done = 0
        self.stale_days: set[date] = set()  # days outside the flush order whose history must be rebuilt
        self.losing_days: set[date] = set()  # of those, the ones flagged "rebuilding" by this sync
        self._stats_start = (client.stats.requests_made, client.stats.rate_limit_waits)
        self._beat = time.monotonic()
        self._known_stocks: set[int] | None = None
        self._known_users: set[int] | None = None
        self._stock_names: dict[int, str] = {}
        self._user_names: dict[int, str] = {}
        self._mappings_seen = history.mappings_fingerprint()
        self._unflushed = self.first  # the first day not yet written
        self._memo = unchanged.PageMemo() if unchanged.enabled() else None
        self._streams: list[_Stream] = []
        # Cheques of the range REGOS returned that are not sales (status other than Closed), by status;
        # uuids, so a page read twice (window overlap, listing restart) counts each cheque once. Only
        # answers parsed in this run are seen: a day left alone as unchanged adds nothing.
        self._not_counted: dict[str, set[str]] = {}
        self._undated: list[Quarantined] = []  # quarantined documents no date of their page could place
        self._added = (0, 0)  # (requests, rate-limit waits) already added to the parent run (slices)

    # --- the run -------------------------------------------------------------------------------
    def execute(self) -> None:
        try:
            self._execute()
        except Exception as exc:
            # The day being read when REGOS failed was not written: show it as failed, not pending.
            index = (self._unflushed - self.first).days
            if 0 <= index < len(self.progress) and self.progress[index]["status"] == "pending":
                self.progress[index] = {**self.progress[index], "status": "failed"}
            if not isinstance(exc, runs.RunAbandoned):
                # The days already written stay: leave what is derived from them consistent too.
                try:
                    self.settle()
                except Exception:
                    log.exception("could not settle the days written before the failure")
            raise

    def _execute(self) -> None:
        # Registers are read once, before any day: every day of the run is attributed, and digested,
        # with the same register histories.
        self.locator.observe()
        late: set[date] = set()
        restarts = 0
        while True:
            try:
                late |= self._process(self._unflushed, self.last)
                break
            except RegosListingChanged:
                # Documents came or went while a listing was paged (a live shop): every flushed day is
                # complete, so read again from the first unflushed day. Bounded: a listing that never
                # settles fails the run (partial) and the next run continues.
                restarts += 1
                if restarts > LISTING_RESTARTS:
                    raise
                log.warning("REGOS listing changed while paging; re-reading from %s", self._unflushed)
        for day in sorted(late):
            # A stream was not sorted: that day was flushed without some of its documents. Fetch it alone.
            log.warning("documents of %s arrived out of order; re-syncing that day", day)
            self._process(day, day)
        self._quarantine_undated()
        self.settle()

    def _quarantine_undated(self) -> None:
        """Documents whose page had no readable date at all: kept without a day, counted on the run."""
        undated = {item.key: item for item in self._undated}
        self._undated.clear()
        for item in undated.values():
            quarantine_upsert(item=item, run_id=self.run.id)
            log.warning("quarantined %s %s without a business day: %s", item.source_kind, item.regos_id, item.reason)
        if not undated:
            return
        if self.slice_mode:
            SyncRun.objects.filter(id=self.run.id).update(quarantined=F("quarantined") + len(undated))
        else:
            self.counts["quarantined"] += len(undated)
            runs.run_update(self.run, **self.counts_for_run())

    def settle(self) -> None:
        """After the last day — or after a failure, for the days written until then: rebuild history of
        days that lost documents to written days (else a re-dated document counts on both days until
        some later run re-reads the old one), re-aggregate if an admin changed a mapping meanwhile,
        and recompute the totals from the history now stored. No REGOS request; idempotent."""
        if self.slice_mode:
            return  # the finalizer re-aggregates moved days and recomputes totals once for all slices
        if self.stale_days:
            history.history_reaggregate_days(dates=self.stale_days, losing=self.losing_days)
            self.stale_days = set()
            self.losing_days = set()
        if history.mappings_fingerprint() != self._mappings_seen:
            # An admin changed a mapping while we wrote: re-aggregate the range with the new mappings.
            history.history_reaggregate_days(dates=list(days_between(self.first, self.last)))
        history.totals_recompute()

    def counts_for_run(self) -> dict[str, object]:  # SyncRun field → value (counts and the progress list)
        stats = self.client.stats
        return {
            **self.counts,
            "requests_made": stats.requests_made - self._stats_start[0],
            "rate_limit_waits": stats.rate_limit_waits - self._stats_start[1],
            "days_done": self.days_done,
            "progress": self.progress,
            "not_counted": self.not_counted,
        }

    @property
    def not_counted(self) -> dict[str, int]:
        """How many cheques of each status other than Closed REGOS returned for the range."""
        return {status: len(uuids) for status, uuids in sorted(self._not_counted.items())}

    def _process(self, first: date, last: date) -> set[date]:
        """Stream first..last and flush every day in order; returns days that got late documents."""
        late: set[date] = set()
        current = first
        buffer = _DayBuffer(current)
        outside = 0
        for row in self._stream(first, last):
            day = row.business_date
            if day is None:  # never: undated quarantined documents are kept out of the stream
                continue
            if day < first or day > last:
                outside += 1  # REGOS period edges: the neighbouring run owns that day
                continue
            if day < current:
                late.add(day)
                continue
            while day > current:
                self._flush(buffer)
                current += timedelta(days=1)
                self._unflushed = max(self._unflushed, current)
                buffer = _DayBuffer(current)
            buffer.add(row)
        while current <= last:
            self._flush(buffer)
            current += timedelta(days=1)
            self._unflushed = max(self._unflushed, current)
            buffer = _DayBuffer(current)
        if outside:
            log.info("%d document(s) outside %s..%s ignored", outside, first, last)
        return late

    # --- the stream ----------------------------------------------------------------------------
    def _stream(self, first: date, last: date) -> Iterator[FactRow | Quarantined | _KnownDay]:
        memo = self._memo
        self._streams = [
            _Stream(self.client.listing_cheques(first_day=first, last_day=last, memo=memo), self._cheque_rows,
                    memo, self._heartbeat, kind=Kind.CHEQUE, undated=self._undated),
            _Stream(self.client.listing_wholesales(first_day=first, last_day=last, memo=memo),
                    self._wholesale_rows, memo, self._heartbeat, kind=Kind.WHOLESALE, undated=self._undated),
            _Stream(self.client.listing_wholesale_returns(first_day=first, last_day=last, memo=memo),
                    self._wholesale_rows, memo, self._heartbeat, kind=Kind.WHOLESALE_RETURN,
                    undated=self._undated),
        ]
        return heapq.merge(*self._streams, key=lambda row: row.occurred_at)  # type: ignore[arg-type,return-value]

    def _cheque_rows(self, page: list[DocCheque]) -> Iterator[FactRow]:
        self.locator.prepare(page)
        for cheque in page:
            cash_id, stock_id = self.locator.locate(cheque)
            row = cheque_fact(cheque, stock_id=stock_id, operating_cash_id=cash_id)
            if row is not None:
                self._note_users(cheque.seller, cheque.cashier)
                yield row
            elif self.first <= business_date(cheque.date) <= self.last:
                self._not_counted.setdefault(str(cheque.status), set()).add(cheque.uuid)

    def _wholesale_rows(self, page: list[DocWholeSale] | list[DocWholeSaleReturn]) -> Iterator[FactRow | Quarantined]:
        for doc in page:
            try:
                row = wholesale_fact(doc)
            except DocumentError as exc:
                # Parsed, but not worth a figure (a foreign currency without a rate): quarantined, like a
                # document that does not parse.
                yield quarantined_document(doc=doc, reason=f"{type(doc).__name__}: {exc}")
                continue
            if row is not None:
                self._stock_names.setdefault(doc.stock.id, doc.stock.name)
                # REGOS sends no seller on returns from partners.
                self._note_users(getattr(doc, "seller", None), doc.attached_user)
                yield row

    def _note_users(self, *refs) -> None:  # type: ignore[no-untyped-def]
        for ref in refs:
            if ref is not None and ref.id:
                self._user_names.setdefault(ref.id, ref.full_name)

    # --- writing -------------------------------------------------------------------------------
    def _flush(self, buffer: _DayBuffer) -> None:
        index = (buffer.day - self.first).days
        rows = buffer.rows
        try:
            report: DayReport | None = None
            digest = ""
            if self._memo is not None:
                self._memo.save()
                digest = unchanged.day_digest(
                    context=unchanged.context_digest(registers=self.locator.signature),
                    chains=[stream.chain for stream in self._streams],
                )
                stored = unchanged.day_unchanged(day=buffer.day, digest=digest)
                if stored is not None:
                    report = DayReport(date=buffer.day, cheques=stored[0], wholesale=stored[1], status="unchanged")
            if report is None:
                rows = buffer.materialized()
                self._discover_mappings(rows)
                unsettled = self.locator.unsettled
                if digest and (
                    buffer.quarantined
                    or any(
                        row.stock_id == UNRESOLVED_STOCK or (unsettled and row.session_uuid in unsettled)
                        for row in rows.values()
                    )
                ):
                    # A quarantined document may be fixed in REGOS, and REGOS may resolve the shift (or name
                    # its stock) next time: write the day again next time.
                    digest = ""
                report = day_flush(
                    day=buffer.day, rows=rows, run_id=self.run.id, mappings=history.Mappings.load(), digest=digest,
                    quarantined=buffer.quarantined.values(),
                )
                if report.quarantined:
                    log.warning("%s written without %d quarantined document(s): the day is incomplete",
                                buffer.day, report.quarantined)
        except Exception:
            self.progress[index] = {
                "date": buffer.day.isoformat(),
                "status": "failed",
                "documents": len(rows),
            }
            raise
        self.stale_days |= {d for d in report.moved_from if d != buffer.day}
        self.losing_days |= report.flagged
        was_done = self.progress[index]["status"] == "done"
        if self.slice_mode:
            self.progress[index] = {**self.progress[index], "status": "done"}
            self.slice_add(report=report, day_done=not was_done)
            self._beat = time.monotonic()
            if self.on_day is not None:
                self.on_day(report)
            return
        self.progress[index] = {
            "date": buffer.day.isoformat(),
            "status": "done",
            "documents": report.documents,
            "quarantined": report.quarantined,
        }
        self.days_done += not was_done
        self.counts["quarantined"] += report.quarantined
        self.counts["documents_seen"] += report.documents
        self.counts["facts_inserted"] += report.inserted
        self.counts["facts_updated"] += report.updated
        self.counts["facts_removed"] += report.removed
        self.counts["history_rows_written"] += report.history_written
        runs.run_update(self.run, **self.counts_for_run())
        self._beat = time.monotonic()
        if self.on_day is not None:
            self.on_day(report)

    def slice_add(self, *, report: DayReport | None = None, day_done: bool = False) -> None:
        """Add this slice's work since the last call to the parent run (``F()``: slices run in parallel)."""
        stats = self.client.stats
        requests = stats.requests_made - self._stats_start[0]
        waits = stats.rate_limit_waits - self._stats_start[1]
        changes: dict[str, object] = {
            "requests_made": F("requests_made") + (requests - self._added[0]),
            "rate_limit_waits": F("rate_limit_waits") + (waits - self._added[1]),
            "heartbeat_at": timezone.now(),
        }
        if report is not None:
            changes.update(
                days_done=F("days_done") + int(day_done),
                documents_seen=F("documents_seen") + report.documents,
                facts_inserted=F("facts_inserted") + report.inserted,
                facts_updated=F("facts_updated") + report.updated,
                facts_removed=F("facts_removed") + report.removed,
                history_rows_written=F("history_rows_written") + report.history_written,
                quarantined=F("quarantined") + report.quarantined,
            )
        updated = SyncRun.objects.filter(id=self.run.id, status=SyncRun.Status.RUNNING).update(**changes)
        self._added = (requests, waits)
        if not updated:
            raise runs.RunAbandoned(f"sync run {self.run.id} is no longer running")

    @property
    def moved_days(self) -> set[date]:
        """Days outside this slice's flush order that lost documents to it (their history is stale)."""
        return set(self.stale_days)

    @property
    def losing_flagged(self) -> set[date]:
        """Of ``moved_days``, those this slice flagged "rebuilding" (the finalizer's rebuild clears them)."""
        return set(self.losing_days)

    def _heartbeat(self) -> None:
        if time.monotonic() - self._beat >= HEARTBEAT_EVERY_S:
            runs.run_update(self.run)
            self._beat = time.monotonic()

    def _discover_mappings(self, rows: dict[tuple[str, str], FactRow]) -> None:
        """List REGOS stocks and users seen in documents as (unmapped) mappings, so admins see them."""
        if self._known_stocks is None:
            self._known_stocks = set(StockMapping.objects.values_list("regos_stock_id", flat=True))
            self._known_users = set(SellerMapping.objects.values_list("regos_user_id", flat=True))
        assert self._known_users is not None
        stock_ids = {row.stock_id for row in rows.values() if row.stock_id} - self._known_stocks
        user_ids = {
            uid
            for row in rows.values()
            for uid in (row.seller_id, row.cashier_id, row.attached_user_id)
            if uid
        } - self._known_users
        names = {**self.locator.stock_names, **self._stock_names}
        for stock_id in sorted(stock_ids):
            StockMapping.objects.get_or_create(
                regos_stock_id=stock_id, defaults={"regos_name": names.get(stock_id, "")[:255]}
            )
        for user_id in sorted(user_ids):
            SellerMapping.objects.get_or_create(
                regos_user_id=user_id, defaults={"full_name": self._user_names.get(user_id, "")[:255]}
            )
        self._known_stocks |= stock_ids
        self._known_users |= user_ids
