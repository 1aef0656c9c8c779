"""The generated dataset: deterministic, realistic in hand-checkable ways, lazy at scale, and
served through the same paths as a hand-built one. Expectations are computed here from the raw
documents, never from an emulator-side total."""

from __future__ import annotations

import json
import threading
from array import array
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from pydantic import TypeAdapter

from payroll.dates import TASHKENT, business_date_of_unix, day_bounds_unix, range_bounds_unix
from sync.regos.emulator import generate_dataset
from sync.regos.models import (
    DocCashSession,
    DocCheque,
    DocWholeSale,
    DocWholeSaleReturn,
    OperatingCash,
    Stock,
    User,
)
from tests.fixtures.regos import gateway_post

END = date(2026, 8, 31)


@pytest.fixture(scope="module")
def month():
    """30 days × 200 cheques: the demo's default size."""
    ds = generate_dataset(seed=1, days=30, cheques_per_day=200, end_day=END)
    return ds, list(ds.iter_docs("cheque")), list(ds.iter_docs("wholesale")), list(
        ds.iter_docs("wholesale_return")), {s["uuid"]: s for s in ds.iter_docs("session")}


def local(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, tz=TASHKENT)


# --- determinism --------------------------------------------------------------------------------------
def test_same_seed_same_data_whatever_the_order_days_are_touched():
    a = generate_dataset(seed=7, days=6, cheques_per_day=300, end_day=END)
    b = generate_dataset(seed=7, days=6, cheques_per_day=300, end_day=END)
    # Touch b's days backwards first: generation must not depend on order.
    for offset in range(6):
        list(b.iter_docs("cheque", END - timedelta(days=offset), END - timedelta(days=offset)))
    for kind in ("cheque", "wholesale", "wholesale_return", "session", "user", "stock", "operating_cash"):
        assert list(a.iter_docs(kind)) == list(b.iter_docs(kind)), kind
    c = generate_dataset(seed=8, days=6, cheques_per_day=300, end_day=END)
    assert [d["amount"] for d in a.iter_docs("cheque")] != [d["amount"] for d in c.iter_docs("cheque")]
    assert [u["full_name"] for u in a.iter_docs("user")] != [u["full_name"] for u in c.iter_docs("user")]


# --- realism --------------------------------------------------------------------------------------------
def test_sizes_and_calendar(month):
    ds, cheques, *_ = month
    assert len(cheques) == 30 * 200
    per_day = Counter(business_date_of_unix(c["date"]) for c in cheques)
    assert set(per_day) == {END - timedelta(days=i) for i in range(30)}
    assert set(per_day.values()) == {200}
    keys = [(c["date"], c["uuid"]) for c in cheques]
    assert keys == sorted(keys) and len({c["uuid"] for c in cheques}) == len(cheques)


def test_status_mix_returns_and_sellers(month):
    _, cheques, *_ = month
    n = len(cheques)
    statuses = Counter(c["status"] for c in cheques)
    returns = [c for c in cheques if c["is_return"]]
    assert 0.86 < (statuses["Closed"] - len(returns)) / n < 0.94
    assert 0.02 < statuses["Canceled"] / n < 0.06
    unfinished = (statuses["Default"] + statuses["Opened"] + statuses["Paying"] + statuses["Delayed"]
                  + statuses["DelayedPayment"])
    assert 0.015 < unfinished / n < 0.045
    assert statuses["Opened"] and statuses["Paying"] and statuses["Delayed"] and statuses["Default"]
    assert 0.015 < len(returns) / n < 0.045
    assert {c["status"] for c in returns} == {"Closed"}
    assert any(c["return_reason"] for c in returns)
    no_seller = sum(c["seller"] is None for c in cheques) / n
    assert 0.15 < no_seller < 0.25


