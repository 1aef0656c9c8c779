"""SQLite fast path of the window replace: raw ``executemany`` inserts and raw reads of a day's facts.

Why: a month of a large chain is a million facts. Building a model instance and Django's per-field
preparation cost several times SQLite's own insert, and reading a day back through the ORM converters
(two datetimes, three decimals per row) costs as much again on every re-sync.

What is written is exactly what ``bulk_create`` writes on SQLite (Django's own adapters: datetimes
naive in the connection's time zone as ``str()``, dates in ISO form, decimals as ``str()``, UUIDs as
32 hex digits), so rows written by either path are indistinguishable. Stored rows are read raw and
compared with ``comparer(day)``'s form of the new row, equal exactly when the ORM path's comparison
would be. Only SQLite takes this path (``enabled``); MongoDB keeps the ORM path.
"""

from __future__ import annotations

import decimal
import os
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime, tzinfo
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from sync.engine.documents import DATA_FIELDS, FactRow
from sync.models import SalesFact

_DATETIMES = frozenset(
    name for name in DATA_FIELDS if SalesFact._meta.get_field(name).get_internal_type() == "DateTimeField"
)
_DECIMALS = {
    name: decimal.Decimal(1).scaleb(-SalesFact._meta.get_field(name).decimal_places)
    for name in DATA_FIELDS
    if SalesFact._meta.get_field(name).get_internal_type() == "DecimalField"
}


def enabled() -> bool:
    return connection.vendor == "sqlite"


