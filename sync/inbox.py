"""The REGOS event inbox: webhook deliveries and ``Event/Get`` replays → dirty days → one re-sync.

Flow
----
1. ``inbox_record`` stores one event in ``WebhookEvent`` keyed by ``event_id`` (a unique index: a
   second delivery of the same event hits ``IntegrityError`` and is reported as a duplicate; nothing
   else is written for it). It never calls REGOS, so the webhook answers in milliseconds.
2. For the document actions we count (``ACTIONS``) it decides which business day the event can have
   changed, WITHOUT trusting anything but the document id in the payload (REGOS payloads are thin
   ids; amounts are never read from a webhook):

   - the document is already a fact → the fact's ``business_date`` is dirty (whatever happened to
     the document, that day's totals are the ones that may be wrong now);
   - unknown document, "add" action (cheque closed, shipment performed) → the Tashkent date of the
     event's ``occurred_at``. That is a guess: a cheque opened at 23:58 and closed at 00:01 belongs
     to the day before. The re-sync task therefore re-fetches such documents by id and adds their
     real day (``_refetch_days``); if that fails, the daily scheduled sync of the lookback window
     still picks the document up;
   - unknown document, "remove"/"edit" action (cancel, perform-cancel, delete, delete-mark, edit) →
     nothing we count can have changed (we only count what we have a fact for, and a document not
     yet seen will be read fresh by the sync of its day anyway): the event is stored as *ignored*.
   - handled action without a usable document id → the ``occurred_at`` day, to be safe.

   Other actions are stored as *ignored* and logged.
   Only days in the re-sync window are marked: from ``WEBHOOK_MAX_AGE_DAYS`` (62) days before today
   to tomorrow, Asia/Tashkent. An event naming a day outside it (2000-01-01, 2099-…) is stored as
   *ignored* with a note saying so, and costs nothing more: such a day is re-synced with Sync now or
   ``regos_sync``.
3. The day is upserted into ``DirtyDay`` (``events`` incremented with ``F()``) and ONE coalescing
   task ``sync.jobs.dirty_days_resync`` is enqueued: the KeyValue flag ``dirty-resync-pending`` is
   claimed by a conditional update (``value < cutoff`` → now) and only the request that flips it
   enqueues. The flag stays taken while the task is queued AND while it runs, so a sustained flood
   costs one task at a time: 2,000 events → one flag flip → one task, plus at most one follow-up for
   the events that arrived while it ran. A flag not refreshed for ``PENDING_STALE`` counts as free,
   so a task lost by the queue cannot block re-syncs forever (a duplicate task is harmless: it finds
   no dirty days).
4. ``inbox_resync_execute`` (the task) refreshes the flag, claims the dirty days by conditional
   delete (``pk`` + unchanged ``events``: a day re-marked meanwhile stays dirty for the follow-up,
   and two tasks never both take a day), adds the re-fetched real days, and syncs them (trigger
   ``webhook``): one run per contiguous range of days while there are at most
   ``MAX_RUNS_PER_RESYNC`` (3) ranges — a run's cost is dominated by the documents of the days it
   covers, so re-syncing a gap (1 Nov and 25 Nov) costs more than a second run — and ONE run from the
   first to the last day when the days are scattered wider (50 events on 50 days → one run, not 50).
   The window replace of each day makes the totals right. Events of a range whose run succeeded
   become *processed*. Finally the task frees the flag and, if days were marked dirty while it ran,
   requests the one follow-up itself (an event marking a day after that check finds the flag free
   and enqueues it instead).
5. Safety net (``inbox_sweep``, called every minute by the worker heartbeat): events still
   *received* after ``SWEEP_AFTER`` (their run failed, joined another active run that may have read
   the day before the change, or the task was lost) have their days re-marked dirty and a re-sync
   requested — at most once per ``SWEEP_AFTER``, so a REGOS outage means one failing attempt every
   quarter of an hour, not one per minute.

Nothing here uses transactions or row locks for correctness (MongoDB has neither): the unique
``event_id`` and ``DirtyDay.date`` indexes, ``F()`` increments and conditional updates/deletes are.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F
from django.utils import timezone

from payroll.dates import business_date, day_start, lookback_window
from sync.models import DirtyDay, KeyValue, SalesFact, SyncRun, WebhookEvent

logger = logging.getLogger(__name__)

RESYNC_TASK = "sync.jobs.dirty_days_resync"
PENDING_KEY = "dirty-resync-pending"
LAST_RESYNC_KEY = "dirty-resync-last-start"
CURSOR_KEY = "regos-event-cursor"
PENDING_STALE = timedelta(minutes=15)
WEBHOOK_MAX_AGE_DAYS = 62  # oldest business day (before today, Tashkent) an event may mark dirty
MAX_RUNS_PER_RESYNC = 3  # more contiguous ranges than this are re-synced as one run
SWEEP_AFTER = timedelta(minutes=15)
MAX_REFETCH = 1000  # documents re-fetched per task; beyond that the dirty days alone are re-synced
MAX_REPLAY_PAGES = 1000
EVENT_ID_MAX = 64
OCCURRED_MIN = datetime(2000, 1, 1, tzinfo=UTC)
OCCURRED_MAX = datetime(2100, 1, 1, tzinfo=UTC)
ACTION_MAX = 64

Kind = SalesFact.Kind
Source = str  # "webhook" | "replay"


class Effect(StrEnum):
    ADD = "add"  # the document starts to count (closed / performed)
    REMOVE = "remove"  # it stops counting (canceled / perform-canceled / deleted / delete-marked)
    CHANGE = "change"  # it may count differently (edited)


# Event name → (fact kind, effect). Retail events carry ``uuid``, document events ``id``.
ACTIONS: dict[str, tuple[str, Effect]] = {
    "DocChequeClosed": (Kind.CHEQUE, Effect.ADD),
    "DocChequeCanceled": (Kind.CHEQUE, Effect.REMOVE),
    "DocWholeSalePerformed": (Kind.WHOLESALE, Effect.ADD),
    "DocWholeSalePerformCanceled": (Kind.WHOLESALE, Effect.REMOVE),
    "DocWholeSaleDeleted": (Kind.WHOLESALE, Effect.REMOVE),
    "DocWholeSaleDeleteMarked": (Kind.WHOLESALE, Effect.REMOVE),
    "DocWholeSaleEdited": (Kind.WHOLESALE, Effect.CHANGE),
    "DocWholeSaleReturnPerformed": (Kind.WHOLESALE_RETURN, Effect.ADD),
    "DocWholeSaleReturnPerformCanceled": (Kind.WHOLESALE_RETURN, Effect.REMOVE),
    "DocWholeSaleReturnDeleted": (Kind.WHOLESALE_RETURN, Effect.REMOVE),
    "DocWholeSaleReturnDeleteMarked": (Kind.WHOLESALE_RETURN, Effect.REMOVE),
    "DocWholeSaleReturnEdited": (Kind.WHOLESALE_RETURN, Effect.CHANGE),
}
# Actions whose document is re-fetched by the task to learn its real business day.
REFETCH_EFFECTS = (Effect.ADD, Effect.CHANGE)


# --- small helpers ---------------------------------------------------------------------------------


def stamp(moment: datetime) -> str:
    """Fixed-width UTC text, so that KeyValue values compare in time order as strings."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_stamp(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _ensure_key(key: str, default: str = "") -> None:
    if KeyValue.objects.filter(key=key).exists():
        return
    try:
        # The savepoint only keeps a surrounding SQL transaction (tests, ATOMIC blocks) usable after
        # the IntegrityError; correctness rests on the primary key, not on the transaction.
        with transaction.atomic():
            KeyValue.objects.create(key=key, value=default)
    except IntegrityError:
        pass  # created concurrently: fine


