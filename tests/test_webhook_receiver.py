"""POST /regos/webhook/: validation, authentication, idempotent inbox, dirty days, coalescing."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.test import Client, RequestFactory

from sync import inbox
from sync.models import DirtyDay, KeyValue, SalesFact, WebhookEvent
from sync.webhooks import MAX_BODY_BYTES, webhook_receive

KEY = "test0000regos0000webhook0000key1"
URL = "/regos/webhook/"


def envelope(**overrides: object) -> dict:
    body = {
        "action": "HandleWebhook",
        "event_id": "6b6b0a3a-9e5e-4d3a-9f6e-0c6e9f8b2a11",
        "occurred_at": "2026-11-25T09:21:34Z",  # 14:21 in Tashkent
        "connected_integration_id": KEY,
        "data": {"action": "DocChequeClosed", "data": {"uuid": "3f6c2a1e-8b7d-4c55-9a0e-1d2f3a4b5c6d"}},
    }
    body.update(overrides)
    return body


def post(client: Client, body: object, *, content_type: str = "application/json", url: str = URL):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(url, data=data, content_type=content_type)


def counts() -> tuple[int, int, int]:
    return WebhookEvent.objects.count(), DirtyDay.objects.count(), KeyValue.objects.count()


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Calls of django-q2's async_task made by the inbox (nothing reaches a broker)."""
    calls: list[tuple] = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **kw: calls.append((a, kw)) or "task-id")
    return calls


@pytest.fixture
def baseline(db) -> tuple[int, int, int]:  # noqa: ANN001
    """Row counts before the test (migrate's post_migrate handler already wrote a KeyValue row)."""
    return counts()


@pytest.fixture
def hook(db, settings, enqueued, django_capture_on_commit_callbacks):  # noqa: ANN001
    settings.REGOS_INTEGRATION_KEY = KEY
    settings.REGOS_WEBHOOK_SECRET = ""
    client = Client()

    def send(body: object, **kwargs: object):
        with django_capture_on_commit_callbacks(execute=True):
            return post(client, body, **kwargs)

    return send


# --- accepted ------------------------------------------------------------------------------------


def test_valid_event_is_stored_and_marks_its_day_dirty(hook, enqueued) -> None:
    response = hook(envelope())
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    event = WebhookEvent.objects.get()
    assert event.event_id == "6b6b0a3a-9e5e-4d3a-9f6e-0c6e9f8b2a11"
    assert event.action == "DocChequeClosed"
    assert event.source == "webhook"
    assert event.document_id == "3f6c2a1e-8b7d-4c55-9a0e-1d2f3a4b5c6d"
    assert event.business_date == date(2026, 11, 25)
    assert event.status == WebhookEvent.Status.RECEIVED
    assert event.occurred_at == datetime(2026, 11, 25, 9, 21, 34, tzinfo=UTC)
    # The stored payload never holds the integration key.
    assert KEY not in json.dumps(event.payload)
    assert event.payload["data"]["data"]["uuid"] == "3f6c2a1e-8b7d-4c55-9a0e-1d2f3a4b5c6d"
    day = DirtyDay.objects.get()
    assert (day.date, day.events) == (date(2026, 11, 25), 1)
    assert [call[0][0] for call in enqueued] == ["sync.jobs.dirty_days_resync"]


def test_tashkent_day_is_used_for_an_event_after_local_midnight(hook) -> None:
    # 19:30 UTC on the 25th is 00:30 on the 26th in Tashkent.
    hook(envelope(occurred_at="2026-11-25T19:30:00Z"))
    assert DirtyDay.objects.get().date == date(2026, 11, 26)
    # Text without an offset is UTC (as REGOS documents it); an explicit offset is honoured.
    hook(envelope(event_id="e-2", occurred_at="2026-11-20T18:59:59"))
    hook(envelope(event_id="e-3", occurred_at="2026-11-22T00:10:00+05:00"))
    assert set(DirtyDay.objects.values_list("date", flat=True)) == {
        date(2026, 11, 26), date(2026, 11, 20), date(2026, 11, 22)}


def test_duplicate_event_id_is_acknowledged_and_changes_nothing(hook, enqueued) -> None:
    assert hook(envelope()).status_code == 200
    before = (counts(), list(DirtyDay.objects.values_list("date", "events")), len(enqueued))
    response = hook(envelope())
    assert response.status_code == 200
    assert response.json() == {"ok": True, "duplicate": True}
    assert (counts(), list(DirtyDay.objects.values_list("date", "events")), len(enqueued)) == before
    assert WebhookEvent.objects.count() == 1


def test_a_burst_of_500_events_for_one_day_enqueues_one_resync(hook, enqueued) -> None:
    for n in range(500):
        data = {"action": "DocChequeClosed", "data": {"uuid": f"c-{n}"}}
        body = envelope(event_id=f"burst-{n:04d}", data=data)
        assert hook(body).status_code == 200
    assert WebhookEvent.objects.count() == 500
    day = DirtyDay.objects.get()
    assert (day.date, day.events) == (date(2026, 11, 25), 500)
    assert len(enqueued) == 1


