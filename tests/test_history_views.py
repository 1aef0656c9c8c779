"""The history page, its drill-down and its query-string validation (Django test client)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from html import unescape

import pytest
import time_machine
from django.urls import reverse
from django.utils import translation

from payroll.models import UNASSIGNED
from sync.models import SalesFact, SellerMapping, StockMapping

pytestmark = pytest.mark.django_db

HISTORY = "/reports/history/"
# 2026-11-20 10:00 in Tashkent (UTC+5).
NOV_20 = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)


def text_of(html: str, element_id: str) -> str:
    """The visible text of the element with ``id`` (tags stripped, whitespace squeezed)."""
    match = re.search(rf'<table[^>]*id="{element_id}".*?</table>', html, re.S)
    assert match, f"no #{element_id}"
    # Only ASCII whitespace is squeezed: the no-break spaces of Uzbek/Russian numbers must stay.
    return unescape(re.sub(r"[ \t\r\n]+", " ", re.sub(r"<[^>]+>", " ", match.group(0))).strip())


def test_urls_are_named() -> None:
    assert reverse("reports:history") == HISTORY
    assert reverse("reports:summary") == "/reports/summary/"
    assert reverse("reports:export_csv") == "/reports/export.csv"
    assert reverse("reports:export_xlsx") == "/reports/export.xlsx"


def test_default_range_is_the_month_so_far_in_tashkent(client, accountant, november_sales) -> None:  # noqa: ANN001
    with time_machine.travel(NOV_20, tick=False):
        client.force_login(accountant)  # inside the travel, or the session may be "expired"
        response = client.get(HISTORY)
    assert response.status_code == 200
    assert (response.context["date_from"], response.context["date_to"]) == (
        date(2026, 11, 1),
        date(2026, 11, 20),
    )
    html = response.content.decode()
    assert 'value="2026-11-01"' in html and 'value="2026-11-20"' in html
    # Uzbek (the default): non-breaking-space thousands, comma decimals. 10550000.50 by hand.
    assert "10\xa0550\xa0000,50" in text_of(html, "history-totals")


def test_default_month_follows_tashkent_not_utc(client, accountant, november_sales) -> None:  # noqa: ANN001
    # 19:30 UTC on 30 November is already 00:30 on 1 December in Tashkent.
    with time_machine.travel(datetime(2026, 11, 30, 19, 30, tzinfo=UTC), tick=False):
        client.force_login(accountant)
        response = client.get(HISTORY)
    assert (response.context["date_from"], response.context["date_to"]) == (
        date(2026, 12, 1),
        date(2026, 12, 1),
    )


def test_filtered_page_totals_subtotals_and_rows(accountant_client, november_sales) -> None:  # noqa: ANN001
    c = november_sales
    query = {"date_from": "2026-11-01", "date_to": "2026-11-30", "branch": str(c.navoiy.pk)}
    with translation.override("en"):
        response = accountant_client.get(HISTORY, query, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    html = response.content.decode()
    # Navoiy, by hand: 3600000.50 retail, 100000 returns, 2000000 wholesale, 300000 returns, 5200000.50 net.
    assert text_of(html, "history-totals").endswith(
        "3,600,000.50 100,000.00 2,000,000.00 300,000.00 5,200,000.50 27"
    )
    branches = text_of(html, "branch-subtotals")
    assert "Navoiy filiali 3,600,000.50" in branches and "G'ijduvon" not in branches
    employees = text_of(html, "employee-subtotals")
    assert "Toshmatov Aziz 2,700,000.25 100,000.00 0.00 300,000.00 2,300,000.25 21" in employees
    assert "(unassigned) 99,999.75" in employees
    assert html.count('class="regos-drill"') == 4
    # Each row links to its drill-down, carrying the filters back.
    assert f"/reports/history/2026-11-03/{c.navoiy.pk}/{UNASSIGNED}/?date_from=2026-11-01" in html


def test_chart_is_inline_svg_with_one_line_per_branch(accountant_client, november_sales) -> None:  # noqa: ANN001
    response = accountant_client.get(HISTORY, {"date_from": "2026-11-01", "date_to": "2026-11-04"})
    html = response.content.decode()
    figure = html[html.index('<figure class="regos-chart">') :]
    svg = figure[: figure.index("</svg>")]
    assert svg.count("<polyline") == 2
    assert svg.count("<circle") == 8  # 2 branches x 4 days
    assert 'data-branch="Navoiy filiali"' in svg
    # Coordinates stay machine-readable in Uzbek (no "96,5"): every points pair is "x,y" of plain decimals.
    points = re.findall(r'points="([^"]+)"', svg)
    assert all(re.fullmatch(r"(\d+\.\d,\d+\.\d ?)+", p) for p in points)
    assert "<script" not in svg


def test_pagination_keeps_the_filters(accountant_client, november_sales, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr("payroll.views.ROWS_PER_PAGE", 4)
    query = {"date_from": "2026-11-01", "date_to": "2026-11-30"}
    first = accountant_client.get(HISTORY, query)
    assert first.context["page_obj"].paginator.num_pages == 2
    assert "?date_from=2026-11-01&amp;date_to=2026-11-30&amp;page=2" in first.content.decode()
    second = accountant_client.get(HISTORY, {**query, "page": "2"})
    assert [row.employee_name for row, _url in second.context["rows"]] == ["", "Toshmatov Aziz"]
    # A garbage page number shows the first page rather than failing.
    assert accountant_client.get(HISTORY, {**query, "page": "abc"}).status_code == 200


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"date_from": "2026-13-45"}, "Enter a valid date."),
        ({"date_from": "yesterday"}, "Enter a valid date."),
        (
            {"date_from": "2026-11-20", "date_to": "2026-11-01"},
            "The end date 2026-11-01 is before the start date",
        ),
        ({"date_from": "2025-01-01", "date_to": "2026-11-01"}, "Choose at most 366 days at a time."),
        ({"branch": "not-a-uuid"}, "No such branch"),
        ({"branch": "00000000-0000-0000-0000-000000000000"}, "No such branch"),
        ({"employee": "00000000-0000-0000-0000-000000000000"}, "No such employee"),
        ({"sale_type": "barter"}, "Select a valid choice."),
    ],
)
def test_bad_query_strings_are_form_errors_not_500(accountant_client, november_sales, query, message) -> None:  # noqa: ANN001
    with translation.override("en"):
        response = accountant_client.get(HISTORY, query, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    html = response.content.decode()
    assert "errornote" in html and message in html
    assert "history-rows" not in html  # no figures for a query that did not validate


def test_exactly_366_days_is_allowed(accountant_client, november_sales) -> None:  # noqa: ANN001
    response = accountant_client.get(HISTORY, {"date_from": "2025-12-01", "date_to": "2026-12-01"})
    assert response.status_code == 200


def test_employee_filter_unassigned(accountant_client, november_sales) -> None:  # noqa: ANN001
    response = accountant_client.get(
        HISTORY, {"date_from": "2026-11-01", "date_to": "2026-11-30", "employee": UNASSIGNED}
    )
    assert response.status_code == 200
    assert [row.employee_key for row, _url in response.context["rows"]] == [UNASSIGNED]


def test_admin_sees_the_mapping_link_on_unassigned_rows_accountant_does_not(
    accountant_client,
    group_admin_client,
    november_sales,  # noqa: ANN001
) -> None:
    query = {"date_from": "2026-11-01", "date_to": "2026-11-30"}
    assert "regos-fix-mapping" not in accountant_client.get(HISTORY, query).content.decode()
    admin_html = group_admin_client.get(HISTORY, query).content.decode()
    assert admin_html.count('class="regos-fix-mapping"') == 1  # one unassigned row


def _fact(
    kind: str,
    regos_id: str,
    *,
    stock: int,
    amount: str,
    at: datetime,
    seller=None,
    cashier=None,  # noqa: ANN001
    attached=None,
    is_return: bool = False,
    code: str = "",
) -> SalesFact:
    return SalesFact.objects.create(
        source_kind=kind,
        regos_id=regos_id,
        code=code or regos_id,
        business_date=date(2026, 11, 3),
        occurred_at=at,
        stock_id=stock,
        seller_id=seller,
        cashier_id=cashier,
        attached_user_id=attached,
        sale_type="retail" if kind == "cheque" else "wholesale",
        is_return=is_return,
        amount=Decimal(amount),
        doc_amount=Decimal(amount),
        status="Closed" if kind == "cheque" else "performed",
    )


@pytest.fixture
def navoiy_facts(november_sales):  # noqa: ANN001, ANN201
    """REGOS documents of 2026-11-03 at Navoiy's stock 11 (and one at G'ijduvon's stock 22)."""
    c = november_sales
    StockMapping.objects.create(regos_stock_id=11, regos_name="Navoiy do'kon", branch=c.navoiy)
    StockMapping.objects.create(regos_stock_id=22, regos_name="G'ijduvon do'kon", branch=c.gijduvon)
    SellerMapping.objects.create(regos_user_id=501, full_name="Aziz T.", employee=c.aziz)
    SellerMapping.objects.create(regos_user_id=502, full_name="Kassa 2")  # known, not mapped
    at = datetime(2026, 11, 3, 6, 0, tzinfo=UTC)  # 11:00 Tashkent
    # Aziz's row of 2026-11-03: 400000.25 + 8 x 100000 = 1200000.25 in 9 cheques; 300000 returned.
    _fact("cheque", "c-1", stock=11, amount="400000.25", at=at, seller=501, cashier=502, code="N-101")
    for n in range(8):  # no seller on these: the cashier (501) counts
        _fact(
            "cheque",
            f"c-2{n}",
            stock=11,
            amount="100000.00",
            at=at.replace(hour=7, minute=n),
            cashier=501,
            code=f"N-2{n}",
        )
    _fact("wholesale_return", "wr-1", stock=11, amount="300000.00", at=at.replace(hour=8), attached=501)
    # The unassigned row: a cheque of 502, a REGOS user nobody mapped.
    _fact("cheque", "c-3", stock=11, amount="99999.75", at=at.replace(hour=9), seller=502, code="N-103")
    _fact("cheque", "c-4", stock=22, amount="1.00", at=at, seller=501, code="G-1")  # other branch
    return c


