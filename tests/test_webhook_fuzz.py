"""Fuzzing the webhook receiver: whatever arrives, never a 500 and never a write."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from sync.models import DirtyDay, KeyValue, WebhookEvent

KEY = "fuzz0000regos0000webhook0000key1"
URL = "/regos/webhook/"
FUZZ = hypothesis_settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)
not_a_string = json_scalars.filter(lambda v: not isinstance(v, str)) | st.lists(json_scalars, max_size=3)
not_an_object = json_scalars | st.lists(json_scalars, max_size=3)


def valid_envelope() -> dict:
    return {
        "action": "HandleWebhook",
        "event_id": "evt-fuzz",
        "occurred_at": "2026-11-25T09:21:34Z",
        "connected_integration_id": KEY,
        "data": {"action": "DocChequeClosed", "data": {"uuid": "c-1"}},
    }


def state() -> tuple[int, int, int, list]:
    return (WebhookEvent.objects.count(), DirtyDay.objects.count(), KeyValue.objects.count(),
            sorted(KeyValue.objects.values_list("key", "value")))


@pytest.fixture
def receiver(db, settings, monkeypatch):  # noqa: ANN001
    settings.REGOS_INTEGRATION_KEY = KEY
    settings.REGOS_WEBHOOK_SECRET = ""
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **kw: pytest.fail("nothing may be enqueued"))
    client = Client(raise_request_exception=False)

    def send(body: bytes, content_type: str = "application/json") -> int:
        before = state()
        response = client.post(URL, data=body, content_type=content_type)
        assert response.status_code < 500, response.content[:200]
        assert state() == before
        return response.status_code

    return send


@FUZZ
@given(body=st.binary(max_size=2048))
def test_random_bytes(receiver, body: bytes) -> None:
    assert receiver(body) in (400, 403, 415)


@FUZZ
@given(value=json_values)
def test_random_json_values(receiver, value: object) -> None:
    # Random JSON never carries our key: the best it can reach is 403.
    assert receiver(json.dumps(value).encode()) in (400, 403, 415)


@FUZZ
@given(fields=st.dictionaries(st.sampled_from(list(valid_envelope())), json_values, min_size=1))
def test_random_field_values_with_a_wrong_key(receiver, fields: dict) -> None:
    body = valid_envelope() | fields
    if body.get("connected_integration_id") == KEY:
        body["connected_integration_id"] = "not-the-key"
    assert receiver(json.dumps(body).encode()) in (400, 403)


@FUZZ
@given(
    data=st.data(),
    field=st.sampled_from(["action", "event_id", "occurred_at", "data", "data.action", "data.data", "drop"]),
)
def test_broken_envelopes_with_the_right_key(receiver, data: st.DataObject, field: str) -> None:
    """One field of a genuine envelope broken (wrong type or missing) → 400, nothing written.

    ``occurred_at`` is the exception when absent or null: the arrival time stands in (see
    test_webhook_receiver), so it is only broken with other types here."""
    body = valid_envelope()
    if field == "drop":
        del body[data.draw(st.sampled_from([name for name in body if name != "occurred_at"]))]
    elif field == "occurred_at":
        body[field] = data.draw(not_a_string.filter(lambda value: value is not None))
    elif field == "data":
        body["data"] = data.draw(not_an_object)
    elif field == "data.data":
        body["data"]["data"] = data.draw(not_an_object)
    elif field == "data.action":
        body["data"]["action"] = data.draw(not_a_string)
    else:
        body[field] = data.draw(not_a_string)
    assert receiver(json.dumps(body).encode()) == 400


@FUZZ
@given(text=st.text(max_size=200))
def test_random_content_types(receiver, text: str) -> None:
    content_type = text.strip()
    if content_type.split(";")[0].strip().lower() == "application/json" or not content_type.isprintable():
        return
    assert receiver(json.dumps(valid_envelope()).encode(), content_type=content_type or "text/plain") == 415


@FUZZ
@given(moment=st.datetimes(timezones=st.timezones() | st.none()), n=st.integers(0, 10**9))
def test_any_iso_moment_with_the_right_key_is_200_or_400(db, settings, monkeypatch, moment, n: int) -> None:
    """A genuine envelope with any ISO moment (year 1 … 9999, any zone): stored or refused, never a 500."""
    settings.REGOS_INTEGRATION_KEY = KEY
    settings.REGOS_WEBHOOK_SECRET = ""
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **kw: "task-id")
    body = valid_envelope() | {"event_id": f"moment-{n}-{moment.isoformat()}"[:64],
                               "occurred_at": moment.isoformat()}
    before = WebhookEvent.objects.count()
    response = Client(raise_request_exception=False).post(URL, data=json.dumps(body),
                                                          content_type="application/json")
    assert response.status_code in (200, 400), response.content[:200]
    stored = WebhookEvent.objects.count() - before
    if response.status_code == 400 or response.json().get("duplicate"):
        assert stored == 0
    else:
        assert stored == 1