def kv_get(key: str) -> str | None:
    return KeyValue.objects.filter(key=key).values_list("value", flat=True).first()


def kv_set(key: str, value: str) -> None:
    if not KeyValue.objects.filter(key=key).update(value=value, updated_at=timezone.now()):
        try:
            with transaction.atomic():
                KeyValue.objects.create(key=key, value=value)
        except IntegrityError:
            KeyValue.objects.filter(key=key).update(value=value, updated_at=timezone.now())


def document_id(kind: str, data: dict[str, Any]) -> str:
    """The document id from a thin payload: ``uuid`` for cheques, ``id`` for wholesale ('' if unusable)."""
    if not isinstance(data, dict):
        return ""
    if kind == Kind.CHEQUE:
        value = data.get("uuid")
        if isinstance(value, str) and 0 < len(value.strip()) <= 64:
            return value.strip()
        return ""
    value = data.get("id")
    if isinstance(value, bool):
        return ""
    if isinstance(value, int) and 0 < value < 2**63:
        return str(value)
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 19:
        return str(int(value.strip()))
    return ""


_INT64 = 2**63


def storable(value: Any) -> Any:
    """A copy of a JSON value that every backend can store: MongoDB refuses keys starting with "$"
    or containing "." or NUL, integers beyond 64 bits and (for us) non-finite floats."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            key = str(key).replace("\x00", "_").replace(".", "_")
            if key.startswith("$"):
                key = "_" + key[1:]
            out[key] = storable(item)
        return out
    if isinstance(value, list):
        return [storable(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


def _storable_payload(payload: dict[str, Any]) -> dict[str, Any]:
    try:
        return storable(payload)
    except RecursionError:
        return {"note": "payload nested too deeply to keep"}


def unwrap_event_data(data: Any) -> dict[str, Any]:
    """Event/Get may hand back the webhook's inner ``{"action", "data"}`` object; return the payload."""
    if isinstance(data, dict) and isinstance(data.get("data"), dict) and isinstance(data.get("action"), str):
        return data["data"]
    return data if isinstance(data, dict) else {}