def test_a_stale_pending_flag_is_taken_over(hook, enqueued) -> None:
    # A task lost by the queue must not block re-syncs forever.
    KeyValue.objects.create(key=inbox.PENDING_KEY, value="2026-01-01T00:00:00.000000Z")
    hook(envelope())
    assert len(enqueued) == 1
    hook(envelope(event_id="second"))
    assert len(enqueued) == 1


def test_event_for_a_counted_document_marks_the_documents_day(hook) -> None:
    SalesFact.objects.create(
        source_kind=SalesFact.Kind.WHOLESALE, regos_id="5601", business_date=date(2026, 11, 3),
        occurred_at=datetime(2026, 11, 3, 10, tzinfo=UTC), stock_id=3, sale_type="wholesale",
        amount=Decimal("12450000.00"), doc_amount=Decimal("12450000.00"), status="Performed",
    )
    body = envelope(data={"action": "DocWholeSalePerformCanceled", "data": {"id": 5601}})
    assert hook(body).status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.document_id, event.business_date, event.status) == ("5601", date(2026, 11, 3), "received")
    assert DirtyDay.objects.get().date == date(2026, 11, 3)


@pytest.mark.parametrize("action", ["DocChequeCanceled", "DocWholeSaleDeleted", "DocWholeSaleDeleteMarked",
                                    "DocWholeSaleReturnPerformCanceled", "DocWholeSaleEdited"])
def test_removing_an_unknown_document_changes_nothing(hook, enqueued, action: str) -> None:
    data = {"uuid": "never-seen"} if action.startswith("DocCheque") else {"id": 999}
    assert hook(envelope(data={"action": action, "data": data})).status_code == 200
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.IGNORED
    assert event.business_date is None
    assert not DirtyDay.objects.exists()
    assert enqueued == []


@pytest.mark.parametrize(("action", "data", "doc"), [
    ("DocWholeSalePerformed", {"id": 77}, "77"),
    ("DocWholeSalePerformed", {"id": "78"}, "78"),
    ("DocWholeSaleReturnPerformed", {"id": 79}, "79"),
    ("DocChequeClosed", {"id": 80}, ""),  # a cheque event must carry a uuid: the day is re-synced anyway
])
def test_new_documents_mark_the_event_day(hook, action: str, data: dict, doc: str) -> None:
    assert hook(envelope(data={"action": action, "data": data})).status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.document_id, event.business_date, event.status) == (doc, date(2026, 11, 25), "received")
    assert DirtyDay.objects.get().date == date(2026, 11, 25)


@pytest.mark.parametrize("action", ["DocSessionOpened", "PartnerAdded", "DocWholeSaleAdded", "x"])
def test_other_actions_are_acknowledged_and_ignored(hook, enqueued, action: str) -> None:
    assert hook(envelope(data={"action": action, "data": {"id": 1}})).status_code == 200
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.IGNORED
    assert not DirtyDay.objects.exists()
    assert enqueued == []


def test_odd_payload_keys_are_stored_safely(hook) -> None:
    # MongoDB refuses "$"/"." keys and >64-bit integers; the audit copy is made storable.
    data = {"uuid": "c-1", "$where": 1, "a.b": {"n": 2**70}, "f": 1.5}
    assert hook(envelope(data={"action": "DocChequeClosed", "data": data})).status_code == 200
    stored = WebhookEvent.objects.get().payload["data"]["data"]
    assert stored == {"uuid": "c-1", "_where": 1, "a_b": {"n": str(2**70)}, "f": 1.5}


def test_content_type_with_charset_is_accepted(hook) -> None:
    assert hook(envelope(), content_type="application/json; charset=utf-8").status_code == 200


# --- rejected: nothing is written ----------------------------------------------------------------


def test_wrong_key_is_403_and_writes_nothing(baseline, hook, enqueued) -> None:
    response = hook(envelope(connected_integration_id="someone0else0key0000000000000000"))
    assert response.status_code == 403
    assert "someone0else" not in response.content.decode()
    assert counts() == baseline
    assert enqueued == []


def test_without_a_configured_key_every_delivery_is_403(baseline, hook, settings) -> None:
    settings.REGOS_INTEGRATION_KEY = ""
    assert hook(envelope(connected_integration_id="")).status_code == 400  # empty is not a valid id
    assert hook(envelope()).status_code == 403
    assert counts() == baseline


def test_wrong_content_type_is_415(baseline, hook) -> None:
    assert hook(json.dumps(envelope()), content_type="text/plain").status_code == 415
    assert hook(json.dumps(envelope()), content_type="application/x-www-form-urlencoded").status_code == 415
    assert counts() == baseline


def test_oversize_body_is_413(baseline, hook) -> None:
    body = envelope(data={"action": "DocChequeClosed", "data": {"uuid": "c-1", "pad": "x" * MAX_BODY_BYTES}})
    response = hook(body)
    assert response.status_code == 413
    assert counts() == baseline


