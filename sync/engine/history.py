"""DailySalesHistory from facts + mappings, and the denormalised Branch / Employee totals.

Money is summed in Python with Decimal on purpose: SQLite's SUM() over a DecimalField adds floats,
which is not exact to the tiyin over a month of a busy branch. A day's facts and a month's history
rows are small enough to read.

Attribution (settings.REGOS_ATTRIBUTION):
- ``seller_or_cashier`` (default): retail → seller, else cashier; wholesale → seller, else attached user.
- ``seller``: retail and wholesale → seller only (no seller → unassigned).
- ``cashier``: retail → cashier; wholesale → attached user (the person who keyed the document).
Wholesale returns always go to the attached user: REGOS records no seller on them.
A REGOS user without an employee mapping → "unassigned"; a stock without a branch → not in history
(its facts stay and are listed as unmapped until an admin maps the stock).
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Max
from django.utils import timezone

from payroll.dates import add_months, month_bounds, today
from payroll.models import UNASSIGNED, Branch, DailySalesHistory, Employee, MonthlySales
from sync.engine.documents import FactRow
from sync.models import HistoryDay, SalesFact, SellerMapping, StockMapping

ZERO = Decimal("0.00")
AMOUNT_FIELDS = ("retail_sales", "retail_returns", "wholesale_sales", "wholesale_returns", "total_sales")
ROW_FIELDS = ("employee_id", *AMOUNT_FIELDS, "cheque_count")
UPDATED_ROW_FIELDS = tuple(name for name in ROW_FIELDS if name != "employee_id")
Kind = SalesFact.Kind


@dataclass(frozen=True)
class Mappings:
    """Current REGOS stock → branch and REGOS user → employee maps (only the mapped ones)."""

    branches: dict[int, str]
    employees: dict[int, str]

    @classmethod
    def load(cls) -> Mappings:
        return cls(
            branches=dict(
                StockMapping.objects.filter(branch__isnull=False).values_list("regos_stock_id", "branch_id")
            ),
            employees=dict(
                SellerMapping.objects.filter(employee__isnull=False).values_list(
                    "regos_user_id", "employee_id"
                )
            ),
        )


def mappings_fingerprint() -> tuple[object, ...]:
    """Changes whenever any mapping row changes: lets a run notice an admin's edit made meanwhile."""
    # Only mapped rows: the sync itself lists newly seen (unmapped) stocks and users, which changes nothing.
    stocks = StockMapping.objects.filter(branch__isnull=False).aggregate(n=Count("id"), at=Max("updated_at"))
    users = SellerMapping.objects.filter(employee__isnull=False).aggregate(
        n=Count("id"), at=Max("updated_at")
    )
    return stocks["n"], stocks["at"], users["n"], users["at"]


def attributed_user(
    *, kind: str, seller_id: int | None, cashier_id: int | None, attached_user_id: int | None, mode: str
) -> int | None:
    """The REGOS user a document counts for, per REGOS_ATTRIBUTION (None = nobody)."""
    if kind == Kind.WHOLESALE_RETURN:
        return attached_user_id
    if kind == Kind.CHEQUE:
        if mode == "seller":
            return seller_id
        if mode == "cashier":
            return cashier_id
        return seller_id or cashier_id
    # wholesale shipment
    if mode == "seller":
        return seller_id
    if mode == "cashier":
        return attached_user_id
    return seller_id or attached_user_id


@dataclass
class _Totals:
    retail_sales: Decimal = ZERO
    retail_returns: Decimal = ZERO
    wholesale_sales: Decimal = ZERO
    wholesale_returns: Decimal = ZERO
    cheque_count: int = 0

    def values(self, employee_id: str | None) -> tuple[object, ...]:
        total = self.retail_sales - self.retail_returns + self.wholesale_sales - self.wholesale_returns
        return (
            employee_id,
            self.retail_sales,
            self.retail_returns,
            self.wholesale_sales,
            self.wholesale_returns,
            total,
            self.cheque_count,
        )