def test_amounts_are_uzs_mostly_whole_thousands(month):
    _, cheques, *_ = month
    amounts = [c["amount"] for c in cheques]
    assert all(isinstance(a, Decimal) and a > 0 and a == a.quantize(Decimal("0.01")) for a in amounts)
    whole_thousands = sum(a % 1000 == 0 for a in amounts) / len(amounts)
    with_tiyin = sum(a % 1 != 0 for a in amounts)
    assert 0.8 < whole_thousands < 0.95 and with_tiyin > 0


def test_midnight_edges_and_shifts_across_midnight(month):
    ds, cheques, _, _, sessions = month
    times = Counter(local(c["date"]).time().isoformat() for c in cheques)
    assert times["23:59:59"] >= 1 and times["00:00:00"] >= 1
    small_hours = [c for c in cheques if local(c["date"]).hour < 3]
    assert small_hours
    assert all(local(c["date"]).hour >= 9 or c in small_hours for c in cheques)
    for cheque in cheques:
        session = sessions[cheque["session"]]
        assert session["start_date"] <= cheque["date"]
        assert session["close_date"] is None or cheque["date"] <= session["close_date"]
        assert cheque["cashier"] == session["start_user"]  # the till's user rings the cheque
    # After-midnight cheques belong to the shift opened the day before.
    for cheque in small_hours:
        opened = business_date_of_unix(sessions[cheque["session"]]["start_date"])
        assert opened == business_date_of_unix(cheque["date"]) - timedelta(days=1)
    # The first day holds cheques of a shift opened before the range; the last day's shifts are open.
    first = END - timedelta(days=29)
    assert any(business_date_of_unix(sessions[c["session"]]["start_date"]) < first for c in cheques)
    last_day_sessions = [s for s in sessions.values() if business_date_of_unix(s["start_date"]) == END]
    assert last_day_sessions and all(not s["closed"] and s["close_date"] is None for s in last_day_sessions)
    assert all(s["closed"] for s in sessions.values() if business_date_of_unix(s["start_date"]) < END)


def test_wholesale_mix(month):
    ds, _, shipments, returns, _ = month
    assert len(shipments) == 30 * 4 and len(returns) == 30 * 1
    usd = [d for d in shipments if d["currency"]["code_chr"] == "USD"]
    assert 0.05 < len(usd) / len(shipments) < 0.3
    for doc in usd:
        assert Decimal("12650.00") <= doc["exchange_rate"] < Decimal("12770.00")
        assert doc["exchange_rate"] == doc["exchange_rate"].quantize(Decimal("0.01"))
        assert doc["currency"]["exchange_rate"] == ds.usd_rate and not doc["currency"]["is_base"]
    assert len({d["exchange_rate"] for d in usd}) > 1  # rates move day to day
    uzs = [d for d in shipments if d["currency"]["code_chr"] == "UZS"]
    assert all(d["exchange_rate"] == 1 and d["currency"]["is_base"] for d in uzs)
    assert any(not d["performed"] for d in shipments) and any(d["deleted_mark"] for d in shipments)
    assert all(not d["performed"] for d in shipments + returns if d["deleted_mark"])
    assert sum(d["performed"] for d in shipments) / len(shipments) > 0.75
    assert any(d["seller"] is None for d in shipments) and any(d["seller"] for d in shipments)
    assert all("seller" not in d for d in returns)
    assert len({d["id"] for d in shipments + returns}) == len(shipments) + len(returns)


def test_uzbek_references():
    ds = generate_dataset(seed=3, stocks=20, cashes_per_stock=3, users=40, days=1, cheques_per_day=50,
                          end_day=END)
    names = [s["name"] for s in ds.iter_docs("stock")]
    assert names[:5] == ["Navoiy filiali", "G'ijduvon filiali", "Chilonzor do'koni", "Buxoro markaziy",
                         "Samarqand filiali"]
    assert len(set(names)) == 20 and "Navoiy filiali 2" in names
    users = list(ds.iter_docs("user"))
    assert len({u["full_name"] for u in users}) == 40
    assert all(len(u["full_name"].split()) >= 2 for u in users)
    assert any(u["full_name"].split()[0].endswith(("ova", "eva")) for u in users)
    cashes = list(ds.iter_docs("operating_cash"))
    assert len(cashes) == 60 and cashes[0]["id"] == 101 and cashes[0]["stock"]["name"] == "Navoiy filiali"


