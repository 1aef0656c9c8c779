"""Reads of the sales history for accountants: filtered rows, totals, summaries, chart series, exports.

Everything here must also run on MongoDB (django-mongodb-backend), hence only plain filters on local
columns (``branch_id``/``employee_key``); branch and employee names are mapped in Python with one extra
query instead of ``values("branch__name")``. Money is summed in Python with Decimal (see ``_Sum``).

A ``sale_type`` filter does more than pick rows: it *projects* the figures onto that sale type (the
other type's columns read 0 and the net total is that type's net), so a "retail only" view never shows
a total that silently includes wholesale.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal, NamedTuple, TypedDict, Unpack

from django.conf import settings
from django.db.models import QuerySet

from payroll.dates import days, month_bounds
from payroll.models import UNASSIGNED, Branch, DailySalesHistory, Employee
from sync.engine.history import attributed_user
from sync.engine.quarantine import incomplete_days
from sync.models import SalesFact, SellerMapping, StockMapping

SaleType = Literal["retail", "wholesale"]
SALE_TYPES: tuple[SaleType, ...] = ("retail", "wholesale")
ZERO = Decimal("0.00")
CENT = Decimal("0.01")
AMOUNT_FIELDS = ("retail_sales", "retail_returns", "wholesale_sales", "wholesale_returns", "total_sales")


class HistoryFilters(TypedDict, total=False):
    """The optional filters every history selector takes, besides the inclusive date range."""

    branch_ids: Iterable[str] | None
    employee_ids: Iterable[str] | None
    sale_type: SaleType | None
    unassigned_only: bool


def _money(value: Decimal | int | None) -> Decimal:
    return Decimal(value or 0).quantize(CENT)


@dataclass(frozen=True, slots=True)
class Figures:
    """The payroll figures of one history row or of any sum of rows."""

    retail_sales: Decimal = ZERO
    retail_returns: Decimal = ZERO
    wholesale_sales: Decimal = ZERO
    wholesale_returns: Decimal = ZERO
    total_sales: Decimal = ZERO
    cheque_count: int = 0

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Figures:
        return cls(
            **{name: _money(values.get(name)) for name in AMOUNT_FIELDS},
            cheque_count=int(values.get("cheque_count") or 0),
        )

    def projected(self, sale_type: SaleType | None) -> Figures:
        """Only the figures of ``sale_type`` (None: all of them, as stored)."""
        if sale_type == "retail":
            return Figures(
                retail_sales=self.retail_sales,
                retail_returns=self.retail_returns,
                total_sales=self.retail_sales - self.retail_returns,
                cheque_count=self.cheque_count,
            )
        if sale_type == "wholesale":
            return Figures(
                wholesale_sales=self.wholesale_sales,
                wholesale_returns=self.wholesale_returns,
                total_sales=self.wholesale_sales - self.wholesale_returns,
            )
        return self

    def __add__(self, other: Figures) -> Figures:
        return Figures(
            **{name: getattr(self, name) + getattr(other, name) for name in AMOUNT_FIELDS},
            cheque_count=self.cheque_count + other.cheque_count,
        )


@dataclass(frozen=True, slots=True)
class HistoryRow:
    date: date
    branch_id: str
    branch_name: str
    employee_id: str | None
    employee_name: str  # "" for unassigned
    employee_key: str
    figures: Figures

    @property
    def is_unassigned(self) -> bool:
        return self.employee_key == UNASSIGNED


@dataclass(frozen=True, slots=True)
class Subtotal:
    """One line of a per-branch or per-employee table. ``key`` is a branch id or an employee key."""

    key: str
    name: str  # "" for the unassigned line
    figures: Figures
    rows: int = 0
    days: int = 0  # business days with at least one row (an employee's rows in two branches: one day)

    @property
    def is_unassigned(self) -> bool:
        return self.key == UNASSIGNED


@dataclass(frozen=True, slots=True)
class EmployeeBranchSubtotal:
    """One employee's figures in one branch (people sell in several branches)."""

    employee_key: str
    employee_name: str  # "" for unassigned
    branch_id: str
    branch_name: str
    figures: Figures
    days: int = 0

    @property
    def is_unassigned(self) -> bool:
        return self.employee_key == UNASSIGNED


@dataclass(frozen=True, slots=True)
class BranchSeries:
    branch_id: str
    name: str
    totals: list[Decimal]  # one per day of DailyTotals.days, 0.00 on days without sales