# A FactRow's (stock_id, source_kind, is_return, seller_id, cashier_id, attached_user_id, amount).
_FACT_COLUMNS = operator.itemgetter(
    *(FactRow._fields.index(name) for name in (
        "stock_id", "source_kind", "is_return", "seller_id", "cashier_id", "attached_user_id", "amount"
    ))
)


def history_rows_for_day(
    *, day: date, mappings: Mappings, mode: str, facts: Iterable[FactRow] | None = None
) -> dict[tuple[str, str], tuple]:
    """{(branch id, employee key): ROW_FIELDS values} computed from the day's facts.

    ``facts``: the day's facts as the sync just wrote them (saves reading them back); default: the DB.
    """
    acc: dict[tuple[str, str | None], _Totals] = {}
    # Per fact: (stock_id, source_kind, is_return, seller_id, cashier_id, attached_user_id, amount).
    columns: Iterable[tuple[int, str, bool, int | None, int | None, int | None, Decimal]]
    if facts is None:
        columns = SalesFact.objects.filter(business_date=day).values_list(
            "stock_id", "source_kind", "is_return", "seller_id", "cashier_id", "attached_user_id", "amount"
        )
    else:
        columns = map(_FACT_COLUMNS, facts)
    for stock_id, kind, is_return, seller_id, cashier_id, attached_id, amount in columns:
        branch_id = mappings.branches.get(stock_id)
        if branch_id is None:
            continue
        user_id = attributed_user(
            kind=kind, seller_id=seller_id, cashier_id=cashier_id, attached_user_id=attached_id, mode=mode
        )
        employee_id = mappings.employees.get(user_id) if user_id is not None else None
        totals = acc.get((branch_id, employee_id))
        if totals is None:
            totals = acc[(branch_id, employee_id)] = _Totals()
        if kind == Kind.CHEQUE:
            if is_return:
                totals.retail_returns += amount
            else:
                totals.retail_sales += amount
                totals.cheque_count += 1
        elif is_return:
            totals.wholesale_returns += amount
        else:
            totals.wholesale_sales += amount
    return {
        (branch_id, DailySalesHistory.key_for(employee_id)): totals.values(employee_id)
        for (branch_id, employee_id), totals in acc.items()
    }


@dataclass
class HistoryDiff:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    rows: int = 0  # rows the day has afterwards

    @property
    def written(self) -> int:
        return self.inserted + self.updated + self.deleted

    @property
    def changed(self) -> bool:
        return self.written > 0


def history_day_rebuild(
    *, day: date, mappings: Mappings, mode: str | None = None, facts: Iterable[FactRow] | None = None
) -> HistoryDiff:
    """Make the day's history rows equal to what its facts + mappings say; write only differences."""
    mode = mode or settings.REGOS_ATTRIBUTION
    wanted = history_rows_for_day(day=day, mappings=mappings, mode=mode, facts=facts)
    existing: dict[tuple[str, str], tuple[str, tuple]] = {}
    for values in DailySalesHistory.objects.filter(date=day).values_list(
        "id", "branch_id", "employee_key", *ROW_FIELDS
    ):
        existing[(values[1], values[2])] = (values[0], tuple(values[3:]))

    to_delete = [pk for key, (pk, _) in existing.items() if key not in wanted]
    to_update: list[DailySalesHistory] = []
    to_insert: list[DailySalesHistory] = []
    now = timezone.now()
    for (branch_id, employee_key), values in wanted.items():
        fields = dict(zip(ROW_FIELDS, values, strict=True))
        if (branch_id, employee_key) in existing:
            pk, stored = existing[(branch_id, employee_key)]
            if stored != values:
                to_update.append(
                    DailySalesHistory(
                        id=pk,
                        date=day,
                        branch_id=branch_id,
                        employee_key=employee_key,
                        updated_at=now,
                        **fields,
                    )
                )
        else:
            # bulk_create bypasses save(): employee_key is set here explicitly.
            to_insert.append(
                DailySalesHistory(date=day, branch_id=branch_id, employee_key=employee_key, **fields)
            )

    diff = HistoryDiff(
        inserted=len(to_insert), updated=len(to_update), deleted=len(to_delete), rows=len(wanted)
    )
    if not diff.changed:
        return diff
    # Real on SQLite/PostgreSQL (the day flips old → new at once); a no-op on MongoDB, where the
    # HistoryDay "rebuilding" marker and the idempotent rewrite carry correctness instead.
    with transaction.atomic():
        if to_delete:
            DailySalesHistory.objects.filter(id__in=to_delete).delete()
        if to_update:
            # Not employee_id: the row's key (employee_key) fixes it, and bulk_update's CASE expression
            # stores an ObjectId reference as a string on MongoDB, which the Node side cannot join on.
            DailySalesHistory.objects.bulk_update(to_update, [*UPDATED_ROW_FIELDS, "updated_at"], batch_size=500)
        if to_insert:
            DailySalesHistory.objects.bulk_create(to_insert, batch_size=500)
    return diff


