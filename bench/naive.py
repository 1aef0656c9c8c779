"""The naive baseline: how public REGOS integrations pull sales, on our models.

For every closed cheque of every page it asks REGOS for the cheque's lines
(``ChequeItemOperation/Get``, one request per cheque — the store is the lines' ``stock_id``) and saves
the cheque with its own ORM ``update_or_create``; shipments and returns are saved the same way, one
``update_or_create`` each; history is then rebuilt per day by loading the day's facts as model
instances and ``update_or_create``-ing one row per (branch, employee); totals as in the real sync.

It values documents with the engine's own ``cheque_fact``/``wholesale_fact`` so both produce the
same facts — what differs is only the request pattern and the write pattern.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings

from payroll.models import DailySalesHistory
from sync.engine import history
from sync.engine.documents import DATA_FIELDS, UNRESOLVED_STOCK, FactRow, cheque_fact, wholesale_fact
from sync.models import SalesFact
from sync.regos.client import RegosClient

ZERO = Decimal("0.00")
Kind = SalesFact.Kind


def _save(row: FactRow) -> None:
    SalesFact.objects.update_or_create(
        source_kind=row.source_kind,
        regos_id=row.regos_id,
        defaults={name: getattr(row, name) for name in DATA_FIELDS},
    )


def _history_day(day: date, mappings: history.Mappings, mode: str) -> int:
    sums: dict[tuple[Any, Any], list[Any]] = defaultdict(lambda: [ZERO, ZERO, ZERO, ZERO, 0])
    for fact in SalesFact.objects.filter(business_date=day):
        branch_id = mappings.branches.get(fact.stock_id)
        if branch_id is None:
            continue
        user_id = history.attributed_user(
            kind=fact.source_kind, seller_id=fact.seller_id, cashier_id=fact.cashier_id,
            attached_user_id=fact.attached_user_id, mode=mode,
        )
        employee_id = mappings.employees.get(user_id) if user_id is not None else None
        acc = sums[(branch_id, employee_id)]
        if fact.source_kind == Kind.CHEQUE:
            if fact.is_return:
                acc[1] += fact.amount
            else:
                acc[0] += fact.amount
                acc[4] += 1
        elif fact.is_return:
            acc[3] += fact.amount
        else:
            acc[2] += fact.amount
    for (branch_id, employee_id), (rs, rr, ws, wr, count) in sums.items():
        DailySalesHistory.objects.update_or_create(
            date=day,
            branch_id=branch_id,
            employee_key=DailySalesHistory.key_for(employee_id),
            defaults={
                "employee_id": employee_id, "retail_sales": rs, "retail_returns": rr,
                "wholesale_sales": ws, "wholesale_returns": wr, "total_sales": rs - rr + ws - wr,
                "cheque_count": count,
            },
        )
    return len(sums)


def naive_sync(*, date_from: date, date_to: date) -> dict[str, Any]:
    client = RegosClient.from_settings()
    documents = 0
    try:
        for page in client.iter_cheques(first_day=date_from, last_day=date_to):
            for cheque in page:
                lines = client.get_cheque_lines(cheque.uuid)
                stock_id = next((line.stock_id for line in lines if line.stock_id), UNRESOLVED_STOCK)
                row = cheque_fact(cheque, stock_id=stock_id, operating_cash_id=None)
                if row is not None:
                    _save(row)
                    documents += 1
        for pages in (
            client.iter_wholesales(first_day=date_from, last_day=date_to),
            client.iter_wholesale_returns(first_day=date_from, last_day=date_to),
        ):
            for page in pages:
                for doc in page:
                    row = wholesale_fact(doc)
                    if row is not None:
                        _save(row)
                        documents += 1
        mappings = history.Mappings.load()
        rows = 0
        day = date_from
        while day <= date_to:
            rows += _history_day(day, mappings, settings.REGOS_ATTRIBUTION)
            day += timedelta(days=1)
        history.totals_recompute()
    finally:
        client.close()
    return {
        "documents": documents,
        "history_rows_built": rows,
        "client_requests": client.stats.requests_made,
        "client_by_method": dict(client.stats.by_method),
    }
