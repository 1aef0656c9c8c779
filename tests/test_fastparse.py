"""The fast page parser (``sync.regos.fastparse``) gives exactly what the general path gives, or declines.

"Exactly" is checked field by field: equal values, equal types, the same Decimal digits and exponent
(``repr``), the same time zone object, the same set of fields given. Where the general path would fail
(or where the two could differ), ``page_from_json`` must answer None so the client takes the general path.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

import pytest
import requests
import responses
from pydantic import BaseModel, BeforeValidator, Field, model_validator

from payroll.dates import range_bounds_unix
from sync.regos.client import _Problem, parse_entities
from sync.regos.emulator import Dataset, generate_dataset
from sync.regos.errors import RegosResponseError
from sync.regos.fastparse import FastPage, page_from_json
from sync.regos.models import (
    ChequeStatus,
    DocCashSession,
    DocCheque,
    DocWholeSale,
    DocWholeSaleReturn,
    Money,
    OperatingCash,
    RegosEvent,
    Stock,
    User,
)
from tests.fixtures.regos import gateway_post
from tests.regos_client_support import add, cheque_json, make_client, page_json

END = date(2026, 8, 31)
DAY = date(2026, 8, 4)


# --- helpers ---------------------------------------------------------------------------------------


def _slow(content: bytes, model: type[BaseModel]) -> tuple[list[Any], Any, Any]:
    """What the general path makes of a body: rows, next_offset, total (raises where it fails)."""
    client, _ = make_client()
    response = requests.Response()
    response.status_code = 200
    response._content = content
    envelope = client._interpret("X/Get", response, list)  # no model: the general path
    if not isinstance(envelope, dict):
        raise AssertionError(f"the general path refused the body: {envelope}")
    rows = parse_entities(model, envelope["result"], method="X/Get")
    return rows, envelope.get("next_offset"), envelope.get("total")


def _fingerprint(value: Any) -> Any:
    """Everything that makes two parsed values the same: type, repr (Decimal digits), tz identity."""
    if isinstance(value, BaseModel):
        return (type(value), sorted(value.model_fields_set),
                {name: _fingerprint(getattr(value, name)) for name in type(value).model_fields})
    if isinstance(value, datetime):
        return (datetime, repr(value), value.tzinfo is UTC)
    return (type(value), repr(value))


def assert_same_as_slow(content: bytes, model: type[BaseModel]) -> FastPage:
    page = page_from_json(content, model)
    assert page is not None, "the fast path declined a plain page"
    rows, next_offset, total = _slow(content, model)
    assert page["ok"] is True
    assert page["result"] == rows
    assert [_fingerprint(r) for r in page["result"]] == [_fingerprint(r) for r in rows]
    assert (page["next_offset"], page["total"]) == (next_offset, total)
    assert (type(page["next_offset"]), type(page["total"])) == (type(next_offset), type(total))
    return page


def one_cheque(amount: str = "185000", **fields: str) -> bytes:
    """A one-cheque page; ``fields`` replace a field's JSON text (``date="1.5"``)."""
    row = {**json.loads(cheque_json("c-1")), "return_reason": None}
    text = json.dumps(row, separators=(",", ":"))
    for name, literal in {"amount": amount, **fields}.items():
        old = json.dumps(row[name], separators=(",", ":"))
        text = text.replace(f'"{name}":{old}', f'"{name}":{literal}', 1)
    return f'{{"ok":true,"result":[{text}],"next_offset":1,"total":1}}'.encode()


# --- emulator pages: every document model ------------------------------------------------------------


MODELS = {
    "DocCheque/Get": DocCheque,
    "DocWholeSale/Get": DocWholeSale,
    "DocWholeSaleReturn/Get": DocWholeSaleReturn,
    "DocCashSession/Get": DocCashSession,
    "OperatingCash/Get": OperatingCash,
    "Stock/Get": Stock,
    "User/Get": User,
}


def _fetch_all(http: requests.Session, server: Any, method: str, payload: dict[str, Any]) -> list[bytes]:
    bodies = []
    offset = 0
    while True:
        response = gateway_post(http, server, method, {**payload, "limit": 500, "offset": offset})
        assert response.status_code == 200
        bodies.append(response.content)
        envelope = json.loads(response.content)
        offset = envelope.get("next_offset") or 0
        if not envelope["result"] or offset >= envelope.get("total", 0):
            return bodies