@dataclass(frozen=True, slots=True)
class DailyTotals:
    days: list[date]
    series: list[BranchSeries]

    @property
    def peak(self) -> Decimal:
        return max((v for s in self.series for v in s.totals), default=ZERO)

    @property
    def trough(self) -> Decimal:
        # Net totals can go below zero on a day of big returns; the chart's axis must show it.
        return min((v for s in self.series for v in s.totals), default=ZERO)


# --------------------------------------------------------------------------- filtered history rows


def _filtered(
    *,
    date_from: date,
    date_to: date,
    branch_ids: Iterable[str] | None = None,
    employee_ids: Iterable[str] | None = None,
    sale_type: SaleType | None = None,
    unassigned_only: bool = False,
) -> QuerySet[DailySalesHistory]:
    if sale_type not in (None, *SALE_TYPES):
        raise ValueError(f"unknown sale type {sale_type!r}")
    qs = DailySalesHistory.objects.filter(date__gte=date_from, date__lte=date_to)
    if branch_ids is not None:
        qs = qs.filter(branch_id__in=list(branch_ids))
    if unassigned_only:
        qs = qs.filter(employee_key=UNASSIGNED)
    elif employee_ids is not None:
        qs = qs.filter(employee_key__in=[str(pk) for pk in employee_ids])
    # Rows without activity (possible after a re-aggregation zeroes a day) are not history.
    if sale_type == "retail":
        qs = qs.exclude(retail_sales=0, retail_returns=0, cheque_count=0)
    elif sale_type == "wholesale":
        qs = qs.exclude(wholesale_sales=0, wholesale_returns=0)
    else:
        qs = qs.exclude(
            retail_sales=0, retail_returns=0, wholesale_sales=0, wholesale_returns=0, cheque_count=0
        )
    return qs


def history_rows(
    *, date_from: date, date_to: date, **filters: Unpack[HistoryFilters]
) -> QuerySet[DailySalesHistory]:
    """History rows of the inclusive range, ordered by date, branch name, employee name.

    A queryset so that it can be paginated; turn a page into figures with :func:`as_history_rows`.
    """
    return _filtered(date_from=date_from, date_to=date_to, **filters).order_by(
        "date", "branch__name", "employee__full_name", "employee_key"
    )


def as_history_rows(
    records: Iterable[DailySalesHistory], *, sale_type: SaleType | None = None
) -> list[HistoryRow]:
    """History rows with names and (projected) figures; two name queries, no FK traversal."""
    records = list(records)
    branch_names = _branch_names({r.branch_id for r in records})
    employee_names = _employee_names({r.employee_id for r in records if r.employee_id})
    return [
        HistoryRow(
            date=r.date,
            branch_id=r.branch_id,
            branch_name=branch_names.get(r.branch_id, ""),
            employee_id=r.employee_id,
            employee_name=employee_names.get(r.employee_id, "") if r.employee_id else "",
            employee_key=r.employee_key,
            figures=Figures.from_values(vars(r)).projected(sale_type),
        )
        for r in records
    ]


@dataclass(slots=True)
class _Sum:
    """Running sums of history rows. Decimal in Python on purpose: SQLite's SUM() over a decimal
    column adds floats and drifts by tens of tiyin over a month of a busy chain."""

    retail_sales: Decimal = ZERO
    retail_returns: Decimal = ZERO
    wholesale_sales: Decimal = ZERO
    wholesale_returns: Decimal = ZERO
    total_sales: Decimal = ZERO
    cheque_count: int = 0
    rows: int = 0

    def add(self, rs: Decimal, rr: Decimal, ws: Decimal, wr: Decimal, total: Decimal, cheques: int) -> None:
        self.retail_sales += rs
        self.retail_returns += rr
        self.wholesale_sales += ws
        self.wholesale_returns += wr
        self.total_sales += total
        self.cheque_count += cheques
        self.rows += 1

    def merge(self, other: _Sum) -> None:
        self.retail_sales += other.retail_sales
        self.retail_returns += other.retail_returns
        self.wholesale_sales += other.wholesale_sales
        self.wholesale_returns += other.wholesale_returns
        self.total_sales += other.total_sales
        self.cheque_count += other.cheque_count
        self.rows += other.rows

    def figures(self, sale_type: SaleType | None) -> Figures:
        return Figures(
            **{name: _money(getattr(self, name)) for name in AMOUNT_FIELDS}, cheque_count=self.cheque_count
        ).projected(sale_type)