# --- recording one event ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxResult:
    duplicate: bool
    status: str = ""
    business_date: date | None = None
    enqueued: bool = False
    event_pk: uuid.UUID | None = None


def _affected_day(kind: str, effect: Effect, doc_id: str, occurred_at: datetime) -> tuple[date | None, str]:
    """(business day the event can have changed or None, note for the inbox row)."""
    if not doc_id:
        return business_date(occurred_at), "no usable document id: the event's day is re-synced"
    facts = SalesFact.objects.filter(source_kind=kind, regos_id=doc_id)
    fact_day = facts.values_list("business_date", flat=True).first()
    if fact_day is not None:
        return fact_day, "counted document: its business day is re-synced"
    if effect == Effect.ADD:
        return business_date(occurred_at), "new document: the event's day is re-synced (real day re-fetched)"
    return None, "document not counted: nothing to change"


def inbox_record(
    *, event_id: str, action: str, occurred_at: datetime, data: dict[str, Any], source: Source = "webhook",
    payload: dict[str, Any] | None = None,
) -> InboxResult:
    """Store one REGOS event idempotently and mark the business day it can have changed.

    ``data`` is the thin payload (``{"uuid": ...}`` / ``{"id": ...}``); ``payload`` what is kept for
    the audit trail (never the integration key). Raises ``ValueError`` for an unusable id/action.
    """
    if not isinstance(event_id, str) or not (0 < len(event_id) <= EVENT_ID_MAX):
        raise ValueError("event_id must be 1-64 characters")
    if not isinstance(action, str) or not (0 < len(action) <= ACTION_MAX):
        raise ValueError("action must be 1-64 characters")
    if occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=UTC)
    if not OCCURRED_MIN <= occurred_at <= OCCURRED_MAX:
        raise ValueError("occurred_at out of range")
    if WebhookEvent.objects.filter(event_id=event_id).exists():
        return InboxResult(duplicate=True)

    handled = ACTIONS.get(action)
    day: date | None = None
    doc_id = ""
    if handled is None:
        status, note = WebhookEvent.Status.IGNORED, "action not used for sales"
    else:
        kind, effect = handled
        doc_id = document_id(kind, data)
        day, note = _affected_day(kind, effect, doc_id, occurred_at)
        if day is not None and not _in_resync_window(day):
            note = (f"business day {day} is outside the webhook re-sync window ({WEBHOOK_MAX_AGE_DAYS} days "
                    "back to tomorrow): not re-synced; use Sync now for it")
            day = None
        status = WebhookEvent.Status.RECEIVED if day is not None else WebhookEvent.Status.IGNORED

    try:
        with transaction.atomic():  # savepoint only: see _ensure_key
            event = WebhookEvent.objects.create(
                event_id=event_id, action=action, occurred_at=occurred_at, source=source,
                document_id=doc_id, business_date=day, status=status,
                payload=_storable_payload(payload if payload is not None else {"data": data}),
                note=note[:255],
            )
    except IntegrityError:
        return InboxResult(duplicate=True)

    if status == WebhookEvent.Status.IGNORED:
        logger.info("REGOS event %s (%s, %s) ignored: %s", event_id, action, source, note)
        return InboxResult(duplicate=False, status=status, event_pk=event.pk)

    assert day is not None
    dirty_day_mark(day=day)
    enqueued = dirty_resync_request()
    logger.info("REGOS event %s (%s, %s) marks %s dirty%s", event_id, action, source, day,
                " (re-sync enqueued)" if enqueued else "")
    return InboxResult(duplicate=False, status=status, business_date=day, enqueued=enqueued,
                       event_pk=event.pk)