def test_emulator_pages_of_every_model_parse_exactly_as_the_general_path(regos_server, regos_http):
    # 10 days: whole thousands, amounts with tiyin, USD shipments at a rate with a fraction, returns,
    # cancelled cheques, shifts still open.
    ds = generate_dataset(seed=3, days=10, cheques_per_day=300, end_day=END)
    server = regos_server(ds)
    start, end = range_bounds_unix(date(2026, 8, 22), END)
    parsed = 0
    for method, model in MODELS.items():
        payload = {"start_date": start, "end_date": end} if method.startswith("Doc") else {}
        for content in _fetch_all(regos_http, server, method, payload):
            page = assert_same_as_slow(content, model)
            parsed += len(page["result"])
    assert parsed > 3000


def test_emulator_pages_with_hand_made_documents(regos_server, regos_http):
    ds = Dataset()
    ds.add_stock(1, "Navoiy filiali")
    ds.add_user(5, "Karimova Dilnoza")
    ds.add_operating_cash(100, 1)
    start, _ = range_bounds_unix(DAY, DAY)
    ds.add_session("s-1", 100, start + 8 * 3600, None, start_user_id=5)
    amounts = ["185000.10", "-5000.50", "0.01", "12345678901234567.891", "7", "0.00", "-0.00", "99999999.999"]
    for i, amount in enumerate(amounts):
        ds.add_cheque(f"c-{i}", start + 9 * 3600 + i, "s-1", Decimal(amount), cashier_id=5)
    ds.add_wholesale(900, start + 10 * 3600, 1, Decimal("1500.25"), currency="USD", exchange_rate=Decimal("12650.37"))
    server = regos_server(ds)
    day = range_bounds_unix(DAY, DAY)
    [cheques] = _fetch_all(regos_http, server, "DocCheque/Get", {"start_date": day[0], "end_date": day[1]})
    page = assert_same_as_slow(cheques, DocCheque)
    assert [(c.uuid, repr(c.amount)) for c in page["result"]] == [
        ("c-0", "Decimal('185000.10')"),
        ("c-1", "Decimal('-5000.50')"),
        ("c-2", "Decimal('0.01')"),
        ("c-3", "Decimal('12345678901234567.891')"),
        ("c-4", "Decimal('7')"),
        ("c-5", "Decimal('0.00')"),
        ("c-6", "Decimal('-0.00')"),
        ("c-7", "Decimal('99999999.999')"),
    ]
    [shipments] = _fetch_all(regos_http, server, "DocWholeSale/Get", {"start_date": day[0], "end_date": day[1]})
    [shipment] = assert_same_as_slow(shipments, DocWholeSale)["result"]
    assert (repr(shipment.amount), repr(shipment.exchange_rate)) == ("Decimal('1500.25')", "Decimal('12650.37')")


# --- hand-written pages: exact values ---------------------------------------------------------------------


def test_a_plain_cheque_page_gives_the_expected_values():
    page = page_from_json(one_cheque("185000.10"), DocCheque)

    assert page is not None
    [cheque] = page["result"]
    assert cheque.uuid == "c-1"
    assert repr(cheque.amount) == "Decimal('185000.10')"
    assert cheque.date == datetime(2025, 8, 4, 6, 55, 12, tzinfo=UTC) and cheque.date.tzinfo is UTC
    assert cheque.last_update == datetime(2025, 8, 4, 6, 55, 30, tzinfo=UTC)
    assert cheque.status is ChequeStatus.CLOSED
    assert (cheque.cashier.id, cheque.seller.id) == (5, 17)  # type: ignore[union-attr]
    assert (page["next_offset"], page["total"]) == (1, 1)


@pytest.mark.parametrize(("literal", "expected"), [
    ("12345678901234567.891", "Decimal('12345678901234567.891')"),  # beyond a float: quoted, so exact
    ("-185000.50", "Decimal('-185000.50')"),
    ("185000", "Decimal('185000')"),
    ("0.10", "Decimal('0.10')"),
    ('"185000.10"', "Decimal('185000.10')"),  # a JSON string
])
def test_amounts_the_fast_path_takes_are_exact(literal, expected):
    content = one_cheque(literal)
    page = assert_same_as_slow(content, DocCheque)
    assert repr(page["result"][0].amount) == expected


@pytest.mark.parametrize(("literal", "expected"), [
    ("1.5E+3", "Decimal('1.5E+3')"),  # exponents: pydantic-core would make a float of them
    ("2e3", "Decimal('2E+3')"),
    ("123456789012345678901234.5e-2", "Decimal('1234567890123456789012.345')"),
])
def test_exponent_amounts_fall_back_and_stay_exact(literal, expected):
    content = one_cheque(literal)
    assert page_from_json(content, DocCheque) is None
    rows, _, _ = _slow(content, DocCheque)
    assert repr(rows[0].amount) == expected