@dataclass(frozen=True, slots=True)
class HistoryOverview:
    """Everything the history page shows besides the rows, computed in one pass over the filtered set."""

    totals: Figures
    rows: int
    branches: list[Subtotal]
    employees: list[Subtotal]
    daily: DailyTotals
    employee_branches: list[EmployeeBranchSubtotal]


def history_overview(
    *, date_from: date, date_to: date, **filters: Unpack[HistoryFilters]
) -> HistoryOverview:
    """Totals row, per-branch and per-employee subtotals and the chart series of the filtered set."""
    sale_type = filters.get("sale_type")
    # A month of a big chain is thousands of records. Each is added to two running sums only — its
    # (day, branch) and its employee — and the branch subtotals and the total are then added up from
    # the (day, branch) sums (Decimal addition is exact: the order cannot change a figure). Summing as
    # the records stream by also lets each record's Decimals go at once: kept alive until the end
    # (Python 3.13 tracks Decimals for the garbage collector), they set off full collections that made
    # every few requests tens of milliseconds slower.
    by_day_branch: defaultdict[tuple[date, str], _Sum] = defaultdict(_Sum)
    # (employee, branch) rather than employee alone: the same two additions per record also give the
    # employee × branch breakdown, and the employee lines are added up from it like the branches are.
    by_employee_branch: defaultdict[tuple[str, str], _Sum] = defaultdict(_Sum)
    employee_days: set[tuple[str, date]] = set()
    records = (
        _filtered(date_from=date_from, date_to=date_to, **filters)
        .order_by()
        .values_list("date", "branch_id", "employee_key", *AMOUNT_FIELDS, "cheque_count")
        .iterator(chunk_size=2000)
    )
    for day, branch_id, employee_key, rs, rr, ws, wr, total_sales, cheques in records:
        by_day_branch[day, branch_id].add(rs, rr, ws, wr, total_sales, cheques)
        by_employee_branch[employee_key, branch_id].add(rs, rr, ws, wr, total_sales, cheques)
        employee_days.add((employee_key, day))

    by_branch: defaultdict[str, _Sum] = defaultdict(_Sum)
    branch_days: defaultdict[str, int] = defaultdict(int)
    for (_day, branch_id), acc in by_day_branch.items():
        by_branch[branch_id].merge(acc)
        branch_days[branch_id] += 1
    by_employee: defaultdict[str, _Sum] = defaultdict(_Sum)
    for (employee_key, _branch_id), acc in by_employee_branch.items():
        by_employee[employee_key].merge(acc)
    days_of_employee: defaultdict[str, int] = defaultdict(int)
    for employee_key, _day in employee_days:
        days_of_employee[employee_key] += 1
    total = _Sum()
    for acc in by_branch.values():
        total.merge(acc)

    branch_names = _branch_names(by_branch)
    employee_names = _employee_names(key for key in by_employee if key != UNASSIGNED)
    branches = sorted(
        (
            Subtotal(key=str(pk), name=branch_names.get(pk, ""), figures=acc.figures(sale_type),
                     rows=acc.rows, days=branch_days[pk])
            for pk, acc in by_branch.items()
        ),
        key=lambda line: (line.name, line.key),
    )
    employees = sorted(
        (
            Subtotal(
                key=key,
                name="" if key == UNASSIGNED else employee_names.get(key, ""),
                figures=acc.figures(sale_type),
                rows=acc.rows,
                days=days_of_employee[key],
            )
            for key, acc in by_employee.items()
        ),
        # Unassigned last: it is nobody's pay, and payroll reads the named lines.
        key=lambda line: (line.is_unassigned, line.name, line.key),
    )
    employee_branches = sorted(
        (
            EmployeeBranchSubtotal(
                employee_key=key,
                employee_name="" if key == UNASSIGNED else employee_names.get(key, ""),
                branch_id=branch_id,
                branch_name=branch_names.get(branch_id, ""),
                figures=acc.figures(sale_type),
                days=acc.rows,  # one row per day, branch and employee (the history's unique key)
            )
            for (key, branch_id), acc in by_employee_branch.items()
        ),
        key=lambda line: (line.is_unassigned, line.employee_name, line.employee_key, line.branch_name),
    )
    all_days = list(days(date_from, date_to))
    position = {day: i for i, day in enumerate(all_days)}
    series_totals: dict[str, list[Decimal]] = {pk: [ZERO] * len(all_days) for pk in by_branch}
    for (day, branch_id), acc in by_day_branch.items():
        series_totals[branch_id][position[day]] = acc.figures(sale_type).total_sales
    series = [
        BranchSeries(branch_id=pk, name=branch_names.get(pk, ""), totals=series_totals[pk])
        for pk in (line.key for line in branches)
    ]
    return HistoryOverview(
        totals=total.figures(sale_type),
        rows=total.rows,
        branches=branches,
        employees=employees,
        daily=DailyTotals(days=all_days, series=series),
        employee_branches=employee_branches,
    )