def _in_resync_window(day: date) -> bool:
    from payroll.dates import today

    now = today()
    return now - timedelta(days=WEBHOOK_MAX_AGE_DAYS) <= day <= now + timedelta(days=1)


def dirty_day_mark(*, day: date, events: int = 1) -> None:
    """Upsert the day into DirtyDay, counting events with F() (no read-modify-write)."""
    now = timezone.now()
    # update() bypasses auto_now, so marked_at is set explicitly.
    if DirtyDay.objects.filter(date=day).update(events=F("events") + events, marked_at=now):
        return
    try:
        with transaction.atomic():  # savepoint only: see _ensure_key
            DirtyDay.objects.create(date=day, events=events)
    except IntegrityError:
        DirtyDay.objects.filter(date=day).update(events=F("events") + events, marked_at=now)


def dirty_resync_request() -> bool:
    """Enqueue the coalescing re-sync task unless one is already pending; True if this call enqueued."""
    _ensure_key(PENDING_KEY)
    now = timezone.now()
    # "" (free) and any stamp older than the cutoff sort before the cutoff: one conditional update
    # claims a free or stale flag, and only one of any number of concurrent callers flips it.
    claimed = KeyValue.objects.filter(key=PENDING_KEY, value__lt=stamp(now - PENDING_STALE)).update(
        value=stamp(now), updated_at=now
    )
    if not claimed:
        return False
    transaction.on_commit(_enqueue_resync)
    return True


def _enqueue_resync() -> None:
    from django_q.tasks import async_task

    try:
        async_task(RESYNC_TASK, q_options={"task_name": "regos-dirty-resync", "group": "regos-dirty-resync"})
    except Exception:
        # The event is stored and its day marked: answer REGOS normally, free the flag so the next
        # event tries again, and leave the rest to the sweep.
        logger.exception("could not enqueue the webhook re-sync")
        KeyValue.objects.filter(key=PENDING_KEY).update(value="", updated_at=timezone.now())


# --- the re-sync task ------------------------------------------------------------------------------


@dataclass
class ResyncResult:
    days: list[date] = field(default_factory=list)
    runs: list[tuple[date, date, str, str]] = field(default_factory=list)  # (from, to, run id, status)
    processed_events: int = 0
    joined: int = 0
    failed: int = 0

    def summary(self) -> str:
        if not self.days:
            return "no dirty days"
        parts = [f"{a}…{b}: {status}" for a, b, _, status in self.runs]
        return f"{len(self.days)} day(s), {self.processed_events} event(s) processed; " + ", ".join(parts)


def dirty_days_claim() -> tuple[list[date], datetime]:
    """Take the dirty days: each row is deleted only if its ``events`` count is still what we read.

    A day re-marked meanwhile keeps its row (and its own enqueued task takes it); two concurrent
    tasks never both take the same row. Returns (days, claim time).
    """
    claimed_at = timezone.now()
    days: list[date] = []
    for pk, day, events in DirtyDay.objects.values_list("id", "date", "events"):
        deleted, _ = DirtyDay.objects.filter(pk=pk, events=events).delete()
        if deleted:
            days.append(day)
    return sorted(days), claimed_at


