"""Tashkent business days -> REGOS unix periods, and splitting long periods into <=1-month windows.

Expected unix values are worked out by hand from 2026-01-01T00:00Z = 1767225600 (56 years since 1970
with 14 leap days: 20454 days x 86400) and Tashkent = UTC+5, so a Tashkent midnight is 19:00Z the
day before (+68400 s from that UTC midnight).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import responses

from sync.regos.client import month_windows
from sync.regos.models import ChequeStatus
from tests.regos_client_support import add, cheques, make_client, page_json, sent

JAN_1_2026_UTC = 1767225600
DAY_S = 86400
TASHKENT_MIDNIGHT_SHIFT = 19 * 3600  # 00:00 Tashkent = 19:00Z the previous day


def tashkent_midnight(days_after_jan_1: int) -> int:
    """Unix seconds of 00:00 Tashkent on 2026-01-01 + n days (computed by hand, not by the code)."""
    return JAN_1_2026_UTC + (days_after_jan_1 - 1) * DAY_S + TASHKENT_MIDNIGHT_SHIFT


def test_tashkent_midnight_helper_matches_the_brief():
    # 2026-01-15 00:00 Tashkent = 2026-01-14T19:00Z
    assert tashkent_midnight(14) == int(datetime(2026, 1, 14, 19, 0, tzinfo=UTC).timestamp()) == 1768417200


def test_month_windows_split_at_one_month():
    assert month_windows(date(2026, 1, 15), date(2026, 3, 20)) == [
        (date(2026, 1, 15), date(2026, 2, 14)),
        (date(2026, 2, 15), date(2026, 3, 14)),
        (date(2026, 3, 15), date(2026, 3, 20)),
    ]


def test_month_windows_at_month_ends_stay_shorter_than_a_month():
    # add_months(Jan 31, 1) is clamped to Feb 28, so the first window ends Feb 27.
    assert month_windows(date(2026, 1, 31), date(2026, 3, 31)) == [
        (date(2026, 1, 31), date(2026, 2, 27)),
        (date(2026, 2, 28), date(2026, 3, 27)),
        (date(2026, 3, 28), date(2026, 3, 31)),
    ]


def test_month_windows_for_a_whole_month_and_one_day_more():
    assert month_windows(date(2026, 2, 1), date(2026, 2, 28)) == [(date(2026, 2, 1), date(2026, 2, 28))]
    assert month_windows(date(2026, 2, 1), date(2026, 3, 1)) == [
        (date(2026, 2, 1), date(2026, 2, 28)), (date(2026, 3, 1), date(2026, 3, 1))]
    assert month_windows(date(2026, 8, 4), date(2026, 8, 4)) == [(date(2026, 8, 4), date(2026, 8, 4))]


def test_reversed_period_is_refused_before_any_request():
    client, _ = make_client()
    with responses.RequestsMock() as rsps, pytest.raises(ValueError, match="before first_day"):
        client.iter_cheques(first_day=date(2026, 3, 2), last_day=date(2026, 3, 1))
    assert len(rsps.calls) == 0


@responses.activate
def test_cheques_over_two_months_are_read_window_by_window_with_exact_bounds():
    add(responses, "DocCheque/Get", page_json(cheques("w1a", "w1b"), next_offset=2, total=3))
    add(responses, "DocCheque/Get", page_json(cheques("w1c"), next_offset=3, total=3))
    add(responses, "DocCheque/Get", page_json(cheques("w2a"), next_offset=1, total=1))
    add(responses, "DocCheque/Get", page_json([], next_offset=0, total=0))
    client, _ = make_client(page_size=2)

    pages = list(client.iter_cheques(first_day=date(2026, 1, 15), last_day=date(2026, 3, 20)))

    assert [[c.uuid for c in page] for page in pages] == [["w1a", "w1b"], ["w1c"], ["w2a"]]
    bodies = [sent(responses, i) for i in range(4)]
    # Window 1: Jan 15 (day 14 after Jan 1) .. Feb 14, end = Feb 15 (day 45) midnight - 1.
    # Window 2: Feb 15 .. Mar 14, end = Mar 15 (day 73) midnight - 1.
    # Window 3: Mar 15 .. Mar 20, end = Mar 21 (day 79) midnight - 1.
    assert [(b["start_date"], b["end_date"], b["offset"]) for b in bodies] == [
        (1768417200, 1771095599, 0),
        (1768417200, 1771095599, 2),
        (1771095600, 1773514799, 0),
        (1773514800, 1774033199, 0),
    ]
    assert (tashkent_midnight(14), tashkent_midnight(45) - 1) == (1768417200, 1771095599)
    assert (tashkent_midnight(73), tashkent_midnight(79) - 1) == (1773514800, 1774033199)
    assert bodies[0] == {
        "start_date": 1768417200, "end_date": 1771095599, "status": "Closed", "limit": 2, "offset": 0,
        "sort_orders": [{"column": "Date", "direction": "ASC"}],
    }


@responses.activate
def test_one_tashkent_day_ends_at_235959_and_the_next_starts_at_midnight():
    add(responses, "DocCheque/Get", page_json([]))
    add(responses, "DocCheque/Get", page_json([]))
    client, _ = make_client()

    list(client.iter_cheques(first_day=date(2026, 8, 4), last_day=date(2026, 8, 4)))
    list(client.iter_cheques(first_day=date(2026, 8, 5), last_day=date(2026, 8, 5)))

    day1, day2 = sent(responses, 0), sent(responses, 1)
    # 2026-08-04 is day 215 after Jan 1 (31+28+31+30+31+30+31 = 212, + 3).
    assert day1["start_date"] == tashkent_midnight(215) == 1785783600  # 2026-08-03T19:00:00Z
    assert day1["end_date"] == 1785869999      # 2026-08-04T18:59:59Z = 23:59:59 local
    assert day2["start_date"] == 1785870000    # 2026-08-04T19:00:00Z = 00:00:00 local
    assert day1["end_date"] + 1 == day2["start_date"]
    assert datetime.fromtimestamp(1785869999, tz=UTC) == datetime(2026, 8, 4, 18, 59, 59, tzinfo=UTC)


@responses.activate
def test_status_filter_can_be_dropped_or_changed():
    add(responses, "DocCheque/Get", page_json([]))
    add(responses, "DocCheque/Get", page_json([]))
    client, _ = make_client()

    list(client.iter_cheques(first_day=date(2026, 8, 4), last_day=date(2026, 8, 4), status=None))
    list(client.iter_cheques(first_day=date(2026, 8, 4), last_day=date(2026, 8, 4),
                             status=ChequeStatus.CANCELED))

    assert "status" not in sent(responses, 0)
    assert sent(responses, 1)["status"] == "Canceled"


@responses.activate
def test_wholesale_listings_are_split_too_and_carry_the_flags():
    for _ in range(2):
        add(responses, "DocWholeSale/Get", page_json([], next_offset=0, total=0))
    add(responses, "DocWholeSaleReturn/Get", page_json([], next_offset=0, total=0))
    client, _ = make_client(page_size=200)

    list(client.iter_wholesales(first_day=date(2026, 1, 15), last_day=date(2026, 2, 20)))
    list(client.iter_wholesale_returns(first_day=date(2026, 1, 15), last_day=date(2026, 1, 15),
                                       performed=None, deleted_mark=None))

    first, second, returns = (sent(responses, i) for i in range(3))
    assert first == {
        "start_date": 1768417200, "end_date": 1771095599, "performed": True, "deleted_mark": False,
        "limit": 200, "offset": 0, "sort_orders": [{"column": "Date", "direction": "ASC"}],
    }
    # Feb 15 .. Feb 20: end = Feb 21 (day 51) midnight - 1.
    assert (second["start_date"], second["end_date"]) == (1771095600, tashkent_midnight(51) - 1)
    assert tashkent_midnight(51) - 1 == 1771613999
    assert returns == {
        "start_date": 1768417200, "end_date": 1768503599, "limit": 200, "offset": 0,
        "sort_orders": [{"column": "Date", "direction": "ASC"}],
    }
