"""Reconciliation with REGOS: our facts against REGOS's own reports (issue 19).

Retail, per register (operating cash): ``RetailReport/Counts`` (sale and return cheque counts) and
``RetailReport/Payments`` (sale and return amounts by payment type) for the whole range — two
requests per register. Our side is the register's cheque facts, summed per day by the drill-down's
own rule (``payroll.selectors.facts_figures``). A register that differs is bisected: the range is
split in halves, only the left half is asked (the right half is the parent minus the left: REGOS's
report is additive over days), and only halves that still differ are split again, down to single
days. A month of 30 days with one wrong day costs 2 + 2·5 = 12 requests for that register
(30 → 15 → 8 → 4 → 2 → 1), not 60.

Halves that differ in opposite directions by exactly the same figures would cancel out in their
parent; the parent then shows equal and is not split — every figure REGOS reports is still compared.

Wholesale, per stock: the range's performed, not delete-marked DocWholeSale / DocWholeSaleReturn are
listed afresh (``iter_wholesales``: no page memo, so a page we already hold is read again), turned
into figures by the sync's own rule (``wholesale_fact``) and compared with our wholesale facts.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from payroll.dates import day_start, range_bounds_unix
from payroll.dates import days as days_between
from payroll.selectors import facts_figures
from sync.engine.documents import DocumentError, wholesale_fact
from sync.models import (
    HistoryDay,
    QuarantinedDocument,
    RegosCashSession,
    SalesFact,
    StockMapping,
    SyncRun,
)
from sync.regos.client import RegosClient

log = logging.getLogger(__name__)

ZERO = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class Side:
    """Counts and money of one register (or stock) over some days, as one side reports them."""

    count: int = 0
    return_count: int = 0
    amount: Decimal = ZERO
    return_amount: Decimal = ZERO

    def __add__(self, other: Side) -> Side:
        return Side(self.count + other.count, self.return_count + other.return_count,
                    self.amount + other.amount, self.return_amount + other.return_amount)

    def __sub__(self, other: Side) -> Side:
        return Side(self.count - other.count, self.return_count - other.return_count,
                    self.amount - other.amount, self.return_amount - other.return_amount)


@dataclass
class Result:
    """One row of the result: ``kind`` "register"/"stock", over first..last (one day when bisected)."""

    kind: str
    regos_id: int
    first: date
    last: date
    ours: Side
    regos: Side
    level: str = "range"
    stock_id: int | None = None
    payments: dict[str, list[str]] = field(default_factory=dict)
    causes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return self.ours == self.regos


def _side_of(facts: Iterable[Any], *, wholesale: bool = False) -> Side:
    facts = list(facts)
    fig = facts_figures(facts)
    returns = sum(1 for fact in facts if fact.is_return or fact.source_kind == SalesFact.Kind.WHOLESALE_RETURN)
    if wholesale:
        return Side(len(facts) - returns, returns, fig.wholesale_sales, fig.wholesale_returns)
    return Side(fig.cheque_count, returns, fig.retail_sales, fig.retail_returns)


class Reconciliation:
    """Compares first..last (≤ 1 month: one REGOS report window) and collects ``results``."""

    def __init__(self, *, client: RegosClient, first: date, last: date) -> None:
        self.client, self.first, self.last = client, first, last
        self.results: list[Result] = []
        self.register_stock: dict[int, int] = {}

    # ---- retail ----
    def _ours_by_register_day(self) -> dict[int, dict[date, Side]]:
        facts: defaultdict[tuple[int, date], list[SalesFact]] = defaultdict(list)
        rows = SalesFact.objects.filter(
            source_kind=SalesFact.Kind.CHEQUE, business_date__gte=self.first, business_date__lte=self.last,
            operating_cash_id__isnull=False,
        ).only("source_kind", "is_return", "amount", "operating_cash_id", "business_date", "stock_id")
        for fact in rows:
            assert fact.operating_cash_id is not None
            facts[(fact.operating_cash_id, fact.business_date)].append(fact)
            self.register_stock.setdefault(fact.operating_cash_id, fact.stock_id)
        by_register: defaultdict[int, dict[date, Side]] = defaultdict(dict)
        for (register, day), day_facts in facts.items():
            by_register[register][day] = _side_of(day_facts)
        return by_register

    def _regos(self, register: int, first: date, last: date) -> tuple[Side, dict[str, list[str]]]:
        start, end = range_bounds_unix(first, last)
        counts = self.client.retail_report_counts(start=start, end=end, operating_cash_ids=[register])
        payments = self.client.retail_report_payments(start=start, end=end, operating_cash_ids=[register])
        by_type = {row.payment_type_name: [str(row.sale_amount), str(row.return_amount)] for row in payments}
        return Side(
            counts.sale_count, counts.return_count,
            sum((row.sale_amount for row in payments), ZERO), sum((row.return_amount for row in payments), ZERO),
        ), by_type

    def registers(self, ours: dict[int, dict[date, Side]]) -> list[int]:
        """Registers REGOS lists now plus any our facts name (one that vanished from REGOS included)."""
        for cash in self.client.get_operating_cashes():
            self.register_stock.setdefault(cash.id, cash.stock.id)
        return sorted(set(self.register_stock) | set(ours))

    def retail(self) -> None:
        ours = self._ours_by_register_day()
        for register in self.registers(ours):
            days = ours.get(register, {})

            def our_side(first: date, last: date, days: dict[date, Side] = days) -> Side:
                return sum((days.get(day, Side()) for day in days_between(first, last)), Side())

            regos, payments = self._regos(register, self.first, self.last)
            top = Result("register", register, self.first, self.last, our_side(self.first, self.last), regos,
                         stock_id=self.register_stock.get(register), payments=payments)
            self.results.append(top)
            if not top.equal:
                self._bisect(register, self.first, self.last, regos, our_side, top)

    def _bisect(self, register: int, first: date, last: date, regos: Side,
                our_side: Callable[[date, date], Side], top: Result) -> None:
        if first == last:
            result = Result("register", register, first, last, our_side(first, last), regos, level="day",
                            stock_id=top.stock_id, causes=day_causes(register=register, day=first))
            self.results.append(result)
            return
        mid = first + timedelta(days=(last - first).days // 2)
        left, _payments = self._regos(register, first, mid)
        right = regos - left
        for (a, b), side in (((first, mid), left), ((mid + timedelta(days=1), last), right)):
            if our_side(a, b) != side:
                self._bisect(register, a, b, side, our_side, top)

    # ---- wholesale ----
    def wholesale(self) -> None:
        ours: defaultdict[int, list[SalesFact]] = defaultdict(list)
        for fact in SalesFact.objects.filter(
            source_kind__in=(SalesFact.Kind.WHOLESALE, SalesFact.Kind.WHOLESALE_RETURN),
            business_date__gte=self.first, business_date__lte=self.last,
        ).only("source_kind", "is_return", "amount", "stock_id"):
            ours[fact.stock_id].append(fact)
        fresh: defaultdict[int, list[Any]] = defaultdict(list)
        unreadable: defaultdict[int, int] = defaultdict(int)
        listings = (
            self.client.iter_wholesales(first_day=self.first, last_day=self.last),
            self.client.iter_wholesale_returns(first_day=self.first, last_day=self.last),
        )
        for listing in listings:
            for page in listing:
                for doc in page:
                    try:
                        row = wholesale_fact(doc)
                    except DocumentError:
                        unreadable[doc.stock.id] += 1
                        continue
                    if row is not None and self.first <= row.business_date <= self.last:
                        fresh[row.stock_id].append(row)
        for stock in sorted(set(ours) | set(fresh)):
            causes = []
            if unreadable.get(stock):
                causes.append(_cause("no_rate", unreadable[stock]))
            self.results.append(Result(
                "stock", stock, self.first, self.last, _side_of(ours.get(stock, []), wholesale=True),
                _side_of(fresh.get(stock, []), wholesale=True), stock_id=stock, causes=causes,
            ))

    def execute(self) -> list[Result]:
        self.retail()
        self.wholesale()
        return self.results


def _cause(code: str, count: int = 0, **params: str) -> dict[str, Any]:
    # Stored as a code with its numbers and worded when shown (ReconciliationRow.cause_lines), so a run
    # made by a worker in one language reads right in every other.
    return {"code": code, "count": count, **params}


def day_causes(*, register: int, day: date) -> list[dict[str, Any]]:
    """Known causes of a day's difference that our own data shows (never a verdict: just facts)."""
    causes: list[dict[str, Any]] = []
    if not HistoryDay.objects.filter(date=day, synced_at__isnull=False).exists():
        causes.append(_cause("not_synced"))
    end = day_start(day + timedelta(days=1))
    open_shifts = RegosCashSession.objects.filter(
        operating_cash_id=register, close_date__isnull=True, start_date__lt=end
    ).count()
    if open_shifts:
        causes.append(_cause("open_shifts", open_shifts))
    quarantined = QuarantinedDocument.objects.filter(source_kind=SalesFact.Kind.CHEQUE, business_date=day).count()
    if quarantined:
        causes.append(_cause("quarantined", quarantined))
    run = SyncRun.objects.filter(
        date_from__lte=day, date_to__gte=day, status__in=(SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL),
    ).order_by("-created_at").first()
    counts = run.not_counted if run is not None and isinstance(run.not_counted, dict) else {}
    for status, count in sorted(counts.items()):
        causes.append(_cause("not_counted", int(count), status=str(status)))
    return causes


def stock_branches() -> dict[int, str]:
    """REGOS stock id → the id of the branch it is mapped to (unmapped stocks are left out)."""
    return {
        stock: str(branch_id)
        for stock, branch_id in StockMapping.objects.filter(branch__isnull=False).values_list(
            "regos_stock_id", "branch_id"
        )
    }
