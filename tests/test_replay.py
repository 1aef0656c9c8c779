"""Event/Get replay: events missed while the receiver was down become inbox rows and dirty days."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from sync import inbox, jobs, services
from sync.models import DirtyDay, KeyValue, SyncRun, WebhookEvent
from sync.regos.models import EventPage, RegosEvent
from tests.sync_data import (
    D1,
    D2,
    E_AZIZ,
    GIJ,
    NAV,
    RULES_HISTORY,
    Z,
    d,
    history_table,
    map_cast,
    rules_dataset,
)

REPO = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.usefixtures("pinned_today")


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    calls: list[tuple] = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **kw: calls.append((a, kw)) or "task-id")
    return calls


@pytest.fixture
def synced(db, regos_server, navoiy, gijduvon, aziz, dilnoza, bobur):  # noqa: ANN001
    """Synced once while webhooks were working; then the receiver goes down (no webhook_url)."""
    map_cast(navoiy=navoiy, gijduvon=gijduvon, aziz=aziz, dilnoza=dilnoza, bobur=bobur)
    ds = rules_dataset()
    server = regos_server(ds)  # no webhook_url: nothing is delivered
    assert services.sync_range(date_from=D1, date_to=D2).status == SyncRun.Status.SUCCEEDED
    return server, ds


def test_replay_recovers_events_missed_while_the_receiver_was_down(
    synced, enqueued, django_capture_on_commit_callbacks,
) -> None:
    server, ds = synced
    ds.cancel_cheque("c-01")  # D1 Navoiy, Aziz, 185000.00
    ds.perform_cancel_wholesale(5605)  # D2 G'ijduvon, Bobur, 1500000.00
    ds.record_event("DocSessionOpened", {"uuid": "s-x"})  # not a sales event
    assert not WebhookEvent.objects.exists()

    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("regos_replay_events", stdout=out)
    assert "3 event(s) in 1 page(s): 3 new, 0 duplicate(s)" in out.getvalue()
    rows = {e.action: e for e in WebhookEvent.objects.all()}
    assert set(rows) == {"DocChequeCanceled", "DocWholeSalePerformCanceled", "DocSessionOpened"}
    assert {e.source for e in rows.values()} == {"replay"}
    assert (rows["DocChequeCanceled"].business_date, rows["DocChequeCanceled"].status) == (D1, "received")
    assert rows["DocWholeSalePerformCanceled"].business_date == D2
    assert rows["DocSessionOpened"].status == "ignored"
    assert sorted(DirtyDay.objects.values_list("date", flat=True)) == [D1, D2]
    assert KeyValue.objects.get(key=inbox.CURSOR_KEY).value == ds.events[-1]["event_id"]
    assert len(enqueued) == 1

    # A second replay starts after the cursor: nothing new.
    out = io.StringIO()
    call_command("regos_replay_events", stdout=out)
    assert "0 event(s)" in out.getvalue()
    assert WebhookEvent.objects.count() == 3

    jobs.dirty_days_resync()
    expected = dict(RULES_HISTORY)
    # D1 Navoiy/Aziz by hand: c-06 10000.00 − c-03 15000.00 + 5602 2000000.00 = 1995000.00.
    expected[(D1, NAV, E_AZIZ)] = (d("10000.00"), d("15000.00"), d("2000000.00"), Z, d("1995000.00"), 1)
    del expected[(D2, GIJ, "Rahimov Bobur")]
    assert history_table() == expected
    # D1 and D2 are contiguous: one run.
    assert list(SyncRun.objects.filter(trigger="webhook").values_list("date_from", "date_to")) == [(D1, D2)]


def test_replay_pages_with_the_cursor_and_ignores_duplicates(synced, enqueued) -> None:
    server, ds = synced
    for uuid in ("c-01", "c-02", "c-06"):
        ds.cancel_cheque(uuid)
    # One of them already arrived by webhook before the receiver went down.
    first = ds.events[0]
    inbox.inbox_record(event_id=first["event_id"], action=first["action"],
                       occurred_at=datetime.fromisoformat(first["occurred_at"]), data=first["data"])
    result = inbox.inbox_replay(limit=1)
    assert (result.pages, result.events, result.stored, result.duplicates) == (3, 3, 2, 1)
    assert WebhookEvent.objects.count() == 3
    assert KeyValue.objects.get(key=inbox.CURSOR_KEY).value == ds.events[-1]["event_id"]


def test_replay_from_a_given_moment(synced, enqueued) -> None:
    server, ds = synced
    old = datetime.now(tz=UTC) - timedelta(days=2)
    ds.record_event("DocChequeCanceled", {"uuid": "c-01"}, at=old)
    ds.cancel_cheque("c-02")
    result = inbox.inbox_replay(from_date=timezone.now() - timedelta(hours=1))
    assert (result.events, result.stored) == (1, 1)
    assert WebhookEvent.objects.get().document_id == "c-02"
    out = io.StringIO()
    call_command("regos_replay_events", "--from", (old - timedelta(minutes=1)).isoformat(), stdout=out)
    assert "2 event(s) in 1 page(s): 1 new, 1 duplicate(s)" in out.getvalue()


def test_an_expired_cursor_restarts_at_the_lookback_window(synced, enqueued) -> None:
    server, ds = synced
    KeyValue.objects.create(key=inbox.CURSOR_KEY, value="no-longer-known-to-regos")
    ds.cancel_cheque("c-01")
    result = inbox.inbox_replay()
    assert (result.events, result.stored) == (1, 1)
    assert KeyValue.objects.get(key=inbox.CURSOR_KEY).value == ds.events[-1]["event_id"]


def test_bad_from_is_one_clear_error(db) -> None:
    with pytest.raises(CommandError, match=r"Invalid --from 'yesterday': expected an ISO date"):
        call_command("regos_replay_events", "--from", "yesterday")
    with pytest.raises(CommandError, match="in the future"):
        call_command("regos_replay_events", "--from", "2999-01-01")


def test_bad_from_exits_non_zero_with_one_line(test_database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGOS_")}
    proc = subprocess.run([sys.executable, "manage.py", "regos_replay_events", "--from", "26/11/2026"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Invalid --from '26/11/2026'" in lines[0]


def test_a_regos_error_is_one_line_without_the_key(synced, settings) -> None:
    server, ds = synced
    settings.REGOS_INTEGRATION_KEY = "wrong0key0000000000000000000000x"
    with pytest.raises(CommandError) as caught:
        call_command("regos_replay_events")
    assert "Event/Get failed" in str(caught.value)
    assert "wrong0key" not in str(caught.value) and server.key not in str(caught.value)


# --- the loop itself, with a scripted client ------------------------------------------------------


class ScriptedClient:
    def __init__(self, pages: list[EventPage]) -> None:
        self.pages, self.calls = pages, []

    def get_events(self, **kwargs):  # type: ignore[no-untyped-def]
        self.calls.append(kwargs)
        return self.pages.pop(0)


def event(n: int) -> RegosEvent:
    return RegosEvent(event_id=f"e-{n}", occurred_at=datetime(2026, 11, 25, 9, tzinfo=UTC),
                      action="DocChequeClosed", data={"uuid": f"c-{n}"})


def test_loop_follows_next_event_id_while_has_more(db, enqueued) -> None:
    client = ScriptedClient([
        EventPage(events=[event(1), event(2)], next_event_id="e-2", has_more=True),
        EventPage(events=[event(3)], next_event_id="e-3", has_more=False),
    ])
    result = inbox.inbox_replay(client=client, from_date=datetime(2026, 11, 24, tzinfo=UTC))
    assert result.stored == 3
    assert client.calls[0]["from_date"] == datetime(2026, 11, 24, tzinfo=UTC)
    assert client.calls[1]["last_event_id"] == "e-2"
    assert KeyValue.objects.get(key=inbox.CURSOR_KEY).value == "e-3"


def test_loop_stops_when_the_cursor_does_not_move(db, enqueued) -> None:
    stuck = EventPage(events=[], next_event_id="e-9", has_more=True)
    client = ScriptedClient([EventPage(events=[event(1)], next_event_id="e-9", has_more=True), stuck, stuck])
    result = inbox.inbox_replay(client=client)
    assert result.pages == 2


def test_replayed_events_with_an_unusable_id_are_skipped(db, enqueued) -> None:
    bad = RegosEvent(event_id="x" * 80, occurred_at=datetime(2026, 11, 25, tzinfo=UTC),
                     action="DocChequeClosed")
    client = ScriptedClient([EventPage(events=[bad, event(1)], next_event_id="e-1", has_more=False)])
    result = inbox.inbox_replay(client=client)
    assert (result.skipped, result.stored) == (1, 1)


def test_event_get_data_wrapped_like_the_webhook_is_unwrapped(db, enqueued) -> None:
    wrapped = RegosEvent(event_id="w-1", occurred_at=datetime(2026, 11, 25, tzinfo=UTC),
                         action="DocChequeClosed",
                         data={"action": "DocChequeClosed", "data": {"uuid": "c-9"}})
    inbox.inbox_replay(client=ScriptedClient([EventPage(events=[wrapped], has_more=False)]))
    assert WebhookEvent.objects.get().document_id == "c-9"


def test_the_daily_job_replays_first_then_syncs_the_window(synced, enqueued,
                                                         django_capture_on_commit_callbacks) -> None:
    server, ds = synced
    # Webhooks were in use (one event arrived), then the receiver went down and c-01 was canceled.
    inbox.inbox_record(event_id="earlier", action="DocSessionOpened",
                       occurred_at=timezone.now() - timedelta(hours=5), data={"uuid": "s-1"})
    ds.cancel_cheque("c-01")
    with django_capture_on_commit_callbacks(execute=True):
        summary = jobs.scheduled_sync()
    assert summary.startswith("replay: 1 event(s)")
    assert WebhookEvent.objects.get(source="replay").document_id == "c-01"
    assert list(DirtyDay.objects.values_list("date", flat=True)) == [D1]  # outside the lookback window
    assert len(enqueued) == 1
    run = SyncRun.objects.get(trigger=SyncRun.Trigger.SCHEDULE)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert (run.date_to - run.date_from).days + 1 == 3  # REGOS_LOOKBACK_DAYS