def test_an_amount_written_with_spaces_falls_back_and_stays_exact():
    content = one_cheque("185000.10").replace(b'"amount":185000.10', b'"amount" :  185000.10')
    assert page_from_json(content, DocCheque) is None
    assert repr(_slow(content, DocCheque)[0][0].amount) == "Decimal('185000.10')"


def test_an_escaped_money_key_falls_back():
    content = one_cheque("185000.10").replace(b'"amount"', b'"\\u0061mount"')
    assert page_from_json(content, DocCheque) is None
    assert repr(_slow(content, DocCheque)[0][0].amount) == "Decimal('185000.10')"


def test_status_code_and_unix_time_as_text_are_read_as_the_general_path_reads_them():
    content = one_cheque("5000.00", status="3", date='"1754290512"')
    page = assert_same_as_slow(content, DocCheque)
    [cheque] = page["result"]
    assert cheque.status is ChequeStatus.CLOSED
    assert cheque.date == datetime(2025, 8, 4, 6, 55, 12, tzinfo=UTC)


def test_unicode_text_is_read_as_the_general_path_reads_it():
    content = one_cheque("1.00").replace(b"Karimova Dilnoza", "Каримова \\u0027Дилноза\\u0027 😀".encode())
    [cheque] = assert_same_as_slow(content, DocCheque)["result"]
    assert cheque.cashier.full_name == "Каримова 'Дилноза' 😀"  # type: ignore[union-attr]


def test_missing_paging_fields_are_none():
    content = page_json([cheque_json("a", amount="1.50")]).encode()
    page = assert_same_as_slow(content, DocCheque)
    assert (page["next_offset"], page["total"]) == (None, None)


def test_fields_the_models_ignore_may_hold_anything_json_allows():
    content = one_cheque("1.50").replace(b'"uuid"', b'"card":{"x":[1.5,1e400,12345678901234567890.5],"y":null},"uuid"')
    [cheque] = assert_same_as_slow(content, DocCheque)["result"]
    assert repr(cheque.amount) == "Decimal('1.50')"


# --- what the fast path declines ---------------------------------------------------------------------


@pytest.mark.parametrize("content", [
    b'{"ok":false,"result":{"error":8213,"description":"Too many requests"}}',
    b'{"ok":true,"result":{}}',
    b'{"ok":true}',
    b'{"ok":1,"result":[]}',
    b'[]',
    b'not json',
    b'',
    b'\xef\xbb\xbf{"ok":true,"result":[]}',
    page_json([cheque_json("a")], next_offset=1, total=1).replace('"total": 1', '"total": true').encode(),
    page_json([cheque_json("a")], next_offset=1, total=1).replace('"next_offset": 1', '"next_offset": false').encode(),
    page_json([cheque_json("a")], next_offset=1, total=1).replace('"total": 1', '"total": 1.0').encode(),
    page_json([cheque_json("a")], next_offset=1, total=1).replace('"total": 1', '"total": "1"').encode(),
    page_json([cheque_json("a")]).replace("}]", ', "card": NaN}]').encode(),
    page_json([cheque_json("a")]).replace("}]", ', "card": -Infinity}]').encode(),
])
def test_it_declines_what_is_not_a_plain_valid_list_page(content):
    assert page_from_json(content, DocCheque) is None


def test_a_missing_field_declines_and_the_client_names_the_field():
    content = one_cheque("1.50").replace(b',"amount":1.50', b"")
    assert page_from_json(content, DocCheque) is None
    with pytest.raises(RegosResponseError, match=r"result\[0\]\.amount: Field required"):
        _slow(content, DocCheque)


def test_bool_and_float_paging_fields_decline_and_the_general_path_decides():
    as_bool = one_cheque("1.50").replace(b'"total":1', b'"total":true')
    assert page_from_json(as_bool, DocCheque) is None
    client, _ = make_client()
    response = requests.Response()
    response.status_code = 200
    response._content = as_bool
    problem = client._interpret("DocCheque/Get", response, list, DocCheque)
    assert isinstance(problem, _Problem) and "'total' is a boolean" in problem.reason

    as_float = one_cheque("1.50").replace(b'"next_offset":1', b'"next_offset":1.0')
    assert page_from_json(as_float, DocCheque) is None
    assert _slow(as_float, DocCheque)[1:] == (1, 1)


def test_a_long_number_in_a_read_field_declines():
    # 2**64 + 0.5 in an id: a float to pydantic-core, a Decimal (and an error) to the general path.
    content = one_cheque("1.50").replace(b'"id":5', b'"id":18446744073709551616.5')
    assert page_from_json(content, DocCheque) is None