def contiguous_ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    ordered = sorted(set(days))
    ranges: list[tuple[date, date]] = []
    for day in ordered:
        if ranges and day == ranges[-1][1] + timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def _refetch_days(days: Sequence[date], claimed_at: datetime) -> set[date]:
    """Real business days of the new/edited documents behind the claimed events (best effort)."""
    rows = list(
        WebhookEvent.objects.filter(
            status=WebhookEvent.Status.RECEIVED, business_date__in=list(days), received_at__lte=claimed_at,
            action__in=[name for name, (_, effect) in ACTIONS.items() if effect in REFETCH_EFFECTS],
        ).exclude(document_id="").values_list("action", "document_id")[:MAX_REFETCH]
    )
    if not rows:
        return set()
    wanted: dict[str, set[str]] = {}
    for action, doc_id in rows:
        wanted.setdefault(ACTIONS[action][0], set()).add(doc_id)
    from sync.engine.quarantine import quarantine_upsert, quarantined_from
    from sync.regos.client import RegosClient, RejectedRow
    from sync.regos.errors import RegosError

    found: set[date] = set()
    rejected: dict[str, list[RejectedRow]] = {}
    try:
        with RegosClient.from_settings() as client:
            if wanted.get(Kind.CHEQUE):
                bad = rejected.setdefault(Kind.CHEQUE, [])
                found |= {business_date(d.date) for d in client.get_cheques(sorted(wanted[Kind.CHEQUE]), rejected=bad)}
            if wanted.get(Kind.WHOLESALE):
                ids = sorted(int(i) for i in wanted[Kind.WHOLESALE])
                bad = rejected.setdefault(Kind.WHOLESALE, [])
                found |= {business_date(d.date) for d in client.get_wholesales(ids, rejected=bad)}
            if wanted.get(Kind.WHOLESALE_RETURN):
                ids = sorted(int(i) for i in wanted[Kind.WHOLESALE_RETURN])
                bad = rejected.setdefault(Kind.WHOLESALE_RETURN, [])
                found |= {business_date(d.date) for d in client.get_wholesale_returns(ids, rejected=bad)}
    except RegosError as exc:
        # The dirty days themselves are still re-synced, and the daily sync covers the rest.
        logger.warning("re-fetching %d webhook document(s) failed: %s", len(rows), exc)
    # A document REGOS sends unusable is quarantined, not a failed re-fetch; its day (when its date is
    # readable) is re-synced with the others, and that sync keeps or clears the quarantine.
    for kind, bad_rows in rejected.items():
        for row in bad_rows:
            item = quarantined_from(kind=kind, row=row)
            quarantine_upsert(item=item, run_id=None)
            if item.business_date is not None:
                found.add(item.business_date)
            logger.warning("webhook document %s %s quarantined: %s", kind, item.regos_id, item.reason)
    return found


def _ranges_to_sync(days: Iterable[date]) -> list[tuple[date, date]]:
    """Contiguous ranges of the days (none in the future), each at most REGOS_SYNC_MAX_DAYS long."""
    from payroll.dates import today

    last_allowed = today()
    future = sorted(day for day in days if day > last_allowed)
    if future:
        # An event stamped ahead of our clock: its day cannot be synced yet; the daily sync will.
        logger.warning("webhook re-sync skips future day(s) %s", ", ".join(map(str, future)))
    limit = max(1, int(settings.REGOS_SYNC_MAX_DAYS))
    ranges: list[tuple[date, date]] = []
    spans = contiguous_ranges(day for day in days if day <= last_allowed)
    if len(spans) > MAX_RUNS_PER_RESYNC:
        spans = [(spans[0][0], spans[-1][1])]  # scattered days: one run over all of them
    for first, last in spans:
        while (last - first).days + 1 > limit:
            ranges.append((first, first + timedelta(days=limit - 1)))
            first += timedelta(days=limit)
        ranges.append((first, last))
    return ranges


