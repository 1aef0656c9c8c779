"""Fault plans: the grammar, and that every kind of fault does exactly what it says over HTTP."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
import requests

from payroll.dates import TASHKENT, day_bounds_unix
from sync.regos.emulator import Dataset, FaultPlan, parse_fault_plan
from tests.fixtures.regos import gateway_post

DAY = date(2026, 8, 4)


def world() -> Dataset:
    ds = Dataset()
    ds.add_stock(1, "Navoiy filiali")
    ds.add_user(5, "Karimova Dilnoza")
    ds.add_operating_cash(100, 1)
    ds.add_session("s-1", 100, datetime(2026, 8, 4, 8, 30, tzinfo=TASHKENT), None, start_user_id=5)
    for i in range(5):
        ds.add_cheque(f"c{i}", datetime(2026, 8, 4, 10, i, tzinfo=TASHKENT), "s-1",
                      Decimal("185000.10") + i)
    return ds


PERIOD = dict(zip(("start_date", "end_date"), day_bounds_unix(DAY), strict=True))


def cheques(http: requests.Session, server: Any, **extra: Any) -> requests.Response:
    return gateway_post(http, server, "DocCheque/Get", {**PERIOD, **extra})


def envelope(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 200
    return json.loads(response.text, parse_float=Decimal)


# --- grammar ------------------------------------------------------------------------------------------
def fired(spec: str, calls: list[str]) -> list[str | None]:
    plan = FaultPlan(spec)
    return [(f.label if (f := plan.next(m)) else None) for m in calls]


def test_when_clauses():
    calls = ["Stock/Get"] * 8
    assert fired("3:http503", calls) == [None, None, "http503", None, None, None, None, None]
    assert fired("2-3:reset", calls)[:5] == [None, "reset", "reset", None, None]
    assert fired("6+:html200", calls) == [None] * 5 + ["html200"] * 3
    assert fired("every=3:http502", calls) == [None, None, "http502", None, None, "http502", None, None]
    assert fired("*:wrongtype", calls) == ["wrongtype"] * 8
    assert fired("2:8213x3", calls) == [None, "8213", "8213", "8213", None, None, None, None]
    assert fired("every=4:http504x2", calls) == [
        None, None, None, "http504", "http504", None, None, "http504"]


def test_method_scoped_rules_count_only_that_method_and_first_rule_wins():
    calls = ["Stock/Get", "DocCheque/Get", "Stock/Get", "DocCheque/Get", "DocCheque/Get"]
    assert fired("doccheque/get#2:http503", calls) == [None, None, None, "http503", None]
    assert fired("3:reset;3:http503;DocCheque/Get#1:slow=0.5", calls) == [
        None, "slow=0.5", "reset", None, None]


@pytest.mark.parametrize("spec", [
    "3:http429;4:http429-retry-after=1;5:http503;6:slow=2.5;7:truncated;8:html200;9:8213x5;10:reset;"
    "11:wrongtype;12:access",
    "DocCheque/Get#2:stuck-offset; every=10:shrink-total=3; 1-4:amount-string; 5+:amount-missing",
    "1:error=1008;2:empty-page;3:cut;4:http401;5:shrink-total",
    "DocCheque/Get#*:amount-letters=8; DocWholeSale/Get#1:date-garbage; 3:amount-letters",
    "",
])
def test_valid_plans_parse(spec):
    assert parse_fault_plan(spec).spec == spec.strip()


@pytest.mark.parametrize(("spec", "message"), [
    ("3:bogus", "unknown fault 'bogus'"),
    ("3", "expected WHEN:FAULT"),
    ("0:reset", "≥ 1"),
    ("x:reset", "positive integer"),
    ("5-2:reset", "empty"),
    ("3:slow", "needs a value"),
    ("3:slow=fast", "seconds"),
    ("3:slow=0", "(0, 600]"),
    ("3:reset=1", "takes no value"),
    ("3:http429-retry-after=soon", "whole seconds"),
    ("3:http200", "unknown fault"),
    ("Sale/Get#1:reset", "unknown REGOS method"),
    ("2:8213x0", "≥ 1"),
])
def test_invalid_plans_are_refused_with_one_clear_line(spec, message):
    with pytest.raises(ValueError, match=None) as exc:
        parse_fault_plan(spec)
    text = str(exc.value)
    assert message in text and "\n" not in text and spec.split(";")[0].strip() in text


def test_a_bad_plan_keeps_the_old_one(regos_server, regos_http):
    server = regos_server(world(), fault_plan="1:http503")
    with pytest.raises(ValueError):
        server.set_fault_plan("1:nope")
    assert server.fault_plan == "1:http503"
    assert gateway_post(regos_http, server, "Stock/Get").status_code == 503


# --- each kind over HTTP -------------------------------------------------------------------------------
def test_http_statuses_and_retry_after(regos_server, regos_http):
    plan = "1:http429;2:http429-retry-after=7;3:http502;4:http503;5:http504"
    server = regos_server(world(), fault_plan=plan)
    first = gateway_post(regos_http, server, "Stock/Get")
    second = gateway_post(regos_http, server, "Stock/Get")
    assert first.status_code == 429 and "Retry-After" not in first.headers
    assert second.status_code == 429 and second.headers["Retry-After"] == "7"
    assert [gateway_post(regos_http, server, "Stock/Get").status_code for _ in range(3)] == [502, 503, 504]
    assert "text/html" in first.headers["Content-Type"]
    assert envelope(gateway_post(regos_http, server, "Stock/Get"))["ok"] is True  # request 6: normal
    assert server.stats.faults == {"http429": 1, "http429-retry-after=7": 1, "http502": 1, "http503": 1,
                                   "http504": 1}
    assert server.stats.total == 6


def test_slow_sleeps_then_answers_normally(regos_server, regos_http):
    slept: list[float] = []
    server = regos_server(world(), fault_plan="2:slow=2.5", sleep=slept.append)
    assert envelope(cheques(regos_http, server))["ok"]
    assert slept == []
    assert envelope(cheques(regos_http, server))["total"] == 5
    assert slept == [2.5]


def test_slow_really_delays_past_a_client_timeout(regos_server, regos_http):
    server = regos_server(world(), fault_plan="1:slow=1")
    with pytest.raises(requests.Timeout):
        gateway_post(regos_http, server, "Stock/Get", timeout=0.2)


def test_reset_closes_without_an_answer(regos_server, regos_http):
    server = regos_server(world(), fault_plan="1:reset")
    with pytest.raises(requests.ConnectionError):
        gateway_post(regos_http, server, "Stock/Get")
    assert envelope(gateway_post(regos_http, server, "Stock/Get"))["ok"]  # the client reconnects


def test_cut_sends_half_a_body_then_closes(regos_server, regos_http):
    server = regos_server(world(), fault_plan="1:cut")
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        cheques(regos_http, server)
    assert envelope(cheques(regos_http, server))["total"] == 5


def test_truncated_is_a_complete_response_with_half_the_json(regos_server, regos_http):
    server = regos_server(world(), fault_plan="1:truncated")
    broken = cheques(regos_http, server)
    whole = cheques(regos_http, server)
    assert broken.status_code == 200 and broken.headers["Content-Type"].startswith("application/json")
    assert whole.text.startswith(broken.text) and 0 < len(broken.text) < len(whole.text)
    with pytest.raises(ValueError):
        json.loads(broken.text)


def test_html_error_page_with_status_200(regos_server, regos_http):
    server = regos_server(world(), fault_plan="1:html200")
    page = gateway_post(regos_http, server, "Stock/Get")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert page.text.lstrip().startswith("<!DOCTYPE html>")


def test_8213_burst_and_access_and_error(regos_server, regos_http):
    server = regos_server(world(), fault_plan="2:8213x3;6:access;7:error=1008")
    codes = []
    for _ in range(8):
        answer = envelope(gateway_post(regos_http, server, "Stock/Get"))
        codes.append(None if answer["ok"] else answer["result"]["error"])
    assert codes == [None, 8213, 8213, 8213, None, 1096, 1008, None]
    assert server.stats.rate_limited == 3


def test_requests_rejected_for_a_wrong_key_still_count(regos_server, regos_http):
    server = regos_server(world(), fault_plan="2:http503")
    assert envelope(gateway_post(regos_http, server, "Stock/Get", key="w" * 32))["result"]["error"] == 1096
    assert gateway_post(regos_http, server, "Stock/Get").status_code == 503


def test_wrongtype(regos_server, regos_http):
    server = regos_server(world(), fault_plan="1:wrongtype")
    answer = envelope(cheques(regos_http, server))
    assert answer["ok"] is True and isinstance(answer["result"], str)


def test_stuck_offset_shrinking_total_and_empty_page(regos_server, regos_http):
    plan = "1:stuck-offset;2:shrink-total=3;3:empty-page;4:shrink-total=99"
    server = regos_server(world(), fault_plan=plan)
    stuck = envelope(cheques(regos_http, server, offset=2, limit=2))
    assert len(stuck["result"]) == 2 and stuck["next_offset"] == 2 and stuck["total"] == 5
    shrunk = envelope(cheques(regos_http, server, offset=2, limit=2))
    assert shrunk["total"] == 2 and shrunk["next_offset"] == 4
    empty = envelope(cheques(regos_http, server, offset=2, limit=2))
    assert (empty["result"], empty["next_offset"], empty["total"]) == ([], 2, 5)
    assert envelope(cheques(regos_http, server))["total"] == 0  # never below zero


def test_amount_string_and_missing(regos_server, regos_http):
    server = regos_server(world(), fault_plan="1:amount-string;2:amount-missing;3:amount-string")
    as_string = envelope(cheques(regos_http, server))["result"]
    assert as_string[0]["amount"] == "185000.10" and as_string[1]["amount"] == Decimal("185001.10")
    missing = envelope(cheques(regos_http, server))["result"]
    assert "amount" not in missing[0] and missing[1]["amount"] == Decimal("185001.10")
    lines = envelope(gateway_post(regos_http, server, "ChequeItemOperation/Get", {"doc_sale_uuid": "c0"}))
    assert lines["ok"] is True  # line items carry no "amount": unchanged


def test_one_corrupt_document(regos_server, regos_http):
    server = regos_server(world(), fault_plan="1:amount-letters=2;2:date-garbage;3:amount-letters=99")
    letters = envelope(cheques(regos_http, server))["result"]
    # Only the 2nd document changes; the others keep their exact amounts.
    assert [c["amount"] for c in letters[:3]] == [Decimal("185000.10"), "abc", Decimal("185002.10")]
    garbage = envelope(cheques(regos_http, server))["result"]
    assert garbage[0]["date"] == "not a time" and isinstance(garbage[1]["date"], int)
    beyond = envelope(cheques(regos_http, server))["result"]  # fewer than 99 documents: nothing changes
    assert all(not isinstance(c["amount"], str) for c in beyond)


def test_page_faults_reach_batch_steps(regos_server, regos_http):
    server = regos_server(world(), fault_plan="batch#1:shrink-total=1")
    steps = [{"key": "a", "path": "DocCheque/Get", "payload": PERIOD},
             {"key": "b", "path": "Stock/Get", "payload": {}}]
    result = envelope(gateway_post(regos_http, server, "batch", {"requests": steps}))["result"]
    assert [r["response"]["total"] for r in result] == [4, 0]


def test_method_scoped_fault_over_http(regos_server, regos_http):
    server = regos_server(world(), fault_plan="DocCheque/Get#2:http503")
    assert envelope(cheques(regos_http, server))["ok"]
    assert envelope(gateway_post(regos_http, server, "Stock/Get"))["ok"]
    assert cheques(regos_http, server).status_code == 503
    assert envelope(cheques(regos_http, server))["ok"]


def test_installing_a_plan_restarts_the_count(regos_server, regos_http):
    server = regos_server(world())
    for _ in range(3):
        gateway_post(regos_http, server, "Stock/Get")
    server.set_fault_plan("1:http502")
    assert gateway_post(regos_http, server, "Stock/Get").status_code == 502
    assert gateway_post(regos_http, server, "Stock/Get").status_code == 200