def history_incomplete_days(*, date_from: date, date_to: date) -> dict[date, int]:
    """Days of the range written without documents REGOS sent unusable (quarantined), with how many:
    their figures lack those documents until a sync finds them usable."""
    return incomplete_days(date_from=date_from, date_to=date_to)


def history_totals(*, date_from: date, date_to: date, **filters: Unpack[HistoryFilters]) -> Figures:
    """The totals row of the filtered set."""
    return history_overview(date_from=date_from, date_to=date_to, **filters).totals


def subtotals_by_branch(
    *, date_from: date, date_to: date, **filters: Unpack[HistoryFilters]
) -> list[Subtotal]:
    """Per-branch subtotals of the filtered set, by branch name."""
    return history_overview(date_from=date_from, date_to=date_to, **filters).branches


def subtotals_by_employee(
    *, date_from: date, date_to: date, **filters: Unpack[HistoryFilters]
) -> list[Subtotal]:
    """Per-employee subtotals (over all branches) of the filtered set, by name; unassigned last."""
    return history_overview(date_from=date_from, date_to=date_to, **filters).employees


def daily_totals_by_branch(
    *, date_from: date, date_to: date, **filters: Unpack[HistoryFilters]
) -> DailyTotals:
    """Net total per day and branch over the range (every day present, 0.00 without sales), for the chart."""
    return history_overview(date_from=date_from, date_to=date_to, **filters).daily


def _branch_names(ids: Iterable[str]) -> dict[str, str]:
    ids = list(ids)
    if not ids:
        return {}
    return dict(Branch.objects.filter(id__in=ids).values_list("id", "name"))


def _employee_names(ids: Iterable[str]) -> dict[str, str]:
    ids = list(ids)
    if not ids:
        return {}
    return dict(Employee.objects.filter(id__in=ids).values_list("id", "full_name"))


# --------------------------------------------------------------------------- monthly summary


@dataclass(frozen=True, slots=True)
class MonthlySummary:
    month: date  # first day of the month
    date_from: date
    date_to: date
    employees: list[Subtotal]
    branches: list[Subtotal]
    total: Figures
    employee_branches: list[EmployeeBranchSubtotal]


def monthly_summary(*, month: date) -> MonthlySummary:
    """Per employee, per branch and per employee × branch: the figures the monthly payroll takes."""
    first, last = month_bounds(month)
    overview = history_overview(date_from=first, date_to=last)
    return MonthlySummary(
        month=first, date_from=first, date_to=last,
        employees=overview.employees, branches=overview.branches, total=overview.totals,
        employee_branches=overview.employee_branches,
    )


# --------------------------------------------------------------------------- drill-down to facts


def history_facts(*, date: date, branch_id: str, employee_key: str) -> list[SalesFact]:
    """The SalesFact rows (REGOS documents) behind one history row, by time.

    Rebuilt from the facts of that business day whose stock maps to the branch and whose attributed
    user maps to the employee — or, for "unassigned", to no employee — with the mappings as they are
    now, exactly as the sync re-aggregates a day. Each fact gets ``attributed_user_id`` set.
    """
    stock_ids = list(
        StockMapping.objects.filter(branch_id=branch_id).values_list("regos_stock_id", flat=True)
    )
    if not stock_ids:
        return []
    mapped = dict(
        SellerMapping.objects.filter(employee__isnull=False).values_list("regos_user_id", "employee_id")
    )
    facts = SalesFact.objects.filter(business_date=date, stock_id__in=stock_ids).order_by(
        "occurred_at", "code"
    )
    mode = settings.REGOS_ATTRIBUTION
    chosen = []
    for fact in facts:
        # The sync engine's own rule, so that the drill-down can never disagree with the history row.
        user_id = attributed_user(
            kind=fact.source_kind, seller_id=fact.seller_id, cashier_id=fact.cashier_id,
            attached_user_id=fact.attached_user_id, mode=mode,
        )
        if DailySalesHistory.key_for(mapped.get(user_id)) == employee_key:
            # Kept on the instance: the drill-down shows whom the document was counted for.
            fact.attributed_user_id = user_id
            chosen.append(fact)
    return chosen