# --- HistoryDay marker -------------------------------------------------------------------------


def history_day_mark_rebuilding(*, day: date) -> None:
    if not HistoryDay.objects.filter(date=day).update(
        state=HistoryDay.State.REBUILDING, updated_at=timezone.now()
    ):
        # A concurrent writer may create it between our update and insert.
        with contextlib.suppress(IntegrityError):
            HistoryDay.objects.get_or_create(date=day, defaults={"state": HistoryDay.State.REBUILDING})
        HistoryDay.objects.filter(date=day).update(state=HistoryDay.State.REBUILDING)


def history_days_mark_losing(*, days: set[date]) -> set[date]:
    """Flag days about to lose a document to another day (its REGOS date was edited) as rebuilding.

    Their history counts the document until it is rebuilt at the end of the run; a crash before that
    would leave the document counted on two days with nothing to show it. Returns the days this call
    flagged — those that were clean — so the rebuild can clear exactly them and leave a day flagged by
    an earlier crash flagged.
    """
    if not days:
        return set()
    # Their facts change: whatever answers they were written from no longer describe them.
    HistoryDay.objects.filter(date__in=days).exclude(source_digest="").update(source_digest="")
    already = set(
        HistoryDay.objects.filter(date__in=days, state=HistoryDay.State.REBUILDING).values_list("date", flat=True)
    )
    flagged = set(days) - already
    for day in sorted(flagged):
        history_day_mark_rebuilding(day=day)
    return flagged


def history_day_mark_clean(
    *, day: date, synced: bool, source: tuple[str, int, int] | None = None
) -> None:
    """``source``: (digest of the REGOS answers the day's facts were just written from, or "" if
    unknown; cheques; wholesale documents) — given only by a sync that wrote the day's facts."""
    changes: dict[str, object] = {"state": HistoryDay.State.CLEAN, "updated_at": timezone.now()}
    if synced:
        changes["synced_at"] = timezone.now()
    if source is not None:
        changes["source_digest"], changes["source_cheques"], changes["source_wholesale"] = source
    HistoryDay.objects.filter(date=day).update(**changes)


# --- totals -------------------------------------------------------------------------------------


def branch_totals_recompute(*, on: date | None = None) -> int:
    """Branch month-to-date net figures for the month of ``on`` (default: today in Tashkent).

    retail = retail sales − retail returns; wholesale = wholesale sales − wholesale returns;
    total = retail + wholesale. Writes only branches whose figures changed; returns how many.
    """
    first, last = month_bounds(on or today())
    sums: dict[str, list[Decimal]] = {}
    rows = DailySalesHistory.objects.filter(date__gte=first, date__lte=last).values_list(
        "branch_id", "retail_sales", "retail_returns", "wholesale_sales", "wholesale_returns"
    )
    for branch_id, rs, rr, ws, wr in rows:
        acc = sums.setdefault(branch_id, [ZERO, ZERO])
        acc[0] += rs - rr
        acc[1] += ws - wr
    changed: list[Branch] = []
    now = timezone.now()
    fed = set(StockMapping.objects.filter(branch__isnull=False).values_list("branch_id", flat=True))
    for branch in Branch.objects.only("id", "retail_sales", "wholesale_sales", "total_sales", "totals_month"):
        if branch.id not in sums and branch.id not in fed and branch.totals_month is None:
            continue  # a branch only the Node payroll system knows: its figures are its own
        retail, wholesale = sums.get(branch.id, (ZERO, ZERO))
        wanted = (retail, wholesale, retail + wholesale, first)
        if (branch.retail_sales, branch.wholesale_sales, branch.total_sales, branch.totals_month) != wanted:
            branch.retail_sales, branch.wholesale_sales, branch.total_sales, branch.totals_month = wanted
            branch.updated_at = now
            changed.append(branch)
    if changed:
        Branch.objects.bulk_update(
            changed,
            ["retail_sales", "wholesale_sales", "total_sales", "totals_month", "updated_at"],
            batch_size=500,
        )
    return len(changed)