def test_a_model_holding_free_form_data_is_never_parsed_fast():
    content = (b'{"ok":true,"result":[{"event_id":"e1","occurred_at":"2026-08-04T10:00:00Z","action":"a",'
               b'"data":{"x":1.50}}]}')
    assert page_from_json(content, RegosEvent) is None


# --- differential: one field at a time, many JSON values ---------------------------------------------------


VALUES = [
    "0", "1", "-1", "3", "7", "5.0", "1.0000000000000001", "1e2", "1754290512.5", "12345678901234567890123",
    "true", "false", "null", '"5"', '"abc"', '""', '"12.50"', '" 12.50"', '"1_000.5"', '"NaN"', '"1e3"',
    '"Closed"', '"closed"', '"1754290512"', '"2026-08-04T10:00:00Z"', "{}", "[]", '{"id": 3}', '{"id": 3.0}',
    "0.00", "-0.0", "185000.10",
]
FIELDS = ["uuid", "date", "code", "status", "session", "cashier", "is_return", "return_reason", "amount",
          "last_update"]


@pytest.mark.parametrize("field", FIELDS)
def test_any_value_in_any_field_is_read_as_the_general_path_reads_it_or_declined(field):
    taken = 0
    for literal in VALUES:
        content = one_cheque("1.50", **{field: literal}) if field != "amount" else one_cheque(literal)
        page = page_from_json(content, DocCheque)
        try:
            rows, _, _ = _slow(content, DocCheque)
        except (RegosResponseError, AssertionError, OverflowError):  # OverflowError: a unix time past 9999
            assert page is None, f"{field}={literal}: the general path fails, the fast path did not"
            continue
        if page is not None:
            taken += 1
            assert [_fingerprint(r) for r in page["result"]] == [_fingerprint(r) for r in rows], f"{field}={literal}"
    assert taken >= 1


# --- through the client ------------------------------------------------------------------------------------


@responses.activate
def test_the_client_pages_through_fast_and_slow_answers_alike():
    add(responses, "DocCheque/Get", page_json([cheque_json("a", amount="185000.10"),
                                               cheque_json("b", amount="1.5e3")], next_offset=2, total=3))
    add(responses, "DocCheque/Get", page_json([cheque_json("c", amount="-7.25")], next_offset=3, total=3))
    client, _ = make_client(page_size=2)

    pages = list(client.iter_cheques(first_day=DAY, last_day=DAY))

    assert [[(c.uuid, repr(c.amount)) for c in page] for page in pages] == [
        [("a", "Decimal('185000.10')"), ("b", "Decimal('1.5E+3')")],
        [("c", "Decimal('-7.25')")],
    ]


@responses.activate
def test_listing_pages_take_the_fast_path_and_other_calls_do_not(monkeypatch):
    import sync.regos.client as client_module

    calls: list[type[BaseModel]] = []

    def spy(content: bytes, model: type[BaseModel]) -> FastPage | None:
        calls.append(model)
        return page_from_json(content, model)

    monkeypatch.setattr(client_module, "page_from_json", spy)
    add(responses, "DocCheque/Get", page_json([cheque_json("a", amount="1.10")], next_offset=1, total=1))
    add(responses, "ChequeItemOperation/Get", '{"ok": true, "result": []}')
    client, _ = make_client(page_size=5)

    assert [c.uuid for page in client.iter_cheques(first_day=DAY, last_day=DAY) for c in page] == ["a"]
    assert client.get_cheque_lines("a") == []
    assert calls == [DocCheque]


# --- models the fast path does not vouch for ---------------------------------------------------------------


class _PlainDecimal(BaseModel):
    amount: Decimal  # not Money: pydantic-core would read 1.50 as a float


class _Aliased(BaseModel):
    amount: Money = Field(alias="sum")


class _PlainText(BaseModel):
    amount: str


class _Clash(BaseModel):
    amount: Money
    inner: _PlainText


class _OwnValidator(BaseModel):
    n: Annotated[int, BeforeValidator(lambda value: value)]


class _ModelValidator(BaseModel):
    n: int

    @model_validator(mode="before")
    @classmethod
    def _raw(cls, data: Any) -> Any:
        return data


@pytest.mark.parametrize("model", [_PlainDecimal, _Aliased, _Clash, _OwnValidator, _ModelValidator])
def test_models_it_cannot_vouch_for_always_take_the_general_path(model):
    content = b'{"ok":true,"result":[{"amount":1.50,"sum":1.50,"n":1,"inner":{"amount":"x"}}]}'
    assert page_from_json(content, model) is None
