"""Request-optimality and long ranges, counted by the emulator itself.

Expected request counts follow the formula of issue 4, with page counts worked out by hand from
the dataset sizes below and the emulator's page cap. The client asks for 10,000 rows, learns the cap
from the first page the server cuts short, and asks for the cap from then on (issue 14), so a listing
of n rows takes max(1, ceil(n/cap)) requests — plus one when n > cap is an exact multiple of the cap
(or n = cap once the method's cap is known): a last page full to the cap that ends at ``total`` is
confirmed by one more request (a total one row short would otherwise lose a row):

    DocCheque/Get pages + DocWholeSale/Get pages + DocWholeSaleReturn/Get pages
    + DocCashSession/Get pages of the period listing + ceil(unknown sessions / 250)
    + 1 OperatingCash/Get (every run reads the registers once: they may have moved to another stock)
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from sync import services
from sync.engine import history
from sync.models import SalesFact, SellerMapping, StockMapping, SyncRun
from sync.regos.emulator import Dataset
from tests.sync_data import AZIZ, E_AZIZ, NAV, Z, at, d, history_table

pytestmark = pytest.mark.django_db

PAGE_CAP = 20
FIRST, LAST = date(2026, 10, 5), date(2026, 10, 7)


def month_dataset() -> Dataset:
    """3 days, 8 registers (4 per stock), one shift per register per day."""
    ds = Dataset()
    ds.add_stock(id=1, name="Navoiy filiali")
    ds.add_stock(id=2, name="G'ijduvon filiali")
    ds.add_user(id=AZIZ, full_name="Toshmatov Aziz")
    for cash in range(8):
        ds.add_operating_cash(id=100 + cash, stock_id=1 if cash < 4 else 2)
    n = 0
    for offset in range(3):
        day = FIRST + timedelta(days=offset)
        for cash in range(8):
            session = f"s-{day:%d}-{cash}"
            ds.add_session(
                uuid=session,
                operating_cash_id=100 + cash,
                start=at(day, 8),
                close=at(day, 22),
                start_user_id=AZIZ,
            )
            for k in range(3):  # 3 closed cheques …
                n += 1
                ds.add_cheque(
                    uuid=f"c-{n}", date=at(day, 9 + k), session=session, amount=d("1000.00"), seller_id=AZIZ
                )
            n += 1  # … and 1 canceled (not requested: status=Closed)
            ds.add_cheque(
                uuid=f"c-{n}", date=at(day, 13), session=session, amount=d("5.00"), status="Canceled"
            )
    # A shift opened the evening before the range: inside the 2-day look-behind of the period listing.
    ds.add_session(uuid="s-eve", operating_cash_id=100, start=at(FIRST - timedelta(days=1), 20))
    for k in range(3):
        ds.add_cheque(
            uuid=f"eve-{k}", date=at(FIRST, 1, k), session="s-eve", amount=d("10.00"), seller_id=AZIZ
        )
    # Two shifts opened weeks before: unknown after the listing. Their cheques (day 2, 15:00 and 16:00)
    # are on one cheque page, so both are fetched by uuid in one request. (Unknown shifts are resolved
    # per cheque page, as pages stream in: one bulk request per page that brings new unknown shifts.)
    ds.add_session(uuid="s-long-1", operating_cash_id=104, start=at(date(2026, 9, 20), 8))
    ds.add_session(uuid="s-long-2", operating_cash_id=101, start=at(date(2026, 9, 21), 8))
    for k in range(2):
        ds.add_cheque(
            uuid=f"long1-{k}",
            date=at(FIRST + timedelta(days=1), 15, k),
            session="s-long-1",
            amount=d("20.00"),
            seller_id=AZIZ,
        )
        ds.add_cheque(
            uuid=f"long2-{k}",
            date=at(FIRST + timedelta(days=1), 16, k),
            session="s-long-2",
            amount=d("30.00"),
            seller_id=AZIZ,
        )
    # Shifts outside the listing window that must not matter.
    ds.add_session(uuid="s-after", operating_cash_id=100, start=at(LAST + timedelta(days=2), 8))
    for i in range(7):
        ds.add_wholesale(
            id=9000 + i,
            date=at(FIRST + timedelta(days=i % 3), 14),
            stock_id=1,
            amount=d("100.00"),
            attached_user_id=AZIZ,
        )
    ds.add_wholesale(id=9100, date=at(FIRST, 15), stock_id=1, amount=d("100.00"), performed=False)
    return ds


def test_request_count_matches_the_formula(regos_server) -> None:  # type: ignore[no-untyped-def]
    srv = regos_server(month_dataset(), page_cap=PAGE_CAP)

    run = services.sync_range(date_from=FIRST, date_to=LAST)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    # closed cheques: 24 shifts × 3 + 3 (s-eve) + 2 + 2 (long shifts) = 79 → ceil(79/20) = 4 pages
    # shipments: 7 performed → 1 page; returns: none → 1 (empty) page
    # shift listing 10-03 00:00 .. 10-07 23:59:59: 24 + s-eve = 25 → 2 pages; unknown s-long-1/2 → 1
    # registers: one OperatingCash/Get
    expected = {
        "DocCheque/Get": 4,
        "DocWholeSale/Get": 1,
        "DocWholeSaleReturn/Get": 1,
        "DocCashSession/Get": 2 + 1,
        "OperatingCash/Get": 1,
    }
    assert dict(srv.stats.by_method) == expected
    assert run.requests_made == srv.stats.total == 10
    assert SalesFact.objects.filter(source_kind="cheque").count() == 79
    assert SalesFact.objects.filter(source_kind="wholesale").count() == 7
    # Every cheque found its stock: no fact with the "unresolved" stock 0.
    assert set(SalesFact.objects.values_list("stock_id", flat=True)) == {1, 2}
    assert dict(
        SalesFact.objects.filter(regos_id__in=["long1-0", "long2-0"]).values_list("regos_id", "stock_id")
    ) == {
        "long1-0": 2,
        "long2-0": 1,  # register 104 → stock 2, register 101 → stock 1
    }

    # A second run finds every shift in the DB cache: documents, and the registers read once.
    srv.reset_stats()
    again = services.sync_range(date_from=FIRST, date_to=LAST)
    assert again.status == SyncRun.Status.SUCCEEDED
    assert dict(srv.stats.by_method) == {
        "DocCheque/Get": 4,
        "DocWholeSale/Get": 1,
        "DocWholeSaleReturn/Get": 1,
        "OperatingCash/Get": 1,
    }


LONG_FIRST, LONG_LAST = date(2026, 9, 20), date(2026, 10, 29)  # 40 days


def long_dataset() -> Dataset:
    ds = Dataset()
    ds.add_stock(id=1, name=NAV)
    ds.add_user(id=AZIZ, full_name=E_AZIZ)
    ds.add_operating_cash(id=100, stock_id=1)
    for n in range(1, 41):
        day = LONG_FIRST + timedelta(days=n - 1)
        ds.add_session(uuid=f"s-{n}", operating_cash_id=100, start=at(day, 8), close=at(day, 23, 59, 59))
        ds.add_cheque(
            uuid=f"c-{n}", date=at(day, 12), session=f"s-{n}", amount=Decimal(1000 * n), seller_id=AZIZ
        )
    # Both sides of the first window's edge (10-19 | 10-20) and of Tashkent midnight.
    ds.add_cheque(
        uuid="edge-a",
        date=at(date(2026, 10, 19), 23, 59, 59),
        session="s-30",
        amount=d("7.00"),
        seller_id=AZIZ,
    )
    ds.add_cheque(
        uuid="edge-b", date=at(date(2026, 10, 20), 0, 0, 0), session="s-31", amount=d("3.00"), seller_id=AZIZ
    )
    return ds


def test_forty_day_range_is_read_in_one_month_windows(regos_server, monkeypatch, navoiy, aziz) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(history, "today", lambda: LONG_LAST)
    StockMapping.objects.create(regos_stock_id=1, branch=navoiy)
    SellerMapping.objects.create(regos_user_id=AZIZ, employee=aziz)
    srv = regos_server(long_dataset(), page_cap=PAGE_CAP)

    run = services.sync_range(date_from=LONG_FIRST, date_to=LONG_LAST)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.days_total == run.days_done == 40
    # Windows 09-20..10-19 (30 daily + edge-a = 31 cheques → 2 pages) and 10-20..10-29 (10 + edge-b → 1 page).
    # Shipments and returns: one empty page per window. Shifts: 40 in the listing → 20 (the cap, learned)
    # + 20 ending at total 40, a full page → confirmed by a third request. Registers: 1.
    assert dict(srv.stats.by_method) == {
        "DocCheque/Get": 3,
        "DocWholeSale/Get": 2,
        "DocWholeSaleReturn/Get": 2,
        "DocCashSession/Get": 3,
        "OperatingCash/Get": 1,
    }
    table = history_table()
    assert len(table) == 40
    assert table[(date(2026, 9, 20), NAV, E_AZIZ)] == (d("1000.00"), Z, Z, Z, d("1000.00"), 1)
    assert table[(date(2026, 10, 19), NAV, E_AZIZ)] == (
        d("30007.00"),
        Z,
        Z,
        Z,
        d("30007.00"),
        2,
    )  # n=30 + 7.00
    assert table[(date(2026, 10, 20), NAV, E_AZIZ)] == (
        d("31003.00"),
        Z,
        Z,
        Z,
        d("31003.00"),
        2,
    )  # n=31 + 3.00
    assert table[(LONG_LAST, NAV, E_AZIZ)] == (d("40000.00"), Z, Z, Z, d("40000.00"), 1)
    # Σ 1000·n for n = 1..40 = 820000, + 7.00 + 3.00
    assert sum(row[4] for row in table.values()) == d("820010.00")
    navoiy.refresh_from_db()
    # October to date: n = 12..40 → 1000 × (820 − 66) = 754000, + 10.00 of the edge cheques
    assert (navoiy.retail_sales, navoiy.totals_month) == (d("754010.00"), date(2026, 10, 1))