def regos_user_names(*, user_ids: Iterable[int | None]) -> dict[int, str]:
    """REGOS user id → full name as discovered (SellerMapping), for the ids that have one."""
    ids = [pk for pk in user_ids if pk is not None]
    if not ids:
        return {}
    return dict(SellerMapping.objects.filter(regos_user_id__in=ids).values_list("regos_user_id", "full_name"))


@dataclass(frozen=True, slots=True)
class UnassignedUsers:
    """Who is behind the "unassigned" history rows: per (day, branch), the REGOS users whose documents
    count for no employee (``None``: documents that name no user at all), and their REGOS names."""

    by_day_branch: Mapping[tuple[date, str], frozenset[int | None]]
    names: Mapping[int, str]

    def users(self, *, day: date | None = None, branch_id: str | None = None) -> list[int | None]:
        """The users of one row (day and branch), of a branch, or of everything: named ones by name,
        then the ones REGOS never named to us, then ``None`` (documents without a user)."""
        if day is not None and branch_id is not None:
            found = set(self.by_day_branch.get((day, branch_id), ()))
        else:
            found = set()
            for (row_day, row_branch), users in self.by_day_branch.items():
                if (day is None or row_day == day) and (branch_id is None or row_branch == branch_id):
                    found |= users
        return sorted(
            found, key=lambda pk: (pk is None, not self.names.get(pk or 0), self.names.get(pk or 0, ""), pk or 0)
        )


def unassigned_users(
    *,
    date_from: date,
    date_to: date,
    branch_ids: Iterable[str] | None = None,
    sale_type: SaleType | None = None,
) -> UnassignedUsers:
    """The REGOS users behind the unassigned rows of the range, by the sync's own attribution rule
    (like :func:`history_facts`). Only days and branches that have an unassigned row are read."""
    wanted = set(
        _filtered(
            date_from=date_from, date_to=date_to, branch_ids=branch_ids, sale_type=sale_type,
            unassigned_only=True,
        ).values_list("date", "branch_id")
    )
    if not wanted:
        return UnassignedUsers(by_day_branch={}, names={})
    branch_of_stock = dict(
        StockMapping.objects.filter(branch_id__in={branch for _day, branch in wanted}).values_list(
            "regos_stock_id", "branch_id"
        )
    )
    mapped = set(
        SellerMapping.objects.filter(employee__isnull=False).values_list("regos_user_id", flat=True)
    )
    facts = SalesFact.objects.filter(
        business_date__gte=date_from, business_date__lte=date_to, stock_id__in=list(branch_of_stock)
    )
    if sale_type:
        facts = facts.filter(sale_type=sale_type)
    mode = settings.REGOS_ATTRIBUTION
    found: defaultdict[tuple[date, str], set[int | None]] = defaultdict(set)
    for kind, seller_id, cashier_id, attached_user_id, day, stock_id in facts.values_list(
        "source_kind", "seller_id", "cashier_id", "attached_user_id", "business_date", "stock_id"
    ).iterator(chunk_size=2000):
        key = (day, branch_of_stock[stock_id])
        if key not in wanted:
            continue
        user_id = attributed_user(
            kind=kind, seller_id=seller_id, cashier_id=cashier_id, attached_user_id=attached_user_id, mode=mode
        )
        if user_id not in mapped:
            found[key].add(user_id)
    names = regos_user_names(user_ids={pk for users in found.values() for pk in users})
    return UnassignedUsers(by_day_branch={key: frozenset(users) for key, users in found.items()}, names=names)