def test_counts_match_an_independent_count(month):
    ds, cheques, shipments, returns, _ = month
    for first, last in ((END - timedelta(days=29), END), (END - timedelta(days=3), END - timedelta(days=1))):
        start, end = range_bounds_unix(first, last)
        mine = [c for c in cheques if start <= c["date"] <= end]
        counted = ds.counts(first, last)
        assert counted.cheques == len(mine)
        assert counted.closed_cheques == sum(c["status"] == "Closed" for c in mine)
        assert counted.sessions == len({c["session"] for c in mine})
        assert counted.wholesale == sum(
            d["performed"] and not d["deleted_mark"] for d in shipments if start <= d["date"] <= end)
        assert counted.wholesale_returns == sum(
            d["performed"] and not d["deleted_mark"] for d in returns if start <= d["date"] <= end)


# --- serving ----------------------------------------------------------------------------------------------
def page_all(http: Any, server: Any, method: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    offset = 0
    while True:
        answer = json.loads(gateway_post(http, server, method, {**payload, "offset": offset}).text,
                            parse_float=Decimal)
        assert answer["ok"], answer
        docs += answer["result"]
        offset = answer["next_offset"]
        if offset >= answer["total"]:
            return docs


def test_served_documents_validate_and_match_the_raw_data(month, regos_server, regos_http):
    ds, cheques, shipments, returns, sessions = month
    server = regos_server(ds, page_cap=500)
    first, last = END - timedelta(days=6), END
    start, end = range_bounds_unix(first, last)

    served = page_all(regos_http, server, "DocCheque/Get", {"start_date": start, "end_date": end,
                                                            "status": "Closed"})
    expected = [c for c in cheques if start <= c["date"] <= end and c["status"] == "Closed"]
    assert served == expected
    TypeAdapter(list[DocCheque]).validate_python(served)
    ws = page_all(regos_http, server, "DocWholeSale/Get", {"start_date": start, "end_date": end,
                                                           "performed": True, "deleted_mark": False})
    assert ws == [d for d in shipments
                  if start <= d["date"] <= end and d["performed"] and not d["deleted_mark"]]
    TypeAdapter(list[DocWholeSale]).validate_python(ws)
    wr = page_all(regos_http, server, "DocWholeSaleReturn/Get", {})
    assert wr == returns
    TypeAdapter(list[DocWholeSaleReturn]).validate_python(wr)
    ss = page_all(regos_http, server, "DocCashSession/Get", {"start_date": start, "end_date": end})
    TypeAdapter(list[DocCashSession]).validate_python(ss)
    assert {s["uuid"] for s in ss} == {u for u, s in sessions.items() if start <= s["start_date"] <= end}
    TypeAdapter(list[OperatingCash]).validate_python(page_all(regos_http, server, "OperatingCash/Get", {}))
    TypeAdapter(list[Stock]).validate_python(page_all(regos_http, server, "Stock/Get", {}))
    TypeAdapter(list[User]).validate_python(page_all(regos_http, server, "User/Get", {}))


def test_selections_by_uuid_session_and_id(month, regos_server, regos_http):
    ds, cheques, shipments, _, _ = month
    server = regos_server(ds)
    picked = [cheques[5], cheques[3000], cheques[-1]]
    asked = [c["uuid"].upper() for c in picked] + ["not-a-uuid", "00000000-0000-4001-8000-000000000000"]
    by_uuid = page_all(regos_http, server, "DocCheque/Get", {"uuids": asked})
    assert by_uuid == picked

    # A shift that crosses midnight inside the range (the first day's early shift began before it).
    later = END - timedelta(days=29)
    session = next(c["session"] for c in cheques
                   if local(c["date"]).hour == 0 and business_date_of_unix(c["date"]) > later)
    expected = [c for c in cheques if c["session"] == session]
    assert len({business_date_of_unix(c["date"]) for c in expected}) == 2
    assert page_all(regos_http, server, "DocCheque/Get", {"session_uuid": session}) == expected

    ids = [shipments[0]["id"], shipments[-1]["id"], 12345]
    assert page_all(regos_http, server, "DocWholeSale/Get", {"ids": ids}) == [shipments[0], shipments[-1]]
    lines = json.loads(gateway_post(regos_http, server, "ChequeItemOperation/Get",
                                    {"doc_sale_uuid": picked[1]["uuid"]}).text, parse_float=Decimal)
    assert sum(Decimal(line["quantity"]) * line["price"] for line in lines["result"]) == picked[1]["amount"]


def test_mutations_on_a_generated_dataset_survive_regeneration(regos_server, regos_http):
    ds = generate_dataset(seed=5, days=20, cheques_per_day=100, end_day=END, block_cache=8)
    target = next(c for c in ds.iter_docs("cheque", END - timedelta(days=10), END - timedelta(days=10))
                  if c["status"] == "Closed")
    shipment = next(d for d in ds.iter_docs("wholesale") if d["performed"])
    server = regos_server(ds)

    ds.cancel_cheque(target["uuid"])
    ds.set_cheque_amount(target["uuid"], Decimal("4321.09"))
    ds.perform_cancel_wholesale(shipment["id"])
    ds.delete_wholesale(shipment["id"])
    for kind in ("cheque", "wholesale", "session"):
        list(ds.iter_docs(kind))  # push every block through the small cache: the overlay must survive
    assert ds.cache_info()["generated_blocks"] > 8 + 20

    served = page_all(regos_http, server, "DocCheque/Get", {"uuids": [target["uuid"]]})
    assert (served[0]["status"], served[0]["amount"]) == ("Canceled", Decimal("4321.09"))
    start, end = day_bounds_unix(business_date_of_unix(shipment["date"]))
    day_docs = page_all(regos_http, server, "DocWholeSale/Get", {"start_date": start, "end_date": end})
    assert shipment["id"] not in {d["id"] for d in day_docs}
    assert page_all(regos_http, server, "DocWholeSale/Get", {"ids": [shipment["id"]]}) == []
    assert [e["action"] for e in ds.events] == ["DocChequeCanceled", "DocChequeClosed",
                                                "DocWholeSalePerformCanceled", "DocWholeSaleDeleted"]
    with pytest.raises(TypeError):
        ds.add_cheque("x", END, "s", Decimal(1))
    with pytest.raises(ValueError, match="two decimal places"):
        ds.set_cheque_amount(target["uuid"], Decimal("1.001"))


# --- scale --------------------------------------------------------------------------------------------------
def test_a_million_cheque_month_is_served_lazily(regos_server, regos_http):
    ds = generate_dataset(seed=1, days=30, cheques_per_day=33_334, end_day=END)
    server = regos_server(ds, page_cap=1000)
    start, end = range_bounds_unix(END - timedelta(days=29), END)
    assert ds.cache_info()["generated_blocks"] == 0  # references only, so far

    first_page = json.loads(gateway_post(regos_http, server, "DocCheque/Get",
                                         {"start_date": start, "end_date": end}).text, parse_float=Decimal)
    assert first_page["total"] == 30 * 33_334 == 1_000_020
    assert len(first_page["result"]) == 1000
    # An unfiltered month total needs no generation; rendering the first page built one day.
    assert ds.cache_info()["generated_blocks"] == 1
    assert server.stats.documents == 1000

    # A page deep inside the month touches only its own day.
    deep = json.loads(gateway_post(regos_http, server, "DocCheque/Get",
                                   {"start_date": start, "end_date": end, "offset": 15 * 33_334,
                                    "limit": 1000}).text, parse_float=Decimal)
    assert business_date_of_unix(deep["result"][0]["date"]) == END - timedelta(days=14)
    assert deep["next_offset"] == 15 * 33_334 + 1000
    assert ds.cache_info()["generated_blocks"] == 2

    # Per-day counts come from one day's compact columns, not from documents.
    day = END - timedelta(days=3)
    counted = ds.counts(day, day)
    assert counted.cheques == 33_334 and 0.85 < counted.closed_cheques / 33_334 < 0.97
    assert ds.cache_info()["generated_blocks"] == 5  # + that day's cheques, shipments, returns
    block = ds.block("cheque", day)
    assert isinstance(block.dates, array) and isinstance(block.amount, array)


def test_invalid_sizes_are_refused():
    with pytest.raises(ValueError):
        generate_dataset(stocks=0)
    with pytest.raises(ValueError):
        generate_dataset(days=0)
    with pytest.raises(ValueError):
        generate_dataset(cashes_per_stock=100)


def test_concurrent_clients_page_consistently(regos_server):
    ds = generate_dataset(seed=11, days=5, cheques_per_day=2000, end_day=END)
    server = regos_server(ds, page_cap=300)
    start, end = range_bounds_unix(END - timedelta(days=4), END)
    expected = [c["uuid"] for c in ds.iter_docs("cheque") if c["status"] == "Closed"]
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def client() -> None:
        try:
            with requests.Session() as http:
                http.trust_env = False
                docs = page_all(http, server, "DocCheque/Get",
                                {"start_date": start, "end_date": end, "status": "Closed"})
                results.append([d["uuid"] for d in docs])
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(results) == 4 and all(r == expected for r in results)
    assert server.stats.connections == 4


# --- nothing after "now" for today (issue 18) --------------------------------------------------------

def test_todays_documents_after_now_are_not_served_and_past_days_are_whole() -> None:
    """The dataset's clock is set to 14:30 on its last day. Expectation, independent of the generator:
    the documents of a clock-less twin (built with the clock far in the future), kept when dated
    at or before 14:30 — and every earlier day served in full."""
    last = date(2026, 8, 31)
    now = int(datetime(2026, 8, 31, 14, 30, tzinfo=TASHKENT).timestamp())
    ds = generate_dataset(seed=3, days=2, cheques_per_day=200, wholesale_per_day=20, end_day=last)
    twin = generate_dataset(seed=3, days=2, cheques_per_day=200, wholesale_per_day=20, end_day=last)
    ds.clock = lambda: now
    twin.clock = lambda: now + 10 * 86400
    first_lo, _ = day_bounds_unix(last - timedelta(days=1))
    for kind in ("cheque", "wholesale", "wholesale_return"):
        everything = list(twin.iter_docs(kind))
        due = [d for d in everything if d["date"] <= now]
        if kind == "cheque":
            assert any(d["date"] > now for d in everything)  # the 23:59:59 cheque, at least
        assert list(ds.iter_docs(kind)) == due
        items, total = ds.query(kind, start=first_lo, end=None, limit=100_000)
        assert total == len(due) == len(items)
        assert max(json.loads(i)["date"] for i in items) <= now
        # the day before is whole: 200 cheques a day
        yesterday = [d for d in everything if business_date_of_unix(d["date"]) == last - timedelta(days=1)]
        assert list(ds.iter_docs(kind, last - timedelta(days=1), last - timedelta(days=1))) == yesterday
    assert sum(1 for d in ds.iter_docs("cheque") if business_date_of_unix(d["date"]) < last) == 200
    # a future cheque cannot be fetched by its uuid either
    late = next(d for d in twin.iter_docs("cheque") if d["date"] > now)
    assert ds.lookup("cheque", [late["uuid"]]) == ([], 0)
    assert twin.lookup("cheque", [late["uuid"]])[1] == 1
