"""Registers that move between stores: every sale counts for the stock its register had when it was made.

REGOS moves a register with ``OperatingCash/Edit`` "without changing historical POS data" (docs.regos.uz,
English docs of OperatingCash/Edit); ``ChequeItemOperation.stock_id`` is the stock written on each sold
line (swagger ``schemas/api/docs/cheque_operation.py`` in regos-software/py-integrations, and
docs.regos.uz /en/api/retail/docchequeoperation/get). The emulator
serves both: ``OperatingCash/Get`` answers the stock at its clock, cheque lines the stock at the sale.

The week of 16–22 November 2026 (Monday–Sunday), Asia/Tashkent:

* register 200 is Navoiy's; moved to G'ijduvon on Wednesday 07:00 and back to Navoiy on Friday 07:00;
  one shift a day 08:00–20:00, cheques at 10:00 (100000.00 + 1000.00 × day number, Monday = 0) and
  15:00 (50000.00), seller Aziz;
* register 100 stays Navoiy's; one shift a day 08:00–20:00, one cheque at 12:00 (20000.00), seller Dilnoza.

So register 200 sells for Navoiy Mon, Tue, Fri, Sat, Sun and for G'ijduvon Wed, Thu — worked out by hand in
``WEEK`` below. Runs are at 23:59 of their day unless said otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from sync import services
from sync.engine import locate
from sync.models import RegisterStockPeriod, RegosCashSession, SalesFact, SyncRun
from sync.regos.emulator import Dataset, FakeRegosServer
from tests.sync_data import (
    AZIZ,
    DILNOZA,
    E_AZIZ,
    E_DILNOZA,
    GIJ,
    GIJDUVON,
    NAV,
    NAVOIY,
    Z,
    add_references,
    at,
    d,
    history_table,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_today", "cast")]

MON = date(2026, 11, 16)
TUE, WED, THU, FRI, SAT, SUN = (MON + timedelta(days=k) for k in range(1, 7))
WEEK_DAYS = (MON, TUE, WED, THU, FRI, SAT, SUN)
MOVED_AWAY, MOVED_BACK = at(WED, 7), at(FRI, 7)

# (day, branch, employee): (retail, retail returns, wholesale, wholesale returns, net, cheques)
WEEK = {
    (MON, NAV, E_AZIZ): (d("150000.00"), Z, Z, Z, d("150000.00"), 2),  # 100000 + 50000
    (TUE, NAV, E_AZIZ): (d("151000.00"), Z, Z, Z, d("151000.00"), 2),  # 101000 + 50000
    (WED, GIJ, E_AZIZ): (d("152000.00"), Z, Z, Z, d("152000.00"), 2),  # 102000 + 50000, after the move
    (THU, GIJ, E_AZIZ): (d("153000.00"), Z, Z, Z, d("153000.00"), 2),  # 103000 + 50000
    (FRI, NAV, E_AZIZ): (d("154000.00"), Z, Z, Z, d("154000.00"), 2),  # 104000 + 50000, moved back
    (SAT, NAV, E_AZIZ): (d("155000.00"), Z, Z, Z, d("155000.00"), 2),
    (SUN, NAV, E_AZIZ): (d("156000.00"), Z, Z, Z, d("156000.00"), 2),
    **{(day, NAV, E_DILNOZA): (d("20000.00"), Z, Z, Z, d("20000.00"), 1) for day in WEEK_DAYS},
}


def week_dataset() -> Dataset:
    ds = Dataset()
    add_references(ds)  # registers 100 (Navoiy), 200 (G'ijduvon), 300; 200 is made Navoiy's below
    ds.move_operating_cash(200, NAVOIY, at=at(MON - timedelta(days=30)))
    ds.move_operating_cash(200, GIJDUVON, at=MOVED_AWAY)
    ds.move_operating_cash(200, NAVOIY, at=MOVED_BACK)
    for k, day in enumerate(WEEK_DAYS):
        for cash in (100, 200):
            ds.add_session(uuid=f"s-{cash}-{k}", operating_cash_id=cash, start=at(day, 8), close=at(day, 20),
                           start_user_id=DILNOZA if cash == 100 else AZIZ)
        ds.add_cheque(uuid=f"a-{k}", date=at(day, 10), session=f"s-200-{k}", amount=d("100000.00") + 1000 * k,
                      seller_id=AZIZ)
        ds.add_cheque(uuid=f"b-{k}", date=at(day, 15), session=f"s-200-{k}", amount=d("50000.00"), seller_id=AZIZ)
        ds.add_cheque(uuid=f"n-{k}", date=at(day, 12), session=f"s-100-{k}", amount=d("20000.00"),
                      seller_id=DILNOZA)
    return ds


@pytest.fixture
def week(regos_server: Callable[..., FakeRegosServer]) -> tuple[Dataset, FakeRegosServer]:
    ds = week_dataset()
    return ds, regos_server(ds)


def run_at(moment: datetime, first: date, last: date, ds: Dataset, srv: FakeRegosServer,
           monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, int], dict[date, str]]:
    """Sync first..last as a run started at ``moment`` (REGOS's clock too); (requests by method, day statuses)."""
    ds.clock = lambda: int(moment.timestamp())
    monkeypatch.setattr(locate, "now", lambda: moment)
    srv.reset_stats()
    statuses: dict[date, str] = {}
    run = services.sync_range(date_from=first, date_to=last,
                              on_day=lambda report: statuses.__setitem__(report.date, report.status))
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.requests_made == srv.stats.total
    return dict(srv.stats.by_method), statuses


def week_rows(*days: date) -> dict[Any, Any]:
    return {key: row for key, row in WEEK.items() if key[0] in days}


def test_the_week_synced_as_it_goes_gives_every_day_its_branch(week, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ds, srv = week
    listings = {"DocCheque/Get": 1, "DocWholeSale/Get": 1, "DocWholeSaleReturn/Get": 1, "OperatingCash/Get": 1}

    # Tuesday night: register 200 read on Navoiy (its first reading). Mon, Tue: before it → Navoiy.
    requests, _ = run_at(at(TUE, 23, 59), MON, TUE, ds, srv, monkeypatch)
    assert requests == {**listings, "DocCashSession/Get": 1}  # one listing of the shifts; no lines asked
    assert history_table() == week_rows(MON, TUE)

    # Thursday night: read on G'ijduvon. Wednesday's and Thursday's shifts lie between "last seen on
    # Navoiy" (Tue 23:59) and "first seen on G'ijduvon" (Thu 23:59): one cheque of each asked for its
    # lines — 2 steps, one batch request. Mon and Tue stay Navoiy's.
    requests, _ = run_at(at(THU, 23, 59), MON, THU, ds, srv, monkeypatch)
    assert requests == {**listings, "DocCashSession/Get": 1, "batch": 1, "ChequeItemOperation/Get": 2}
    assert history_table() == week_rows(MON, TUE, WED, THU)

    # Sunday night, the week: read on Navoiy again. Fri, Sat, Sun lie between Thu 23:59 (G'ijduvon) and
    # Sun 23:59 (Navoiy): 3 steps, one batch request. Wed and Thu were settled on Thursday: not asked again.
    requests, _ = run_at(at(SUN, 23, 59), MON, SUN, ds, srv, monkeypatch)
    assert requests == {**listings, "DocCashSession/Get": 1, "batch": 1, "ChequeItemOperation/Get": 3}
    assert history_table() == WEEK
    assert dict(SalesFact.objects.filter(regos_id__startswith="a-").values_list("regos_id", "stock_id")) == {
        "a-0": NAVOIY, "a-1": NAVOIY, "a-2": GIJDUVON, "a-3": GIJDUVON, "a-4": NAVOIY, "a-5": NAVOIY, "a-6": NAVOIY,
    }
    # What was asked is kept with the shifts: register 200's shifts from Wednesday on.
    assert dict(RegosCashSession.objects.exclude(stock_id=None).values_list("session_uuid", "stock_id")) == {
        "s-200-2": GIJDUVON, "s-200-3": GIJDUVON, "s-200-4": NAVOIY, "s-200-5": NAVOIY, "s-200-6": NAVOIY,
    }
    # Register 200's history: Navoiy (Tue), G'ijduvon (Thu), Navoiy (Sun); 100 and 300 one stretch each.
    assert list(RegisterStockPeriod.objects.filter(regos_id=200).values_list(
        "stock_id", "first_seen_at", "last_seen_at")) == [
        (NAVOIY, at(TUE, 23, 59), at(TUE, 23, 59)),
        (GIJDUVON, at(THU, 23, 59), at(THU, 23, 59)),
        (NAVOIY, at(SUN, 23, 59), at(SUN, 23, 59)),
    ]
    assert list(RegisterStockPeriod.objects.filter(regos_id=100).values_list(
        "stock_id", "first_seen_at", "last_seen_at")) == [(NAVOIY, at(TUE, 23, 59), at(SUN, 23, 59))]

    # A week later the week is synced again (REGOS unchanged; the registers read once more): every day
    # is left alone, nothing asked but the listings and the registers.
    requests, statuses = run_at(at(SUN + timedelta(days=1), 10), MON, SUN, ds, srv, monkeypatch)
    assert requests == listings
    assert statuses == dict.fromkeys(WEEK_DAYS, "unchanged")
    assert history_table() == WEEK

    # Old days synced on their own after both moves: still Navoiy's, and no line asked.
    requests, statuses = run_at(at(SUN + timedelta(days=1), 11), MON, TUE, ds, srv, monkeypatch)
    assert requests == listings
    assert statuses == {MON: "done", TUE: "done"}
    assert history_table() == WEEK


def test_the_daily_schedule_over_the_week_gives_every_day_its_branch(week, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ds, srv = week
    asked: dict[date, int] = {}
    for day in WEEK_DAYS:  # REGOS_LOOKBACK_DAYS = 3: the day and the two before it, at 23:59
        requests, _ = run_at(at(day, 23, 59), day - timedelta(days=2), day, ds, srv, monkeypatch)
        assert requests["OperatingCash/Get"] == 1
        asked[day] = requests.get("batch", 0)
        if day == WED:
            # Read on G'ijduvon for the first time: Wednesday's shift (between Tue 23:59 on Navoiy and
            # Wed 23:59 on G'ijduvon) is settled by its lines; Mon and Tue stay Navoiy's.
            assert requests["ChequeItemOperation/Get"] == 1
            assert history_table() == week_rows(MON, TUE, WED)
    # Lines were asked twice in the week, one cheque each time: Wednesday night (Wed's shift, between
    # Tue on Navoiy and Wed on G'ijduvon) and Friday night (Fri's shift, between Thu on G'ijduvon and Fri
    # on Navoiy). Thursday's shift lies between two G'ijduvon readings; the others between Navoiy ones.
    assert asked == {MON: 0, TUE: 0, WED: 1, THU: 0, FRI: 1, SAT: 0, SUN: 0}
    assert history_table() == WEEK


def test_a_shift_whose_lines_name_no_stock_keeps_the_stock_before_the_move_until_regos_says(  # type: ignore[no-untyped-def]
    week, monkeypatch
) -> None:
    ds, srv = week
    run_at(at(TUE, 23, 59), MON, TUE, ds, srv, monkeypatch)
    facts = ds.cheque_facts

    def no_stock_on_wednesday(uuid: str) -> Any:
        found = facts(uuid)
        # The API user may not see the lines' stock (REGOS filters lines by the user's stocks).
        return None if found is None or uuid not in ("a-2", "b-2") else (*found[:2], None, found[3])

    monkeypatch.setattr(ds, "cheque_facts", no_stock_on_wednesday)
    requests, _ = run_at(at(WED, 23, 59), TUE, WED, ds, srv, monkeypatch)
    assert requests["ChequeItemOperation/Get"] == 1
    # Counted for Navoiy (the stock before the move), not lost, and the day is written again next time.
    assert history_table(days=(WED,)) == {(WED, NAV, E_AZIZ): (d("152000.00"), Z, Z, Z, d("152000.00"), 2),
                                          (WED, NAV, E_DILNOZA): WEEK[(WED, NAV, E_DILNOZA)]}
    requests, statuses = run_at(at(WED, 23, 59, 30), TUE, WED, ds, srv, monkeypatch)
    assert statuses[WED] == "done"
    assert requests["ChequeItemOperation/Get"] == 1  # asked again

    monkeypatch.setattr(ds, "cheque_facts", facts)  # REGOS names the stock now
    requests, statuses = run_at(at(THU, 9), TUE, WED, ds, srv, monkeypatch)
    assert statuses[WED] == "done"
    assert requests["ChequeItemOperation/Get"] == 1
    assert history_table(days=(WED,)) == week_rows(WED)
    requests, statuses = run_at(at(THU, 10), TUE, WED, ds, srv, monkeypatch)
    assert statuses == {TUE: "unchanged", WED: "unchanged"}
    assert "batch" not in requests


def test_readings_are_recorded_idempotently_in_any_order() -> None:
    t = [at(MON, h) for h in range(8)]
    locate.register_periods_record(readings={7: NAVOIY}, seen_at=t[1])
    locate.register_periods_record(readings={7: NAVOIY}, seen_at=t[1])  # the same reading again
    locate.register_periods_record(readings={7: NAVOIY}, seen_at=t[3])  # agrees: extends
    locate.register_periods_record(readings={7: GIJDUVON}, seen_at=t[6])  # moved
    locate.register_periods_record(readings={7: NAVOIY}, seen_at=t[4])  # late, older reading: extends
    locate.register_periods_record(readings={7: NAVOIY}, seen_at=t[2])  # inside a stretch: nothing
    rows = list(RegisterStockPeriod.objects.values_list("stock_id", "first_seen_at", "last_seen_at"))
    assert rows == [(NAVOIY, t[1], t[4]), (GIJDUVON, t[6], t[6])]

    timeline = locate.register_timelines()[7]
    assert timeline.stock_at(t[0]) == NAVOIY  # before the first reading: the first stock
    assert timeline.stock_at(t[4]) == NAVOIY
    assert timeline.stock_at(t[5]) is None  # between Navoiy (t4) and G'ijduvon (t6)
    assert timeline.stock_at(t[7]) == GIJDUVON  # after the last reading: the last stock
    assert timeline.stock_over(t[0], t[4]) == NAVOIY
    assert timeline.stock_over(t[3], t[6]) is None
    assert timeline.stock_before(t[5]) == NAVOIY
    # The signature ignores readings that only confirm the latest stock.
    signature = timeline.signature()
    locate.register_periods_record(readings={7: GIJDUVON}, seen_at=t[7])
    assert locate.register_timelines()[7].signature() == signature
