"""Mapping changes: write the mapping, re-aggregate the days it touches (no REGOS calls), audit it."""

from __future__ import annotations

from datetime import date

from django.db import IntegrityError
from django.db.models import Count, Q
from django.utils import timezone

from payroll.models import Branch, Employee
from sync.engine import history
from sync.models import MappingAudit, SalesFact, SellerMapping, StockMapping


def fact_days_for_stock(*, regos_stock_id: int) -> list[date]:
    rows = SalesFact.objects.filter(stock_id=regos_stock_id).values("business_date").annotate(n=Count("id"))
    return sorted(row["business_date"] for row in rows)


def fact_days_for_user(*, regos_user_id: int) -> list[date]:
    # Every role the user can hold on a document: whether it counts depends on REGOS_ATTRIBUTION,
    # and re-aggregating a day that does not change writes nothing.
    who = Q(seller_id=regos_user_id) | Q(cashier_id=regos_user_id) | Q(attached_user_id=regos_user_id)
    rows = SalesFact.objects.filter(who).values("business_date").annotate(n=Count("id"))
    return sorted(row["business_date"] for row in rows)


def _get_or_create(model, **lookup):  # type: ignore[no-untyped-def]
    try:
        return model.objects.get_or_create(**lookup)[0]
    except IntegrityError:  # created concurrently
        return model.objects.get(**lookup)


def stock_mapping_set(*, regos_stock_id: int, branch: Branch | None, user=None) -> int:
    mapping = _get_or_create(StockMapping, regos_stock_id=regos_stock_id)
    old = mapping.branch
    if (old.pk if old else None) == (branch.pk if branch else None):
        return 0
    StockMapping.objects.filter(pk=mapping.pk).update(branch=branch, updated_at=timezone.now())
    changed = history.history_reaggregate_days(dates=fact_days_for_stock(regos_stock_id=regos_stock_id))
    history.totals_recompute()
    MappingAudit.objects.create(
        kind=MappingAudit.Kind.STOCK,
        regos_id=regos_stock_id,
        regos_name=mapping.regos_name,
        old_target=str(old) if old else "",
        new_target=str(branch) if branch else "",
        days_changed=changed,
        changed_by=user if getattr(user, "pk", None) else None,
    )
    return changed


def seller_mapping_set(*, regos_user_id: int, employee: Employee | None, user=None) -> int:
    mapping = _get_or_create(SellerMapping, regos_user_id=regos_user_id)
    old = mapping.employee
    if (old.pk if old else None) == (employee.pk if employee else None):
        return 0
    SellerMapping.objects.filter(pk=mapping.pk).update(employee=employee, updated_at=timezone.now())
    changed = history.history_reaggregate_days(dates=fact_days_for_user(regos_user_id=regos_user_id))
    history.totals_recompute()
    MappingAudit.objects.create(
        kind=MappingAudit.Kind.SELLER,
        regos_id=regos_user_id,
        regos_name=mapping.full_name,
        old_target=str(old) if old else "",
        new_target=str(employee) if employee else "",
        days_changed=changed,
        changed_by=user if getattr(user, "pk", None) else None,
    )
    return changed