def _execute_range(first: date, last: date) -> tuple[SyncRun | None, bool]:
    """(run, executed here): a new webhook run executed in this task, or the active run it joined.

    ``(None, False)`` when no run could be requested (e.g. the trigger gate stayed busy): the days
    are marked dirty again for a later task.
    """
    from sync import services

    try:
        run, created = services.sync_run_request(date_from=first, date_to=last,
                                                 trigger=SyncRun.Trigger.WEBHOOK)
    except Exception:
        logger.exception("webhook re-sync %s…%s could not be requested", first, last)
        day = first
        while day <= last:
            dirty_day_mark(day=day, events=0)
            day += timedelta(days=1)
        return None, False
    if not created:
        return run, False
    # sync_run_execute records any failure on the run instead of raising.
    run = services.sync_run_execute(run_id=run.id)
    return run, not run.is_active  # still active: another worker claimed it first (redelivery)


def inbox_resync_execute() -> ResyncResult:
    """The coalescing re-sync of dirty days (body of ``sync.jobs.dirty_days_resync``).

    Raises ``RuntimeError`` after trying every range if a run failed, so django-q2 records the
    failure; the events of failed ranges stay *received* and ``inbox_sweep`` retries them.
    """
    # The flag stays taken while this task runs (refreshed: a long queue wait must not make it look
    # stale), so events arriving meanwhile only mark days; ``_resync_finish`` frees it.
    now = timezone.now()
    _ensure_key(PENDING_KEY)
    KeyValue.objects.filter(key=PENDING_KEY).update(value=stamp(now), updated_at=now)
    kv_set(LAST_RESYNC_KEY, stamp(now))
    try:
        return _resync_dirty_days()
    finally:
        _resync_finish()


def _resync_finish() -> None:
    """Free the flag, then request the one follow-up if events marked days dirty while the task ran.

    Free-then-look is race-free with ``inbox_record``'s mark-then-claim: an event whose mark this
    look misses claims the freed flag itself."""
    KeyValue.objects.filter(key=PENDING_KEY).update(value="", updated_at=timezone.now())
    # events > 0: new events. Days this task put back with no event (a run that could not be
    # requested) are left to the sweep, or a failing REGOS would make the task re-queue itself forever.
    if DirtyDay.objects.filter(events__gt=0).exists():
        dirty_resync_request()


def _resync_dirty_days() -> ResyncResult:
    result = ResyncResult()
    days, claimed_at = dirty_days_claim()
    if not days:
        return result
    # Days the webhooks' documents really belong to (a cheque closed after midnight, an edited date).
    extra = _refetch_days(days, claimed_at)
    result.days = sorted(set(days) | extra)

    for first, last in _ranges_to_sync(result.days):
        run, executed = _execute_range(first, last)
        if run is None:
            result.failed += 1
            result.runs.append((first, last, "", "not started"))
            continue
        result.runs.append((first, last, str(run.pk), run.status))
        if not executed:
            # The active run may have read these days before the change: leave the events
            # "received" so the sweep re-syncs them once that run is over.
            result.joined += 1
            logger.info("webhook re-sync %s…%s joined active run %s", first, last, run.pk)
            continue
        if run.status != SyncRun.Status.SUCCEEDED:
            result.failed += 1
            continue
        result.processed_events += WebhookEvent.objects.filter(
            status=WebhookEvent.Status.RECEIVED, business_date__gte=first, business_date__lte=last,
            received_at__lte=claimed_at,
        ).update(status=WebhookEvent.Status.PROCESSED)
    if result.failed:
        raise RuntimeError(f"webhook re-sync failed for {result.failed} range(s): {result.summary()}")
    return result


