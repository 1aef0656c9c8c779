"""Mapping changes: write the mapping, re-aggregate the days it touches (no REGOS calls), audit it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

from django.db import IntegrityError
from django.db.models import Count, Q
from django.utils import timezone

from payroll.models import Branch, Employee
from sync.engine import history
from sync.models import MappingAudit, SalesFact, SellerMapping, StockMapping

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser


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


def _mapping_set(  # type: ignore[no-untyped-def]
    *, model, lookup: dict[str, int], field: str, target, days: Callable[[], list[date]], kind: str,
    regos_name: str, user,
) -> int:
    """Point one REGOS stock/user at ``target`` (or at nothing), re-aggregate its ``days``, audit it."""
    mapping = _get_or_create(model, **lookup)
    old = getattr(mapping, field)
    if (old.pk if old else None) == (target.pk if target else None):
        return 0
    model.objects.filter(pk=mapping.pk).update(**{field: target, "updated_at": timezone.now()})
    changed = history.history_reaggregate_days(dates=days())
    history.totals_recompute()
    MappingAudit.objects.create(
        kind=kind,
        regos_id=next(iter(lookup.values())),
        regos_name=getattr(mapping, regos_name),
        old_target=str(old) if old else "",
        new_target=str(target) if target else "",
        days_changed=changed,
        changed_by=user if getattr(user, "pk", None) else None,
    )
    return changed


def stock_mapping_set(*, regos_stock_id: int, branch: Branch | None, user: AbstractBaseUser | None = None) -> int:
    return _mapping_set(
        model=StockMapping, lookup={"regos_stock_id": regos_stock_id}, field="branch", target=branch,
        days=lambda: fact_days_for_stock(regos_stock_id=regos_stock_id), kind=MappingAudit.Kind.STOCK,
        regos_name="regos_name", user=user,
    )


def seller_mapping_set(
    *, regos_user_id: int, employee: Employee | None, user: AbstractBaseUser | None = None
) -> int:
    return _mapping_set(
        model=SellerMapping, lookup={"regos_user_id": regos_user_id}, field="employee", target=employee,
        days=lambda: fact_days_for_user(regos_user_id=regos_user_id), kind=MappingAudit.Kind.SELLER,
        regos_name="full_name", user=user,
    )
