"""Re-sync of unchanged days: leave a day alone when REGOS answers exactly as when it was written.

REGOS has no "changed since" filter, so a re-sync must ask for every document again. What it can
tell cheaply is whether an answer is *byte for byte* one it has seen: every listing body is hashed
(SHA-256) — without the paging members that close it, whose live values are always used: ``total``
changes with every new document of the window, and the pages before that document are still the
same. Each document stream keeps a chain digest over (request, body digest) of the answers read so
far. When day D is flushed, every stream has read exactly up to the answer holding its first document
after D, or to its end (the merge is by time, see ``runner``), so the chains cover every document of D
and the ones around it: equal chains mean the same documents of D, and no other.

The day's digest is the three chains plus what else shapes its facts and history: this code
(``code_fingerprint``), the register histories (a register moved: every day is written again, its
sales before the move keeping their stock) and the attribution rule. A day is skipped when
its marker is clean and its digest equals the one stored when its facts were last written
(``HistoryDay.source_digest``). Whatever else changes a day's facts clears its digest (a document
moving to another day: ``history_days_mark_losing``); a day with a cheque whose stock could not be
resolved gets none (REGOS may know the shift next time), and so does a day with a shift in the window
of a move whose cheque lines named no stock; a crash leaves the marker "rebuilding".

Answers already seen (``RegosPage``, keyed by body digest and code) are paged with their stored
paging fields and not parsed, unless a day they hold has to be written after all.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from sync.models import HistoryDay, RegosPage
from sync.regos.client import ListingPage, PageSummary

# Modules whose code decides what an answer's documents become (facts, their days, history). Any
# edit to them changes every digest, so the first sync after a deploy writes every day in full.
FINGERPRINTED = (
    "payroll.dates",
    "payroll.models",
    "sync.models",
    "sync.regos.models",
    "sync.regos.client",
    "sync.engine.documents",
    "sync.engine.locate",
    "sync.engine.facts",
    "sync.engine.fastsql",
    "sync.engine.history",
    "sync.engine.runner",
    "sync.engine.unchanged",
)
IN_CHUNK = 500


@functools.cache
def code_fingerprint() -> str:
    digest = hashlib.sha256()
    for name in FINGERPRINTED:
        if importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(name)
        digest.update(name.encode())
        digest.update(Path(module.__file__ or "").read_bytes())
    return digest.hexdigest()


def enabled() -> bool:
    return bool(getattr(settings, "REGOS_SKIP_UNCHANGED_DAYS", True))


def chain_next(chain: str, page: ListingPage[Any]) -> str:
    return hashlib.sha256(f"{chain}|{page.request}|{page.digest}".encode()).hexdigest()


def context_digest(*, registers: str) -> str:
    """What besides the answers shapes a day's facts and history: this code, the attribution rule and
    the register histories (``StockLocator.signature``: the stocks of each register and the readings
    around each move — a reading that only confirms the latest stock leaves it unchanged)."""
    context = hashlib.sha256()
    context.update(code_fingerprint().encode())
    context.update(f"|{settings.REGOS_ATTRIBUTION}|".encode())
    context.update(registers.encode())
    return context.hexdigest()


def day_digest(*, context: str, chains: Sequence[str]) -> str:
    """The digest of a day about to be flushed, from the context and its streams' chains."""
    digest = hashlib.sha256(context.encode())
    for chain in chains:
        digest.update(f"|{chain}".encode())
    return digest.hexdigest()


def day_unchanged(*, day: date, digest: str) -> tuple[int, int] | None:
    """(cheques, wholesale documents) stored for ``day`` if it was written from exactly these answers
    and its marker is clean — then it is marked synced now, as a written day is; else None (the day
    must be written). One conditional update decides, so a day flagged meanwhile is never taken."""
    if not digest:
        return None
    claimed = HistoryDay.objects.filter(date=day, state=HistoryDay.State.CLEAN, source_digest=digest).update(
        synced_at=timezone.now()
    )
    if not claimed:
        return None
    counts = HistoryDay.objects.filter(date=day).values_list("source_cheques", "source_wholesale").first()
    return counts


class PageMemo:
    """Listing answers seen before, in ``RegosPage``: the client's ``PageMemo`` for a sync run.

    Entries are functions of the body and the code, so they are written whenever convenient
    (``save``, before each day's flush) and never need to be taken back.
    """

    def __init__(self) -> None:
        self._salt = code_fingerprint()
        self._pending: dict[str, RegosPage] = {}

    def _key(self, digest: str) -> str:
        return hashlib.sha256(f"{self._salt}:{digest}".encode()).hexdigest()

    def recall(self, digest: str) -> PageSummary | None:
        key = self._key(digest)
        pending = self._pending.get(key)
        if pending is not None:
            fields: tuple[int, int | None, int | None, str] | None = (
                pending.count, pending.total, pending.next_offset, pending.days
            )
        else:
            fields = RegosPage.objects.filter(digest=key).values_list("count", "total", "next_offset", "days").first()
        if fields is None:
            return None
        count, total, next_offset, days = fields
        return PageSummary(
            count=count,
            total=total,
            next_offset=next_offset,
            days=tuple(date.fromisoformat(d) for d in days.split(",") if d),
        )

    def note(self, page: ListingPage[Any], *, days: Iterable[date]) -> None:
        """Remember a parsed answer and the business days of its documents (order of appearance)."""
        if not page.digest or page.known is not None:
            return
        key = self._key(page.digest)
        self._pending[key] = RegosPage(
            digest=key,
            count=page.count,
            total=page.total,
            next_offset=page.next_offset,
            days=",".join(d.isoformat() for d in days),
        )

    def save(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        keys = sorted(pending)
        stored: set[str] = set()
        for start in range(0, len(keys), IN_CHUNK):
            chunk = keys[start : start + IN_CHUNK]
            stored.update(RegosPage.objects.filter(digest__in=chunk).values_list("digest", flat=True))
        new = [pending[key] for key in keys if key not in stored]
        if not new:
            return
        try:
            RegosPage.objects.bulk_create(new)
        except IntegrityError:
            # Another run stored some of the same answers meanwhile: they are identical by construction.
            for row in new:
                RegosPage.objects.get_or_create(
                    digest=row.digest,
                    defaults={
                        "count": row.count,
                        "total": row.total,
                        "next_offset": row.next_offset,
                        "days": row.days,
                    },
                )
