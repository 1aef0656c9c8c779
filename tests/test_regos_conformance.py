"""Conformance with the vendor's published REGOS schemas: the regression net for REGOS API changes.

Fixtures in ``tests/fixtures/regos_vendor/`` are written from the vendor's swagger-generated schemas
(``regos-software/py-integrations``, ``schemas/api/**``) and docs.regos.uz; each names its source in
``_source``. They go through the real client (HTTP mocked with ``responses``), the models and the
fact rules; the end-to-end test syncs the hand-worked rules dataset served the way an older REGOS /
the vendor's schema allows (status filter not applied, integer status codes, Default and unknown
statuses, return-reason objects, allowed nulls) and must give the hand-worked table unchanged.
When REGOS publishes a new field, adding it is one fixture.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import responses
import time_machine
from django.test import Client
from django.utils import translation

from sync import services
from sync.engine.documents import cheque_fact, wholesale_fact
from sync.models import SyncRun, WebhookEvent
from sync.regos.emulator import Dataset
from sync.regos.emulator.dataset import CHEQUE, NO_FILTER, RETURN_REASONS, WHOLESALE, Filter
from sync.regos.emulator.protocol import STATUS_CODES
from tests.regos_client_support import KEY, add, make_client, sent
from tests.sync_data import D1, D2, D3, RULES_FACTS, RULES_HISTORY, at, d, facts_keys, history_table, rules_dataset

FIXTURES = Path(__file__).parent / "fixtures" / "regos_vendor"


def fixture(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    assert data["_source"].strip(), f"{name} must name its source"
    return data


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Calls of django-q2's async_task made by the inbox (nothing reaches a broker)."""
    calls: list[tuple] = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **kw: calls.append((a, kw)) or "task-id")
    return calls


def body(data: object) -> str:
    return json.dumps(data, ensure_ascii=False)


# --- client + models ------------------------------------------------------------------------------
@responses.activate
def test_cheque_page_with_every_vendor_shape_parses_and_only_closed_cheques_count() -> None:
    add(responses, "DocCheque/Get", body(fixture("doc_cheque_get.json")["response"]))
    client, _ = make_client()

    (page,) = list(client.iter_cheques(first_day=date(2025, 11, 10), last_day=date(2025, 11, 10)))

    assert [c.status for c in page] == ["Closed", "Closed", "Default", "Closed", "Default", "Canceled"]
    sale, ret = page[0], page[1]
    assert ret.is_return and ret.return_reason is not None and ret.return_reason.name == "Nuqsonli mahsulot"
    assert sale.card is not None and sale.card.bonus_amount == Decimal("1250.50")
    assert (ret.cashier is not None and ret.cashier.full_name) == ""  # full_name null → no name
    rows = [cheque_fact(c, stock_id=1, operating_cash_id=100) for c in page]
    # Counted by hand: Closed sale 185 000.00, Closed return 15 000.00, code 3 = Closed 42 000.50;
    # Default (by name and as code 0) and code 6 = Canceled are not sales.
    counted = [(r.regos_id[-1], r.amount, r.is_return, r.seller_id) for r in rows if r is not None]
    assert counted == [("1", d("185000.00"), False, None), ("2", d("15000.00"), True, 17),
                       ("4", d("42000.50"), False, None)]  # seller {"id": 0} is nobody


@responses.activate
def test_wholesale_with_vendor_nulls_is_valued_by_the_documented_rules() -> None:
    add(responses, "DocWholeSale/Get", body(fixture("doc_wholesale_get.json")["response"]))
    client, _ = make_client()

    (page,) = list(client.iter_wholesales(first_day=date(2025, 11, 10), last_day=date(2025, 11, 10)))

    uzs, usd = page
    assert uzs.stock.firm is not None and uzs.stock.firm.name == "" and uzs.stock.area == Decimal("120.5")
    assert (uzs.deleted_mark, uzs.blocked, uzs.exchange_rate) == (False, False, None)
    assert usd.currency is not None and (usd.currency.code_num, usd.currency.deleted) == (840, False)
    facts = [wholesale_fact(doc) for doc in page]
    # UZS with is_base null and no rate → rate 1; USD 1 000.00 × 12 650.00 (the document's rate,
    # not the currency's 12 800) = 12 650 000.00.
    assert [(f.regos_id, f.currency, f.exchange_rate, f.amount) for f in facts if f] == [
        ("5601", "UZS", Decimal("1.000000"), d("2500000.00")),
        ("5602", "USD", Decimal("12650.000000"), d("12650000.00")),
    ]


@responses.activate
def test_users_with_null_name_and_active() -> None:
    add(responses, "User/Get", body(fixture("user_get.json")["response"]))
    client, _ = make_client()

    users = client.get_users()

    assert [(u.id, u.full_name, u.login, u.active) for u in users] == [
        (17, "", "a.toshmatov", True),  # active null → active; full_name null → no name
        (18, "Saidova Malika", None, False),
    ]
    assert users[1].user_group is not None and users[1].user_group.name == "Sotuvchilar"


