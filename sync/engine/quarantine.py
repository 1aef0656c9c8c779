"""Documents REGOS sent in a shape the figures cannot use: stored as received, never a stopped sync.

The client hands back such rows as ``RejectedRow`` (see ``sync.regos.client.parse_rows``); here they
become ``Quarantined`` items in the day's stream and ``QuarantinedDocument`` rows, one per document
(natural key: kind + REGOS id, or a hash of the body when no id is readable), upserted — never inserted
twice. Each write of a day replaces that day's quarantine: documents no longer broken (or no longer sent
at all) are deleted, so the next clean sync clears the day's *incomplete* mark by itself. A document
that now parses is cleared wherever its quarantine row says it was.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Collection, Iterable
from datetime import date, datetime
from typing import Any, NamedTuple

from django.db import IntegrityError, transaction
from django.utils import timezone

from payroll.dates import business_date
from sync.inbox import storable
from sync.models import QuarantinedDocument, SalesFact
from sync.regos.client import RejectedRow
from sync.regos.models import DocWholeSale, DocWholeSaleReturn

Kind = SalesFact.Kind
BODY_PREFIX = "body:"  # regos_id of a document without a readable id: the hash of what REGOS sent


class Quarantined(NamedTuple):
    """One unusable document, placed in the day stream at its date. Without a readable date it has no
    day: it is kept and counted on the run, and cleared once it parses again (or an admin deletes it)."""

    source_kind: str
    regos_id: str
    method: str
    business_date: date | None
    occurred_at: datetime | None
    reason: str
    raw: Any

    @property
    def key(self) -> tuple[str, str]:
        return self.source_kind, self.regos_id


def _body_key(raw: Any) -> str:
    text = json.dumps(raw, sort_keys=True, default=str, ensure_ascii=False)
    return BODY_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:48]


def _storable(value: Any) -> Any:
    """A JSON copy every backend stores (the inbox's rule): keys safe for MongoDB, a number with a
    fraction kept as its exact text."""
    try:
        return storable(value)
    except RecursionError:
        return {"note": "document nested too deeply to keep"}


def quarantined_from(*, kind: str, row: RejectedRow) -> Quarantined:
    day = business_date(row.date) if row.date is not None else None
    return Quarantined(
        source_kind=kind,
        regos_id=row.regos_id or _body_key(row.raw),
        method=row.method,
        business_date=day,
        occurred_at=row.date,
        reason=row.reason,
        raw=row.raw,
    )


def quarantined_document(*, doc: DocWholeSale | DocWholeSaleReturn, reason: str) -> Quarantined:
    """A document that parses but cannot be valued (``sync.engine.documents.DocumentError``)."""
    kind = Kind.WHOLESALE_RETURN if isinstance(doc, DocWholeSaleReturn) else Kind.WHOLESALE
    method = "DocWholeSaleReturn/Get" if kind == Kind.WHOLESALE_RETURN else "DocWholeSale/Get"
    return Quarantined(
        source_kind=kind,
        regos_id=str(doc.id),
        method=method,
        business_date=business_date(doc.date),
        occurred_at=doc.date,
        reason=f"{method}: {reason}",
        raw=doc.model_dump(mode="json"),
    )


def quarantine_upsert(*, item: Quarantined, run_id: uuid.UUID | None) -> None:
    """Insert or refresh the document's row (natural key; a concurrent insert is taken as an update)."""
    fields = {
        "method": item.method[:64],
        "business_date": item.business_date,
        "reason": item.reason,
        "raw": _storable(item.raw),
        "last_seen_at": timezone.now(),
        "last_run_id": run_id,
    }
    rows = QuarantinedDocument.objects.filter(source_kind=item.source_kind, regos_id=item.regos_id)
    if rows.update(**fields):
        return
    try:
        with transaction.atomic():  # savepoint only: keeps a surrounding SQL transaction usable
            QuarantinedDocument.objects.create(source_kind=item.source_kind, regos_id=item.regos_id, **fields)
    except IntegrityError:
        rows.update(**fields)


def quarantine_day_replace(
    *, day: date, items: Iterable[Quarantined], parsed: Collection[tuple[str, str]], run_id: uuid.UUID | None
) -> int:
    """Make ``day``'s quarantine exactly ``items`` and drop the rows of documents that now parse
    (``parsed``: the keys of the day's facts). Returns how many documents the day has quarantined."""
    wanted = {item.key: item for item in items if item.key not in parsed}
    # The table holds only odd documents (a handful): read it whole rather than look up every fact's key.
    stale = [
        pk
        for pk, kind, regos_id, held_on in QuarantinedDocument.objects.values_list(
            "pk", "source_kind", "regos_id", "business_date"
        )
        if (kind, regos_id) in parsed or (held_on == day and (kind, regos_id) not in wanted)
    ]
    if stale:
        QuarantinedDocument.objects.filter(pk__in=stale).delete()
    for item in wanted.values():
        quarantine_upsert(item=item, run_id=run_id)
    return len(wanted)


def incomplete_days(*, date_from: date | None = None, date_to: date | None = None) -> dict[date, int]:
    """Business day → documents quarantined on it (the days whose figures lack a document)."""
    rows = QuarantinedDocument.objects.exclude(business_date=None)
    if date_from is not None:
        rows = rows.filter(business_date__gte=date_from)
    if date_to is not None:
        rows = rows.filter(business_date__lte=date_to)
    counts: dict[date, int] = {}
    for day in rows.values_list("business_date", flat=True):
        counts[day] = counts.get(day, 0) + 1
    return dict(sorted(counts.items()))
