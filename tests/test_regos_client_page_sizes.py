"""Page sizes: the client asks for the largest page, learns the server's real cap, follows every
``next_offset`` rule of a capping server, and shrinks pages that time out or get slow.

REGOS silently replaces a ``limit`` above its query limit with its own cap (docs en
docwholesale/get, wholesaleoperation/get) and does not publish its ``next_offset`` rule; the
vendor's reference methods default to and cap at 10,000 (swagger in regos-software/py-integrations).
Every expected request list below is worked out by hand from the pages the mock serves.
"""

from __future__ import annotations

from datetime import date

import pytest
import requests
import responses

from sync.regos.client import DEFAULT_PAGE_SIZE, RegosClient
from sync.regos.errors import RegosResponseError, RegosTransportError
from tests.regos_client_support import BASE, KEY, FakeClock, add, cheques, make_client, page_json, sent, url

DAY = date(2026, 8, 4)


def _uuids(pages: list[list]) -> list[str]:
    return [c.uuid for page in pages for c in page]


def _asked(n: int) -> list[tuple[int, int]]:
    return [(sent(responses, i)["limit"], sent(responses, i)["offset"]) for i in range(n)]


def test_the_default_page_size_is_the_vendors_reference_cap():
    client, _ = make_client()
    assert DEFAULT_PAGE_SIZE == 10_000
    assert client.page_size == 10_000
    assert client.page_limits == {}


@responses.activate
@pytest.mark.parametrize(
    ("rule", "next_offsets"),
    [
        ("offset + rows", [2, 4, 5]),
        ("offset + limit asked", [5, 4, 6]),  # the first page asked 5 and got 2; then 2 were asked
        ("0 on the last page", [2, 4, 0]),
    ],
)
def test_a_capped_listing_is_read_whole_whatever_next_offset_rule(rule, next_offsets):
    # Asked 5, the server caps at 2; total 5 → pages a,b | c,d | e.
    first, second, third = next_offsets
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=first, total=5))
    add(responses, "DocCheque/Get", page_json(cheques("c", "d"), next_offset=second, total=5))
    add(responses, "DocCheque/Get", page_json(cheques("e"), next_offset=third, total=5))
    client, _ = make_client(page_size=5)

    assert _uuids(client.iter_cheques(first_day=DAY, last_day=DAY)) == ["a", "b", "c", "d", "e"], rule
    # The cap (2) is learned from the first page and asked for from then on: ceil(5 / 2) = 3 requests,
    # the short last page needs no confirmation.
    assert len(responses.calls) == 3
    assert _asked(3) == [(5, 0), (2, 2), (2, 4)]
    assert client.page_limits == {"DocCheque/Get": 2}


@responses.activate
def test_offset_plus_limit_on_a_capped_page_is_not_followed_naively():
    # Followed naively, next_offset 10 would skip rows 3..9; the client continues at the 3 rows received.
    add(responses, "DocCheque/Get", page_json(cheques("a", "b", "c"), next_offset=10, total=4))
    add(responses, "DocCheque/Get", page_json(cheques("d"), next_offset=6, total=4))
    client, _ = make_client(page_size=10)

    assert _uuids(client.iter_cheques(first_day=DAY, last_day=DAY)) == ["a", "b", "c", "d"]
    assert _asked(2) == [(10, 0), (3, 3)]


@responses.activate
def test_offset_plus_limit_without_a_total_continues_at_the_rows_received():
    # No total: a short page may be capped or the last one; an empty page ends the listing.
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=4))
    add(responses, "DocCheque/Get", page_json(cheques("c"), next_offset=6))
    add(responses, "DocCheque/Get", page_json([], next_offset=7))
    client, _ = make_client(page_size=4)

    assert _uuids(client.iter_cheques(first_day=DAY, last_day=DAY)) == ["a", "b", "c"]
    assert _asked(3) == [(4, 0), (4, 2), (4, 3)]  # nothing learned without a total
    assert client.page_limits == {}


@responses.activate
def test_a_page_full_to_the_learned_cap_ending_at_total_is_confirmed():
    # Asked 10, capped at 2, total 4: the second page is full relative to the cap → one more request.
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=2, total=4))
    add(responses, "DocCheque/Get", page_json(cheques("c", "d"), next_offset=4, total=4))
    add(responses, "DocCheque/Get", page_json([], next_offset=4, total=4))
    client, _ = make_client(page_size=10)

    assert _uuids(client.iter_cheques(first_day=DAY, last_day=DAY)) == ["a", "b", "c", "d"]
    assert _asked(3) == [(10, 0), (2, 2), (2, 4)]


@responses.activate
def test_a_total_one_row_short_is_caught_on_a_capped_server():
    # REGOS says 4, has 5, caps at 2: without counting the capped page as full, "e" would be lost.
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=10, total=4))
    add(responses, "DocCheque/Get", page_json(cheques("c", "d"), next_offset=4, total=4))
    add(responses, "DocCheque/Get", page_json(cheques("e"), next_offset=6, total=4))
    client, _ = make_client(page_size=10, max_attempts=1)

    with pytest.raises(RegosResponseError, match="total 4, yet sent 1 more rows at offset 4"):
        list(client.iter_cheques(first_day=DAY, last_day=DAY))


