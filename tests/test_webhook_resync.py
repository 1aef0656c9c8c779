"""Webhook → inbox → dirty day → one re-sync via the REGOS emulator fixes the totals (hand-checked)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_q.conf import Conf

from payroll.dates import today
from sync import inbox, jobs, services
from sync.models import DirtyDay, SalesFact, SyncRun, WebhookEvent
from tests.sync_data import (
    D1,
    D2,
    E_AZIZ,
    E_BOBUR,
    GIJ,
    NAV,
    RULES_HISTORY,
    Z,
    at,
    d,
    history_table,
    map_cast,
    rules_dataset,
)

pytestmark = pytest.mark.usefixtures("pinned_today")


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    calls: list[tuple] = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **kw: calls.append((a, kw)) or "task-id")
    return calls


@pytest.fixture
def synced(db, regos_server, navoiy, gijduvon, aziz, dilnoza, bobur):  # noqa: ANN001
    """The rules dataset behind the emulator, synced once: the hand-worked table is the baseline."""
    map_cast(navoiy=navoiy, gijduvon=gijduvon, aziz=aziz, dilnoza=dilnoza, bobur=bobur)
    ds = rules_dataset()
    server = regos_server(ds)
    run = services.sync_range(date_from=D1, date_to=D2)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert history_table() == RULES_HISTORY
    return server, ds


def deliver(ds, key: str, *, capture) -> dict:  # noqa: ANN001
    """POST the emulator's newest event in the REGOS webhook envelope, as REGOS would."""
    event = ds.events[-1]
    body = {"action": "HandleWebhook", "event_id": event["event_id"], "occurred_at": event["occurred_at"],
            "connected_integration_id": key, "data": {"action": event["action"], "data": event["data"]}}
    with capture(execute=True):
        response = Client().post("/regos/webhook/", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_canceled_cheque_is_removed_by_the_resync(
    synced, enqueued, django_capture_on_commit_callbacks,
) -> None:
    server, ds = synced
    # c-01: 185000.00, D1, Navoiy, seller Aziz — canceled now in REGOS.
    ds.cancel_cheque("c-01")
    deliver(ds, server.key, capture=django_capture_on_commit_callbacks)
    event = WebhookEvent.objects.get()
    assert (event.action, event.document_id, event.business_date, event.status) == (
        "DocChequeCanceled", "c-01", D1, "received")
    assert list(DirtyDay.objects.values_list("date", "events")) == [(D1, 1)]
    assert len(enqueued) == 1
    # Until the task runs the figures are unchanged (nothing is trusted from the webhook body).
    assert history_table()[(D1, NAV, E_AZIZ)] == RULES_HISTORY[(D1, NAV, E_AZIZ)]

    summary = jobs.dirty_days_resync()

    assert "processed" in summary
    expected = dict(RULES_HISTORY)
    # D1 Navoiy/Aziz by hand: sales c-06 10000.00 only (c-01 gone); return c-03 15000.00; shipment
    # 5602 2000000.00. Net 10000 − 15000 + 2000000 = 1995000.00; one sale cheque.
    expected[(D1, NAV, E_AZIZ)] = (d("10000.00"), d("15000.00"), d("2000000.00"), Z, d("1995000.00"), 1)
    assert history_table() == expected
    assert not SalesFact.objects.filter(regos_id="c-01").exists()
    webhook_runs = SyncRun.objects.filter(trigger=SyncRun.Trigger.WEBHOOK)
    assert list(webhook_runs.values_list("date_from", "date_to", "status")) == [(D1, D1, "succeeded")]
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
    assert not DirtyDay.objects.exists()
    # A second task (e.g. a redelivery) finds nothing to do.
    assert jobs.dirty_days_resync() == "no dirty days"
    assert webhook_runs.count() == 1


def test_wholesale_perform_cancel_and_return_delete(
    synced, enqueued, django_capture_on_commit_callbacks,
) -> None:
    server, ds = synced
    # 5605: D2 G'ijduvon shipment 1500000.00 (seller Bobur); 7001: D2 Navoiy return 250000.00 (Aziz).
    ds.perform_cancel_wholesale(5605)
    deliver(ds, server.key, capture=django_capture_on_commit_callbacks)
    ds.perform_cancel_wholesale_return(7001)
    deliver(ds, server.key, capture=django_capture_on_commit_callbacks)
    ds.delete_wholesale_return(7001)
    deliver(ds, server.key, capture=django_capture_on_commit_callbacks)
    assert list(DirtyDay.objects.values_list("date", "events")) == [(D2, 3)]
    assert len(enqueued) == 1  # three events, one pending task
    jobs.dirty_days_resync()
    expected = dict(RULES_HISTORY)
    del expected[(D2, GIJ, E_BOBUR)]  # its only document is no longer performed
    # D2 Navoiy/Aziz by hand: c-09 20000.00 sale, no return any more → net 20000.00.
    expected[(D2, NAV, E_AZIZ)] = (d("20000.00"), Z, Z, Z, d("20000.00"), 1)
    assert history_table() == expected
    assert SyncRun.objects.filter(trigger=SyncRun.Trigger.WEBHOOK).count() == 1
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}


