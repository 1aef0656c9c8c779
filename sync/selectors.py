"""Read-only queries of the sync (runs, repair state, unmapped data, the facts behind a history row)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, QuerySet

from payroll.models import UNASSIGNED, DailySalesHistory
from sync.engine.history import Mappings, attributed_user
from sync.engine.mappings import fact_days_for_stock, fact_days_for_user
from sync.engine.quarantine import incomplete_days
from sync.engine.runs import run_is_stale
from sync.models import HistoryDay, QuarantinedDocument, SalesFact, SellerMapping, StockMapping, SyncRun

__all__ = [
    "UnmappedStock",
    "UnassignedUser",
    "days_needing_repair",
    "fact_days_for_stock",
    "fact_days_for_user",
    "facts_for_history_row",
    "incomplete_days",
    "quarantine_undated_count",
    "sync_run_active",
    "sync_run_get",
    "sync_run_is_stale",
    "sync_runs_recent",
    "unassigned_users",
    "unmapped_stocks",
]


def quarantine_undated_count() -> int:
    """Quarantined documents whose date is unreadable (no day can be marked incomplete for them)."""
    return QuarantinedDocument.objects.filter(business_date=None).count()


def sync_run_get(*, run_id: uuid.UUID | str) -> SyncRun | None:
    return SyncRun.objects.filter(id=run_id).first()


def sync_runs_recent(*, limit: int = 50) -> QuerySet[SyncRun]:
    return SyncRun.objects.order_by("-created_at")[:limit]


def sync_run_active(*, date_from: date | None = None, date_to: date | None = None) -> SyncRun | None:
    """The oldest queued/running run (overlapping the range, if given), stale or not."""
    runs = SyncRun.objects.filter(status__in=SyncRun.ACTIVE)
    if date_from is not None and date_to is not None:
        runs = runs.filter(date_from__lte=date_to, date_to__gte=date_from)
    return runs.order_by("created_at").first()


def sync_run_is_stale(*, run: SyncRun) -> bool:
    """Active but abandoned: running without a heartbeat for REGOS_RUN_STALE_AFTER_S, or never picked up."""
    return run_is_stale(run)


def days_needing_repair() -> list[date]:
    """Days whose history a crash left half-written ("rebuilding"): a sync of those days repairs them."""
    return list(
        HistoryDay.objects.filter(state=HistoryDay.State.REBUILDING)
        .order_by("date")
        .values_list("date", flat=True)
    )


@dataclass(frozen=True)
class UnmappedStock:
    regos_stock_id: int  # 0 = REGOS could not say which stock (cash session/register unknown)
    regos_name: str
    facts: int
    amount: Decimal  # signed: sales minus returns, UZS
    first_day: date
    last_day: date


def unmapped_stocks() -> list[UnmappedStock]:
    """REGOS stocks with facts but no branch: their sales are kept and wait for a mapping."""
    mapped = set(StockMapping.objects.filter(branch__isnull=False).values_list("regos_stock_id", flat=True))
    names = dict(StockMapping.objects.values_list("regos_stock_id", "regos_name"))
    acc: dict[int, list] = {}
    for stock_id, is_return, amount, day in SalesFact.objects.exclude(stock_id__in=mapped).values_list(
        "stock_id", "is_return", "amount", "business_date"
    ):
        row = acc.setdefault(stock_id, [0, Decimal("0.00"), day, day])
        row[0] += 1
        row[1] += -amount if is_return else amount
        row[2], row[3] = min(row[2], day), max(row[3], day)
    return [
        UnmappedStock(
            regos_stock_id=sid,
            regos_name=names.get(sid, ""),
            facts=n,
            amount=amount,
            first_day=first,
            last_day=last,
        )
        for sid, (n, amount, first, last) in sorted(acc.items())
    ]


@dataclass(frozen=True)
class UnassignedUser:
    regos_user_id: int
    full_name: str
    facts: int


def unassigned_users() -> list[UnassignedUser]:
    """REGOS users seen on facts (in any role) that have no employee mapping."""
    mapped = set(SellerMapping.objects.filter(employee__isnull=False).values_list("regos_user_id", flat=True))
    names = dict(SellerMapping.objects.values_list("regos_user_id", "full_name"))
    counts: dict[int, int] = {}
    for column in ("seller_id", "cashier_id", "attached_user_id"):
        for row in (
            SalesFact.objects.filter(**{f"{column}__isnull": False}).values(column).annotate(n=Count("id"))
        ):
            uid = row[column]
            if uid not in mapped:
                counts[uid] = counts.get(uid, 0) + row["n"]
    return [
        UnassignedUser(regos_user_id=uid, full_name=names.get(uid, ""), facts=n)
        for uid, n in sorted(counts.items())
    ]


def facts_for_history_row(*, row: DailySalesHistory) -> list[SalesFact]:
    """The audit trail: the facts that make up one history row, under the current mappings."""
    mappings = Mappings.load()
    stocks = [sid for sid, branch_id in mappings.branches.items() if branch_id == row.branch_id]
    mode = settings.REGOS_ATTRIBUTION
    wanted_key = row.employee_key or UNASSIGNED
    result = []
    for fact in SalesFact.objects.filter(business_date=row.date, stock_id__in=stocks).order_by("occurred_at"):
        user_id = attributed_user(
            kind=fact.source_kind,
            seller_id=fact.seller_id,
            cashier_id=fact.cashier_id,
            attached_user_id=fact.attached_user_id,
            mode=mode,
        )
        employee_id = mappings.employees.get(user_id) if user_id is not None else None
        if DailySalesHistory.key_for(employee_id) == wanted_key:
            result.append(fact)
    return result