@responses.activate
def test_event_get_sends_the_integration_and_accepts_nulls() -> None:
    first, second = fixture("event_get.json")["responses"]
    add(responses, "Event/Get", body(first))
    add(responses, "Event/Get", body(second))
    client, _ = make_client()

    page = client.get_events(limit=50)
    empty = client.get_events(last_event_id="ev-2")

    assert sent(responses)["connected_integration_id"] == KEY
    assert [(e.event_id, e.action) for e in page.events] == [
        ("ev-1", "DocChequeClosed"), ("ev-2", "DocWholeSalePerformed"), (None, None)]
    assert page.events[1].occurred_at is None and page.events[1].data == {}
    assert (page.next_event_id, page.has_more) == (None, False)
    assert (empty.events, empty.has_more) == ([], False)


@pytest.mark.django_db
def test_webhook_without_occurred_at_is_stored_at_its_arrival(settings, enqueued) -> None:  # type: ignore[no-untyped-def]
    settings.REGOS_INTEGRATION_KEY = KEY
    settings.REGOS_WEBHOOK_SECRET = ""
    envelope = fixture("webhook_without_occurred_at.json")["body"] | {"connected_integration_id": KEY}
    arrived = datetime(2025, 11, 10, 20, 30, tzinfo=UTC)  # 01:30 on 11 Nov in Tashkent
    with time_machine.travel(arrived, tick=False):
        response = Client().post("/regos/webhook/", data=body(envelope), content_type="application/json")

    assert response.status_code == 200
    event = WebhookEvent.objects.get(event_id=envelope["event_id"])
    assert (event.occurred_at, event.business_date) == (arrived, date(2025, 11, 11))


# --- end to end -----------------------------------------------------------------------------------
class VendorShapedRegos(Dataset):
    """The rules dataset served as the vendor's schema allows and an older REGOS did: the cheque
    ``status`` filter not applied, statuses as integer codes (0 = Default) except a few by name,
    and nulls in fields the schema marks nullable. The stored data is unchanged, so filters still
    see the real values (a null ``deleted_mark`` is served, ``false`` is matched)."""

    BY_NAME = {"x-default-name", "x-future"}

    def query(self, kind: str, flt: Filter = NO_FILTER, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if kind == CHEQUE:
            flt = dataclasses.replace(flt, status=None)
        return super().query(kind, flt, *args, **kwargs)

    def _public(self, kind: str, doc: dict[str, Any]) -> dict[str, Any]:
        out = super()._public(kind, doc)
        if kind == CHEQUE:
            if out["uuid"] not in self.BY_NAME:
                out["status"] = STATUS_CODES[out["status"]]
            out.update(code=None, agregate_status=None, card=None)
            if out["cashier"] is not None:
                out["cashier"] = {**out["cashier"], "active": None, "user_group": None, "full_name": None}
        elif kind == WHOLESALE or kind == "wholesale_return":
            out.update(blocked=None, current_user_blocked=None, deleted_mark=None)
            out["stock"] = {**out["stock"], "firm": {"id": 1, "name": None}, "deleted_mark": None}
            if out["currency"]["code_chr"] == "UZS":
                out["currency"] = {**out["currency"], "is_base": None, "exchange_rate": None}
                out["exchange_rate"] = None
        return out


def vendor_shaped_rules_dataset() -> VendorShapedRegos:
    ds = VendorShapedRegos()
    plain = rules_dataset()
    # Same references and documents as the rules dataset (copied, not re-typed).
    for store in ("_stocks", "_users", "_cashes", "_sessions", "_cheques", "_wholesales", "_wholesale_returns"):
        setattr(ds, store, {k: dict(v) for k, v in getattr(plain, store).items()})
    ds.usd_rate = plain.usd_rate
    # Return reasons as objects on every return cheque.
    for doc in ds._cheques.values():
        if doc["is_return"]:
            doc["return_reason"] = dict(RETURN_REASONS[1])
    # Cheques that must not count: Default by name and by code 0, and a status REGOS may add later.
    ds.add_cheque(uuid="x-default-name", date=at(D1, 11, 30), session="s-nav-1", amount=d("55555.00"),
                  status="Default", seller_id=17)
    ds.add_cheque(uuid="x-default-code", date=at(D1, 16), session="s-gij-1", amount=d("1234.00"),
                  status="Default", seller_id=17)
    ds.add_cheque(uuid="x-future", date=at(D2, 10), session="s-nav-2", amount=d("8000.00"), seller_id=17)
    ds._cheques["x-future"]["status"] = "Refunded"
    ds._version += 1
    return ds


@pytest.mark.django_db
@pytest.mark.usefixtures("pinned_today", "cast")
def test_sync_over_vendor_shapes_gives_the_same_figures(regos_server) -> None:  # type: ignore[no-untyped-def]
    regos_server(vendor_shaped_rules_dataset())

    run = services.sync_range(date_from=D1, date_to=D3)

    assert run.status == SyncRun.Status.SUCCEEDED, (run.error, run.error_hint)
    # The hand-worked table of the same data without the odd shapes and the extra cheques.
    assert history_table() == RULES_HISTORY
    assert facts_keys() == RULES_FACTS
    assert run.documents_seen == 15
    # Counted by hand: the rules dataset's c-04 (Canceled) and c-05 (Opened), now returned because the
    # status filter is not applied, and the three extra cheques.
    assert run.not_counted == {"Canceled": 1, "Default": 2, "Opened": 1, "Refunded": 1}
    with translation.override("en"):
        assert run.not_counted_lines[0] == "2 cheques with status Default were not counted"
    with translation.override("ru"):
        assert run.not_counted_lines[0] == "2 чека со статусом Default не учтены"