def test_a_burst_of_500_events_for_one_day_is_one_run(
    synced, enqueued, django_capture_on_commit_callbacks,
) -> None:
    server, ds = synced
    for _ in range(500):  # the amount of c-07 (D1, G'ijduvon) edited 500 times
        ds.set_cheque_amount("c-07", d("260000.00"))
        deliver(ds, server.key, capture=django_capture_on_commit_callbacks)
    assert WebhookEvent.objects.filter(status="received").count() == 500
    assert list(DirtyDay.objects.values_list("date", "events")) == [(D1, 500)]
    assert len(enqueued) == 1
    for call in enqueued:  # what the worker would run
        assert call[0] == ("sync.jobs.dirty_days_resync",)
        jobs.dirty_days_resync()
    assert SyncRun.objects.filter(trigger=SyncRun.Trigger.WEBHOOK).count() == 1
    assert WebhookEvent.objects.filter(status="processed").count() == 500
    # D1 G'ijduvon/unassigned by hand: c-07 now 260000.00.
    assert history_table()[(D1, GIJ, "")] == (d("260000.00"), Z, Z, Z, d("260000.00"), 1)


def test_a_cheque_closed_after_midnight_is_counted_on_its_own_day(
    synced, enqueued, django_capture_on_commit_callbacks,
) -> None:
    server, ds = synced
    # Opened at 23:58 on D2, closed at 00:01 on D3: the event's day is D3, the cheque's day D2.
    ds.add_cheque(uuid="c-late", date=at(D2, 23, 58), session="s-nav-2", amount=d("7000.00"), status="Opened",
                  seller_id=17, cashier_id=5)
    ds.close_cheque("c-late", at=at(date(2026, 11, 12), 0, 1))
    deliver(ds, server.key, capture=django_capture_on_commit_callbacks)
    assert WebhookEvent.objects.get().business_date == date(2026, 11, 12)
    summary = jobs.dirty_days_resync()
    assert "2 day(s)" in summary  # the re-fetched real day D2 was added to the dirty D3
    fact = SalesFact.objects.get(regos_id="c-late")
    assert fact.business_date == D2
    # D2 Navoiy/Aziz by hand: c-09 20000.00 + c-late 7000.00 = 27000.00 sales, return 7001 250000.00.
    assert history_table()[(D2, NAV, E_AZIZ)] == (
        d("27000.00"), Z, Z, d("250000.00"), d("-223000.00"), 2)
    assert list(SyncRun.objects.filter(trigger="webhook").values_list("date_from", "date_to")) == [
        (D2, date(2026, 11, 12))]


