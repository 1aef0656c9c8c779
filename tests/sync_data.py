"""Datasets for the sync tests, and the hand-worked tables they must produce.

Every expected figure below was computed by hand from the documents listed next to it; none was
copied from the code's output. Times are Asia/Tashkent wall-clock times.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from payroll.models import Branch, DailySalesHistory, Employee
from sync.models import SalesFact, SellerMapping, StockMapping
from sync.regos.emulator import Dataset

TZ = ZoneInfo("Asia/Tashkent")
D1, D2, D3 = date(2026, 11, 10), date(2026, 11, 11), date(2026, 11, 12)
TODAY = date(2026, 11, 26)  # "today" for month-to-date figures in tests that pin it

# REGOS ids
NAVOIY, GIJDUVON, YANGI = 1, 2, 3  # stocks
AZIZ, DILNOZA, BOBUR, NODIRA = 17, 5, 9, 33  # users (NODIRA has no employee until a test maps her)


def at(day: date, hh: int = 12, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=TZ)


def d(text: str) -> Decimal:
    return Decimal(text)


def add_references(ds: Dataset) -> None:
    ds.add_stock(id=NAVOIY, name="Navoiy filiali")
    ds.add_stock(id=GIJDUVON, name="G'ijduvon filiali")
    ds.add_stock(id=YANGI, name="Yangi do'kon")
    ds.add_user(id=AZIZ, full_name="Toshmatov Aziz")
    ds.add_user(id=DILNOZA, full_name="Karimova Dilnoza")
    ds.add_user(id=BOBUR, full_name="Rahimov Bobur")
    ds.add_user(id=NODIRA, full_name="Yusupova Nodira")
    ds.add_operating_cash(id=100, stock_id=NAVOIY)
    ds.add_operating_cash(id=200, stock_id=GIJDUVON)
    ds.add_operating_cash(id=300, stock_id=YANGI)


def rules_dataset() -> Dataset:
    """Three business days D1..D3 exercising every rule; D3 has no documents at all."""
    ds = Dataset()
    add_references(ds)
    # s-nav-1 spans midnight D1→D2; s-old opened 9 days before D1 (outside the 2-day session look-behind).
    ds.add_session(
        uuid="s-nav-1", operating_cash_id=100, start=at(D1, 8), close=at(D2, 2), start_user_id=DILNOZA
    )
    ds.add_session(
        uuid="s-gij-1", operating_cash_id=200, start=at(D1, 9), close=at(D1, 21), start_user_id=BOBUR
    )
    ds.add_session(
        uuid="s-new-1", operating_cash_id=300, start=at(D1, 9), close=at(D1, 20), start_user_id=NODIRA
    )
    ds.add_session(
        uuid="s-nav-2", operating_cash_id=100, start=at(D2, 8), close=at(D2, 22), start_user_id=DILNOZA
    )
    ds.add_session(
        uuid="s-old", operating_cash_id=100, start=at(D1 - timedelta(days=9), 8), start_user_id=BOBUR
    )

    # --- D1 cheques
    ds.add_cheque(
        uuid="c-01",
        date=at(D1, 10),
        session="s-nav-1",
        amount=d("185000.00"),
        seller_id=AZIZ,
        cashier_id=DILNOZA,
    )
    ds.add_cheque(
        uuid="c-02",
        date=at(D1, 12, 30),
        session="s-nav-1",
        amount=d("42000.50"),
        seller_id=None,
        cashier_id=DILNOZA,
    )
    ds.add_cheque(
        uuid="c-03",
        date=at(D1, 13),
        session="s-nav-1",
        amount=d("15000.00"),
        is_return=True,
        seller_id=AZIZ,
        cashier_id=DILNOZA,
    )
    ds.add_cheque(
        uuid="c-04",
        date=at(D1, 14),
        session="s-nav-1",
        amount=d("99999.00"),
        status="Canceled",
        seller_id=AZIZ,
        cashier_id=DILNOZA,
    )
    ds.add_cheque(
        uuid="c-05",
        date=at(D1, 15),
        session="s-nav-1",
        amount=d("77777.00"),
        status="Opened",
        seller_id=AZIZ,
        cashier_id=DILNOZA,
    )
    ds.add_cheque(
        uuid="c-06",
        date=at(D1, 23, 59, 59),
        session="s-nav-1",
        amount=d("10000.00"),
        seller_id=AZIZ,
        cashier_id=DILNOZA,
    )
    ds.add_cheque(
        uuid="c-07",
        date=at(D1, 11),
        session="s-gij-1",
        amount=d("250000.00"),
        seller_id=NODIRA,
        cashier_id=BOBUR,
    )
    ds.add_cheque(
        uuid="c-08",
        date=at(D1, 12),
        session="s-new-1",
        amount=d("500000.00"),
        seller_id=AZIZ,
        cashier_id=NODIRA,
    )
    # --- D2 cheques
    ds.add_cheque(
        uuid="c-09",
        date=at(D2, 0, 0, 0),
        session="s-nav-1",
        amount=d("20000.00"),
        seller_id=AZIZ,
        cashier_id=DILNOZA,
    )
    ds.add_cheque(
        uuid="c-10",
        date=at(D2, 10),
        session="s-nav-2",
        amount=d("30000.00"),
        seller_id=None,
        cashier_id=DILNOZA,
    )
    ds.add_cheque(
        uuid="c-11", date=at(D2, 11), session="s-old", amount=d("12345.67"), seller_id=None, cashier_id=BOBUR
    )
    ds.add_cheque(
        uuid="c-12",
        date=at(D2, 16),
        session="s-nav-2",
        amount=d("5000.00"),
        is_return=True,
        seller_id=None,
        cashier_id=DILNOZA,
    )

    # --- wholesale
    ds.add_wholesale(
        id=5601,
        date=at(D1, 14),
        stock_id=NAVOIY,
        amount=d("100.50"),
        currency="USD",
        exchange_rate=d("12650.00"),
        seller_id=None,
        attached_user_id=BOBUR,
    )
    ds.add_wholesale(
        id=5602,
        date=at(D1, 15),
        stock_id=NAVOIY,
        amount=d("2000000.00"),
        seller_id=AZIZ,
        attached_user_id=BOBUR,
    )
    ds.add_wholesale(
        id=5603,
        date=at(D1, 16),
        stock_id=NAVOIY,
        amount=d("3000000.00"),
        seller_id=AZIZ,
        attached_user_id=BOBUR,
        performed=False,
    )
    ds.add_wholesale(
        id=5604,
        date=at(D1, 17),
        stock_id=GIJDUVON,
        amount=d("4000000.00"),
        seller_id=BOBUR,
        attached_user_id=BOBUR,
        performed=False,
        deleted_mark=True,
    )
    ds.add_wholesale(
        id=5605,
        date=at(D2, 10),
        stock_id=GIJDUVON,
        amount=d("1500000.00"),
        seller_id=BOBUR,
        attached_user_id=BOBUR,
    )
    ds.add_wholesale_return(
        id=7001, date=at(D2, 12), stock_id=NAVOIY, amount=d("250000.00"), attached_user_id=AZIZ
    )
    ds.add_wholesale_return(
        id=7002,
        date=at(D2, 13),
        stock_id=NAVOIY,
        amount=d("50.00"),
        currency="USD",
        exchange_rate=d("12650.00"),
        attached_user_id=NODIRA,
    )
    ds.add_wholesale_return(
        id=7003, date=at(D2, 14), stock_id=NAVOIY, amount=d("999.00"), attached_user_id=AZIZ, performed=False
    )
    return ds


# Facts the rules dataset yields: closed cheques, performed not-delete-marked shipments and returns.
RULES_FACTS = {
    ("cheque", "c-01"),
    ("cheque", "c-02"),
    ("cheque", "c-03"),
    ("cheque", "c-06"),
    ("cheque", "c-07"),
    ("cheque", "c-08"),
    ("cheque", "c-09"),
    ("cheque", "c-10"),
    ("cheque", "c-11"),
    ("cheque", "c-12"),
    ("wholesale", "5601"),
    ("wholesale", "5602"),
    ("wholesale", "5605"),
    ("wholesale_return", "7001"),
    ("wholesale_return", "7002"),
}

NAV, GIJ, NEW = "Navoiy filiali", "G'ijduvon filiali", "Yangi do'kon"
E_AZIZ, E_DILNOZA, E_BOBUR, E_NODIRA = (
    "Toshmatov Aziz",
    "Karimova Dilnoza",
    "Rahimov Bobur",
    "Yusupova Nodira",
)

# (date, branch, employee or "" for unassigned): (retail, retail returns, wholesale, wholesale returns,
#                                                  net total, cheque count)
Row = tuple[Decimal, Decimal, Decimal, Decimal, Decimal, int]
Z = Decimal("0.00")

RULES_HISTORY: dict[tuple[date, str, str], Row] = {
    # D1 Navoiy/Aziz: c-01 185000.00 + c-06 10000.00 (23:59:59) sales; c-03 15000.00 return;
    #                 5602 2000000.00 shipment (seller Aziz). 195000 − 15000 + 2000000 = 2180000.00
    (D1, NAV, E_AZIZ): (d("195000.00"), d("15000.00"), d("2000000.00"), Z, d("2180000.00"), 2),
    # D1 Navoiy/Dilnoza: c-02 has no seller → cashier Dilnoza.
    (D1, NAV, E_DILNOZA): (d("42000.50"), Z, Z, Z, d("42000.50"), 1),
    # D1 Navoiy/Bobur: 5601 100.50 USD × 12650.00 = 1271325.00, no seller → attached user Bobur.
    (D1, NAV, E_BOBUR): (Z, Z, d("1271325.00"), Z, d("1271325.00"), 0),
    # D1 G'ijduvon/unassigned: c-07 seller Nodira has no employee.
    (D1, GIJ, ""): (d("250000.00"), Z, Z, Z, d("250000.00"), 1),
    # c-08 (stock 3, unmapped) is only a fact; c-04 canceled, c-05 open, 5603 unperformed, 5604 delete-marked.
    # D2 Navoiy/Aziz: c-09 20000.00 at 00:00:00; return 7001 250000.00 (attached Aziz). 20000 − 250000
    (D2, NAV, E_AZIZ): (d("20000.00"), Z, Z, d("250000.00"), d("-230000.00"), 1),
    # D2 Navoiy/Dilnoza: c-10 30000.00 (no seller) − c-12 return 5000.00
    (D2, NAV, E_DILNOZA): (d("30000.00"), d("5000.00"), Z, Z, d("25000.00"), 1),
    # D2 Navoiy/Bobur: c-11 on the old shift s-old (register 100 → Navoiy), cashier Bobur.
    (D2, NAV, E_BOBUR): (d("12345.67"), Z, Z, Z, d("12345.67"), 1),
    # D2 Navoiy/unassigned: return 7002 50.00 USD × 12650.00 = 632500.00, attached Nodira (unmapped).
    (D2, NAV, ""): (Z, Z, Z, d("632500.00"), d("-632500.00"), 0),
    # D2 G'ijduvon/Bobur: 5605 1500000.00, seller Bobur.
    (D2, GIJ, E_BOBUR): (Z, Z, d("1500000.00"), Z, d("1500000.00"), 0),
}


def map_cast(*, navoiy: Branch, gijduvon: Branch, aziz: Employee, dilnoza: Employee, bobur: Employee) -> None:
    """Stocks 1, 2 → the two branches (stock 3 stays unmapped); users 17, 5, 9 → employees (33 not)."""
    StockMapping.objects.create(regos_stock_id=NAVOIY, regos_name=NAV, branch=navoiy)
    StockMapping.objects.create(regos_stock_id=GIJDUVON, regos_name=GIJ, branch=gijduvon)
    SellerMapping.objects.create(regos_user_id=AZIZ, full_name=E_AZIZ, employee=aziz)
    SellerMapping.objects.create(regos_user_id=DILNOZA, full_name=E_DILNOZA, employee=dilnoza)
    SellerMapping.objects.create(regos_user_id=BOBUR, full_name=E_BOBUR, employee=bobur)


def history_table(*, days: tuple[date, ...] | None = None) -> dict[tuple[date, str, str], Row]:
    """DailySalesHistory as {(date, branch name, employee name or ""): figures} (names mapped in Python)."""
    branches = dict(Branch.objects.values_list("id", "name"))
    employees = dict(Employee.objects.values_list("id", "full_name"))
    rows = DailySalesHistory.objects.all()
    if days is not None:
        rows = rows.filter(date__in=days)
    table = {}
    for row in rows.values(
        "date",
        "branch_id",
        "employee_id",
        "employee_key",
        "retail_sales",
        "retail_returns",
        "wholesale_sales",
        "wholesale_returns",
        "total_sales",
        "cheque_count",
    ):
        key = (row["date"], branches[row["branch_id"]], employees.get(row["employee_id"], ""))
        assert row["employee_key"] == (str(row["employee_id"]) if row["employee_id"] else "unassigned")
        table[key] = (
            row["retail_sales"],
            row["retail_returns"],
            row["wholesale_sales"],
            row["wholesale_returns"],
            row["total_sales"],
            row["cheque_count"],
        )
    return table


def facts_keys() -> set[tuple[str, str]]:
    return set(SalesFact.objects.values_list("source_kind", "regos_id"))


def dump_facts() -> list[dict]:
    return sorted(SalesFact.objects.values(), key=lambda r: (r["source_kind"], r["regos_id"]))


def dump_history() -> list[dict]:
    return sorted(
        DailySalesHistory.objects.values(), key=lambda r: (r["date"], str(r["branch_id"]), r["employee_key"])
    )
