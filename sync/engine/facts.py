"""Window replace of one business day's facts: make them equal to what REGOS returns for the day now.

Writes only differences: new documents are inserted, changed ones updated (only rows whose compared
columns differ), documents REGOS no longer returns for the day (canceled, perform-canceled, deleted,
delete-marked) are removed. An unchanged day writes nothing — ``updated_at`` stays put, which is how
the tests prove idempotency.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from django.utils import timezone

from sync.engine import fastsql, history
from sync.engine.documents import DATA_FIELDS, FactRow
from sync.engine.locate import _chunks
from sync.models import SalesFact


@dataclass
class FactsDiff:
    inserted: int = 0
    updated: int = 0
    removed: int = 0
    # Other days that lost a document to this one (its REGOS date was edited): their history is stale.
    moved_from: set[date] = field(default_factory=set)
    # Those of them this replace flagged "rebuilding" (they were clean) until their history is rebuilt.
    flagged: set[date] = field(default_factory=set)


def _same(stored: tuple[object, ...], row: FactRow) -> bool:
    return stored == row.values()


def facts_window_replace(
    *, day: date, rows: Mapping[tuple[str, str], FactRow], run_id: uuid.UUID | None
) -> FactsDiff:
    diff = FactsDiff()
    fast = fastsql.enabled()
    # A fact's pk is a UUID from the ORM, its 32 hex digits from the SQLite fast path (both are accepted
    # wherever it is written back).
    existing: Mapping[tuple[str, str], tuple[uuid.UUID | str, tuple[object, ...]]]
    if fast:
        # Raw rows, compared in their stored form: no ORM converters on a re-read month.
        existing = fastsql.facts_of_day(day)
        form = fastsql.comparer(day)
    else:
        existing = {
            (values[1], values[2]): (values[0], tuple(values[3:]))
            for values in SalesFact.objects.filter(business_date=day).values_list(
                "id", "source_kind", "regos_id", *DATA_FIELDS
            )
        }

    to_delete = [pk for key, (pk, _) in existing.items() if key not in rows]
    changed: dict[uuid.UUID | str, FactRow] = {}
    new: dict[tuple[str, str], FactRow] = {}
    for key, row in rows.items():
        if key in existing:
            pk, stored = existing[key]
            if not (stored == form(row) if fast else _same(stored, row)):
                changed[pk] = row
        else:
            new[key] = row

    # A "new" document may already be a fact under another day (REGOS date edited, or the doc was
    # seen on another day earlier in the stream): the unique (kind, id) row is moved, not duplicated.
    if new:
        by_kind: dict[str, list[str]] = {}
        for kind, regos_id in new:
            by_kind.setdefault(kind, []).append(regos_id)
        for kind, ids in by_kind.items():
            for chunk in _chunks(sorted(ids)):
                found = (
                    fastsql.facts_located(kind, chunk)
                    if fast
                    else SalesFact.objects.filter(source_kind=kind, regos_id__in=chunk).values_list(
                        "id", "regos_id", "business_date"
                    )
                )
                for pk, regos_id, old_day in found:
                    changed[pk] = new.pop((kind, regos_id))
                    diff.moved_from.add(old_day)

    # Before the move: a crash between it and the old day's rebuild must leave a visible flag.
    diff.flagged = history.history_days_mark_losing(days=diff.moved_from - {day})

    now = timezone.now()
    if to_delete:
        for chunk in _chunks(to_delete):
            SalesFact.objects.filter(id__in=chunk).delete()
        diff.removed = len(to_delete)
    if changed:
        objs = []
        for pk, row in changed.items():
            obj = SalesFact(
                id=pk, source_kind=row.source_kind, regos_id=row.regos_id, sync_run_id=run_id, updated_at=now
            )
            for name in DATA_FIELDS:
                setattr(obj, name, getattr(row, name))
            objs.append(obj)
        # bulk_update skips auto_now: updated_at is set explicitly so it records the change.
        SalesFact.objects.bulk_update(objs, [*DATA_FIELDS, "sync_run", "updated_at"], batch_size=500)
        diff.updated = len(objs)
    if new and fast:
        fastsql.facts_insert(list(new.values()), run_id=run_id, now=now)
        diff.inserted = len(new)
    elif new:
        SalesFact.objects.bulk_create(
            [
                SalesFact(
                    source_kind=r.source_kind,
                    regos_id=r.regos_id,
                    sync_run_id=run_id,
                    **{name: getattr(r, name) for name in DATA_FIELDS},
                )
                for r in new.values()
            ],
            batch_size=500,
        )
        diff.inserted = len(new)
    return diff