@responses.activate
def test_a_first_short_page_ending_at_total_takes_one_request():
    # Before any cap is known, a page shorter than asked that ends at total is the whole listing.
    add(responses, "DocCheque/Get", page_json(cheques("a", "b", "c"), next_offset=3, total=3))
    client, _ = make_client()

    assert _uuids(client.iter_cheques(first_day=DAY, last_day=DAY)) == ["a", "b", "c"]
    assert _asked(1) == [(10_000, 0)]


@responses.activate
def test_the_learned_cap_is_kept_per_method_for_the_clients_later_listings():
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=2, total=3))
    add(responses, "DocCheque/Get", page_json(cheques("c"), next_offset=3, total=3))
    add(responses, "DocCheque/Get", page_json(cheques("x"), next_offset=1, total=1))
    add(responses, "DocWholeSale/Get", page_json([], next_offset=0, total=0))
    client, _ = make_client(page_size=50)

    list(client.iter_cheques(first_day=DAY, last_day=DAY))
    list(client.iter_cheques(first_day=DAY, last_day=DAY))
    list(client.iter_wholesales(first_day=DAY, last_day=DAY))

    # The second listing asks the learned cap at once; another method starts from page_size.
    assert _asked(4) == [(50, 0), (2, 2), (2, 0), (50, 0)]
    assert client.page_limits == {"DocCheque/Get": 2}


@responses.activate
def test_a_glitch_on_a_capped_page_teaches_no_cap():
    # A page that does not add up (next_offset 3 is neither 2 nor 10) is read again; the cap comes from
    # the good read, not the broken one.
    add(responses, "DocCheque/Get", page_json(cheques("a"), next_offset=3, total=3))
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=2, total=3))
    add(responses, "DocCheque/Get", page_json(cheques("c"), next_offset=3, total=3))
    client, sleeps = make_client(page_size=10)

    assert _uuids(client.iter_cheques(first_day=DAY, last_day=DAY)) == ["a", "b", "c"]
    assert _asked(3) == [(10, 0), (10, 0), (2, 2)]
    assert sleeps == [1.0]


# --- shrinking: timeouts and slow pages ----------------------------------------------------------


@responses.activate
def test_a_timed_out_page_is_asked_again_at_half_the_size_without_counting_a_failure():
    add(responses, "DocCheque/Get", requests.exceptions.ReadTimeout("read timed out"))
    add(responses, "DocCheque/Get", requests.exceptions.ReadTimeout("read timed out"))
    add(responses, "DocCheque/Get", page_json(cheques("a", "b"), next_offset=2, total=2))
    client, sleeps = make_client(page_size=1000, max_attempts=1)

    # max_attempts=1: had a timeout counted as a failed attempt, the listing would have failed.
    assert _uuids(client.iter_cheques(first_day=DAY, last_day=DAY)) == ["a", "b"]
    assert _asked(3) == [(1000, 0), (500, 0), (250, 0)]
    assert sleeps == []  # asked again at once
    assert client.stats.retries == 2
    assert client.page_limits == {"DocCheque/Get": 250}


@responses.activate
def test_at_the_floor_a_timeout_counts_as_a_failed_attempt():
    # 200 → 100 (MIN_PAGE_SIZE, free); the next timeout at 100 is a failure with backoff.
    add(responses, "DocCheque/Get", requests.exceptions.ReadTimeout("read timed out"))
    add(responses, "DocCheque/Get", requests.exceptions.ReadTimeout("read timed out"))
    add(responses, "DocCheque/Get", page_json(cheques("a"), next_offset=1, total=1))
    client, sleeps = make_client(page_size=200)

    assert _uuids(client.iter_cheques(first_day=DAY, last_day=DAY)) == ["a"]
    assert _asked(3) == [(200, 0), (100, 0), (100, 0)]
    assert sleeps == [1.0]


@responses.activate
def test_timeouts_at_the_floor_still_give_up_after_max_attempts():
    add(responses, "DocCheque/Get", requests.exceptions.ReadTimeout("read timed out"))
    client, _ = make_client(page_size=100, max_attempts=2)

    with pytest.raises(RegosTransportError, match="failed after 2 attempts: timed out"):
        list(client.iter_cheques(first_day=DAY, last_day=DAY))
    assert _asked(2) == [(100, 0), (100, 0)]


@responses.activate
def test_a_slow_full_page_halves_the_next_ones():
    clock = FakeClock()
    rows = [f"c{i:03d}" for i in range(600)]
    bodies = iter([
        (16.0, page_json(cheques(*rows[:400]), next_offset=400, total=600)),  # > 30 s / 2
        (0.1, page_json(cheques(*rows[400:]), next_offset=600, total=600)),
        (0.1, page_json([], next_offset=600, total=600)),
    ])

    def answer(request):  # type: ignore[no-untyped-def]
        took, body = next(bodies)
        clock.advance(took)
        return 200, {}, body

    responses.add_callback(responses.POST, url("DocCheque/Get"), callback=answer)
    sleeps: list[float] = []
    from sync.regos.ratelimit import UnlimitedLimiter

    client = RegosClient(base_url=BASE, key=KEY, limiter=UnlimitedLimiter(), sleep=sleeps.append,
                         jitter=lambda: 1.0, clock=clock, page_size=400, timeout_s=30)

    assert _uuids(client.iter_cheques(first_day=DAY, last_day=DAY)) == rows
    # 400 rows took 16 s: the rest is asked 200 at a time; 200 rows ending at total is a full page → confirmed.
    assert _asked(3) == [(400, 0), (200, 400), (200, 600)]
    assert client.page_limits == {"DocCheque/Get": 200}
