"""Closing a payroll month, reopening it, and the adjustments found after it was closed.

No transaction or row lock carries correctness (MongoDB): a transition is a claim by conditional update
on the period's ``revision``; snapshot rows are upserts on their natural key; an adjustment's
``sequence`` is its claim (a unique index lets one of two racing detections in).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError
from django.db.models import F
from django.utils import timezone

from payroll.dates import add_months, month_bounds
from payroll.models import (
    FIGURES,
    UNASSIGNED,
    DailySalesHistory,
    PayrollAdjustment,
    PayrollPeriod,
    PeriodSnapshot,
    PeriodTransition,
)
from sync.engine.history import Mappings, attributed_user, month_figures, month_label, monthly_sales_recompute
from sync.models import SalesFact

ZERO = Decimal("0.00")


class PeriodError(Exception):
    """A transition that may not happen (already closed, no reason, changed meanwhile); nothing written."""


def closed_months() -> set[str]:
    return set(PayrollPeriod.objects.filter(status=PayrollPeriod.Status.CLOSED).values_list("month", flat=True))


def period_get_or_create(*, month: date) -> PayrollPeriod:
    label = month_label(month)
    period = PayrollPeriod.objects.filter(month=label).first()
    if period is None:
        # Two first visits may race: the unique month lets one in, both read the same row.
        with contextlib.suppress(IntegrityError):
            PayrollPeriod.objects.create(month=label)
        period = PayrollPeriod.objects.get(month=label)
    return period


def _claim(*, period: PayrollPeriod, changes: dict[str, object]) -> bool:
    """Apply ``changes`` only if nobody transitioned the period since it was read."""
    return bool(
        PayrollPeriod.objects.filter(pk=period.pk, revision=period.revision).update(
            revision=F("revision") + 1, updated_at=timezone.now(), **changes
        )
    )


def period_close(
    *, month: date, username: str, problems: list[str], confirmed: bool, note: str = "",
    now: datetime | None = None,
) -> PayrollPeriod:
    """Close the month: snapshot its figures per branch and employee, freeze its ``monthlysales``.

    ``problems``: the readiness list shown to the user (payroll.selectors.period_readiness); a
    non-empty list needs ``confirmed``, and is recorded with the transition.
    """
    if problems and not confirmed:
        raise PeriodError("not ready")
    now = now or timezone.now()
    period = period_get_or_create(month=month)
    if period.is_closed:
        raise PeriodError("already closed")
    closing = period.closing + 1
    if not _claim(period=period, changes={
        "status": PayrollPeriod.Status.CLOSED, "closed_at": now, "closed_by": username, "closing": closing,
        "snapshot_at": None,
    }):
        raise PeriodError("changed meanwhile")
    PeriodTransition.objects.create(
        period=period, action=PeriodTransition.Action.CLOSE, username=username, at=now, reason=note,
        confirmed_problems=list(problems),
    )
    period.refresh_from_db()
    period_snapshot_take(period=period, now=now)
    period.refresh_from_db()
    return period


def period_snapshot_take(*, period: PayrollPeriod, now: datetime | None = None) -> None:
    """Write the closing's snapshot from the month's history (once) and freeze ``monthlysales`` to it.
    Idempotent: a close that crashed half-way is finished by the next caller."""
    now = now or timezone.now()
    month = date.fromisoformat(f"{period.month}-01")
    # Snapshot rows are inserted once per key; a second caller keeps those already there.
    taken = {(r.branch_id, r.employee_key) for r in PeriodSnapshot.objects.filter(
        month=period.month, closing=period.closing)}
    if not PayrollPeriod.objects.filter(pk=period.pk, snapshot_at__isnull=False).exists():
        for (branch_id, employee_key), (employee_id, *figures) in month_figures(month=month).items():
            if (branch_id, employee_key) in taken:
                continue
            with contextlib.suppress(IntegrityError):
                PeriodSnapshot.objects.create(
                    month=period.month, closing=period.closing, branch_id=branch_id, employee_key=employee_key,
                    employee_id=employee_id, **dict(zip(FIGURES, figures, strict=True)),
                )
    PayrollPeriod.objects.filter(pk=period.pk, closing=period.closing, snapshot_at=None).update(snapshot_at=now)
    monthly_sales_freeze(period=period, now=now)


def monthly_sales_freeze(*, period: PayrollPeriod, now: datetime | None = None) -> int:
    """Make the Node-facing ``monthlysales`` of a closed month equal to its snapshot, marked closed; rows
    changed. Run at the close and at every later detection, so a sync that recomputed the month while
    it was being closed is undone at once."""
    snapshot = {
        (row.branch_id, row.employee_key): [row.employee_id, *row.figures()]
        for row in PeriodSnapshot.objects.filter(month=period.month, closing=period.closing)
    }
    return monthly_sales_recompute(
        month=date.fromisoformat(f"{period.month}-01"), now=now, frozen=snapshot, closed_at=period.closed_at
    )


def period_reopen(*, month: date, username: str, reason: str, now: datetime | None = None) -> PayrollPeriod:
    """Reopen a closed month (a reason is required): its figures follow REGOS again until it is closed
    anew, which takes a new snapshot. Adjustments already found stay listed."""
    reason = reason.strip()
    if not reason:
        raise PeriodError("reason required")
    now = now or timezone.now()
    period = period_get_or_create(month=month)
    if not period.is_closed:
        raise PeriodError("not closed")
    if not _claim(period=period, changes={"status": PayrollPeriod.Status.OPEN}):
        raise PeriodError("changed meanwhile")
    PeriodTransition.objects.create(
        period=period, action=PeriodTransition.Action.REOPEN, username=username, at=now, reason=reason
    )
    monthly_sales_recompute(month=month, now=now)  # follows REGOS again, no longer marked closed
    period.refresh_from_db()
    return period


def first_open_month(*, after: date) -> str:
    closed = closed_months()
    month = add_months(after.replace(day=1), 1)
    while month_label(month) in closed:
        month = add_months(month, 1)
    return month_label(month)


@dataclass(frozen=True)
class _Key:
    branch_id: str
    employee_key: str


def adjustments_detect(*, month: date, now: datetime | None = None) -> int:
    """Record what changed in a closed month since its snapshot; adjustments recorded.

    Per (branch, employee): adjustment = current truth − snapshot − adjustments already recorded for
    this closing, so running it again after another re-sync records nothing new.
    """
    now = now or timezone.now()
    label = month_label(month)
    period = PayrollPeriod.objects.filter(month=label, status=PayrollPeriod.Status.CLOSED).first()
    if period is None:
        return 0
    if period.snapshot_at is None:
        period_snapshot_take(period=period, now=now)
        return 0
    monthly_sales_freeze(period=period, now=now)
    zero = [ZERO] * 5 + [0]
    truth = {
        _Key(branch_id, employee_key): (employee_id, list(figures))
        for (branch_id, employee_key), (employee_id, *figures) in month_figures(month=month).items()
    }
    paid: dict[_Key, list] = {}
    sequences: dict[_Key, int] = {}
    for row in PeriodSnapshot.objects.filter(month=label, closing=period.closing):
        paid[_Key(row.branch_id, row.employee_key)] = list(row.figures())
    for row in PayrollAdjustment.objects.filter(month=label, closing=period.closing):
        key = _Key(row.branch_id, row.employee_key)
        acc = paid.setdefault(key, list(zero))
        for position, value in enumerate(row.figures()):
            acc[position] += value
        sequences[key] = max(sequences.get(key, 0), row.sequence)
    carried_to = first_open_month(after=month)
    recorded = 0
    for key in sorted(set(truth) | set(paid), key=lambda k: (k.branch_id, k.employee_key)):
        employee_id, now_figures = truth.get(key, (None, list(zero)))
        before = paid.get(key, zero)
        delta = [current - old for current, old in zip(now_figures, before, strict=True)]
        if not any(delta):
            continue
        if employee_id is None and key.employee_key != UNASSIGNED:
            employee_id = key.employee_key
        found_since = _last_seen(label=label, closing=period.closing, key=key, default=period.snapshot_at)
        with contextlib.suppress(IntegrityError):  # a racing detection recorded this one first
            PayrollAdjustment.objects.create(
                month=label, closing=period.closing, branch_id=key.branch_id, employee_key=key.employee_key,
                employee_id=employee_id, sequence=sequences.get(key, 0) + 1, carried_to=carried_to, found_at=now,
                documents=_documents_changed(month=month, key=key, since=found_since),
                **dict(zip(FIGURES, delta, strict=True)),
            )
            recorded += 1
    return recorded


def _last_seen(*, label: str, closing: int, key: _Key, default: datetime | None) -> datetime | None:
    last = (
        PayrollAdjustment.objects.filter(
            month=label, closing=closing, branch_id=key.branch_id, employee_key=key.employee_key
        ).order_by("-found_at").values_list("found_at", flat=True).first()
    )
    return last or default


def _documents_changed(*, month: date, key: _Key, since: datetime | None) -> list[dict[str, object]]:
    """The documents of this branch and employee in the month that a sync wrote since ``since``: the
    ones behind the change where they are still there (a document deleted in REGOS leaves no fact)."""
    if since is None:
        return []
    first, last = month_bounds(month)
    mappings = Mappings.load()
    stocks = [sid for sid, branch_id in mappings.branches.items() if branch_id == key.branch_id]
    mode = settings.REGOS_ATTRIBUTION
    found = []
    for fact in SalesFact.objects.filter(
        business_date__gte=first, business_date__lte=last, stock_id__in=stocks, updated_at__gte=since
    ).order_by("business_date", "regos_id"):
        user_id = attributed_user(
            kind=fact.source_kind, seller_id=fact.seller_id, cashier_id=fact.cashier_id,
            attached_user_id=fact.attached_user_id, mode=mode,
        )
        employee_id = mappings.employees.get(user_id) if user_id is not None else None
        if DailySalesHistory.key_for(employee_id) == key.employee_key:
            found.append({
                "kind": fact.source_kind, "regosId": fact.regos_id, "code": fact.code,
                "date": fact.business_date.isoformat(), "amount": str(fact.amount),
                "isReturn": fact.is_return,
            })
    return found


__all__ = [
    "PeriodError",
    "adjustments_detect",
    "closed_months",
    "first_open_month",
    "period_close",
    "period_get_or_create",
    "period_reopen",
    "period_snapshot_take",
    "monthly_sales_freeze",
]