def latest_synced_day() -> date | None:
    """The latest business day (≤ today) whose history is clean and came from a sync."""
    return HistoryDay.objects.filter(
        state=HistoryDay.State.CLEAN, synced_at__isnull=False, date__lte=today()
    ).aggregate(d=Max("date"))["d"]


def employee_totals_recompute() -> int:
    """Employee net retail / net wholesale of the latest synced business day; writes only changes."""
    day = latest_synced_day()
    if day is None:
        return 0
    sums: dict[str, list[Decimal]] = {}
    rows = DailySalesHistory.objects.filter(date=day, employee__isnull=False).values_list(
        "employee_id", "retail_sales", "retail_returns", "wholesale_sales", "wholesale_returns"
    )
    for employee_id, rs, rr, ws, wr in rows:
        acc = sums.setdefault(employee_id, [ZERO, ZERO])
        acc[0] += rs - rr
        acc[1] += ws - wr
    changed: list[Employee] = []
    now = timezone.now()
    fed = set(SellerMapping.objects.filter(employee__isnull=False).values_list("employee_id", flat=True))
    for employee in Employee.objects.only("id", "daily_sales", "wholesale_sales", "sales_date"):
        if employee.id not in sums and employee.id not in fed and employee.sales_date is None:
            continue  # an employee only the Node payroll system knows
        retail, wholesale = sums.get(employee.id, (ZERO, ZERO))
        wanted = (retail, wholesale, day)
        if (employee.daily_sales, employee.wholesale_sales, employee.sales_date) != wanted:
            employee.daily_sales, employee.wholesale_sales, employee.sales_date = wanted
            employee.updated_at = now
            changed.append(employee)
    if changed:
        Employee.objects.bulk_update(
            changed, ["daily_sales", "wholesale_sales", "sales_date", "updated_at"], batch_size=500
        )
    return len(changed)


def month_label(month: date) -> str:
    return month.strftime("%Y-%m")


def month_figures(*, month: date) -> dict[tuple[str, str], list]:
    """{(branch id, employee key): [employee id, *AMOUNT_FIELDS, cheque_count]} summed from the history
    of the month of ``month``: what REGOS says the month is now."""
    first, last = month_bounds(month)
    wanted: dict[tuple[str, str], list] = {}
    rows = DailySalesHistory.objects.filter(date__gte=first, date__lte=last).values_list(
        "branch_id", "employee_key", "employee_id", *AMOUNT_FIELDS, "cheque_count"
    )
    for branch_id, employee_key, employee_id, *figures in rows:
        acc = wanted.setdefault((branch_id, employee_key), [employee_id, ZERO, ZERO, ZERO, ZERO, ZERO, 0])
        for position, value in enumerate(figures, start=1):
            acc[position] += value
    return wanted


