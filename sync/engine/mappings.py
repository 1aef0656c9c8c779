"""Mapping changes: write the mapping, re-aggregate the days it touches (no REGOS calls), audit it.

``mappings_set_many`` is the bulk form: every mapping written and audited, the union of their days
re-aggregated once (not once per mapping). ``name_key`` is the one rule for "the same name".
"""

from __future__ import annotations

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


# Uzbek Latin writes oʻ/gʻ with U+02BB; keyboards and REGOS data use any of these instead.
_APOSTROPHES = str.maketrans(dict.fromkeys("ʻʼ‘’`´", "'"))


def name_key(text: str) -> str:
    """What two names must share to be "the same name": case-insensitive, every apostrophe variant
    (ʻ ʼ ' ‘ ’ ` ´) alike, runs of spaces (and leading/trailing ones) ignored. "" for a blank name."""
    return " ".join(text.translate(_APOSTROPHES).split()).casefold()


def _get_or_create(model, **lookup):  # type: ignore[no-untyped-def]
    try:
        return model.objects.get_or_create(**lookup)[0]
    except IntegrityError:  # created concurrently
        return model.objects.get(**lookup)


def _mapping_write(  # type: ignore[no-untyped-def]
    *, model, lookup: dict[str, int], field: str, target, kind: str, regos_name: str, user,
) -> MappingAudit | None:
    """Point one REGOS stock/user at ``target`` (or at nothing); the unsaved audit row, None if unchanged."""
    mapping = _get_or_create(model, **lookup)
    old = getattr(mapping, field)
    if (old.pk if old else None) == (target.pk if target else None):
        return None
    model.objects.filter(pk=mapping.pk).update(**{field: target, "updated_at": timezone.now()})
    return MappingAudit(
        kind=kind,
        regos_id=next(iter(lookup.values())),
        regos_name=getattr(mapping, regos_name),
        old_target=str(old) if old else "",
        new_target=str(target) if target else "",
        changed_by=user if getattr(user, "pk", None) else None,
    )


def _reaggregate_and_audit(*, audits: list[MappingAudit], days: set[date]) -> int:
    changed = history.history_reaggregate_days(dates=days)
    history.totals_recompute()
    for audit in audits:
        audit.days_changed = changed
    MappingAudit.objects.bulk_create(audits)
    return changed


def _stock_write(*, regos_stock_id: int, branch: Branch | None, user) -> MappingAudit | None:  # type: ignore[no-untyped-def]
    return _mapping_write(
        model=StockMapping, lookup={"regos_stock_id": regos_stock_id}, field="branch", target=branch,
        kind=MappingAudit.Kind.STOCK, regos_name="regos_name", user=user,
    )


def _seller_write(*, regos_user_id: int, employee: Employee | None, user) -> MappingAudit | None:  # type: ignore[no-untyped-def]
    return _mapping_write(
        model=SellerMapping, lookup={"regos_user_id": regos_user_id}, field="employee", target=employee,
        kind=MappingAudit.Kind.SELLER, regos_name="full_name", user=user,
    )


def stock_mapping_set(*, regos_stock_id: int, branch: Branch | None, user: AbstractBaseUser | None = None) -> int:
    audit = _stock_write(regos_stock_id=regos_stock_id, branch=branch, user=user)
    if audit is None:
        return 0
    return _reaggregate_and_audit(audits=[audit], days=set(fact_days_for_stock(regos_stock_id=regos_stock_id)))


def seller_mapping_set(
    *, regos_user_id: int, employee: Employee | None, user: AbstractBaseUser | None = None
) -> int:
    audit = _seller_write(regos_user_id=regos_user_id, employee=employee, user=user)
    if audit is None:
        return 0
    return _reaggregate_and_audit(audits=[audit], days=set(fact_days_for_user(regos_user_id=regos_user_id)))


def mappings_set_many(
    *, stocks: dict[int, Branch | None], users: dict[int, Employee | None], user: AbstractBaseUser | None = None
) -> int:
    """Write many mappings, audit each, and re-aggregate the union of their days once; days changed.

    Each audit row carries the batch's count of changed days: one re-aggregation served them all.
    """
    audits: list[MappingAudit] = []
    days: set[date] = set()
    for regos_stock_id, branch in stocks.items():
        audit = _stock_write(regos_stock_id=regos_stock_id, branch=branch, user=user)
        if audit is not None:
            audits.append(audit)
            days.update(fact_days_for_stock(regos_stock_id=regos_stock_id))
    for regos_user_id, employee in users.items():
        audit = _seller_write(regos_user_id=regos_user_id, employee=employee, user=user)
        if audit is not None:
            audits.append(audit)
            days.update(fact_days_for_user(regos_user_id=regos_user_id))
    if not audits:
        return 0
    return _reaggregate_and_audit(audits=audits, days=days)
