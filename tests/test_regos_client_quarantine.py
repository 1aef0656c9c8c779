"""The sync's listings set unusable rows aside (``RejectedRow``) instead of failing the page.

Row shapes follow the vendor's schema (regos-software/py-integrations, schemas/api/docs/cheque.py:
``DocCheque.uuid: str``, ``date: int`` unix seconds, ``amount: Decimal``, ``session: str``;
schemas/api/docs/wholesale.py: ``DocWholeSale.id: int``, ``stock: Stock``). Every other caller
(``iter_cheques``, ``get_cheques`` without ``rejected``) stays strict: see test_regos_client_responses.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import responses

from sync.regos.client import RejectedRow, parse_rows
from sync.regos.errors import RegosResponseError
from sync.regos.models import DocCheque, DocWholeSale
from tests.regos_client_support import add, cheque_json, make_client, page_json, sent

DAY = date(2025, 8, 4)
WHEN = 1754290512  # 2025-08-04 06:55:12 UTC = 11:55:12 in Tashkent


def _listing(client):  # type: ignore[no-untyped-def]
    return list(client.listing_cheques(first_day=DAY, last_day=DAY))


@responses.activate
def test_a_bad_row_is_set_aside_with_the_field_named_and_the_rest_of_the_page_kept():
    rows = [cheque_json("a"), cheque_json("b", amount='"abc"'), cheque_json("c", amount="12.50")]
    add(responses, "DocCheque/Get", page_json(rows, next_offset=3, total=3))
    client, sleeps = make_client()

    [page] = _listing(client)

    assert [c.uuid for c in page.rows()] == ["a", "c"]
    assert page.rows()[1].amount == Decimal("12.50")
    assert page.count == 3  # as received: the paging checks count the rejected row
    [bad] = page.rejected()
    assert isinstance(bad, RejectedRow)
    assert bad.reason.startswith("DocCheque/Get: result[1].amount: Input should be a valid decimal")
    assert "page at offset 0" in bad.reason
    assert (bad.method, bad.index, bad.regos_id) == ("DocCheque/Get", 1, "b")
    assert bad.date == datetime.fromtimestamp(WHEN, tz=UTC)
    assert bad.raw["amount"] == "abc" and bad.raw["uuid"] == "b"
    assert len(responses.calls) == 1 and sleeps == []  # not retried: REGOS would send the same


@responses.activate
def test_rejected_rows_count_for_paging_so_nothing_is_skipped_or_repeated():
    # The server caps pages at 2: the bad row is the second of the first page; next_offset 2 is right.
    add(responses, "DocCheque/Get", page_json([cheque_json("a"), cheque_json("b", amount='"x"')],
                                              next_offset=2, total=3))
    add(responses, "DocCheque/Get", page_json([cheque_json("c")], next_offset=3, total=3))
    client, _ = make_client(page_size=1000)

    pages = _listing(client)

    assert [c.uuid for p in pages for c in p.rows()] == ["a", "c"]
    assert [r.regos_id for p in pages for r in p.rejected()] == ["b"]
    assert [sent(responses, i)["offset"] for i in range(2)] == [0, 2]


def test_unreadable_id_and_date_are_left_empty_and_several_errors_are_counted():
    rows = [{"date": "not a time", "status": "Closed", "amount": "abc"}, {"uuid": "z", "date": WHEN,
                                                                          "status": "Closed", "amount": 5}]
    valid, rejected = parse_rows(DocCheque, rows, method="DocCheque/Get")

    assert valid == []  # "z" has no session
    first, second = rejected
    assert (first.regos_id, first.date) == ("", None)
    assert first.reason.startswith("DocCheque/Get: result[0].uuid: Field required (and 3 more)")
    assert (second.regos_id, second.reason) == ("z", "DocCheque/Get: result[1].session: Field required")


def test_a_wholesale_row_is_named_by_its_id():
    rows = [{"id": 5605, "date": WHEN, "amount": 10, "performed": True}]  # no stock
    valid, [bad] = parse_rows(DocWholeSale, rows, method="DocWholeSale/Get")
    assert valid == [] and bad.regos_id == "5605" and ".stock: Field required" in bad.reason


@responses.activate
def test_get_cheques_with_a_rejected_list_sets_aside_without_it_fails():
    body = page_json([cheque_json("a"), cheque_json("b", amount='"abc"')], next_offset=2, total=2)
    add(responses, "DocCheque/Get", body)
    add(responses, "DocCheque/Get", body)
    client, _ = make_client()

    rejected: list[RejectedRow] = []
    assert [c.uuid for c in client.get_cheques(["a", "b"], rejected=rejected)] == ["a"]
    assert [r.regos_id for r in rejected] == ["b"]
    with pytest.raises(RegosResponseError, match=r"result\[1\]\.amount"):
        client.get_cheques(["a", "b"])


def test_a_date_far_out_of_range_is_an_invalid_field_not_a_crash():
    rows = [{"uuid": "far", "date": 10**20, "status": "Closed", "session": "s", "amount": 1}]
    valid, [bad] = parse_rows(DocCheque, rows, method="DocCheque/Get")
    assert valid == [] and bad.date is None
    assert bad.reason == "DocCheque/Get: result[0].date: Value error, unix seconds out of range: 1" + "0" * 20
