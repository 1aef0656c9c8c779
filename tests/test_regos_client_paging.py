"""Paging: every stop rule, the cases that must raise instead of dropping rows, laziness, chunking."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import responses

from sync.regos.errors import RegosListingChanged, RegosResponseError
from tests.regos_client_support import add, cheque_json, cheques, make_client, page_json, sent

DAY = date(2026, 8, 4)


def _uuids(pages: list[list]) -> list[str]:
    return [c.uuid for page in pages for c in page]


@responses.activate
def test_stops_on_an_empty_page_when_there_is_no_total():
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=2))
    add(responses, "DocCheque/Get", page_json([], next_offset=2))
    client, _ = make_client(page_size=2)

    pages = list(client.iter_cheques(first_day=DAY, last_day=DAY))

    assert _uuids(pages) == ["a", "b"]
    assert [sent(responses, i)["offset"] for i in range(2)] == [0, 2]
    assert len(responses.calls) == 2


@responses.activate
def test_stops_when_next_offset_is_missing():
    add(responses, "DocCheque/Get", page_json(cheques("a", "b")))
    client, _ = make_client(page_size=2)

    assert _uuids(client.iter_cheques(first_day=DAY, last_day=DAY)) == ["a", "b"]
    assert len(responses.calls) == 1


@responses.activate
def test_stops_when_next_offset_is_zero_and_there_is_no_total():
    add(responses, "DocCheque/Get", page_json(cheques("a"), next_offset=0))
    client, _ = make_client(page_size=5)

    assert _uuids(client.iter_cheques(first_day=DAY, last_day=DAY)) == ["a"]
    assert len(responses.calls) == 1


@responses.activate
def test_stops_when_next_offset_equals_the_current_offset():
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=2))
    add(responses, "DocCheque/Get", page_json(cheques("c"), next_offset=2))
    client, _ = make_client(page_size=2)

    assert _uuids(client.iter_cheques(first_day=DAY, last_day=DAY)) == ["a", "b", "c"]
    assert len(responses.calls) == 2


@responses.activate
def test_stops_when_next_offset_reaches_total():
    add(responses, "DocCheque/Get", page_json(cheques("a", "b", "c"), next_offset=3, total=5))
    add(responses, "DocCheque/Get", page_json(cheques("d", "e"), next_offset=6, total=5))
    client, _ = make_client(page_size=3)

    assert _uuids(client.iter_cheques(first_day=DAY, last_day=DAY)) == ["a", "b", "c", "d", "e"]
    assert len(responses.calls) == 2  # a short last page: no third request for an offset past the end
    assert [(sent(responses, i)["limit"], sent(responses, i)["offset"]) for i in range(2)] == [(3, 0), (3, 3)]


@responses.activate
def test_a_full_page_ending_at_total_is_confirmed_by_one_more_request():
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=2, total=4))
    add(responses, "DocCheque/Get", page_json(cheques("c", "d"), next_offset=4, total=4))
    add(responses, "DocCheque/Get", page_json([], next_offset=4, total=4))
    client, _ = make_client(page_size=2)

    assert _uuids(client.iter_cheques(first_day=DAY, last_day=DAY)) == ["a", "b", "c", "d"]
    assert [(sent(responses, i)["limit"], sent(responses, i)["offset"]) for i in range(3)] == [
        (2, 0), (2, 2), (2, 4)]


@responses.activate
def test_a_total_one_row_short_on_a_page_boundary_raises_instead_of_losing_the_row():
    # REGOS says 4, has 5: trusting total would end the listing after "d" and lose "e" silently.
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=2, total=4))
    add(responses, "DocCheque/Get", page_json(cheques("c", "d"), next_offset=4, total=4))
    add(responses, "DocCheque/Get", page_json(cheques("e"), next_offset=5, total=4))
    client, _ = make_client(page_size=2, max_attempts=1)  # one read: the re-reads are tested below
    seen: list[str] = []

    with pytest.raises(RegosResponseError, match="total 4, yet sent 1 more rows at offset 4"):
        for page in client.iter_cheques(first_day=DAY, last_day=DAY):
            seen.extend(c.uuid for c in page)
    assert seen == ["a", "b"]  # the page that could not be vouched for was not handed out


@responses.activate
def test_rows_appearing_after_a_full_last_page_raise_listing_changed():
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=2, total=2))
    add(responses, "DocCheque/Get", page_json(cheques("c"), next_offset=3, total=3))
    client, _ = make_client(page_size=2)

    with pytest.raises(RegosListingChanged, match="total 2 at the start, 3 at offset 2"):
        list(client.iter_cheques(first_day=DAY, last_day=DAY))


@responses.activate
def test_follows_next_offset_when_the_server_caps_the_page():
    # We ask for 1000, the server gives 2 at a time.
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=2, total=3))
    add(responses, "DocCheque/Get", page_json(cheques("c"), next_offset=3, total=3))
    client, _ = make_client(page_size=1000)

    assert _uuids(client.iter_cheques(first_day=DAY, last_day=DAY)) == ["a", "b", "c"]
    assert [sent(responses, i)["offset"] for i in range(2)] == [0, 2]


@responses.activate
def test_next_offset_zero_while_total_says_more_raises():
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=0, total=5))
    client, _ = make_client(page_size=2)

    with pytest.raises(RegosResponseError) as caught:
        list(client.iter_cheques(first_day=DAY, last_day=DAY))

    assert "DocCheque/Get" in str(caught.value)
    assert "paging did not advance at offset 0 of total 5" in str(caught.value)
    assert caught.value.method == "DocCheque/Get"


@responses.activate
def test_unchanged_next_offset_while_total_says_more_raises_after_the_good_page():
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=2, total=5))
    add(responses, "DocCheque/Get", page_json(cheques("c", "d"), next_offset=2, total=5))
    client, _ = make_client(page_size=2)
    pages = client.iter_cheques(first_day=DAY, last_day=DAY)

    assert [c.uuid for c in next(pages)] == ["a", "b"]
    with pytest.raises(RegosResponseError, match="paging did not advance at offset 2 of total 5"):
        next(pages)


@responses.activate
def test_missing_next_offset_while_total_says_more_raises():
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), total=3))
    client, _ = make_client(page_size=2)

    with pytest.raises(RegosResponseError, match="did not advance at offset 0 of total 3"):
        list(client.iter_cheques(first_day=DAY, last_day=DAY))


@responses.activate
def test_an_empty_page_below_total_raises():
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=2, total=4))
    add(responses, "DocCheque/Get", page_json([], next_offset=2, total=4))
    client, _ = make_client(page_size=2)

    with pytest.raises(RegosResponseError, match="empty page at offset 2 of total 4"):
        list(client.iter_cheques(first_day=DAY, last_day=DAY))


@responses.activate
def test_an_empty_listing_is_just_empty():
    add(responses, "DocCheque/Get", page_json([], next_offset=0, total=0))
    client, _ = make_client()

    assert list(client.iter_cheques(first_day=DAY, last_day=DAY)) == []


@responses.activate
def test_next_offset_that_would_skip_rows_raises():
    # Neither offset + rows (2) nor offset + the limit asked (5): rows 2..3 would be skipped.
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=4, total=9))
    client, _ = make_client(page_size=5)

    with pytest.raises(RegosResponseError, match="would skip rows: next_offset 4 after 2 rows at offset 0"):
        list(client.iter_cheques(first_day=DAY, last_day=DAY))


@responses.activate
def test_last_page_may_point_past_the_end():
    # A server that answers next_offset = offset + limit on the last, short page.
    add(responses, "DocCheque/Get", page_json(cheques("a", "b", "c"), next_offset=1000, total=3))
    client, _ = make_client(page_size=1000)

    assert _uuids(client.iter_cheques(first_day=DAY, last_day=DAY)) == ["a", "b", "c"]
    assert len(responses.calls) == 1


@responses.activate
def test_next_offset_at_total_with_rows_still_missing_raises():
    # The vendor rule "stop when next_offset >= total" would silently lose rows 2..4 here. (10 asked, so
    # 5 is not the offset + limit of a capped page either.)
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=5, total=5))
    client, _ = make_client(page_size=10)

    with pytest.raises(RegosResponseError, match="next_offset 5 after 2 rows at offset 0 of total 5"):
        list(client.iter_cheques(first_day=DAY, last_day=DAY))


@responses.activate
def test_next_offset_inside_the_page_would_repeat_rows_and_raises():
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=1, total=4))
    client, _ = make_client(page_size=2)

    with pytest.raises(RegosResponseError, match="would repeat rows: next_offset 1 after 2 rows at offset 0"):
        list(client.iter_cheques(first_day=DAY, last_day=DAY))


@responses.activate
def test_a_gap_is_refused_even_without_a_total():
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=3))
    client, _ = make_client(page_size=4)

    with pytest.raises(RegosResponseError, match="would skip rows: next_offset 3 after 2 rows at offset 0 "):
        list(client.iter_cheques(first_day=DAY, last_day=DAY))


@responses.activate
def test_total_changing_between_pages_raises_listing_changed():
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=2, total=4))
    add(responses, "DocCheque/Get", page_json(cheques("d"), next_offset=3, total=3))
    client, _ = make_client(page_size=2)
    pages = client.iter_cheques(first_day=DAY, last_day=DAY)
    next(pages)

    with pytest.raises(RegosListingChanged) as caught:
        next(pages)

    assert isinstance(caught.value, RegosResponseError)  # the sync treats it like any broken answer
    assert "total 4 at the start, 3 at offset 2" in str(caught.value)
    assert len(responses.calls) == 2  # not restarted


@responses.activate
def test_pages_are_fetched_lazily():
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=2, total=3))
    add(responses, "DocCheque/Get", page_json(cheques("c"), next_offset=3, total=3))
    client, _ = make_client(page_size=2)

    pages = client.iter_cheques(first_day=DAY, last_day=DAY)
    assert len(responses.calls) == 0
    first = next(pages)
    assert [c.uuid for c in first] == ["a", "b"]
    assert len(responses.calls) == 1  # the second page waits until the first is consumed
    second = next(pages)
    assert [c.uuid for c in second] == ["c"]
    assert len(responses.calls) == 2
    with pytest.raises(StopIteration):
        next(pages)


@responses.activate
def test_get_cheques_chunks_uuids_by_250():
    uuids = [f"u{i:03d}" for i in range(251)]
    add(responses, "DocCheque/Get", page_json(cheques("u000", "u001")))
    add(responses, "DocCheque/Get", page_json(cheques("u250")))
    client, _ = make_client()

    found = client.get_cheques(uuids)

    assert [c.uuid for c in found] == ["u000", "u001", "u250"]
    assert sent(responses, 0)["uuids"] == uuids[:250]
    assert sent(responses, 1)["uuids"] == ["u250"]


@responses.activate
def test_get_cheques_pages_within_a_chunk_and_skips_duplicates():
    add(responses, "DocCheque/Get", page_json(cheques("x"), next_offset=1, total=2))
    add(responses, "DocCheque/Get", page_json(cheques("y"), next_offset=2, total=2))
    add(responses, "DocCheque/Get", page_json([], next_offset=2, total=2))  # the full last page confirmed
    client, _ = make_client(page_size=1)

    found = client.get_cheques(["x", "y", "x"])

    assert [c.uuid for c in found] == ["x", "y"]
    assert sent(responses, 0) == {"uuids": ["x", "y"], "limit": 1, "offset": 0}
    assert sent(responses, 1) == {"uuids": ["x", "y"], "limit": 1, "offset": 1}
    assert sent(responses, 2) == {"uuids": ["x", "y"], "limit": 1, "offset": 2}


def test_get_by_ids_with_nothing_to_ask_sends_nothing():
    client, _ = make_client()
    with responses.RequestsMock() as rsps:  # any request would fail: nothing is registered
        assert client.get_cheques([]) == []
        assert client.get_wholesales([]) == []
        assert client.get_cash_sessions([]) == []
        assert client.get_operating_cashes([]) == []
        assert len(rsps.calls) == 0


_STOCK = '{"id": 3, "name": "Chilonzor", "firm": {"id": 1, "name": "MChJ Misol"}}'
_CASH = '{"id": 7, "virtual": false, "stock": ' + _STOCK + '}'


@responses.activate
def test_operating_cashes_all_or_by_id():
    add(responses, "OperatingCash/Get", page_json([_CASH], next_offset=1, total=1))
    add(responses, "OperatingCash/Get", page_json([_CASH], next_offset=1, total=1))
    client, _ = make_client(page_size=100)

    everything = client.get_operating_cashes()
    some = client.get_operating_cashes([7])

    assert [(c.id, c.stock.id) for c in everything] == [(7, 3)]
    assert [c.id for c in some] == [7]
    assert sent(responses, 0) == {"limit": 100, "offset": 0}
    assert sent(responses, 1) == {"ids": [7], "limit": 100, "offset": 0}


@responses.activate
def test_stocks_and_users_page_through_everything():
    add(responses, "Stock/Get", page_json([_STOCK], next_offset=1, total=2))
    add(responses, "Stock/Get", page_json(['{"id": 4, "name": "Yunusobod"}'], next_offset=2, total=2))
    add(responses, "Stock/Get", page_json([], next_offset=2, total=2))
    add(responses, "User/Get", page_json(['{"id": 17, "full_name": "Toshmatov Aziz", "active": true}'],
                                         next_offset=1, total=1))
    add(responses, "User/Get", page_json([], next_offset=1, total=1))
    client, _ = make_client(page_size=1)

    assert [s.id for s in client.get_stocks()] == [3, 4]
    assert [u.full_name for u in client.get_users()] == ["Toshmatov Aziz"]
    assert [sent(responses, i) for i in range(5)] == [
        {"limit": 1, "offset": 0}, {"limit": 1, "offset": 1}, {"limit": 1, "offset": 2},
        {"limit": 1, "offset": 0}, {"limit": 1, "offset": 1}]


@responses.activate
def test_cash_sessions_by_uuid_and_by_period():
    session = ('{"uuid": "9b1e", "code": "S-0412", "operating_cash_id": 7, "start_date": 1754272800, '
               '"closed": true, "close_date": 1754319600, "start_user": {"id": 5, "full_name": "K"}}')
    add(responses, "DocCashSession/Get", page_json([session], next_offset=1, total=1))
    add(responses, "DocCashSession/Get", page_json([session], next_offset=1, total=1))
    client, _ = make_client(page_size=50)

    by_uuid = client.get_cash_sessions(["9b1e"])
    by_period = list(client.iter_cash_sessions(start=datetime(2025, 8, 3, 19, 0, tzinfo=UTC),
                                               end=datetime(2025, 8, 4, 18, 59, 59, tzinfo=UTC)))

    assert by_uuid[0].operating_cash_id == 7
    # 1754272800 = 1754265600 (2025-08-04T00:00Z) + 7200: 02:00Z, 07:00 in Tashkent.
    assert by_uuid[0].start_date == datetime(2025, 8, 4, 2, 0, tzinfo=UTC)
    assert [s.uuid for page in by_period for s in page] == ["9b1e"]
    assert sent(responses, 0) == {"uuids": ["9b1e"], "limit": 50, "offset": 0}
    # 2025-08-03T19:00Z = 1754247600 (the REGOS docs' own example), end inclusive 86399 s later.
    assert sent(responses, 1) == {"start_date": 1754247600, "end_date": 1754333999, "limit": 50, "offset": 0}


def test_cash_sessions_need_aware_datetimes():
    client, _ = make_client()
    with pytest.raises(ValueError, match="aware"):
        client.iter_cash_sessions(start=datetime(2026, 1, 1), end=datetime(2026, 1, 2))


@responses.activate
def test_cheque_lines_are_a_plain_array():
    line = ('{"uuid": "a1b2", "has_storno": false, "storno_uuid": null, "document": "3f6c", "stock_id": 3, '
            '"item": {"id": 1201, "code": 1201, "name": "Choy qora 100g"}, "order": 1, '
            '"quantity": 2.0, "price": 42500.00, "price2": 45000.00}')
    add(responses, "ChequeItemOperation/Get", f'{{"ok": true, "result": [{line}]}}')
    client, _ = make_client()

    lines = client.get_cheque_lines("3f6c")

    assert sent(responses) == {"doc_sale_uuid": "3f6c"}
    assert [(x.stock_id, str(x.quantity), str(x.price)) for x in lines] == [(3, "2.0", "42500.00")]


@responses.activate
def test_wholesale_by_ids():
    doc = ('{"id": 5601, "date": 1754301000, "code": "WS-000981", "stock": {"id": 3, "name": "C"}, '
           '"amount": 12450000.00, "exchange_rate": 1, "performed": true, "deleted_mark": false, '
           '"seller": {"id": 17, "full_name": "Toshmatov Aziz"}}')
    add(responses, "DocWholeSale/Get", page_json([doc]))
    add(responses, "DocWholeSaleReturn/Get", page_json([]))
    client, _ = make_client()

    found = client.get_wholesales([5601])
    returns = client.get_wholesale_returns([9])

    assert [(d.id, str(d.amount), d.seller.id) for d in found] == [(5601, "12450000.00", 17)]
    assert returns == []
    assert sent(responses, 0)["ids"] == [5601]
    assert sent(responses, 1)["ids"] == [9]


@responses.activate
def test_cheque_page_rows_keep_their_order():
    rows = [cheque_json("late", date=1754290600), cheque_json("early", date=1754290500)]
    add(responses, "DocCheque/Get", page_json(rows))
    client, _ = make_client()

    # The client relies on the server's sort (sort_orders Date ASC) and does not reorder.
    assert _uuids(client.iter_cheques(first_day=DAY, last_day=DAY)) == ["late", "early"]
    assert sent(responses)["sort_orders"] == [{"column": "Date", "direction": "ASC"}]


@responses.activate
def test_a_one_off_paging_glitch_is_read_again_and_heals():
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=2, total=5))
    add(responses, "DocCheque/Get", page_json(cheques("c", "d"), next_offset=2, total=5))  # stuck once
    add(responses, "DocCheque/Get", page_json(cheques("c", "d"), next_offset=4, total=5))
    add(responses, "DocCheque/Get", page_json(cheques("e"), next_offset=6, total=5))
    client, sleeps = make_client(page_size=2)

    assert _uuids(client.iter_cheques(first_day=DAY, last_day=DAY)) == ["a", "b", "c", "d", "e"]
    assert [sent(responses, i)["offset"] for i in range(4)] == [0, 2, 2, 4]
    assert sleeps == [1.0]  # backoff_base_s before the second read of the page
    assert client.stats.retries == 1


@responses.activate
def test_a_paging_glitch_that_persists_fails_after_max_attempts_reads_with_backoff():
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=2, total=5))
    add(responses, "DocCheque/Get", page_json([], next_offset=2, total=5))  # every read of offset 2: empty
    client, sleeps = make_client(page_size=2, max_attempts=3)
    pages = client.iter_cheques(first_day=DAY, last_day=DAY)

    assert [c.uuid for c in next(pages)] == ["a", "b"]
    with pytest.raises(RegosResponseError, match=r"empty page at offset 2 of total 5 \(read 3 times\)") as caught:
        next(pages)
    assert caught.value.attempts == 3
    assert [sent(responses, i)["offset"] for i in range(4)] == [0, 2, 2, 2]
    assert sleeps == [1.0, 2.0]


@responses.activate
def test_an_invalid_document_is_not_read_again():
    # Reading again does not change what REGOS stores: a bad entity fails at once.
    add(responses, "DocCheque/Get", page_json([cheque_json("a", amount="null")], next_offset=1, total=1))
    client, sleeps = make_client(page_size=5)

    with pytest.raises(RegosResponseError, match="amount"):
        list(client.iter_cheques(first_day=DAY, last_day=DAY))
    assert len(responses.calls) == 1 and sleeps == []