def facts_figures(facts: Iterable[SalesFact]) -> Figures:
    """The figures a set of facts adds up to (the drill-down's cross-check against its history row)."""
    retail = retail_returns = wholesale = wholesale_returns = ZERO
    cheques = 0
    for fact in facts:
        if fact.source_kind == "cheque" and fact.is_return:
            retail_returns += fact.amount
        elif fact.source_kind == "cheque":
            retail += fact.amount
            cheques += 1
        elif fact.source_kind == "wholesale_return" or fact.is_return:
            wholesale_returns += fact.amount
        else:
            wholesale += fact.amount
    return Figures(
        retail_sales=_money(retail),
        retail_returns=_money(retail_returns),
        wholesale_sales=_money(wholesale),
        wholesale_returns=_money(wholesale_returns),
        total_sales=_money(retail - retail_returns + wholesale - wholesale_returns),
        cheque_count=cheques,
    )


# --------------------------------------------------------------------------- exports


class ExportRow(NamedTuple):
    """One line of export_sales (CSV/XLSX), in column order."""

    date: date
    branch: str
    employee: str  # "" for unassigned
    retail_sales: Decimal
    retail_returns: Decimal
    wholesale_sales: Decimal
    wholesale_returns: Decimal
    total_sales: Decimal
    cheque_count: int


EXPORT_COLUMNS: tuple[str, ...] = ExportRow._fields


def export_rows(*, date_from: date, date_to: date, **filters: Unpack[HistoryFilters]) -> Iterator[ExportRow]:
    """Export lines sorted by date, branch name, employee name (unassigned = "" first), streamed.

    One query walked with a server-side iterator; one day is buffered at a time to sort it by names
    (a day of even a big chain is a few hundred rows), so a month never sits in memory at once.
    """
    for _branch_id, _employee_key, row in keyed_export_rows(date_from=date_from, date_to=date_to, **filters):
        yield row


def keyed_export_rows(
    *, date_from: date, date_to: date, **filters: Unpack[HistoryFilters]
) -> Iterator[tuple[str, str, ExportRow]]:
    """:func:`export_rows` with each line's branch id and employee key (the panel export names the REGOS
    users behind an unassigned line)."""
    sale_type = filters.get("sale_type")
    branch_names = dict(Branch.objects.values_list("id", "name"))
    employee_names = dict(Employee.objects.values_list("id", "full_name"))
    records = (
        _filtered(date_from=date_from, date_to=date_to, **filters)
        .order_by("date")
        .values("date", "branch_id", "employee_id", "employee_key", *AMOUNT_FIELDS, "cheque_count")
        .iterator(chunk_size=2000)
    )
    day: date | None = None
    buffered: list[tuple[tuple[str, str, str], tuple[str, str, ExportRow]]] = []
    for values in records:
        if values["date"] != day:
            yield from _sorted_rows(buffered)
            buffered, day = [], values["date"]
        branch = branch_names.get(values["branch_id"], "")
        employee = employee_names.get(values["employee_id"], "") if values["employee_id"] else ""
        figures = Figures.from_values(values).projected(sale_type)
        row = ExportRow(
            values["date"], branch, employee, figures.retail_sales, figures.retail_returns,
            figures.wholesale_sales, figures.wholesale_returns, figures.total_sales, figures.cheque_count,
        )
        key = values["employee_key"]
        buffered.append(((branch, employee, key), (values["branch_id"], key, row)))
    yield from _sorted_rows(buffered)


def _sorted_rows(
    buffered: list[tuple[tuple[str, str, str], tuple[str, str, ExportRow]]],
) -> Iterator[tuple[str, str, ExportRow]]:
    # employee_key breaks ties between namesakes so that two exports are byte-identical.
    for _key, row in sorted(buffered, key=lambda item: item[0]):
        yield row


# --------------------------------------------------------------------------- payroll periods


@dataclass(frozen=True)
class ReadinessItem:
    """One reason a month is not ready to close, with where to fix it."""

    code: str
    message: str
    url: str = ""

    def __str__(self) -> str:
        return self.message


def _url(name: str, query: str = "", args: list[object] | None = None) -> str:
    from django.urls import NoReverseMatch, reverse

    try:
        url = reverse(name, args=args)
    except NoReverseMatch:  # that page is not mounted in this build
        return ""
    return f"{url}?{query}" if query else url


