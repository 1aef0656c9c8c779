"""The emulator speaks the REGOS protocol: envelope, paging, selections, errors, money, batch,
references, line items, rate limit, events and webhooks — all over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import random
import socket
import threading
from datetime import date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from pydantic import TypeAdapter

from payroll.dates import TASHKENT, day_bounds_unix, range_bounds_unix
from sync.regos.emulator import Dataset, FakeRegosServer
from sync.regos.models import (
    ChequeItemOperation,
    DocCashSession,
    DocCheque,
    DocWholeSale,
    DocWholeSaleReturn,
    EventPage,
    OperatingCash,
    Stock,
    User,
    WholeSaleOperation,
)
from tests.fixtures.regos import gateway_post

DAY = date(2026, 8, 4)


def at(hour: int, minute: int = 0, second: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=TASHKENT)


def small_world() -> Dataset:
    ds = Dataset()
    ds.add_stock(1, "Navoiy filiali")
    ds.add_stock(2, "G'ijduvon filiali")
    ds.add_user(5, "Karimova Dilnoza")
    ds.add_user(17, "Toshmatov Aziz")
    ds.add_user(9, "Rahimov Bobur")
    ds.add_operating_cash(100, 1)
    ds.add_operating_cash(200, 2)
    ds.add_session("s-1", 100, at(8, 30), at(23, 59, 59) + timedelta(minutes=5), start_user_id=5)
    ds.add_session("s-2", 200, at(8, 45), None, start_user_id=9)
    return ds


def body(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return json.loads(response.text, parse_float=Decimal)


def ok(response: requests.Response) -> dict[str, Any]:
    envelope = body(response)
    assert envelope["ok"] is True, envelope
    return envelope


def error_code(response: requests.Response) -> int:
    envelope = body(response)
    assert envelope["ok"] is False, envelope
    assert isinstance(envelope["result"]["description"], str) and envelope["result"]["description"]
    return envelope["result"]["error"]


def page_all(http: requests.Session, server: FakeRegosServer, method: str, payload: dict[str, Any],
             limit: int | None = None) -> tuple[list[dict[str, Any]], list[int], set[int]]:
    """All documents, the page sizes and every reported total."""
    docs: list[dict[str, Any]] = []
    sizes: list[int] = []
    totals: set[int] = set()
    offset = 0
    while True:
        request = {**payload, "offset": offset} | ({"limit": limit} if limit is not None else {})
        envelope = ok(gateway_post(http, server, method, request))
        page = envelope["result"]
        assert envelope["next_offset"] == offset + len(page)
        docs += page
        sizes.append(len(page))
        totals.add(envelope["total"])
        offset = envelope["next_offset"]
        if not page or offset >= envelope["total"]:
            return docs, sizes, totals


# --- envelope and paging ------------------------------------------------------------------------------
def test_paging_is_capped_stable_and_complete(regos_server, regos_http):
    ds = small_world()
    rng = random.Random(7)
    uuids = [f"c-{i:05d}" for i in range(2345)]
    rng.shuffle(uuids)  # insertion order must not matter
    start, _ = day_bounds_unix(DAY)
    for i, uuid in enumerate(uuids):
        # Many cheques share a second, so the uuid tie-break is exercised.
        ds.add_cheque(uuid, start + 9 * 3600 + (i % 300), "s-1", Decimal("1000.00"), cashier_id=5)
    server = regos_server(ds, page_cap=1000)
    first, last = day_bounds_unix(DAY)

    docs, sizes, totals = page_all(regos_http, server, "DocCheque/Get",
                                   {"start_date": first, "end_date": last}, limit=5000)

    assert sizes == [1000, 1000, 345]
    assert totals == {2345}
    keys = [(d["date"], d["uuid"]) for d in docs]
    assert keys == sorted(keys)
    assert len(set(keys)) == 2345


def test_default_limit_is_the_page_cap_and_smaller_limits_are_honoured(regos_server, regos_http):
    ds = small_world()
    for i in range(30):
        ds.add_cheque(f"c-{i:02d}", at(10, i), "s-1", Decimal("5000.00"))
    server = regos_server(ds, page_cap=12)
    first, last = day_bounds_unix(DAY)
    period = {"start_date": first, "end_date": last}

    assert len(ok(gateway_post(regos_http, server, "DocCheque/Get", period))["result"]) == 12
    small = ok(gateway_post(regos_http, server, "DocCheque/Get", {**period, "limit": 5, "offset": 28}))
    assert [d["uuid"] for d in small["result"]] == ["c-28", "c-29"]
    assert (small["next_offset"], small["total"]) == (30, 30)
    past = ok(gateway_post(regos_http, server, "DocCheque/Get", {**period, "offset": 40}))
    assert (past["result"], past["next_offset"], past["total"]) == ([], 40, 30)
    for bad in ({"limit": 0}, {"offset": -1}, {"limit": "10"}):
        assert error_code(gateway_post(regos_http, server, "DocCheque/Get", {**period, **bad})) == 1008


@pytest.mark.parametrize(("rule", "expected"), [
    # (offset, limit asked) → next_offset, for 7 cheques and a cap of 3; worked out by hand.
    ("rows", [3, 6, 7, 7]),    # offset + rows on the page
    ("limit", [10, 13, 16, 12]),  # offset + the limit asked (10, capped to 3; the last asks 5)
    ("zero", [3, 6, 0, 0]),    # offset + rows, 0 on the last page (and past the end)
])
def test_the_next_offset_rule_is_configurable(regos_server, regos_http, rule, expected):
    ds = small_world()
    for i in range(7):
        ds.add_cheque(f"c-{i}", at(10, i), "s-1", Decimal("5000.00"))
    server = regos_server(ds, page_cap=3, next_offset=rule)
    first, last = day_bounds_unix(DAY)
    period = {"start_date": first, "end_date": last}

    answers = [ok(gateway_post(regos_http, server, "DocCheque/Get", {**period, "limit": limit, "offset": offset}))
               for offset, limit in ((0, 10), (3, 10), (6, 10), (7, 5))]

    assert [len(a["result"]) for a in answers] == [3, 3, 1, 0]  # capped at 3 whatever the rule
    assert [a["next_offset"] for a in answers] == expected
    assert {a["total"] for a in answers} == {7}


def test_the_paging_knobs_refuse_nonsense(regos_server, regos_http):
    with pytest.raises(ValueError, match="next_offset must be one of rows, limit, zero"):
        FakeRegosServer(Dataset(), next_offset="offset")
    with pytest.raises(ValueError, match="page_cap must be an integer"):
        FakeRegosServer(Dataset(), page_cap=0)


def test_references_are_paged_with_the_same_cap(regos_server, regos_http):
    ds = Dataset()
    for i in range(1, 26):
        ds.add_user(i, f"Foydalanuvchi {i}", active=i != 3)
    server = regos_server(ds, page_cap=10)

    users, sizes, totals = page_all(regos_http, server, "User/Get", {})

    assert sizes == [10, 10, 5] and totals == {25}
    assert [u["id"] for u in users] == list(range(1, 26))
    TypeAdapter(list[User]).validate_python(users)
    inactive = ok(gateway_post(regos_http, server, "User/Get", {"active": False}))
    assert [u["id"] for u in inactive["result"]] == [3]
    picked = ok(gateway_post(regos_http, server, "User/Get", {"ids": [25, 2]}))
    assert [u["id"] for u in picked["result"]] == [2, 25]


# --- DocCheque/Get selections ---------------------------------------------------------------------------
def test_cheque_filters(regos_server, regos_http):
    ds = small_world()
    ds.add_cheque("a", at(10), "s-1", Decimal("100000.00"), "Closed", seller_id=17)
    ds.add_cheque("b", at(11), "s-1", Decimal("2000.00"), "Canceled", seller_id=17)
    ds.add_cheque("c", at(12), "s-1", Decimal("3000.00"), "Closed", is_return=True)
    ds.add_cheque("d", at(13), "s-2", Decimal("4000.00"), "Opened")
    ds.add_cheque("e", at(14), "s-2", Decimal("5000.00"), 3, seller_id=9)
    server = regos_server(ds)
    first, last = day_bounds_unix(DAY)

    def uuids(**extra: Any) -> list[str]:
        payload = {"start_date": first, "end_date": last, **extra}
        return [d["uuid"] for d in ok(gateway_post(regos_http, server, "DocCheque/Get", payload))["result"]]

    assert uuids() == ["a", "b", "c", "d", "e"]
    assert uuids(status="Closed") == ["a", "c", "e"]
    assert uuids(status="closed") == ["a", "c", "e"]
    assert uuids(status=6) == ["b"]
    assert uuids(status="Closed", is_return=False) == ["a", "e"]
    assert uuids(is_return=True) == ["c"]
    assert uuids(seller_ids=[17]) == ["a", "b"]
    assert uuids(seller_ids=[]) == ["a", "b", "c", "d", "e"]  # empty list = not filtered
    assert uuids(cashier_ids=[9]) == ["d", "e"]  # the cashier defaults to the session's user
    unknown = gateway_post(regos_http, server, "DocCheque/Get",
                           {"start_date": first, "end_date": last, "status": "Done"})
    assert error_code(unknown) == 1008
    assert uuids(session_uuid="s-2") == ["d", "e"]


def test_period_is_inclusive_at_both_ends(regos_server, regos_http):
    ds = small_world()
    start, end = day_bounds_unix(DAY)  # 00:00:00 and 23:59:59 Tashkent
    ds.add_cheque("before", start - 1, "s-1", Decimal("1.00"))
    ds.add_cheque("first", start, "s-1", Decimal("2.00"))
    ds.add_cheque("last", end, "s-1", Decimal("3.00"))
    ds.add_cheque("after", end + 1, "s-1", Decimal("4.00"))
    server = regos_server(ds)

    result = ok(gateway_post(regos_http, server, "DocCheque/Get", {"start_date": start, "end_date": end}))

    assert [d["uuid"] for d in result["result"]] == ["first", "last"]


def test_one_month_rule(regos_server, regos_http):
    ds = small_world()
    ds.add_cheque("a", at(10), "s-1", Decimal("1.00"))
    server = regos_server(ds)
    start = day_bounds_unix(DAY)[0]

    def call(payload: dict[str, Any]) -> requests.Response:
        return gateway_post(regos_http, server, "DocCheque/Get", payload)

    assert ok(call({"start_date": start, "end_date": start + 31 * 86400 - 1}))["total"] == 1
    assert error_code(call({"start_date": start, "end_date": start + 31 * 86400})) == 1008
    assert error_code(call({"start_date": start, "end_date": start - 1})) == 1008
    assert error_code(call({})) == 1008
    assert error_code(call({"start_date": start})) == 1008
    # The month rule does not apply to uuids / session selections.
    assert ok(call({"uuids": ["a"], "start_date": start, "end_date": start + 90 * 86400}))["total"] == 1
    assert ok(call({"session_uuid": "s-1"}))["total"] == 1


def test_uuid_selection(regos_server, regos_http):
    ds = small_world()
    for i, hour in enumerate((15, 10, 12, 11)):
        ds.add_cheque(f"u{i}", at(hour), "s-1", Decimal("10.00"), "Canceled" if i == 3 else "Closed")
    server = regos_server(ds)

    def call(payload: dict[str, Any]) -> dict[str, Any]:
        return ok(gateway_post(regos_http, server, "DocCheque/Get", payload))

    result = call({"uuids": ["u0", "u1", "nope", "u3", "u1"]})
    assert [d["uuid"] for d in result["result"]] == ["u1", "u3", "u0"]  # by date, deduplicated
    assert result["total"] == 3
    assert [d["uuid"] for d in call({"uuids": ["u0", "u3"], "status": "Closed"})["result"]] == ["u0"]
    paged = call({"uuids": ["u0", "u1", "u2", "u3"], "limit": 2, "offset": 2})
    assert [d["uuid"] for d in paged["result"]] == ["u2", "u0"] and paged["next_offset"] == 4
    too_many = gateway_post(regos_http, server, "DocCheque/Get", {"uuids": [f"x{i}" for i in range(251)]})
    assert error_code(too_many) == 1008


# --- errors -----------------------------------------------------------------------------------------------
def test_wrong_key_is_1096_and_the_key_can_be_changed_at_run_time(regos_server, regos_http, regos_key):
    server = regos_server(small_world())

    wrong = gateway_post(regos_http, server, "Stock/Get", {}, key="x" * 32)
    assert wrong.status_code == 200 and error_code(wrong) == 1096
    assert ok(gateway_post(regos_http, server, "Stock/Get", {}, key=regos_key))["total"] == 2

    server.key = "revoked0000000000000000000000000"
    assert error_code(gateway_post(regos_http, server, "Stock/Get", {}, key=regos_key)) == 1096
    assert ok(gateway_post(regos_http, server, "Stock/Get", {}))["total"] == 2
    assert server.stats.errors[1096] == 2


def test_method_paths_verbs_and_bodies(regos_server, regos_http, regos_key):
    server = regos_server(small_world())
    base = f"{server.base_url}/{regos_key}/v1"

    assert ok(regos_http.post(f"{base}/stock/get", json={}))["total"] == 2  # case-insensitive
    assert ok(regos_http.post(f"{base}/STOCK/GET", json={}))["total"] == 2
    assert error_code(regos_http.post(f"{base}/Sale/Get", json={})) == 1002
    assert error_code(regos_http.get(f"{base}/Stock/Get")) == 1008
    assert error_code(regos_http.post(f"{base}/Stock/Get", data=b"{not json")) == 1008
    assert error_code(regos_http.post(f"{base}/Stock/Get", json=[1, 2])) == 1008
    assert error_code(regos_http.post(f"{base}/Stock/Get", json={"filters": [{"Field": "id"}]})) == 1008
    assert regos_http.post(f"{server.root_url}/elsewhere", json={}).status_code == 404
    assert server.stats.by_method["Stock/Get"] == 6
    assert server.stats.by_method["Sale/Get"] == 1


def test_keep_alive_reuses_one_connection(regos_server, regos_http):
    server = regos_server(small_world())
    for _ in range(5):
        ok(gateway_post(regos_http, server, "Stock/Get", {}))
    assert server.stats.total == 5
    assert server.stats.connections == 1


# --- money and model shapes ---------------------------------------------------------------------------------
def test_amounts_are_written_exactly(regos_server, regos_http):
    ds = small_world()
    amounts = ["185000.10", "0.01", "99999999999.99", "1000", "12345.678", "100.00"]
    for i, text in enumerate(amounts):
        ds.add_cheque(f"m{i}", at(10, i), "s-1", Decimal(text))
    ds.add_wholesale(5601, at(12), 1, Decimal("1250.50"), "USD", Decimal("12710.55"), attached_user_id=9)
    server = regos_server(ds)
    first, last = day_bounds_unix(DAY)

    raw = gateway_post(regos_http, server, "DocCheque/Get", {"start_date": first, "end_date": last}).text
    for text in amounts:
        assert f'"amount":{text},' in raw
    parsed = [DocCheque.model_validate(d) for d in ok(
        gateway_post(regos_http, server, "DocCheque/Get", {"start_date": first, "end_date": last}))["result"]]
    assert [str(c.amount) for c in parsed] == amounts
    ws_raw = gateway_post(regos_http, server, "DocWholeSale/Get", {}).text
    assert '"amount":1250.50,' in ws_raw and '"exchange_rate":12710.55,' in ws_raw


def test_wholesale_documents(regos_server, regos_http):
    ds = small_world()
    ds.add_wholesale(1, at(10), 1, Decimal("12450000.00"), seller_id=17, attached_user_id=9)
    ds.add_wholesale(2, at(11), 2, Decimal("1250.50"), "USD", Decimal("12650.00"), attached_user_id=5)
    ds.add_wholesale(3, at(12), 1, Decimal("100000.00"), performed=False)
    ds.add_wholesale(4, at(13), 1, Decimal("200000.00"), performed=False, deleted_mark=True)
    ds.add_wholesale_return(7, at(14), 1, Decimal("50000.00"), attached_user_id=9)
    server = regos_server(ds)

    def ids(method: str, **payload: Any) -> list[int]:
        return [d["id"] for d in ok(gateway_post(regos_http, server, method, payload))["result"]]

    assert ids("DocWholeSale/Get") == [1, 2, 3, 4]
    assert ids("DocWholeSale/Get", performed=True, deleted_mark=False) == [1, 2]
    assert ids("DocWholeSale/Get", deleted_mark=True) == [4]
    assert ids("DocWholeSale/Get", stock_ids=[2]) == [2]
    assert ids("DocWholeSale/Get", attached_user_ids=[9, 5]) == [1, 2]
    assert ids("DocWholeSale/Get", ids=[4, 1, 99]) == [1, 4]
    first, last = day_bounds_unix(DAY)
    assert ids("DocWholeSale/Get", start_date=first, end_date=at(11).timestamp().__int__()) == [1, 2]

    docs = ok(gateway_post(regos_http, server, "DocWholeSale/Get", {}))["result"]
    shipments = TypeAdapter(list[DocWholeSale]).validate_python(docs)
    usd = shipments[1]
    assert usd.currency is not None and usd.currency.code_chr == "USD" and not usd.currency.is_base
    assert usd.exchange_rate == Decimal("12650.00")
    assert usd.currency.exchange_rate != usd.exchange_rate  # the currency's rate is today's, not the doc's
    assert usd.stock.name == "G'ijduvon filiali"
    # Nested users are full vendor User objects (schemas/api/rbac/user.py), user_group included.
    seller = docs[0]["seller"]
    assert (seller["id"], seller["full_name"], seller["user_group"]["name"]) == (17, "Toshmatov Aziz", "Sotuvchilar")
    assert seller.keys() >= {"login", "active", "first_name", "last_name", "seller_barcode", "last_update"}
    assert docs[1]["stock"]["firm"]["name"] == '"Baraka Savdo Group" MChJ'
    assert (docs[1]["currency"]["code_num"], docs[1]["currency"]["deleted"]) == (840, False)
    returns = ok(gateway_post(regos_http, server, "DocWholeSaleReturn/Get", {}))["result"]
    assert [r["id"] for r in returns] == [7] and "seller" not in returns[0]
    TypeAdapter(list[DocWholeSaleReturn]).validate_python(returns)

    ds.delete_wholesale(3)
    assert ids("DocWholeSale/Get") == [1, 2, 4]  # deleted documents disappear entirely
    assert ids("DocWholeSale/Get", ids=[3]) == []


def test_wholesale_lifecycle_follows_regos_rules():
    ds = small_world()
    ds.add_wholesale(1, at(10), 1, Decimal("10.00"))
    ds.add_wholesale(2, at(10), 1, Decimal("10.00"), performed=False, deleted_mark=True)
    with pytest.raises(ValueError, match="performed"):
        ds.delete_mark_wholesale(1)
    with pytest.raises(ValueError, match="performed"):
        ds.delete_wholesale(1)
    with pytest.raises(ValueError, match="delete-marked"):
        ds.perform_wholesale(2)
    ds.perform_cancel_wholesale(1)
    ds.delete_mark_wholesale(1)
    ds.delete_wholesale(1)
    assert [e["action"] for e in ds.events] == [
        "DocWholeSalePerformCanceled", "DocWholeSaleDeleteMarked", "DocWholeSaleDeleted"]
    with pytest.raises(KeyError):
        ds.cancel_cheque("missing")


def test_sessions_cashes_and_stocks(regos_server, regos_http):
    ds = small_world()
    ds.add_stock(3, "Eski ombor", deleted_mark=True)
    server = regos_server(ds)

    sessions = ok(gateway_post(regos_http, server, "DocCashSession/Get", {"uuids": ["s-2", "s-1"]}))["result"]
    parsed = TypeAdapter(list[DocCashSession]).validate_python(sessions)
    assert [s.uuid for s in parsed] == ["s-1", "s-2"] and parsed[0].closed and not parsed[1].closed
    assert parsed[1].close_date is None
    first, last = day_bounds_unix(DAY)
    by_cash = ok(gateway_post(regos_http, server, "DocCashSession/Get",
                              {"start_date": first, "end_date": last, "operating_cash_ids": [200]}))
    assert [s["uuid"] for s in by_cash["result"]] == ["s-2"]
    open_only = ok(gateway_post(regos_http, server, "DocCashSession/Get", {"is_close": False}))
    assert [s["uuid"] for s in open_only["result"]] == ["s-2"]

    cashes = ok(gateway_post(regos_http, server, "OperatingCash/Get", {"stock_ids": [2]}))["result"]
    parsed_cashes = TypeAdapter(list[OperatingCash]).validate_python(cashes)
    assert [(c.id, c.stock.id, c.stock.name) for c in parsed_cashes] == [(200, 2, "G'ijduvon filiali")]
    stocks = ok(gateway_post(regos_http, server, "Stock/Get", {"deleted_mark": False}))["result"]
    assert [s.id for s in TypeAdapter(list[Stock]).validate_python(stocks)] == [1, 2]


# --- line items and batch ---------------------------------------------------------------------------------
def test_line_items_sum_exactly_to_the_document_amount(regos_server, regos_http):
    ds = small_world()
    amounts = [Decimal(a) for a in ("185000.10", "999.99", "1000.00", "7.50", "0.00", "4999999.99",
                                    "123456.78", "20000.00", "35000.01")]
    for i, amount in enumerate(amounts):
        ds.add_cheque(f"l{i}", at(10, i), "s-1", amount)
        ds.add_wholesale(100 + i, at(11, i), 1, amount)
    server = regos_server(ds)

    for i, amount in enumerate(amounts):
        lines = ok(gateway_post(regos_http, server, "ChequeItemOperation/Get", {"doc_sale_uuid": f"l{i}"}))
        assert "next_offset" not in lines  # a plain array, not a page
        parsed = TypeAdapter(list[ChequeItemOperation]).validate_python(lines["result"])
        assert sum(op.quantity * op.price for op in parsed) == amount
        assert {op.document for op in parsed} == {f"l{i}"} and {op.stock_id for op in parsed} == {1}
        payments = ok(gateway_post(regos_http, server, "ChequePaymentOperation/Get",
                                   {"doc_sale_uuid": f"l{i}"}))
        assert sum(p["value"] for p in payments["result"]) == amount
        ws = ok(gateway_post(regos_http, server, "WholeSaleOperation/Get", {"document_ids": [100 + i]}))
        ws_lines = TypeAdapter(list[WholeSaleOperation]).validate_python(ws["result"])
        assert sum(op.quantity * op.price for op in ws_lines) == amount and ws["total"] == len(ws_lines)

    legacy = ok(gateway_post(regos_http, server, "DocChequeOperation/Get", {"doc_sale_uuid": "l0"}))
    assert legacy["result"] == ok(gateway_post(regos_http, server, "ChequeItemOperation/Get",
                                               {"doc_sale_uuid": "l0"}))["result"]
    assert ok(gateway_post(regos_http, server, "ChequeItemOperation/Get", {"doc_sale_uuid": "nope"}))[
        "result"] == []
    two = gateway_post(regos_http, server, "WholeSaleOperation/Get", {"document_ids": [100, 101]})
    assert error_code(two) == 1008


def test_batch_runs_steps_and_counts_each_by_its_path(regos_server, regos_http):
    ds = small_world()
    ds.add_cheque("a", at(10), "s-1", Decimal("1500.00"))
    server = regos_server(ds)
    steps = [
        {"key": "ops_a", "path": "ChequeItemOperation/Get", "payload": {"doc_sale_uuid": "a"}},
        {"key": "stocks", "path": "stock/get", "payload": {"limit": 1}},
        {"key": "bad", "path": "DocCheque/Get", "payload": {}},
        {"key": "after", "path": "User/Get", "payload": {}},
    ]

    result = ok(gateway_post(regos_http, server, "batch", {"requests": steps}))["result"]

    assert [(r["key"], r["status"]) for r in result] == [("ops_a", 200), ("stocks", 200), ("bad", 200),
                                                          ("after", 200)]
    assert result[1]["response"] == {"ok": True, "result": result[1]["response"]["result"],
                                     "next_offset": 1, "total": 2}
    assert result[2]["response"]["ok"] is False and result[2]["response"]["result"]["error"] == 1008
    assert server.stats.total == 1
    assert server.stats.by_method == {"batch": 1, "ChequeItemOperation/Get": 1, "Stock/Get": 1,
                                      "DocCheque/Get": 1, "User/Get": 1}
    stopped = ok(gateway_post(regos_http, server, "batch", {"requests": steps, "stop_on_error": True}))
    assert [r["key"] for r in stopped["result"]] == ["ops_a", "stocks", "bad"]

    too_many = [{"key": f"k{i}", "path": "Stock/Get", "payload": {}} for i in range(51)]
    assert error_code(gateway_post(regos_http, server, "batch", {"requests": too_many})) == 1008
    assert len(ok(gateway_post(regos_http, server, "batch", {"requests": too_many[:50]}))["result"]) == 50
    dup = [steps[1], steps[1]]
    assert error_code(gateway_post(regos_http, server, "batch", {"requests": dup})) == 1008


# --- rate limit --------------------------------------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_rejects_after_the_burst_with_8213(regos_server, regos_http):
    clock = FakeClock()
    server = regos_server(small_world(), rate_per_sec=2, burst=5, clock=clock)

    def call() -> requests.Response:
        return gateway_post(regos_http, server, "Stock/Get", {})

    answers = [body(call())["ok"] for _ in range(7)]
    assert answers == [True] * 5 + [False] * 2
    assert error_code(call()) == 8213
    assert server.stats.rate_limited == 3
    clock.now += 1.0  # two tokens back at 2 /s
    assert [body(call())["ok"] for _ in range(3)] == [True, True, False]
    # A wrong key is refused before the bucket: it costs no token.
    clock.now += 0.5
    assert error_code(gateway_post(regos_http, server, "Stock/Get", {}, key="z" * 32)) == 1096
    assert body(call())["ok"] is True
    # A batch is one request for the limiter, however many steps it has.
    clock.now += 0.5
    steps = [{"key": f"k{i}", "path": "Stock/Get", "payload": {}} for i in range(20)]
    assert ok(gateway_post(regos_http, server, "batch", {"requests": steps}))
    assert error_code(call()) == 8213
    assert len(server.stats.timestamps) == server.stats.total == 15


def test_rate_limit_is_per_key(regos_server, regos_http):
    clock = FakeClock()
    server = regos_server(small_world(), rate_per_sec=1, burst=1, clock=clock)
    assert body(gateway_post(regos_http, server, "Stock/Get", {}))["ok"] is True
    assert error_code(gateway_post(regos_http, server, "Stock/Get", {})) == 8213
    server.key = "another0key0000000000000000000000"
    assert body(gateway_post(regos_http, server, "Stock/Get", {}))["ok"] is True  # a fresh, full bucket


# --- events and webhooks ---------------------------------------------------------------------------------
def test_event_get_pages_with_a_cursor(regos_server, regos_http):
    ds = small_world()
    for i in range(3):
        ds.add_cheque(f"e{i}", at(10, i), "s-1", Decimal("100.00"), "Opened")
    ds.add_wholesale(1, at(10), 1, Decimal("10.00"))
    base = datetime(2026, 8, 4, 12, 0, tzinfo=TASHKENT)
    ds.close_cheque("e0", at=base)
    ds.cancel_cheque("e1", at=base + timedelta(seconds=1))
    ds.perform_cancel_wholesale(1, at=base + timedelta(seconds=2))
    ds.set_cheque_amount("e2", Decimal("150.00"), at=base + timedelta(seconds=3))
    ds.delete_mark_wholesale(1, at=base + timedelta(seconds=4))
    server = regos_server(ds)

    def events(**payload: Any) -> EventPage:
        return EventPage.model_validate(ok(gateway_post(regos_http, server, "Event/Get", payload))["result"])

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = events(limit=2, **({"last_event_id": cursor} if cursor else {}))
        pages += 1
        seen += [e.action for e in page.events]
        cursor = page.next_event_id
        if not page.has_more:
            break
    assert pages == 3
    assert seen == ["DocChequeClosed", "DocChequeCanceled", "DocWholeSalePerformCanceled",
                    "DocChequeClosed", "DocWholeSaleDeleteMarked"]
    assert events(last_event_id=cursor).events == []
    assert events(last_event_id=cursor).next_event_id == cursor

    first = events(limit=1).events[0]
    assert first.data == {"uuid": "e0"} and first.occurred_at == base
    assert [e.data for e in events(actions=["DocWholeSaleDeleteMarked"]).events] == [{"id": 1}]
    late = events(from_date=int(base.timestamp()) + 3)
    assert [e.action for e in late.events] == ["DocChequeClosed", "DocWholeSaleDeleteMarked"]
    assert error_code(gateway_post(regos_http, server, "Event/Get", {"last_event_id": "nope"})) == 1008
    # The mutations are visible through DocCheque/Get too.
    changed = ok(gateway_post(regos_http, server, "DocCheque/Get", {"uuids": ["e0", "e1", "e2"]}))["result"]
    assert [(d["status"], d["amount"]) for d in changed] == [
        ("Closed", Decimal("100.00")), ("Canceled", Decimal("100.00")), ("Opened", Decimal("150.00"))]
    assert changed[0]["last_update"] == int(base.timestamp())


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers["Content-Length"])
        self.server.received.append(json.loads(self.rfile.read(length)))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


@pytest.fixture
def webhook_receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_webhooks_are_delivered_in_the_regos_envelope(regos_server, regos_http, regos_key, webhook_receiver):
    ds = small_world()
    ds.add_cheque("w1", at(10), "s-1", Decimal("100.00"), "Opened")
    ds.add_wholesale(5601, at(10), 1, Decimal("10.00"))
    url = f"http://127.0.0.1:{webhook_receiver.server_address[1]}/regos/webhook"
    server = regos_server(ds, webhook_url=url)

    ds.close_cheque("w1")
    ds.perform_cancel_wholesale(5601)
    assert server.wait_for_webhooks(2)

    received = webhook_receiver.received
    assert [r["data"] for r in received] == [
        {"action": "DocChequeClosed", "data": {"uuid": "w1"}},
        {"action": "DocWholeSalePerformCanceled", "data": {"id": 5601}},
    ]
    for delivery, event in zip(received, ds.events, strict=True):
        assert delivery["action"] == "HandleWebhook"
        assert delivery["connected_integration_id"] == regos_key
        assert delivery["event_id"] == event["event_id"]
        assert delivery["occurred_at"].endswith("Z")
    replay = ok(gateway_post(regos_http, server, "Event/Get", {}))["result"]["events"]
    assert [e["event_id"] for e in replay] == [r["event_id"] for r in received]
    assert [w["status"] for w in server.webhook_log] == [200, 200]


def test_webhook_failures_are_recorded_not_raised(regos_server):
    ds = small_world()
    ds.add_cheque("w1", at(10), "s-1", Decimal("100.00"), "Opened")
    # A port nobody listens on: bind one and close it again.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = regos_server(ds, webhook_url=f"http://127.0.0.1:{port}/hook", sleep=lambda s: None)
    ds.close_cheque("w1")
    assert server.wait_for_webhooks(1)
    assert server.webhook_log[0]["status"] is None and server.webhook_log[0]["attempts"] == 3


# --- control endpoints and lifecycle ------------------------------------------------------------------------
def test_control_endpoints(regos_server, regos_http):
    ds = small_world()
    ds.add_cheque("k1", at(10), "s-1", Decimal("1000.00"))
    server = regos_server(ds)
    root = f"{server.root_url}/_emulator"
    ok(gateway_post(regos_http, server, "Stock/Get", {}))

    stats = regos_http.get(f"{root}/stats").json()
    assert stats["total"] == 1 and stats["by_method"] == {"Stock/Get": 1} and len(stats["timestamps"]) == 1
    assert regos_http.post(f"{root}/reset-stats").json() == {"ok": True}
    assert server.stats.total == 0

    bad = regos_http.post(f"{root}/fault-plan", json={"spec": "1:nonsense"})
    assert bad.status_code == 400 and "nonsense" in bad.json()["error"]
    assert regos_http.post(f"{root}/fault-plan", json={"spec": "1:http503"}).json()["ok"]
    assert gateway_post(regos_http, server, "Stock/Get", {}).status_code == 503
    assert regos_http.post(f"{root}/fault-plan", json={"spec": None}).json()["ok"]

    mutated = regos_http.post(f"{root}/mutate", json={"op": "cancel_cheque", "uuid": "k1"}).json()
    assert mutated["ok"] and mutated["event"]["action"] == "DocChequeCanceled"
    amount = regos_http.post(f"{root}/mutate", json={"op": "set_cheque_amount", "uuid": "k1",
                                                     "amount": "1234.56"}).json()
    assert amount["ok"]
    doc = ok(gateway_post(regos_http, server, "DocCheque/Get", {"uuids": ["k1"]}))["result"][0]
    assert (doc["status"], doc["amount"]) == ("Canceled", Decimal("1234.56"))
    assert regos_http.post(f"{root}/mutate", json={"op": "explode", "uuid": "k1"}).status_code == 400

    counts = regos_http.get(f"{root}/counts", params={"first": DAY.isoformat(), "last": DAY.isoformat()})
    assert counts.json() == {"ok": True, "cheques": 1, "closed_cheques": 0, "sessions": 1, "wholesale": 0,
                             "wholesale_returns": 0}

    assert regos_http.post(f"{root}/key", json={"key": "newkey00000000000000000000000000"}).json()["ok"]
    assert server.key == "newkey00000000000000000000000000"
    assert regos_http.post(f"{root}/rate-limit", json={"rate": 1, "burst": 1}).json()["ok"]
    assert body(gateway_post(regos_http, server, "Stock/Get", {}))["ok"] is True
    assert error_code(gateway_post(regos_http, server, "Stock/Get", {})) == 8213
    assert regos_http.get(f"{root}/health").json() == {"ok": True}

    assert regos_http.post(f"{root}/rate-limit", json={"rate": None, "burst": None}).json()["ok"]
    paging = regos_http.post(f"{root}/paging", json={"page_cap": 2, "next_offset": "zero"}).json()
    assert paging == {"ok": True, "page_cap": 2, "next_offset": "zero"}
    assert (regos_http.get(f"{root}/stats").json()["page_cap"], server.next_offset) == (2, "zero")
    bad_rule = regos_http.post(f"{root}/paging", json={"next_offset": "offset"})
    assert bad_rule.status_code == 400 and "rows, limit, zero" in bad_rule.json()["error"]
    assert regos_http.post(f"{root}/paging", json={"page_cap": 0}).status_code == 400
    assert (server.page_cap, server.next_offset) == (2, "zero")  # a refused change changes nothing


def test_stop_closes_the_port_and_pooled_connections(regos_http):
    server = FakeRegosServer(small_world(), key="k" * 32)
    server.start()
    ok(gateway_post(regos_http, server, "Stock/Get", {}))
    server.stop()
    with pytest.raises(requests.ConnectionError):
        gateway_post(regos_http, server, "Stock/Get", {}, timeout=5)


def test_fixture_points_settings_at_the_server(regos_server, regos_key, settings):
    server = regos_server(small_world(), client_rate_per_sec=3, client_burst=7)
    url = settings.REGOS_BASE_URL
    assert url == server.base_url
    assert url.startswith("http://127.0.0.1:") and url.endswith("/gateway/out")
    assert regos_key == settings.REGOS_INTEGRATION_KEY
    assert (settings.REGOS_RATE_PER_SEC, settings.REGOS_BURST) == (3, 7)
    assert len(regos_key) == 32 and regos_key.isalnum() and regos_key.islower()


def test_counts_of_a_hand_built_dataset():
    ds = small_world()
    ds.add_cheque("a", at(10), "s-1", Decimal("1.00"))
    ds.add_cheque("b", at(11), "s-2", Decimal("1.00"), "Canceled")
    ds.add_cheque("c", at(10, day=DAY + timedelta(days=1)), "s-2", Decimal("1.00"))
    ds.add_wholesale(1, at(10), 1, Decimal("1.00"))
    ds.add_wholesale(2, at(10), 1, Decimal("1.00"), performed=False)
    ds.add_wholesale_return(3, at(10), 1, Decimal("1.00"))
    counts = ds.counts(DAY, DAY)
    assert counts.as_dict() == {"cheques": 2, "closed_cheques": 1, "sessions": 2, "wholesale": 1,
                                "wholesale_returns": 1}
    assert ds.counts(DAY, DAY + timedelta(days=1)).cheques == 3
    start, end = range_bounds_unix(DAY, DAY)
    assert [d["uuid"] for d in ds.iter_docs("cheque", DAY, DAY)] == ["a", "b"]
    assert end - start == 86399


def test_naive_datetimes_and_floats_are_refused():
    ds = small_world()
    with pytest.raises(ValueError, match="naive"):
        ds.add_cheque("n", datetime(2026, 8, 4, 10, 0), "s-1", Decimal("1.00"))
    with pytest.raises(TypeError, match="float"):
        ds.add_cheque("f", at(10), "s-1", 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="already exists"):
        ds.add_stock(1, "Dublikat")
