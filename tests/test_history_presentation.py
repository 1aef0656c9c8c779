"""payroll.presenters: the history page's figures printed in Python, exactly as the templates' filters did.

Expected texts are typed from the hand-checked table in tests/fixtures/people.py (sums added up by
hand) and from the locales' rules (Uzbek/Russian: no-break-space groups and a decimal comma; English:
comma groups and a decimal point); the conformance tests compare with Django's own filters.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.utils import formats, translation

from payroll import presenters
from payroll.models import Branch, DailySalesHistory
from payroll.presenters import FigureTexts, Printer, SubtotalLine
from payroll.selectors import as_history_rows, daily_totals_by_branch, history_overview, history_rows
from payroll.views import CountedPaginator

NBSP = "\xa0"
NOV_1, NOV_30 = date(2026, 11, 1), date(2026, 11, 30)
HISTORY = "/reports/history/"


def printer(language: str) -> Printer:
    with translation.override(language):
        return Printer()


def uz(text: str) -> str:
    """An Uzbek/Russian number typed with plain spaces for readability."""
    return text.replace(" ", NBSP)


# --------------------------------------------------------------------------- numbers and days


@pytest.mark.parametrize(
    ("value", "english", "uzbek"),
    [
        ("10550000.50", "10,550,000.50", uz("10 550 000,50")),
        ("-300000.00", "-300,000.00", uz("-300 000,00")),
        ("99999.75", "99,999.75", uz("99 999,75")),
        ("0", "0.00", "0,00"),
        ("7", "7.00", "7,00"),
        ("1234.5", "1,234.50", uz("1 234,50")),
        ("0.005", "0.01", "0,01"),  # half up, as floatformat
        ("999.995", "1,000.00", uz("1 000,00")),
        ("-0.001", "0.00", "0,00"),  # no "-0.00"
        ("9999999999999999.99", "9,999,999,999,999,999.99", uz("9 999 999 999 999 999,99")),  # max_digits 18
    ],
)
def test_money_texts(value: str, english: str, uzbek: str) -> None:
    assert printer("en").money(Decimal(value)) == english
    assert printer("uz").money(Decimal(value)) == uzbek
    assert printer("ru").money(Decimal(value)) == uzbek  # Russian groups and separates like Uzbek


def test_count_and_day_texts() -> None:
    en, uzbek, russian = printer("en"), printer("uz"), printer("ru")
    assert (en.count(31), en.count(0), en.count(1234567)) == ("31", "0", "1,234,567")
    assert uzbek.count(1234567) == russian.count(1234567) == uz("1 234 567")
    assert en.day(date(2026, 11, 3)) == "2026-11-03"
    assert uzbek.day(date(2026, 11, 3)) == russian.day(date(2026, 11, 3)) == "03.11.2026"


MONEY_SAMPLES = [
    "0", "0.00", "-0.00", "-0.001", "0.004", "0.005", "0.015", "-0.005", "1", "12.3", "999.994", "999.995",
    "1234.5", "-1234567.89", "4750000", "1E+3", "9999999999999999.99", "-9999999999999999.99",
    "123456789012345678901234.5",
]


@pytest.mark.parametrize("language", ["uz", "ru", "en"])
def test_texts_print_what_the_template_filters_printed(language: str) -> None:
    # The page must not change: each text, printed with a plain {{ }}, gives the very HTML of the filter.
    plain = Template("{{ text }}")
    with translation.override(language):
        p = Printer()
        for sample in MONEY_SAMPLES:
            value = Decimal(sample)
            before = Template('{{ value|floatformat:"2g" }}').render(Context({"value": value}))
            assert plain.render(Context({"text": p.money(value)})) == before, sample
        for count in (0, 7, 999, 1000, 1234567, 10**12):
            before = Template("{{ value }}").render(Context({"value": count}))
            assert plain.render(Context({"text": p.count(count)})) == before, count
        for day in (date(2026, 11, 3), date(2026, 1, 31), date(2027, 12, 1)):
            before = Template('{{ value|date:"SHORT_DATE_FORMAT" }}').render(Context({"value": day}))
            assert plain.render(Context({"text": p.day(day)})) == before


def test_a_grouping_other_than_threes_goes_through_djangos_own_formatting() -> None:
    # None of the three languages needs it; a locale grouping like India's (3, 2, 0) must still be right.
    indian = {"DECIMAL_SEPARATOR": ".", "THOUSAND_SEPARATOR": ",", "NUMBER_GROUPING": (3, 2, 0)}
    real = formats.get_format

    def get_format(format_type: str, lang: str | None = None, use_l10n: bool | None = None) -> object:
        return indian.get(format_type) or real(format_type, lang, use_l10n)

    with translation.override("en"), mock.patch("django.utils.formats.get_format", get_format):
        p = Printer()
        assert p.money(Decimal("1234567.5")) == "12,34,567.50"
        assert p.money(Decimal("-1234567.5")) == "-12,34,567.50"
        assert p.count(1234567) == "12,34,567"
        value = Decimal("98765432.105")
        assert p.money(value) == Template('{{ v|floatformat:"2g" }}').render(Context({"v": value}))


# --------------------------------------------------------------------------- tables


def test_totals_and_subtotal_tables_in_english(november_sales) -> None:  # noqa: ANN001
    overview = history_overview(date_from=NOV_1, date_to=NOV_30)
    tables = presenters.history_tables(overview, printer("en"))
    # 1500000+800000.50+650000+1200000.25+99999.75 retail; 100000+50000; 2000000+5000000; 300000+250000.
    assert tables.totals == FigureTexts("4,250,000.50", "150,000.00", "7,000,000.00", "550,000.00",
                                        "10,550,000.50", "31")
    assert tables.branches == [
        SubtotalLine("G'ijduvon filiali", False,
                     FigureTexts("650,000.00", "50,000.00", "5,000,000.00", "250,000.00", "5,350,000.00", "4")),
        SubtotalLine("Navoiy filiali", False,
                     FigureTexts("3,600,000.50", "100,000.00", "2,000,000.00", "300,000.00", "5,200,000.50", "27")),
    ]
    assert tables.employees == [
        SubtotalLine("Karimova Dilnoza", False,
                     FigureTexts("800,000.50", "0.00", "2,000,000.00", "0.00", "2,800,000.50", "5")),
        SubtotalLine("Rahimov Bobur", False,
                     FigureTexts("650,000.00", "50,000.00", "5,000,000.00", "250,000.00", "5,350,000.00", "4")),
        SubtotalLine("Toshmatov Aziz", False,
                     FigureTexts("2,700,000.25", "100,000.00", "0.00", "300,000.00", "2,300,000.25", "21")),
        SubtotalLine("", True, FigureTexts("99,999.75", "0.00", "0.00", "0.00", "99,999.75", "1")),
    ]


def test_retail_only_tables_in_uzbek(november_sales) -> None:  # noqa: ANN001
    overview = history_overview(date_from=NOV_1, date_to=NOV_30, sale_type="retail")
    tables = presenters.history_tables(overview, printer("uz"))
    # Retail only: wholesale reads 0, net = 4250000.50 - 150000.
    assert tables.totals == FigureTexts(uz("4 250 000,50"), uz("150 000,00"), "0,00", "0,00",
                                        uz("4 100 000,50"), "31")
    navoiy = next(line for line in tables.branches if line.name == "Navoiy filiali")
    assert navoiy.figures == FigureTexts(uz("3 600 000,50"), uz("100 000,00"), "0,00", "0,00",
                                         uz("3 500 000,50"), "27")


def test_row_lines(november_sales) -> None:  # noqa: ANN001
    p = printer("ru")
    rows = [presenters.row_line(row, p) for row in as_history_rows(history_rows(date_from=NOV_1, date_to=NOV_30))]
    dilnoza = rows[1]
    assert (dilnoza.day, dilnoza.branch_name, dilnoza.employee_name) == ("02.11.2026", "Navoiy filiali",
                                                                          "Karimova Dilnoza")
    assert dilnoza.figures == FigureTexts(uz("800 000,50"), "0,00", uz("2 000 000,00"), "0,00",
                                          uz("2 800 000,50"), "5")
    nobody = rows[4]
    assert nobody.is_unassigned and nobody.employee_name == ""
    assert nobody.figures.total_sales == uz("99 999,75")


# --------------------------------------------------------------------------- the chart


def test_chart_geometry_and_labels(november_sales) -> None:  # noqa: ANN001
    chart = presenters.history_chart(daily_totals_by_branch(date_from=NOV_1, date_to=date(2026, 11, 4)),
                                     printer("en"))
    # Peak 4750000 (G'ijduvon, 11-03): 4750000 / 4 = 1187500 → round step 2000000 → ticks 0, 2M, 4M, 6M;
    # plot 852 × 232 px from (96, 12). x = 96 + 852·i/3; y = 12 + (6000000 − v) / 6000000 · 232.
    assert [line["y"] for line in chart["gridlines"]] == ["244.0", "166.7", "89.3", "12.0"]
    assert [line["label"] for line in chart["gridlines"]] == ["0", "2,000,000", "4,000,000", "6,000,000"]
    # The edge labels are anchored inwards (the last one was half cut off at the plot's right edge).
    assert [label["anchor"] for label in chart["day_labels"]] == ["start", "middle", "middle", "end"]
    assert chart["zero_y"] == "244.0"
    gijduvon, navoiy = chart["series"]
    # G'ijduvon: 0, 600000 (y 220.8), 4750000 (y 60.33), 0.
    assert gijduvon["polyline"] == "96.0,244.0 380.0,220.8 664.0,60.3 948.0,244.0"
    # Navoiy: 0, 1400000+2800000.50 (y 81.60), 900000.25+99999.75 (y 205.33), 0.
    assert navoiy["polyline"] == "96.0,244.0 380.0,81.6 664.0,205.3 948.0,244.0"
    assert (gijduvon["total"], navoiy["total"]) == ("5,350,000.00", "5,200,000.50")
    assert navoiy["points"].count("<circle") == 4
    assert (
        '<circle cx="380.0" cy="81.6" r="3" fill="#d9822b">'
        "<title>Navoiy filiali — 2026-11-02: 4,200,000.50</title></circle>"
    ) in navoiy["points"]
    # The apostrophe is escaped as the template's autoescape did it.
    assert "<title>G&#x27;ijduvon filiali — 2026-11-03: 4,750,000.00</title>" in gijduvon["points"]


def test_chart_points_escape_branch_names(db) -> None:  # noqa: ANN001
    branch = Branch.objects.create(name='<script>alert("x")</script> & Co')
    DailySalesHistory.objects.create(date=NOV_1, branch=branch, retail_sales=Decimal("10.00"),
                                     total_sales=Decimal("10.00"), cheque_count=1)
    chart = presenters.history_chart(daily_totals_by_branch(date_from=NOV_1, date_to=NOV_1), printer("uz"))
    points = chart["series"][0]["points"]
    assert "<script>" not in points
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co — 01.11.2026: 10,00" in points


# --------------------------------------------------------------------------- the page


def test_page_paginates_on_the_overviews_count(accountant_client, november_sales, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr("payroll.views.ROWS_PER_PAGE", 4)
    response = accountant_client.get(HISTORY, {"date_from": "2026-11-01", "date_to": "2026-11-30"})
    paginator = response.context["page_obj"].paginator
    assert (paginator.count, paginator.num_pages) == (6, 2)  # 6 rows with activity in November
    with CaptureQueriesContext(connection) as queries:
        pages = CountedPaginator(history_rows(date_from=NOV_1, date_to=NOV_30), 4, count=6).num_pages
    assert (pages, len(queries)) == (2, 0)


def test_page_prints_the_chart_and_tables_in_russian(accountant_client, november_sales) -> None:  # noqa: ANN001
    with translation.override("ru"):
        response = accountant_client.get(
            HISTORY, {"date_from": "2026-11-01", "date_to": "2026-11-04"}, HTTP_ACCEPT_LANGUAGE="ru"
        )
    html = response.content.decode()
    figure = html[html.index('<figure class="regos-chart">'):html.index("</figure>")]
    assert f"<title>Navoiy filiali — 02.11.2026: {uz('4 200 000,50')}</title>" in figure
    assert f"Navoiy filiali: <strong>{uz('5 200 000,50')}</strong>" in figure
    assert f'<td class="num net">{uz("10 550 000,50")}</td>' in html
    assert "Karimova Dilnoza" in html and "(не назначен)" in html


@pytest.mark.parametrize(
    ("low", "high", "ticks"),
    [
        # Worked by hand: step = the round number (1, 2, 2.5, 5 × 10ⁿ) ≥ (high − low) / 4, ends rounded outwards.
        ("0", "4750000", ["0", "2000000", "4000000", "6000000"]),  # 1187500 → 2000000
        ("-300000", "900000", ["-500000", "0", "500000", "1000000"]),  # 300000 → 500000; 0 is a tick
        ("-1000", "0", ["-1000", "-750", "-500", "-250", "0"]),  # 250 → 250
        ("-120", "40", ["-150", "-100", "-50", "0", "50"]),  # 40 → 50
        ("0", "0", ["0", "1"]),  # nothing sold: an axis all the same
        ("50", "80", ["0", "20", "40", "60", "80"]),  # the axis starts at 0 even when every day sold
    ],
)
def test_axis_ticks_are_round_and_include_zero(low: str, high: str, ticks: list[str]) -> None:
    assert presenters.axis_ticks(Decimal(low), Decimal(high)) == [Decimal(t) for t in ticks]