def inbox_sweep(*, now: datetime | None = None) -> bool:
    """Re-mark the days of events left *received* too long and request a re-sync (see module doc)."""
    now = now or timezone.now()
    cutoff = now - SWEEP_AFTER
    last = parse_stamp(kv_get(LAST_RESYNC_KEY) or "")
    if last is not None and last > cutoff:
        return False
    stale = list(
        WebhookEvent.objects.filter(status=WebhookEvent.Status.RECEIVED, received_at__lt=cutoff)
        .exclude(business_date=None).values("business_date").annotate(n=Count("id"))
    )
    leftover = DirtyDay.objects.filter(marked_at__lt=cutoff).exists()
    if not stale and not leftover:
        return False
    for row in stale:
        dirty_day_mark(day=row["business_date"], events=0)
    logger.info("inbox sweep: %d stale day(s), leftover dirty days: %s", len(stale), leftover)
    return dirty_resync_request()


# --- replay via Event/Get --------------------------------------------------------------------------


@dataclass
class ReplayResult:
    pages: int = 0
    events: int = 0
    stored: int = 0
    duplicates: int = 0
    skipped: int = 0
    cursor: str | None = None

    def summary(self) -> str:
        return (f"{self.events} event(s) in {self.pages} page(s): {self.stored} new, {self.duplicates} "
                f"duplicate(s), {self.skipped} skipped; cursor {'saved' if self.cursor else 'not set'}")


def events_enabled() -> bool:
    """Webhooks are in use once an event has ever arrived or a replay has stored its cursor."""
    return KeyValue.objects.filter(key=CURSOR_KEY).exclude(value="").exists() or WebhookEvent.objects.exists()


def inbox_replay(*, from_date: datetime | None = None, client: Any = None, limit: int = 1000) -> ReplayResult:
    """Fetch missed events with ``Event/Get`` and store them like webhook deliveries (source "replay").

    Starts after the stored cursor (KeyValue ``regos-event-cursor``), or at ``from_date`` when given,
    or — first time, no cursor — at the start of the lookback window. Follows ``next_event_id``
    while ``has_more``; the cursor is saved after every page, so an interrupted replay resumes. A
    cursor REGOS no longer knows (events are kept only for a while; REGOS answers 1008) is dropped
    and the replay restarts at the start of the lookback window — duplicates are ignored by
    ``event_id``, so re-reading is harmless. Other REGOS errors propagate (``RegosError``).
    """
    from sync.regos.client import RegosClient
    from sync.regos.errors import RegosValidationError

    result = ReplayResult()
    cursor = None if from_date is not None else (kv_get(CURSOR_KEY) or None)
    window_start = day_start(lookback_window(settings.REGOS_LOOKBACK_DAYS)[0])
    if from_date is None and cursor is None:
        from_date = window_start
    own_client = client is None
    client = client or RegosClient.from_settings()
    try:
        while result.pages < MAX_REPLAY_PAGES:
            if cursor is not None:
                try:
                    page = client.get_events(last_event_id=cursor, limit=limit)
                except RegosValidationError:
                    if result.pages:
                        raise  # a cursor REGOS itself just handed us: not an expiry
                    logger.warning("REGOS does not know the stored event cursor any more; "
                                   "replaying from %s", window_start.isoformat())
                    cursor, from_date = None, window_start
                    continue
            else:
                page = client.get_events(from_date=from_date, limit=limit)
            result.pages += 1
            for event in page.events:
                result.events += 1
                try:
                    # Nullable in the vendor's schema: no id/action is refused below (skipped), no
                    # occurred_at is the time it was read.
                    outcome = inbox_record(
                        event_id=event.event_id or "", action=event.action or "",
                        occurred_at=event.occurred_at or datetime.now(UTC),
                        data=unwrap_event_data(event.data), source="replay",
                        payload=event.model_dump(mode="json"),
                    )
                except ValueError as exc:
                    result.skipped += 1
                    logger.warning("replayed event skipped: %s", exc)
                    continue
                if outcome.duplicate:
                    result.duplicates += 1
                else:
                    result.stored += 1
            new_cursor = page.next_event_id or (page.events[-1].event_id if page.events else None)
            if new_cursor and new_cursor != cursor:
                cursor = new_cursor
                kv_set(CURSOR_KEY, cursor)
            elif page.has_more:
                logger.warning("Event/Get says has_more but the cursor did not move; stopping")
                break
            if not page.has_more:
                break
    finally:
        if own_client:
            client.close()
    result.cursor = cursor
    return result