def test_drill_down_lists_the_documents_behind_a_row(accountant_client, navoiy_facts) -> None:  # noqa: ANN001
    c = navoiy_facts
    url = reverse("reports:history_facts", args=["2026-11-03", c.navoiy.pk, str(c.aziz.pk)])
    with translation.override("en"):
        response = accountant_client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    facts = [fact.code for fact, _name in response.context["facts"]]
    # Seller 501 (N-101), no seller -> cashier 501 (N-2x), wholesale return -> attached 501 (wr-1).
    assert facts == ["N-101", *(f"N-2{n}" for n in range(8)), "wr-1"]
    html = response.content.decode()
    table = text_of(html, "facts")
    assert "N-101 11:00:00 retail cheque Aziz T. #501 400,000.25" in table
    assert "wr-1 13:00:00 wholesale return Aziz T. #501 −300,000.00" in table
    # The documents add up to the history row, cheque count included.
    assert response.context["facts_figures"] == response.context["row_figures"]
    assert "no longer add up" not in html


def test_drill_down_of_unassigned_row(accountant_client, navoiy_facts) -> None:  # noqa: ANN001
    c = navoiy_facts
    url = reverse("reports:history_facts", args=["2026-11-03", c.navoiy.pk, UNASSIGNED])
    response = accountant_client.get(url)
    assert response.status_code == 200
    assert [(fact.code, name) for fact, name in response.context["facts"]] == [("N-103", "Kassa 2")]
    assert response.context["facts_figures"].total_sales == Decimal("99999.75")