def readiness_unmapped(*, first_day: date, last_day: date) -> list[ReadinessItem]:
    from django.utils.translation import gettext as _

    from sync.selectors import mapping_backlog

    backlog = mapping_backlog(first_day=first_day, last_day=last_day)
    if not backlog.documents:
        return []
    return [ReadinessItem("unmapped", _(
        "%(documents)s documents of this month (net %(amount)s UZS) wait for a branch or employee mapping."
    ) % {"documents": backlog.documents, "amount": backlog.amount}, _url("sync_panel:unmapped"))]


def readiness_incomplete_days(*, first_day: date, last_day: date) -> list[ReadinessItem]:
    from django.utils.translation import gettext as _

    from sync.models import HistoryDay

    items = []
    quarantined = incomplete_days(date_from=first_day, date_to=last_day)
    for day, count in quarantined.items():
        items.append(ReadinessItem("quarantined", _(
            "%(day)s: %(count)s quarantined documents are not counted."
        ) % {"day": day.isoformat(), "count": count}, _url(
            "admin:sync_quarantineddocument_changelist", f"business_date__exact={day.isoformat()}"
        )))
    rebuilding = HistoryDay.objects.filter(
        state=HistoryDay.State.REBUILDING, date__gte=first_day, date__lte=last_day
    ).order_by("date").values_list("date", flat=True)
    for day in rebuilding:
        items.append(ReadinessItem("incomplete", _(
            "%(day)s: the history of this day is half-written; sync the day again."
        ) % {"day": day.isoformat()}, _url("sync_panel:sync_now")))
    return items


def readiness_failed_runs(*, first_day: date, last_day: date) -> list[ReadinessItem]:
    """Failed or partial runs over the month that no later successful run covered again."""
    from django.utils.translation import gettext as _

    from sync.models import SyncRun

    runs = SyncRun.objects.filter(date_from__lte=last_day, date_to__gte=first_day)
    succeeded = list(runs.filter(status=SyncRun.Status.SUCCEEDED).values_list("date_from", "date_to", "created_at"))
    items = []
    for run in runs.filter(status__in=(SyncRun.Status.FAILED, SyncRun.Status.PARTIAL)).order_by("created_at"):
        if any(f <= run.date_from and t >= run.date_to and at > run.created_at for f, t, at in succeeded):
            continue
        items.append(ReadinessItem("failed_run", _(
            "A sync of %(first)s – %(last)s ended %(status)s."
        ) % {"first": run.date_from.isoformat(), "last": run.date_to.isoformat(), "status": run.get_status_display()},
            _url("sync_panel:run", args=[run.id])))
    return items


def readiness_negative_totals(*, first_day: date, last_day: date) -> list[ReadinessItem]:
    """Employees whose net total over the month (all branches) is below zero."""
    from django.utils.translation import gettext as _

    sums: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for employee_id, total in DailySalesHistory.objects.filter(
        date__gte=first_day, date__lte=last_day, employee__isnull=False
    ).values_list("employee_id", "total_sales"):
        sums[employee_id] += total
    negative = {pk: total for pk, total in sums.items() if total < 0}
    names = _employee_names(negative)
    query = f"date_from={first_day.isoformat()}&date_to={last_day.isoformat()}"
    return [
        ReadinessItem("negative", _("%(employee)s: net total of the month is %(amount)s UZS.") % {
            "employee": names.get(pk, pk), "amount": total,
        }, _url("reports:history", f"{query}&employee={pk}"))
        for pk, total in sorted(negative.items(), key=lambda item: names.get(item[0], item[0]))
    ]


def readiness_unreconciled(*, first_day: date, last_day: date) -> list[ReadinessItem]:
    """Registers/stocks whose figures differ from REGOS's own reports, or a month never reconciled."""
    from sync.selectors import reconciliation_problems

    return [
        ReadinessItem("unreconciled", problem.reason, _url("sync_panel:reconciliation_run", args=[problem.run_id])
                      if problem.run_id else _url("sync_panel:reconciliation"))
        for problem in reconciliation_problems(first_day=first_day, last_day=last_day)
    ]


# What is checked before a month is closed, in this order; one more check is one more line.
READINESS_CHECKS = [
    readiness_unmapped,
    readiness_incomplete_days,
    readiness_failed_runs,
    readiness_unreconciled,
    readiness_negative_totals,
]


def period_readiness(*, month: date) -> list[ReadinessItem]:
    first_day, last_day = month_bounds(month)
    return [item for check in READINESS_CHECKS for item in check(first_day=first_day, last_day=last_day)]