def test_oversize_body_is_413_even_if_content_length_lies(baseline, db, settings) -> None:
    settings.REGOS_INTEGRATION_KEY = KEY
    big = json.dumps(envelope(data={"action": "x", "data": {"pad": "x" * MAX_BODY_BYTES}})).encode()
    request = RequestFactory().post(URL, data=b"{}", content_type="application/json")
    request._stream = io.BytesIO(big)  # a body longer than the declared Content-Length of 2
    assert webhook_receive(request).status_code == 413
    assert counts() == baseline


@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "body is not valid JSON"),
    (b" ", "body is not valid JSON"),
    (b"\xff\xfe{}", "body is not UTF-8"),
    (b"[1, 2]", "body must be a JSON object"),
    (b'"text"', "body must be a JSON object"),
    (b'{"event_id": NaN}', "body is not valid JSON"),
    (b'{"n": 1e999}', "body is not valid JSON"),
    (b"[" * 5000 + b"]" * 5000, None),
])
def test_malformed_json_is_400(baseline, hook, body: bytes, reason: str | None) -> None:
    response = hook(body)
    assert response.status_code == 400
    assert response.json()["ok"] is False
    if reason:
        assert response.json()["error"] == reason
    assert counts() == baseline


@pytest.mark.parametrize("field", ["action", "event_id", "connected_integration_id", "data"])
def test_missing_fields_are_400(baseline, hook, field: str) -> None:
    body = envelope()
    del body[field]
    response = hook(body)
    assert response.status_code == 400
    assert response.json()["error"] == f"missing field: {field}"
    assert counts() == baseline


@pytest.mark.parametrize("occurred_at", [None, "absent"])
def test_envelope_without_occurred_at_uses_the_arrival_time(baseline, hook, occurred_at: str | None) -> None:
    # Some senders omit occurred_at (the vendor's schema makes it nullable): the event is kept and its
    # day is the Tashkent day it arrived on — 2026-11-25 14:00 UTC is 19:00 in Tashkent, the same day.
    body = envelope()
    if occurred_at == "absent":
        del body["occurred_at"]
    else:
        body["occurred_at"] = None
    arrived = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    with time_machine.travel(arrived, tick=False):
        response = hook(body)
    assert response.status_code == 200
    event = WebhookEvent.objects.get(event_id=body["event_id"])
    assert event.occurred_at == arrived
    assert event.business_date == date(2026, 11, 25)


@pytest.mark.parametrize("overrides", [
    {"event_id": 12345},
    {"event_id": ""},
    {"event_id": "x" * 65},
    {"event_id": "bad\x00id"},
    {"occurred_at": 1754290512},
    {"occurred_at": "yesterday"},
    {"occurred_at": "1754290512"},
    {"occurred_at": "2026-13-45T99:00:00Z"},
    {"occurred_at": "9999-12-31T23:59:59Z"},
    {"occurred_at": "0001-01-01T00:00:00+05:00"},
    {"connected_integration_id": 42},
    {"action": ["HandleWebhook"]},
    {"data": "DocChequeClosed"},
    {"data": {"action": "DocChequeClosed"}},
    {"data": {"data": {"uuid": "c"}}},
    {"data": {"action": 7, "data": {}}},
    {"data": {"action": "DocChequeClosed", "data": ["c-1"]}},
])
def test_wrong_types_are_400(baseline, hook, overrides: dict) -> None:
    response = hook(envelope(**overrides))
    assert response.status_code == 400
    assert response.json()["error"].startswith(("invalid field", "missing field"))
    assert counts() == baseline


def test_only_post_is_allowed(baseline, hook, client: Client) -> None:
    assert client.get(URL).status_code == 405
    assert client.put(URL, data=json.dumps(envelope()), content_type="application/json").status_code == 405
    assert counts() == baseline


def test_no_csrf_token_is_needed(hook, settings) -> None:
    client = Client(enforce_csrf_checks=True)
    assert post(client, envelope()).status_code == 200


# --- the URL secret ------------------------------------------------------------------------------


def test_with_a_secret_only_the_secret_path_answers(baseline, hook, settings) -> None:
    settings.REGOS_WEBHOOK_SECRET = "s3cr3t-path-token"  # noqa: S105 — a test value
    assert hook(envelope()).status_code == 404
    assert hook(envelope(), url="/regos/webhook/wrong-token/").status_code == 404
    assert counts() == baseline
    assert hook(envelope(), url="/regos/webhook/s3cr3t-path-token/").status_code == 200
    assert WebhookEvent.objects.count() == 1


def test_without_a_secret_the_secret_path_is_404(baseline, hook) -> None:
    assert hook(envelope(), url="/regos/webhook/anything/").status_code == 404
    assert counts() == baseline


def test_a_broken_queue_does_not_fail_the_delivery(hook, monkeypatch) -> None:
    def broken(*args: object, **kwargs: object) -> str:
        raise ConnectionError("broker down")

    monkeypatch.setattr("django_q.tasks.async_task", broken)
    assert hook(envelope()).status_code == 200
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.RECEIVED
    assert DirtyDay.objects.exists()
    assert KeyValue.objects.get(key=inbox.PENDING_KEY).value == ""  # the next event tries again