def test_a_failed_resync_keeps_the_events_for_the_sweep(synced, enqueued, django_capture_on_commit_callbacks,
                                                        settings) -> None:
    server, ds = synced
    ds.cancel_cheque("c-02")
    deliver(ds, server.key, capture=django_capture_on_commit_callbacks)
    settings.REGOS_INTEGRATION_KEY = "wrong0key0000000000000000000000x"  # REGOS will refuse the run
    with pytest.raises(RuntimeError, match="webhook re-sync failed"):
        jobs.dirty_days_resync()
    assert SyncRun.objects.get(trigger="webhook").status == SyncRun.Status.FAILED
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.RECEIVED
    assert history_table() == RULES_HISTORY  # nothing half-applied

    # A quarter of an hour later the sweep (run by the heartbeat) re-marks the day and re-queues.
    settings.REGOS_INTEGRATION_KEY = server.key
    enqueued.clear()
    later = timezone.now() + inbox.SWEEP_AFTER + timedelta(minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert inbox.inbox_sweep(now=later) is True
    assert len(enqueued) == 1
    jobs.dirty_days_resync()
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
    # D1 Navoiy/Dilnoza by hand: c-02 (42000.50) was her only document that day: the row is gone.
    assert (D1, NAV, "Karimova Dilnoza") not in history_table()


def test_joining_an_active_run_leaves_the_events_for_later(synced, enqueued,
                                                          django_capture_on_commit_callbacks) -> None:
    server, ds = synced
    ds.cancel_cheque("c-01")
    deliver(ds, server.key, capture=django_capture_on_commit_callbacks)
    busy, created = services.sync_run_request(date_from=D1, date_to=D2, trigger=SyncRun.Trigger.USER)
    assert created
    result = inbox.inbox_resync_execute()
    assert result.joined == 1 and result.runs[0][2] == str(busy.pk)
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.RECEIVED


@pytest.mark.django_db(transaction=True)
def test_live_delivery_from_the_emulator_with_an_inline_queue(
    regos_server, live_server, navoiy, gijduvon, aziz, dilnoza, bobur, monkeypatch,
) -> None:
    """The emulator POSTs its webhook to a real server; django-q2 runs the task inline (Conf.SYNC)."""
    map_cast(navoiy=navoiy, gijduvon=gijduvon, aziz=aziz, dilnoza=dilnoza, bobur=bobur)
    ds = rules_dataset()
    server = regos_server(ds, webhook_url=f"{live_server.url}/regos/webhook/")
    assert services.sync_range(date_from=D1, date_to=D2).status == SyncRun.Status.SUCCEEDED
    monkeypatch.setattr(Conf, "SYNC", True)

    ds.cancel_cheque("c-01")
    assert server.wait_for_webhooks(1, timeout=60)
    assert server.webhook_log[0]["status"] == 200

    expected = dict(RULES_HISTORY)
    expected[(D1, NAV, E_AZIZ)] = (d("10000.00"), d("15000.00"), d("2000000.00"), Z, d("1995000.00"), 1)
    assert history_table() == expected
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
    assert SyncRun.objects.filter(trigger=SyncRun.Trigger.WEBHOOK, status="succeeded").count() == 1


def test_sweep_does_nothing_when_all_is_processed_or_a_resync_just_ran(
    db, enqueued, django_capture_on_commit_callbacks,
) -> None:
    later = timezone.now() + inbox.SWEEP_AFTER + timedelta(minutes=1)
    assert inbox.inbox_sweep(now=later) is False  # nothing received, nothing dirty
    WebhookEvent.objects.create(event_id="old", action="DocChequeClosed", business_date=D1, status="received")
    inbox.kv_set(inbox.LAST_RESYNC_KEY, inbox.stamp(later - timedelta(minutes=1)))
    assert inbox.inbox_sweep(now=later) is False  # a re-sync started a minute ago: wait for it
    inbox.kv_set(inbox.LAST_RESYNC_KEY, inbox.stamp(later - inbox.SWEEP_AFTER - timedelta(minutes=1)))
    with django_capture_on_commit_callbacks(execute=True):
        assert inbox.inbox_sweep(now=later) is True
    assert list(DirtyDay.objects.values_list("date", flat=True)) == [D1]
    assert len(enqueued) == 1


def test_ranges_are_contiguous_days_and_skip_the_future(settings) -> None:
    settings.REGOS_SYNC_MAX_DAYS = 3
    now = today()
    days = [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 5), date(2026, 11, 6), date(2026, 11, 7),
            date(2026, 11, 8), now + timedelta(days=1)]
    assert inbox._ranges_to_sync(days) == [
        (date(2026, 11, 1), date(2026, 11, 2)),
        (date(2026, 11, 5), date(2026, 11, 7)),
        (date(2026, 11, 8), date(2026, 11, 8)),
    ]
