"""The panel's exports for people: the monthly summary's and the history's Export buttons.

Every figure below is typed from the table in tests/fixtures/people.py (November 2026) and every
total is added up by hand in the comments — none is produced by the code under test. The files are
opened as a reader's software would: XLSX with openpyxl, CSV as bytes (BOM, delimiter, decimals).

The machine format (``/reports/export.csv``, ``manage.py export_sales``) is pinned by
tests/test_export_sales.py and must not change.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.test import Client
from openpyxl import load_workbook

from payroll.dates import LAST_MONTH_BEFORE_DAY, payroll_month
from payroll.exports import ascii_slug, report_filename
from sync.models import SalesFact, SellerMapping, StockMapping
from tests.fixtures.people import _row, _user

pytestmark = pytest.mark.django_db

SUMMARY_XLSX = "/reports/summary/export.xlsx"
SUMMARY_CSV = "/reports/summary/export.csv"
HISTORY_XLSX = "/reports/history/export.xlsx"
HISTORY_CSV = "/reports/history/export.csv"
BOM = b"\xef\xbb\xbf"

# November per employee, from the fixture table: (retail, ret. returns, wholesale, wh. returns, net, cheques,
# days with sales). Dilnoza's 11-04 row has no activity: one day, not two.
DILNOZA = (Decimal("800000.50"), 0, Decimal("2000000.00"), 0, Decimal("2800000.50"), 5, 1)
BOBUR = (Decimal("650000.00"), Decimal("50000.00"), Decimal("5000000.00"), Decimal("250000.00"),
         Decimal("5350000.00"), 4, 2)
AZIZ = (Decimal("2700000.25"), Decimal("100000.00"), 0, Decimal("300000.00"), Decimal("2300000.25"), 21, 2)
NOBODY = (Decimal("99999.75"), 0, 0, 0, Decimal("99999.75"), 1, 1)
# By hand: retail 800000.50 + 650000 + 2700000.25 + 99999.75 = 4250000.50; retail returns 50000 + 100000 =
# 150000; wholesale 2000000 + 5000000 = 7000000; wholesale returns 250000 + 300000 = 550000;
# net 2800000.50 + 5350000 + 2300000.25 + 99999.75 = 10550000.50; cheques 5 + 4 + 21 + 1 = 31.
TOTAL = (Decimal("4250000.50"), Decimal("150000.00"), Decimal("7000000.00"), Decimal("550000.00"),
         Decimal("10550000.50"), 31)
GIJDUVON = (Decimal("650000.00"), Decimal("50000.00"), Decimal("5000000.00"), Decimal("250000.00"),
            Decimal("5350000.00"), 4, 2)
NAVOIY = (Decimal("3600000.50"), Decimal("100000.00"), Decimal("2000000.00"), Decimal("300000.00"),
          Decimal("5200000.50"), 27, 2)
# The REGOS users behind the unassigned row (Navoiy, 11-03), see ``unassigned_facts``.
NOBODY_EN = "(unassigned): Kassa do\u02bbkoni 2, Кассир Навоий, #777"

HEADERS = {
    "en": ["Employee", "Retail sales", "Retail returns", "Wholesale sales", "Wholesale returns", "Net total",
           "Cheques", "Days with sales"],
    "uz": ["Xodim", "Chakana savdo", "Chakana qaytarishlar", "Ulgurji savdo", "Ulgurji qaytarishlar", "Sof jami",
           "Cheklar", "Savdo boʻlgan kunlar"],
    "ru": ["Сотрудник", "Розничные продажи", "Розничные возвраты", "Оптовые продажи", "Оптовые возвраты",
           "Итого нетто", "Чеки", "Дней с продажами"],
}
SHEETS = {
    "en": ["Per employee", "Per branch", "Per employee and branch"],
    "uz": ["Xodimlar boʻyicha", "Filiallar boʻyicha", "Xodim va filial boʻyicha"],
    "ru": ["По сотрудникам", "По филиалам", "По сотрудникам и филиалам"],
}
TOTAL_WORD = {"en": "Total", "uz": "Jami", "ru": "Итого"}


def reader(language: str, user) -> Client:  # type: ignore[no-untyped-def]
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    client.cookies["django_language"] = language
    return client


def body(response) -> bytes:  # type: ignore[no-untyped-def]
    return b"".join(response.streaming_content)


def numbers(values: tuple) -> tuple:
    """Figures as openpyxl reads them back (numbers), to compare with the typed Decimals."""
    return tuple(float(v) if isinstance(v, Decimal) else v for v in values)


def _fact(regos_id: str, *, stock: int, seller: int | None, amount: str, day: date = date(2026, 11, 3),
          kind: str = "cheque", attached: int | None = None) -> None:
    SalesFact.objects.create(
        source_kind=kind, regos_id=regos_id, code=regos_id, business_date=day,
        occurred_at=datetime(day.year, day.month, day.day, 6, 0, tzinfo=UTC), stock_id=stock,
        seller_id=seller, attached_user_id=attached, sale_type="retail" if kind == "cheque" else "wholesale",
        amount=Decimal(amount), doc_amount=Decimal(amount), status="Closed",
    )


@pytest.fixture
def unassigned_facts(november_sales):  # noqa: ANN001, ANN201
    """The documents behind the unassigned Navoiy row of 11-03 (99999.75 = 50000 + 40000 + 9999.75):
    a cheque of REGOS user 502 "Kassa doʻkoni 2" (known, not mapped), one of 503 "Кассир Навоий"
    (known, not mapped), one of 777 (never discovered: no name). Aziz's own cheque (user 501, mapped)
    and a cheque of 502 in G'ijduvon (whose 11-03 row is Bobur's, not unassigned) must not be named."""
    c = november_sales
    StockMapping.objects.create(regos_stock_id=11, regos_name="Navoiy do'kon", branch=c.navoiy)
    StockMapping.objects.create(regos_stock_id=22, regos_name="G'ijduvon do'kon", branch=c.gijduvon)
    SellerMapping.objects.create(regos_user_id=501, full_name="Aziz T.", employee=c.aziz)
    SellerMapping.objects.create(regos_user_id=502, full_name="Kassa do\u02bbkoni 2")
    SellerMapping.objects.create(regos_user_id=503, full_name="Кассир Навоий")
    _fact("c-1", stock=11, seller=502, amount="50000.00")
    _fact("c-2", stock=11, seller=503, amount="40000.00")
    _fact("c-3", stock=11, seller=777, amount="9999.75")
    _fact("c-4", stock=11, seller=501, amount="1200000.25")
    _fact("c-5", stock=22, seller=502, amount="1.00")
    return c


# --------------------------------------------------------------------------- the summary, XLSX


@pytest.mark.parametrize("language", ["en", "uz", "ru"])
def test_summary_xlsx_has_a_sheet_per_table_in_the_readers_language(accountant, unassigned_facts, language) -> None:  # noqa: ANN001
    response = reader(language, accountant).get(SUMMARY_XLSX, {"month": "2026-11"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"] == 'attachment; filename="sales-summary_2026-11.xlsx"'
    book = load_workbook(io.BytesIO(body(response)))
    assert book.sheetnames == SHEETS[language]
    employees, branches, breakdown = (book[name] for name in SHEETS[language])

    rows = list(employees.iter_rows(values_only=True))
    assert list(rows[0]) == HEADERS[language]
    total = TOTAL_WORD[language]
    assert [row[1:] for row in rows[1:]] == [
        numbers(DILNOZA), numbers(BOBUR), numbers(AZIZ), numbers(NOBODY), (*numbers(TOTAL), None),
    ]
    assert [row[0] for row in rows[1:-1]] == [
        "Karimova Dilnoza", "Rahimov Bobur", "Toshmatov Aziz",
        {"en": NOBODY_EN, "uz": NOBODY_EN.replace("(unassigned)", "(biriktirilmagan)"),
         "ru": NOBODY_EN.replace("(unassigned)", "(не назначен)")}[language],
    ]
    assert rows[-1][0] == total
    # The totals row is the hand-worked sum of the lines above it, column by column.
    for column in range(1, 7):
        assert rows[-1][column] == pytest.approx(sum(row[column] for row in rows[1:-1]))
    # Autofilter over the header and the four lines (not the totals); header frozen and bold.
    assert employees.auto_filter.ref == "A1:H5"
    assert employees.freeze_panes == "A2"
    assert employees["A1"].font.b and employees["A6"].font.b
    assert employees["B2"].number_format == "#,##0.00"

    rows = list(branches.iter_rows(values_only=True))
    assert rows[0][0] == {"en": "Branch", "uz": "Filial", "ru": "Филиал"}[language]
    assert rows[1:] == [
        ("G'ijduvon filiali", *numbers(GIJDUVON)),
        ("Navoiy filiali", *numbers(NAVOIY)),
        (total, *numbers(TOTAL), None),
    ]
    assert branches.auto_filter.ref == "A1:H3"

    rows = list(breakdown.iter_rows(values_only=True))
    branch_word = {"en": "Branch", "uz": "Filial", "ru": "Филиал"}[language]
    assert list(rows[0]) == [HEADERS[language][0], branch_word, *HEADERS[language][1:]]
    assert [row[:2] for row in rows[1:]] == [
        ("Karimova Dilnoza", "Navoiy filiali"),
        ("Rahimov Bobur", "G'ijduvon filiali"),
        ("Toshmatov Aziz", "Navoiy filiali"),
        (rows[4][0], "Navoiy filiali"),
        (total, None),
    ]
    assert rows[5][2:] == (*numbers(TOTAL), None)
    assert breakdown.auto_filter.ref == "A1:I5"


def test_summary_xlsx_of_a_person_in_two_branches(accountant, november_sales) -> None:  # noqa: ANN001
    c = november_sales
    _row("2026-11-03", c.gijduvon, c.aziz, "3000.00", "0", "0", "0", "3000.00", 1)
    book = load_workbook(io.BytesIO(body(reader("en", accountant).get(SUMMARY_XLSX, {"month": "2026-11"}))))
    rows = list(book["Per employee and branch"].iter_rows(values_only=True))
    aziz = [row for row in rows if row[0] == "Toshmatov Aziz"]
    assert aziz == [
        ("Toshmatov Aziz", "G'ijduvon filiali", 3000, 0, 0, 0, 3000, 1, 1),
        ("Toshmatov Aziz", "Navoiy filiali", *numbers(AZIZ)),
    ]
    # No mapped facts here: the unassigned line is just "(unassigned)".
    assert rows[5][0] == "(unassigned)"
    per_employee = list(book["Per employee"].iter_rows(values_only=True))
    # 2700000.25 + 3000.00; 21 + 1 cheques; still two days (11-02, 11-03).
    assert ("Toshmatov Aziz", 2703000.25, 100000, 0, 300000, 2303000.25, 22, 2) in per_employee


# --------------------------------------------------------------------------- the summary, CSV


def csv_rows(content: bytes, delimiter: str) -> list[list[str]]:
    assert content.startswith(BOM)
    text = content[len(BOM):].decode("utf-8")
    assert "\r\n" in text
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def test_summary_csv_in_uzbek_opens_in_columns_in_excel(accountant, unassigned_facts) -> None:  # noqa: ANN001
    response = reader("uz", accountant).get(SUMMARY_CSV, {"month": "2026-11", "table": "employees"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="sales-summary_2026-11_employees.csv"'
    content = body(response)
    # uz/ru Excel splits on ";" and reads "," as the decimal point; the BOM makes it read UTF-8.
    assert csv_rows(content, ";") == [
        HEADERS["uz"],
        ["Karimova Dilnoza", "800000,50", "0,00", "2000000,00", "0,00", "2800000,50", "5", "1"],
        ["Rahimov Bobur", "650000,00", "50000,00", "5000000,00", "250000,00", "5350000,00", "4", "2"],
        ["Toshmatov Aziz", "2700000,25", "100000,00", "0,00", "300000,00", "2300000,25", "21", "2"],
        ["(biriktirilmagan): Kassa do\u02bbkoni 2, Кассир Навоий, #777", "99999,75", "0,00", "0,00", "0,00",
         "99999,75", "1", "1"],
        ["Jami", "4250000,50", "150000,00", "7000000,00", "550000,00", "10550000,50", "31", ""],
    ]
    # The bytes of "doʻkoni" and the Cyrillic name are UTF-8 (what the BOM announces).
    assert "doʻkoni".encode() in content and "Кассир".encode() in content


def test_summary_csv_tables_and_english_dialect(accountant, november_sales) -> None:  # noqa: ANN001
    client = reader("en", accountant)
    branches = csv_rows(body(client.get(SUMMARY_CSV, {"month": "2026-11", "table": "branches"})), ",")
    assert branches == [
        ["Branch", *HEADERS["en"][1:]],
        ["G'ijduvon filiali", "650000.00", "50000.00", "5000000.00", "250000.00", "5350000.00", "4", "2"],
        ["Navoiy filiali", "3600000.50", "100000.00", "2000000.00", "300000.00", "5200000.50", "27", "2"],
        ["Total", "4250000.50", "150000.00", "7000000.00", "550000.00", "10550000.50", "31", ""],
    ]
    response = client.get(SUMMARY_CSV, {"month": "2026-11", "table": "breakdown"})
    assert response["Content-Disposition"] == 'attachment; filename="sales-summary_2026-11_breakdown.csv"'
    breakdown = csv_rows(body(response), ",")
    assert breakdown[0][:2] == ["Employee", "Branch"] and len(breakdown) == 6
    assert breakdown[-1] == ["Total", "", "4250000.50", "150000.00", "7000000.00", "550000.00", "10550000.50",
                             "31", ""]
    # No table named: per employee.
    default = csv_rows(body(client.get(SUMMARY_CSV, {"month": "2026-11"})), ",")
    assert default[0] == HEADERS["en"]


def test_summary_export_in_the_first_days_is_last_months(client, accountant, november_sales) -> None:  # noqa: ANN001
    with time_machine.travel(datetime(2026, 12, 2, 7, 0, tzinfo=UTC), tick=False):
        client.force_login(accountant)
        response = client.get(SUMMARY_CSV)
    assert response["Content-Disposition"] == 'attachment; filename="sales-summary_2026-11_employees.csv"'


@pytest.mark.parametrize("query", [{"table": "rows"}, {"month": "2026-13"}, {"table": "employees;drop"}])
def test_summary_export_with_bad_input_is_400_and_no_file(accountant_client, november_sales, query) -> None:  # noqa: ANN001
    response = accountant_client.get(SUMMARY_CSV, {"month": "2026-11", **query})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


def test_exports_need_the_export_permission(november_sales) -> None:  # noqa: ANN001
    user = _user("faqat-koruvchi", staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_reports"))
    client = Client()
    client.force_login(user)
    html = client.get("/reports/summary/", {"month": "2026-11"}).content.decode()
    assert "regos-export" not in html
    for url in (SUMMARY_CSV, SUMMARY_XLSX, HISTORY_CSV, HISTORY_XLSX):
        assert client.get(url).status_code == 403, url


# --------------------------------------------------------------------------- the history


def test_history_xlsx_of_a_filtered_view(accountant, unassigned_facts) -> None:  # noqa: ANN001
    c = unassigned_facts
    query = {"date_from": "2026-11-01", "date_to": "2026-11-30", "branch": str(c.navoiy.pk)}
    response = reader("ru", accountant).get(HISTORY_XLSX, query)
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        'attachment; filename="sales-history_2026-11-01_2026-11-30_navoiy-filiali.xlsx"'
    )
    sheet = load_workbook(io.BytesIO(body(response)))["История продаж"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("Торговый день", "Филиал", "Сотрудник", "Розничные продажи", "Розничные возвраты",
                       "Оптовые продажи", "Оптовые возвраты", "Итого нетто", "Чеки")
    # Navoiy's four November rows, typed from the fixture table.
    assert [(row[0].date(), *row[1:]) for row in rows[1:5]] == [
        (date(2026, 11, 2), "Navoiy filiali", "Karimova Dilnoza", 800000.5, 0, 2000000, 0, 2800000.5, 5),
        (date(2026, 11, 2), "Navoiy filiali", "Toshmatov Aziz", 1500000, 100000, 0, 0, 1400000, 12),
        (date(2026, 11, 3), "Navoiy filiali", "(не назначен): Kassa do\u02bbkoni 2, Кассир Навоий, #777",
         99999.75, 0, 0, 0, 99999.75, 1),
        (date(2026, 11, 3), "Navoiy filiali", "Toshmatov Aziz", 1200000.25, 0, 0, 300000, 900000.25, 9),
    ]
    # By hand: retail 800000.50 + 1500000 + 99999.75 + 1200000.25 = 3600000.50; returns 100000;
    # wholesale 2000000; wholesale returns 300000; net 5200000.50; cheques 5 + 12 + 1 + 9 = 27.
    assert rows[5] == ("Итого", None, None, 3600000.5, 100000, 2000000, 300000, 5200000.5, 27)
    assert sheet.auto_filter.ref == "A1:I5"
    assert sheet.freeze_panes == "A2"
    assert sheet["A2"].is_date


def test_history_csv_carries_the_filters_in_its_name_and_projects_the_sale_type(
    accountant, unassigned_facts,  # noqa: ANN001
) -> None:
    c = unassigned_facts
    query = {"date_from": "2026-11-01", "date_to": "2026-11-30", "employee": "unassigned", "sale_type": "retail"}
    response = reader("en", accountant).get(HISTORY_CSV, query)
    assert response["Content-Disposition"] == (
        'attachment; filename="sales-history_2026-11-01_2026-11-30_unassigned_retail.csv"'
    )
    assert csv_rows(body(response), ",") == [
        ["Business day", "Branch", "Employee", *HEADERS["en"][1:7]],
        ["2026-11-03", "Navoiy filiali", NOBODY_EN, "99999.75", "0.00", "0.00", "0.00", "99999.75", "1"],
        ["Total", "", "", "99999.75", "0.00", "0.00", "0.00", "99999.75", "1"],
    ]
    response = reader("en", accountant).get(
        HISTORY_CSV, {"date_from": "2026-11-02", "date_to": "2026-11-02", "employee": str(c.dilnoza.pk)}
    )
    assert response["Content-Disposition"] == (
        'attachment; filename="sales-history_2026-11-02_2026-11-02_karimova-dilnoza.csv"'
    )


def test_history_page_export_buttons_point_to_the_panel_export(accountant_client, november_sales) -> None:  # noqa: ANN001
    html = accountant_client.get("/reports/history/", {"date_from": "2026-11-01", "date_to": "2026-11-30"}).content
    assert b'href="/reports/history/export.csv?date_from=2026-11-01&amp;date_to=2026-11-30"' in html
    assert b'href="/reports/history/export.xlsx?date_from=2026-11-01&amp;date_to=2026-11-30"' in html


def test_panel_exports_keep_formulas_as_text(accountant, november_sales) -> None:  # noqa: ANN001
    c = november_sales
    c.aziz.full_name = '=HYPERLINK("http://x.invalid","pay")'
    c.aziz.save()
    content = body(reader("ru", accountant).get(SUMMARY_CSV, {"month": "2026-11"}))
    assert b"'=HYPERLINK(" in content
    raw = body(reader("ru", accountant).get(SUMMARY_XLSX, {"month": "2026-11"}))
    book = load_workbook(io.BytesIO(raw))
    names = [row[0] for row in book.worksheets[0].iter_rows(values_only=True)]
    assert '=HYPERLINK("http://x.invalid","pay")' in names  # a string cell, not a formula
    assert book.worksheets[0]["A4"].data_type == "s"


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("day", "month"),
    [
        (date(2026, 12, 1), date(2026, 11, 1)),
        (date(2026, 12, LAST_MONTH_BEFORE_DAY - 1), date(2026, 11, 1)),
        (date(2026, 12, LAST_MONTH_BEFORE_DAY), date(2026, 12, 1)),
        (date(2026, 12, 31), date(2026, 12, 1)),
        (date(2027, 1, 2), date(2026, 12, 1)),  # across the year
    ],
)
def test_payroll_month(day, month) -> None:  # noqa: ANN001
    assert LAST_MONTH_BEFORE_DAY == 6
    assert payroll_month(day) == month


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Navoiy filiali", "navoiy-filiali"),
        ("G\u02bbijduvon filiali", "gijduvon-filiali"),
        ("G'ijduvon filiali", "gijduvon-filiali"),
        ("Навоий филиали", "navoiy-filiali"),
        ("Ўрта Чирчиқ", "orta-chirchiq"),
        ('../../etc/passwd"; x', "etc-passwd-x"),
        ("", ""),
    ],
)
def test_ascii_slug(text, slug) -> None:  # noqa: ANN001
    assert ascii_slug(text) == slug


def test_report_filename_leaves_out_empty_parts() -> None:
    assert report_filename("sales-history", "2026-11-01", "2026-11-30", "", "retail", extension="csv") == (
        "sales-history_2026-11-01_2026-11-30_retail.csv"
    )