def monthly_sales_recompute(
    *, month: date, now: datetime | None = None, frozen: dict[tuple[str, str], list] | None = None,
    closed_at: datetime | None = None,
) -> int:
    """Make the ``monthlysales`` rows of ``month`` equal to the sums of its history rows; rows changed.

    Every row of the month gets ``computedAt`` = ``now``, changed or not: it is the mark
    ``months_to_recompute`` measures later history changes against.

    ``frozen``/``closed_at``: a closed month (payroll.services) — the rows are made equal to these
    figures (its snapshot, as ``month_figures`` gives them) and marked closed instead; rows already
    equal are left as they are, ``computedAt`` included.
    """
    now = now or timezone.now()
    label = month_label(month)
    wanted = month_figures(month=month) if frozen is None else frozen
    closed = (closed_at is not None, closed_at)
    fields = ("employee_id", *AMOUNT_FIELDS, "cheque_count", "closed", "closed_at")
    existing = {
        (values[1], values[2]): (values[0], tuple(values[3:]))
        for values in MonthlySales.objects.filter(month=label).values_list("id", "branch_id", "employee_key", *fields)
    }
    to_delete = [pk for key, (pk, _) in existing.items() if key not in wanted]
    to_update: list[MonthlySales] = []
    to_insert: list[MonthlySales] = []
    for (branch_id, employee_key), figures in wanted.items():
        values = (*figures, *closed)
        data = dict(zip(fields, values, strict=True))
        if (branch_id, employee_key) not in existing:
            to_insert.append(MonthlySales(
                month=label, branch_id=branch_id, employee_key=employee_key, computed_at=now, **data
            ))
        elif existing[(branch_id, employee_key)][1] != values:
            to_update.append(MonthlySales(id=existing[(branch_id, employee_key)][0], computed_at=now, **data))
    if to_delete:
        MonthlySales.objects.filter(id__in=to_delete).delete()
    if to_update:
        # Not employee_id: the row's key (employee_key) fixes it, and bulk_update's CASE expression
        # stores an ObjectId reference as a string on MongoDB, which the Node side cannot join on.
        MonthlySales.objects.bulk_update(to_update, [*fields[1:], "computed_at"], batch_size=500)
    if to_insert:
        MonthlySales.objects.bulk_create(to_insert, batch_size=500)
    if frozen is None:
        MonthlySales.objects.filter(month=label).exclude(computed_at=now).update(computed_at=now)
    return len(to_delete) + len(to_update) + len(to_insert)


def months_to_recompute() -> set[date]:
    """First days of the months whose history may have changed since ``monthlysales`` was computed:
    those of every day a sync or re-aggregation touched since (HistoryDay.updated_at), all months
    with history the first time, and always this month and the previous one."""
    this_month = month_bounds(today())[0]
    months = {this_month, add_months(this_month, -1)}
    mark = MonthlySales.objects.aggregate(at=Max("computed_at"))["at"]
    days = HistoryDay.objects.all() if mark is None else HistoryDay.objects.filter(updated_at__gte=mark)
    months.update(day.replace(day=1) for day in days.values_list("date", flat=True))
    return months


def totals_recompute() -> None:
    branch_totals_recompute()
    employee_totals_recompute()
    # One instant for the whole pass: history written while it runs is newer and is caught next time.
    now = timezone.now()
    # Imported here: payroll.services builds on this module.
    from payroll.services import adjustments_detect, closed_months

    closed = closed_months()
    for month in sorted(months_to_recompute()):
        if month_label(month) in closed:
            # The paid figures of a closed month stay; what changed since is recorded as adjustments.
            adjustments_detect(month=month, now=now)
        else:
            monthly_sales_recompute(month=month, now=now)


def history_reaggregate_days(
    *, dates: set[date] | list[date], mappings: Mappings | None = None, losing: set[date] | None = None
) -> int:
    """Rebuild history of these days from facts + current mappings (no REGOS calls); days changed.

    ``losing``: days this sync flagged while moving a document out of them
    (``history_days_mark_losing``); their facts are whole, so the rebuild clears their flag."""
    mappings = mappings or Mappings.load()
    days = sorted(set(dates))
    # A day left "rebuilding" by a crashed sync may hold half-replaced facts: re-aggregating makes its
    # history match those facts, but only a sync of the day repairs the facts, so it stays flagged.
    crashed = set(
        HistoryDay.objects.filter(date__in=days, state=HistoryDay.State.REBUILDING).values_list(
            "date", flat=True
        )
    )
    changed = 0
    for day in days:
        history_day_mark_rebuilding(day=day)
        diff = history_day_rebuild(day=day, mappings=mappings)
        if day not in crashed or (losing and day in losing):
            history_day_mark_clean(day=day, synced=False)
        changed += diff.changed
    return changed


__all__ = ["UNASSIGNED", "Mappings", "history_day_rebuild", "history_reaggregate_days", "totals_recompute"]