@dataclass(frozen=True)
class RegisterLine:
    name: str  # employee or branch name ("" = unassigned)
    figures: Figures
    branch_name: str = ""


@dataclass(frozen=True)
class AdjustmentLine:
    month: str
    carried_to: str
    employee_name: str  # "" = unassigned
    branch_name: str
    figures: Figures
    found_at: Any
    documents: list


@dataclass(frozen=True)
class PeriodRegister:
    """A month's payroll register: the snapshot of a closed month (the figures paid), or the live
    figures of an open one; plus the changes found after its close and those carried into it."""

    month: date
    period: Any  # PayrollPeriod | None
    employees: list[RegisterLine]
    branches: list[RegisterLine]
    total: Figures
    adjustments: list[AdjustmentLine]  # found after this month was closed
    carried_in: list[AdjustmentLine]  # other months' changes, paid or clawed back in this month


def _figures_of(row: Any) -> Figures:
    return Figures.from_values(vars(row) if not isinstance(row, Mapping) else row)


def adjustment_lines(*, month: str | None = None, carried_to: str | None = None) -> list[AdjustmentLine]:
    from payroll.models import PayrollAdjustment

    rows = PayrollAdjustment.objects.all().order_by("month", "found_at", "sequence")
    if month:
        rows = rows.filter(month=month)
    if carried_to:
        rows = rows.filter(carried_to=carried_to)
    rows_list = list(rows)
    branches = _branch_names({r.branch_id for r in rows_list})
    employees = _employee_names({r.employee_id for r in rows_list if r.employee_id})
    return [
        AdjustmentLine(
            month=r.month, carried_to=r.carried_to,
            employee_name=employees.get(r.employee_id, "") if r.employee_id else "",
            branch_name=branches.get(r.branch_id, r.branch_id), figures=_figures_of(r),
            found_at=r.found_at, documents=list(r.documents or []),
        )
        for r in rows_list
    ]


def period_register(*, month: date) -> PeriodRegister:
    from payroll.models import PayrollPeriod, PeriodSnapshot
    from sync.engine.history import month_figures, month_label

    label = month_label(month)
    period = PayrollPeriod.objects.filter(month=label).first()
    cells: list[tuple[str, str | None, Figures]] = []
    if period is not None and period.is_closed:
        for row in PeriodSnapshot.objects.filter(month=label, closing=period.closing):
            cells.append((row.branch_id, row.employee_id, _figures_of(row)))
    else:
        for (branch_id, _key), (employee_id, *values) in month_figures(month=month).items():
            cells.append((branch_id, employee_id, Figures(*values)))
    branch_names = _branch_names({branch_id for branch_id, _e, _f in cells})
    employee_names = _employee_names({employee_id for _b, employee_id, _f in cells if employee_id})
    per_employee: dict[str, Figures] = defaultdict(Figures)
    per_branch: dict[str, Figures] = defaultdict(Figures)
    total = Figures()
    for branch_id, employee_id, figures in cells:
        per_employee[employee_names.get(employee_id, "") if employee_id else ""] += figures
        per_branch[branch_names.get(branch_id, branch_id)] += figures
        total += figures
    # Unassigned ("") last, then by name.
    return PeriodRegister(
        month=month, period=period,
        employees=[RegisterLine(name, f) for name, f in sorted(per_employee.items(), key=lambda i: (not i[0], i[0]))],
        branches=[RegisterLine(name, f) for name, f in sorted(per_branch.items())],
        total=total,
        adjustments=adjustment_lines(month=label),
        carried_in=adjustment_lines(carried_to=label),
    )


@dataclass(frozen=True)
class PeriodLine:
    month: date
    period: Any  # PayrollPeriod | None: never closed


def periods_overview() -> list[PeriodLine]:
    """Every month with totals or a period, newest first, plus this month and the previous one."""
    from payroll.dates import add_months, today
    from payroll.models import MonthlySales, PayrollPeriod

    this_month = today().replace(day=1)
    labels = {f"{this_month:%Y-%m}", f"{add_months(this_month, -1):%Y-%m}"}
    labels.update(MonthlySales.objects.values_list("month", flat=True).distinct())
    periods = {p.month: p for p in PayrollPeriod.objects.all()}
    labels.update(periods)
    return [
        PeriodLine(month=date.fromisoformat(f"{label}-01"), period=periods.get(label))
        for label in sorted(labels, reverse=True)
    ]
