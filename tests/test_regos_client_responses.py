"""Parsing answers: exact money, broken bodies, wrong types, entity errors that name the field."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import responses

from sync.regos.errors import RegosResponseError
from sync.regos.models import ChequeStatus
from tests.regos_client_support import KEY, add, cheque_json, cheques, make_client, page_json, sent

DAY = date(2026, 8, 4)


def _read(client):
    return [c for page in client.iter_cheques(first_day=DAY, last_day=DAY) for c in page]


@responses.activate
def test_amounts_are_exact_decimals():
    amounts = {"a": "185000.10", "b": "0.1", "c": "0.2", "d": "98765432109876.543", "e": "185000"}
    rows = [cheque_json(uuid, amount=amount) for uuid, amount in amounts.items()]
    add(responses, "DocCheque/Get", page_json(rows, next_offset=5, total=5))
    client, _ = make_client()

    a, b, c, d, e = _read(client)

    assert a.amount == Decimal("185000.10") and str(a.amount) == "185000.10"
    assert b.amount + c.amount == Decimal("0.3")          # 0.1 + 0.2 through float is 0.30000000000000004
    assert str(d.amount) == "98765432109876.543"         # 17 significant digits: a float cannot hold this
    assert e.amount == Decimal(185000)
    assert all(isinstance(x.amount, Decimal) for x in (a, b, c, d, e))


@responses.activate
def test_wholesale_money_fields_are_exact():
    doc = ('{"id": 5601, "date": 1754301000, "stock": {"id": 3}, "amount": 12450000.07, '
           '"currency": {"id": 2, "code_chr": "USD", "exchange_rate": 12650.55, "is_base": false}, '
           '"exchange_rate": 12650.55, "performed": true}')
    add(responses, "DocWholeSale/Get", page_json([doc]))
    client, _ = make_client()

    (page,) = client.iter_wholesales(first_day=DAY, last_day=DAY)

    assert page[0].amount == Decimal("12450000.07")
    assert page[0].exchange_rate == Decimal("12650.55")
    assert page[0].currency.exchange_rate == Decimal("12650.55")


@responses.activate
def test_unix_dates_become_aware_utc_and_status_codes_are_accepted():
    add(responses, "DocCheque/Get", page_json([cheque_json("a", date=1754290512, status="3")]))
    client, _ = make_client()

    (cheque,) = _read(client)

    # 1754290512 - 1754265600 (2025-08-04T00:00Z) = 24912 s = 6 h 55 min 12 s
    assert cheque.date == datetime(2025, 8, 4, 6, 55, 12, tzinfo=UTC)
    assert cheque.status is ChequeStatus.CLOSED


@pytest.mark.parametrize(("body", "reason"), [
    ('{"ok": true, "result": [{"uuid": "a", "da', "not valid JSON"),
    ("<html><body>Service temporarily unavailable</body></html>", "it starts with '<html><body>Service"),
    ("", "not valid JSON"),
    ('{"ok": true, "result": {"uuid": "a"}}', "'result' is an object, expected an array"),
    ('{"ok": true, "result": null}', "'result' is null, expected an array"),
    ('{"ok": "yes", "result": []}', "'ok' is missing or not true/false"),
    ('{"result": []}', "'ok' is missing or not true/false"),
    ('{"ok": true}', "envelope has no 'result'"),
    ('[{"ok": true}]', "the body is an array, not an envelope object"),
    ('{"ok": true, "result": [], "total": "many"}', "'total' is a string, not an integer"),
    ('{"ok": true, "result": [], "next_offset": 1.5}', "'next_offset' is a number, not an integer"),
    ('{"ok": true, "result": [{"amount": NaN}]}', "non-standard JSON constant NaN"),
])
@responses.activate
def test_unusable_bodies_are_retried_then_reported(body, reason):
    for _ in range(2):
        add(responses, "DocCheque/Get", body)
    client, sleeps = make_client(max_attempts=2)

    with pytest.raises(RegosResponseError) as caught:
        _read(client)

    message = str(caught.value)
    assert message.startswith("DocCheque/Get: unusable answer after 2 attempts: ")
    assert reason in message
    assert caught.value.method == "DocCheque/Get"
    assert caught.value.attempts == 2
    assert sleeps == [1.0]


@responses.activate
def test_a_truncated_body_then_a_good_one_succeeds():
    add(responses, "DocCheque/Get", '{"ok": true, "result": [')
    add(responses, "DocCheque/Get", page_json(cheques("a")))
    client, _ = make_client()

    assert [c.uuid for c in _read(client)] == ["a"]
    assert client.stats.retries == 1


@responses.activate
def test_an_integral_float_offset_is_accepted():
    body = '{"ok": true, "result": [' + cheque_json("a") + '], "next_offset": 1.0, "total": 1}'
    add(responses, "DocCheque/Get", body)
    client, _ = make_client()

    assert [c.uuid for c in _read(client)] == ["a"]


@responses.activate
def test_an_invalid_entity_names_method_and_field_and_is_not_retried():
    rows = [cheque_json("a"), cheque_json("b", amount='"abc"')]
    add(responses, "DocCheque/Get", page_json(rows))
    client, sleeps = make_client()

    with pytest.raises(RegosResponseError) as caught:
        _read(client)

    assert str(caught.value).startswith("DocCheque/Get: result[1].amount: Input should be a valid decimal")
    assert "page at offset 0" in str(caught.value)
    assert len(responses.calls) == 1
    assert sleeps == []


@responses.activate
def test_a_missing_field_and_a_null_amount_are_named():
    missing_uuid = cheque_json("x").replace('"uuid": "x", ', "")
    add(responses, "DocCheque/Get", page_json([missing_uuid]))
    add(responses, "DocCheque/Get", page_json([*cheques("a", "b"), cheque_json("c", amount="null")]))
    client, _ = make_client()

    with pytest.raises(RegosResponseError, match=r"^DocCheque/Get: result\[0\]\.uuid: Field required"):
        _read(client)
    with pytest.raises(RegosResponseError,
                       match=r"^DocCheque/Get: result\[2\]\.amount: Value error, expected a number"):
        _read(client)


@responses.activate
def test_nested_field_errors_have_a_dotted_path():
    bad = cheque_json("a").replace('"seller": {"id": 17,', '"seller": {"id": "seventeen",')
    add(responses, "DocCheque/Get", page_json([bad]))
    client, _ = make_client()

    with pytest.raises(RegosResponseError, match=r"result\[0\]\.seller\.id: Input should be a valid integer"):
        _read(client)


@responses.activate
def test_events_are_parsed_with_aware_times():
    body = ('{"ok": true, "result": {"events": [{"event_id": "6b6b", "occurred_at": "2026-08-04T09:21:34Z", '
            '"action": "DocChequeClosed", "data": {"uuid": "3f6c"}}, {"event_id": "6b6c", '
            '"occurred_at": "2026-08-04T09:22:00", "action": "DocWholeSalePerformCanceled", '
            '"data": {"id": 5601}}], '
            '"next_event_id": "6b6d", "has_more": true}}')
    add(responses, "Event/Get", body)
    client, _ = make_client()

    page = client.get_events(last_event_id="6b6a", from_date=datetime(2026, 8, 4, 0, 0, tzinfo=UTC),
                             limit=100, actions=["DocChequeClosed"])

    assert [e.event_id for e in page.events] == ["6b6b", "6b6c"]
    assert page.events[0].occurred_at == datetime(2026, 8, 4, 9, 21, 34, tzinfo=UTC)
    assert page.events[1].occurred_at == datetime(2026, 8, 4, 9, 22, tzinfo=UTC)  # no offset given: UTC
    assert page.events[1].data == {"id": 5601}
    assert (page.next_event_id, page.has_more) == ("6b6d", True)
    # 2026-08-04T00:00Z = 1767225600 + 215 days x 86400 = 1785801600
    # connected_integration_id (the key) always: without it REGOS returns the whole account's events.
    assert sent(responses) == {"connected_integration_id": KEY, "last_event_id": "6b6a",
                               "from_date": 1785801600, "limit": 100, "actions": ["DocChequeClosed"]}


@responses.activate
def test_an_event_page_that_is_a_list_is_a_response_error():
    for _ in range(2):
        add(responses, "Event/Get", '{"ok": true, "result": []}')
    client, _ = make_client(max_attempts=2)

    with pytest.raises(RegosResponseError, match="'result' is an array, expected an object"):
        client.get_events()


@responses.activate
def test_a_bad_event_names_the_field():
    # occurred_at may be absent or null (vendor schema EventItem); a wrongly typed one is an error.
    add(responses, "Event/Get", '{"ok": true, "result": {"events": [{"event_id": "1", "action": "X", '
                                '"occurred_at": [1]}]}}')
    client, _ = make_client()

    with pytest.raises(RegosResponseError,
                       match=r"^Event/Get: result\.events\[0\]\.occurred_at: Input should be a valid datetime"):
        client.get_events()