@cache
def _sql() -> tuple[str, str, tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    meta = SalesFact._meta
    q = connection.ops.quote_name
    data_cols = [meta.get_field(name).column for name in DATA_FIELDS]
    insert_cols = [meta.pk.column, meta.get_field("source_kind").column, meta.get_field("regos_id").column,
                   *data_cols, meta.get_field("sync_run").column, meta.get_field("created_at").column,
                   meta.get_field("updated_at").column]
    # Names come from the model's _meta, values are bound parameters.
    insert = (f"INSERT INTO {q(meta.db_table)} ({', '.join(q(c) for c in insert_cols)}) "  # noqa: S608
              f"VALUES ({', '.join(['%s'] * len(insert_cols))})")
    # ``x || ''`` drops the declared type, so sqlite3 hands back the stored text (no date parsing).
    select_data = [f"{q(col)} || ''" if name in _DATETIMES or name == "business_date" else q(col)
                   for name, col in zip(DATA_FIELDS, data_cols, strict=True)]
    select = (f"SELECT {q(meta.pk.column)}, {q(meta.get_field('source_kind').column)}, "  # noqa: S608
              f"{q(meta.get_field('regos_id').column)}, {', '.join(select_data)} FROM {q(meta.db_table)} "
              f"WHERE {q(meta.get_field('business_date').column)} = %s")
    datetimes = tuple(i for i, name in enumerate(DATA_FIELDS) if name in _DATETIMES)
    decimals = tuple(i for i, name in enumerate(DATA_FIELDS) if name in _DECIMALS)
    dates = tuple(i for i, name in enumerate(DATA_FIELDS) if name == "business_date")
    return insert, select, datetimes, decimals, dates


def _zone() -> tzinfo:
    # ``connection`` is a proxy (a thread-local lookup per attribute): resolve it once per call, not per row.
    return connections[DEFAULT_DB_ALIAS].timezone


def _naive(value: datetime | None, zone: tzinfo) -> str | None:
    """Django's SQLite adapter for an aware datetime: naive in the connection's zone (UTC), ``str()``."""
    if value is None:
        return None
    if value.tzinfo is not zone:
        value = value.astimezone(zone)
    return str(value.replace(tzinfo=None))


def comparer(day: date) -> Callable[[FactRow], tuple[object, ...]]:
    """``form(row)``: the row's data columns in the form ``facts_of_day`` returns stored ones, so that
    ``stored == form(row)`` is exactly the ORM path's "unchanged".

    Datetimes and the date compare as the stored text. Decimals live in NUMERIC columns, where SQLite
    keeps a number of at most 15 significant digits as an INTEGER or REAL (847000.00 → 847000,
    5000.50 → 5000.5); two different amounts of at most 15 digits never share a float, so
    ``float(amount) == stored`` means "the amount did not change". (Beyond 15 digits SQLite itself keeps
    only 15, and the ORM path then reports the amount as changed on every run too.) Booleans come back
    as 0/1, equal to False/True.
    """
    _, _, datetimes, decimals, dates = _sql()
    zone = _zone()
    day_text = day.isoformat()

    def form(row: FactRow) -> tuple[object, ...]:
        # Any: which column is a datetime, a date or a decimal is known from the indexes at run time only.
        values: list[Any] = list(row[2:])
        for i in datetimes:
            values[i] = _naive(values[i], zone)
        for i in dates:
            values[i] = day_text if values[i] == day else values[i].isoformat()
        for i in decimals:
            values[i] = float(values[i])
        return tuple(values)

    return form


def facts_of_day(day: date) -> dict[tuple[str, str], tuple[str, tuple[object, ...]]]:
    """{(kind, regos id): (pk as 32 hex digits, stored data columns)} of the day's facts, from SQLite."""
    _, select, _, _, _ = _sql()
    with connection.cursor() as cursor:
        cursor.execute(select, [day.isoformat()])
        return {(raw[1], raw[2]): (raw[0], raw[3:]) for raw in cursor.fetchall()}


def new_ids(n: int) -> list[str]:
    """``n`` fresh primary keys (32 hex digits, as Django stores a UUIDField on SQLite), time-ordered.

    Layout of UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Keys that grow with
    time land at the right edge of the primary-key index instead of at random pages of it, which keeps a
    month of inserts from turning into a million random page writes. They are ordinary UUIDs to
    everybody else (the model's default stays uuid4 for rows created elsewhere).
    """
    ms = time.time_ns() // 1_000_000
    prefix = f"{ms & 0xFFFFFFFFFFFF:012x}7"
    noise = os.urandom(6 * n).hex()
    # After the version nibble: a 26-bit counter (12 bits, the 2 variant bits "10", 14 bits), so the keys
    # of one call are in order; then 48 random bits.
    return [
        f"{prefix}{i >> 14 & 0xFFF:03x}{0x8000 | (i & 0x3FFF):04x}{noise[12 * i:12 * i + 12]}" for i in range(n)
    ]


def facts_insert(rows: Sequence[FactRow], *, run_id: uuid.UUID | str | None, now: datetime) -> None:
    insert, _, datetimes, _, dates = _sql()
    zone = _zone()
    run = None if run_id is None else (run_id if isinstance(run_id, uuid.UUID) else uuid.UUID(str(run_id))).hex
    stamp = _naive(now, zone)
    params = []
    day_text: dict[date, str] = {}
    for pk, row in zip(new_ids(len(rows)), rows, strict=True):
        values: list[Any] = list(row)  # Any: as in comparer's form, the column types come from the indexes
        for i in datetimes:
            values[i + 2] = _naive(values[i + 2], zone)
        for i in dates:
            day = values[i + 2]
            text = day_text.get(day)
            if text is None:
                text = day_text[day] = day.isoformat()
            values[i + 2] = text
        params.append((pk, *values, run, stamp, stamp))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(insert, params)


def facts_located(kind: str, regos_ids: Sequence[str]) -> list[tuple[uuid.UUID, str, date]]:
    """(pk, regos id, business day) of existing facts of ``kind`` among ``regos_ids`` (≤ 500 at a time)."""
    meta = SalesFact._meta
    q = connection.ops.quote_name
    sql = (f"SELECT {q(meta.pk.column)}, {q(meta.get_field('regos_id').column)}, "  # noqa: S608
           f"{q(meta.get_field('business_date').column)} || '' FROM {q(meta.db_table)} "
           f"WHERE {q(meta.get_field('source_kind').column)} = %s AND {q(meta.get_field('regos_id').column)} "
           f"IN ({', '.join(['%s'] * len(regos_ids))})")
    with connection.cursor() as cursor:
        cursor.execute(sql, [kind, *regos_ids])
        return [(uuid.UUID(pk), rid, date.fromisoformat(day)) for pk, rid, day in cursor.fetchall()]