def test_drill_down_says_when_documents_and_row_disagree(accountant_client, navoiy_facts) -> None:  # noqa: ANN001
    c = navoiy_facts
    # An admin maps REGOS user 502 after the last sync: its cheque now belongs to Dilnoza, but the
    # unassigned history row is only rebuilt by the next re-aggregation.
    SellerMapping.objects.filter(regos_user_id=502).update(employee=c.dilnoza)
    url = reverse("reports:history_facts", args=["2026-11-03", c.navoiy.pk, UNASSIGNED])
    with translation.override("en"):
        response = accountant_client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert response.context["facts"] == []
    assert "no longer add up" in response.content.decode()


@pytest.mark.parametrize(
    "path",
    [
        "/reports/history/2026-02-30/00000000-0000-0000-0000-000000000000/unassigned/",
        "/reports/history/nonsense/00000000-0000-0000-0000-000000000000/unassigned/",
        "/reports/history/2026-11-03/00000000-0000-0000-0000-000000000000/unassigned/",
    ],
)
def test_drill_down_bad_address_is_404(accountant_client, november_sales, path) -> None:  # noqa: ANN001
    assert accountant_client.get(path).status_code == 404


def test_drill_down_bad_employee_key_is_404(accountant_client, november_sales) -> None:  # noqa: ANN001
    c = november_sales
    assert accountant_client.get(f"/reports/history/2026-11-03/{c.navoiy.pk}/robert/").status_code == 404
    missing = "00000000-0000-0000-0000-000000000001"
    assert accountant_client.get(f"/reports/history/2026-11-03/{c.navoiy.pk}/{missing}/").status_code == 404


def test_page_in_russian(accountant_client, november_sales) -> None:  # noqa: ANN001
    accountant_client.cookies["django_language"] = "ru"
    html = accountant_client.get(
        HISTORY, {"date_from": "2026-11-01", "date_to": "2026-11-30"}
    ).content.decode()
    assert "История продаж" in html
    assert "10\xa0550\xa0000,50" in text_of(html, "history-totals")
    assert "(не назначен)" in text_of(html, "employee-subtotals")


def test_page_in_uzbek_by_default(accountant_client, november_sales) -> None:  # noqa: ANN001
    html = accountant_client.get(
        HISTORY, {"date_from": "2026-11-01", "date_to": "2026-11-30"}
    ).content.decode()
    assert "Savdo tarixi" in html
    assert "Oʻzbekcha" in html and "Русский" in html and "English" in html
