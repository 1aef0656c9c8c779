"""``batch``: request shape, per-step ok/error, groups of 50, stop_on_error, 8213 on single steps."""

from __future__ import annotations

import json

import pytest
import responses

from sync.regos.client import BatchStep, parse_entities
from sync.regos.errors import RegosResponseError, RegosValidationError
from sync.regos.models import ChequeItemOperation
from tests.regos_client_support import add, make_client, sent

LINE = {"uuid": "a1b2", "document": "3f6c", "stock_id": 3, "item": {"id": 1201, "name": "Choy"},
        "quantity": 2, "price": 42500}


def _answer(key, ok=True, result=None, status=200):
    response = {"ok": ok, "result": result if result is not None else []}
    return {"key": key, "status": status, "response": response}


def _body(*answers):
    return json.dumps({"ok": True, "result": list(answers)})


def _steps(n):
    return [BatchStep(key=f"ops_{i}", path="ChequeItemOperation/Get", payload={"doc_sale_uuid": f"c{i}"})
            for i in range(n)]


@responses.activate
def test_batch_sends_the_documented_shape_and_checks_each_step():
    add(responses, "batch", _body(
        _answer("ops_1", result=[LINE]),
        _answer("pay_1", ok=False, result={"error": 1008, "description": "Details: doc_sale_uuid"}),
    ))
    client, _ = make_client()
    steps = [BatchStep("ops_1", "ChequeItemOperation/Get", {"doc_sale_uuid": "3f6c"}),
             BatchStep("pay_1", "ChequePaymentOperation/Get", {"doc_sale_uuid": "bad"})]

    ops, pay = client.batch(steps)

    assert sent(responses) == {"stop_on_error": False, "requests": [
        {"key": "ops_1", "path": "ChequeItemOperation/Get", "payload": {"doc_sale_uuid": "3f6c"}},
        {"key": "pay_1", "path": "ChequePaymentOperation/Get", "payload": {"doc_sale_uuid": "bad"}},
    ]}
    assert (ops.key, ops.ok, ops.error_code) == ("ops_1", True, None)
    lines = parse_entities(ChequeItemOperation, ops.result, method="ChequeItemOperation/Get")
    assert [(x.uuid, x.price) for x in lines] == [("a1b2", 42500)]
    assert (pay.key, pay.ok, pay.error_code) == ("pay_1", False, 1008)
    assert pay.description == "Details: doc_sale_uuid"
    ops.raise_for_error()  # no-op for a good step
    with pytest.raises(RegosValidationError, match="ChequePaymentOperation/Get: REGOS error 1008"):
        pay.raise_for_error(path="ChequePaymentOperation/Get")


@responses.activate
def test_results_come_back_in_request_order():
    add(responses, "batch", _body(_answer("ops_1"), _answer("ops_0")))
    client, _ = make_client()

    assert [r.key for r in client.batch(_steps(2))] == ["ops_0", "ops_1"]


@responses.activate
def test_more_than_50_steps_go_in_groups_of_50():
    steps = _steps(120)
    for group in (steps[:50], steps[50:100], steps[100:]):
        add(responses, "batch", _body(*(_answer(s.key) for s in group)))
    client, _ = make_client()

    results = client.batch(steps)

    assert [len(sent(responses, i)["requests"]) for i in range(3)] == [50, 50, 20]
    assert sent(responses, 2)["requests"][0]["key"] == "ops_100"
    assert [r.key for r in results] == [s.key for s in steps]
    assert all(r.ok for r in results)


@responses.activate
def test_stop_on_error_sends_no_further_group_and_drops_skipped_steps():
    steps = _steps(60)
    first_group = [_answer(s.key) for s in steps[:10]]
    first_group.append(_answer("ops_10", ok=False, result={"error": 1008, "description": "bad"}))
    add(responses, "batch", _body(*first_group))  # REGOS stopped after ops_10
    client, _ = make_client()

    results = client.batch(steps, stop_on_error=True)

    assert len(responses.calls) == 1
    assert sent(responses)["stop_on_error"] is True
    assert [r.key for r in results] == [f"ops_{i}" for i in range(11)]
    assert results[-1].error_code == 1008


@responses.activate
def test_rate_limited_steps_are_sent_again_alone():
    limited = _answer("ops_1", ok=False, result={"error": 8213, "description": "Too many"})
    add(responses, "batch", _body(_answer("ops_0"), limited))
    add(responses, "batch", _body(_answer("ops_1", result=[LINE])))
    client, sleeps = make_client()

    results = client.batch(_steps(2))

    assert [(r.key, r.ok) for r in results] == [("ops_0", True), ("ops_1", True)]
    assert [s["key"] for s in sent(responses, 1)["requests"]] == ["ops_1"]
    assert sleeps == [1.0]
    assert client.stats.rate_limit_waits == 1
    assert client.stats.by_method == {"batch": 2}


@responses.activate
def test_a_step_without_a_response_is_a_failed_step():
    add(responses, "batch", _body({"key": "ops_0", "status": 504}))
    client, _ = make_client()

    (result,) = client.batch(_steps(1))

    assert (result.ok, result.error_code) == (False, None)
    assert "status 504" in result.description
    with pytest.raises(RegosResponseError, match="status 504"):
        result.raise_for_error()


@responses.activate
def test_a_missing_or_unknown_answer_is_a_response_error():
    add(responses, "batch", _body(_answer("ops_0")))
    add(responses, "batch", _body(_answer("ops_0"), _answer("ops_1"), _answer("ghost")))
    client, _ = make_client()

    with pytest.raises(RegosResponseError, match="batch: no answer for step 'ops_1'"):
        client.batch(_steps(2))
    with pytest.raises(RegosResponseError, match=r"batch: result\[2\]: answer for unknown step 'ghost'"):
        client.batch(_steps(2))


@responses.activate
def test_wrapped_responses_are_accepted():
    add(responses, "batch", json.dumps({"ok": True, "result": {"responses": [_answer("ops_0")]}}))
    client, _ = make_client()

    assert [r.ok for r in client.batch(_steps(1))] == [True]


def test_duplicate_keys_and_empty_batches_send_nothing():
    client, _ = make_client()
    with responses.RequestsMock() as rsps:
        with pytest.raises(ValueError, match="unique"):
            client.batch([BatchStep("k", "A/Get", {}), BatchStep("k", "B/Get", {})])
        assert client.batch([]) == []
        assert len(rsps.calls) == 0
