"""Onboarding (issue 18): what waits for mapping, bulk mapping with a preview, the suggested home branch,
the mappings page's search/paging/empty messages, and the Retry → "Retried as" link.

Hand-built facts (UZS; attribution seller_or_cashier; every fact a cheque unless marked):

| fact | day   | stock | seller | amount     | waits because          |
|------|-------|-------|--------|------------|------------------------|
| f1   | 11-20 | 7     | 502    | 100000.00  | stock 7, user 502      |
| f2   | 11-20 | 8     | 501    | 50000.00   | — (both mapped)        |
| f3   | 11-21 | 8     | 503    | 30000.00   | user 503               |
| f4   | 11-21 | 9     | 503    | 70000.00   | stock 9, user 503      |
| f5   | 11-21 | 9     | 503    | 5000.00 ↩  | (a return) stock 9     |
| f6   | 11-22 | 7     | 505    | 1000.50    | stock 7, user 505      |

Waiting, by hand: f1 f3 f4 f5 f6 = 5 documents, 100000 + 30000 + 70000 − 5000 + 1000.50 = 196,000.50.

REGOS stocks: 7 "Samarqand  doʻkoni" (unmapped; our branch "samarqand do'koni" is its namesake),
8 "Navoiy" → Navoiy, 9 "Buxoro filiali" (unmapped, no namesake, 2 documents), 10 "Ombor" (no documents).
REGOS users: 501 → Aziz; 502 "YUSUPOVA   Nodira" (namesake employee "Yusupova Nodira"); 503 "Gʻaniyev
Bobur" (no namesake; sold net 30000 at stock 8, 65000 at stock 9 → home = stock 9's branch); 504 "Karimov
Ali" (no documents); 505 "Ali" (two employees are called "Ali": ambiguous).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse

from payroll.models import Branch, DailySalesHistory, Employee
from sync import selectors
from sync.engine.mappings import name_key
from sync.models import MappingAudit, SalesFact, SellerMapping, StockMapping, SyncRun
from tests.sync_now_support import make_role_user

pytestmark = pytest.mark.django_db

TZ = ZoneInfo("Asia/Tashkent")
D20, D21, D22 = date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)
BULK = reverse("sync_panel:bulk")
MAPPINGS = reverse("sync_panel:mappings")


@pytest.mark.parametrize(("raw", "key"), [
    ("Samarqand doʻkoni", "samarqand do'koni"),      # U+02BB
    ("SAMARQAND DO'KONI", "samarqand do'koni"),      # ASCII apostrophe, capitals
    ("Samarqand do‘koni", "samarqand do'koni"),      # U+2018
    ("Samarqand do’koni", "samarqand do'koni"),      # U+2019
    ("Samarqand do`koni", "samarqand do'koni"),      # backtick
    ("  Samarqand \t  doʻkoni  ", "samarqand do'koni"),  # extra and leading/trailing spaces, a tab
    ("Gʻaniyev  Bobur", "g'aniyev bobur"),
    ("Юсупова Нодира", "юсупова нодира"),            # Cyrillic lower-cases too
    ("   ", ""),
    ("", ""),
])
def test_name_key(raw: str, key: str) -> None:
    assert name_key(raw) == key


def test_different_names_stay_different() -> None:
    assert name_key("Samarqand do'koni") != name_key("Samarqand dokoni")
    assert name_key("Ali") != name_key("Ali Valiyev")


def fact(regos_id: str, day: date, stock: int, amount: str, seller: int, *, is_return: bool = False) -> None:
    SalesFact.objects.create(
        source_kind="cheque", regos_id=regos_id, code=regos_id.upper(), business_date=day,
        occurred_at=datetime(day.year, day.month, day.day, 12, tzinfo=TZ), stock_id=stock, seller_id=seller,
        sale_type="retail", is_return=is_return, amount=Decimal(amount), doc_amount=Decimal(amount),
        currency="UZS", exchange_rate=Decimal("1"), status="closed",
    )


@pytest.fixture
def world(settings) -> dict[str, object]:
    settings.REGOS_ATTRIBUTION = "seller_or_cashier"
    navoiy = Branch.objects.create(name="Navoiy")
    samarqand = Branch.objects.create(name="samarqand do'koni")
    aziz = Employee.objects.create(full_name="Toshmatov Aziz", branch=navoiy)
    nodira = Employee.objects.create(full_name="Yusupova Nodira")
    Employee.objects.create(full_name="Ali")
    Employee.objects.create(full_name="ALI ")
    StockMapping.objects.create(regos_stock_id=7, regos_name="Samarqand  doʻkoni")
    StockMapping.objects.create(regos_stock_id=8, regos_name="Navoiy", branch=navoiy)
    StockMapping.objects.create(regos_stock_id=9, regos_name="Buxoro filiali")
    StockMapping.objects.create(regos_stock_id=10, regos_name="Ombor")
    SellerMapping.objects.create(regos_user_id=501, full_name="Toshmatov Aziz", employee=aziz)
    SellerMapping.objects.create(regos_user_id=502, full_name="YUSUPOVA   Nodira")
    SellerMapping.objects.create(regos_user_id=503, full_name="Gʻaniyev Bobur")
    SellerMapping.objects.create(regos_user_id=504, full_name="Karimov Ali")
    SellerMapping.objects.create(regos_user_id=505, full_name="Ali")
    fact("f1", D20, 7, "100000.00", 502)
    fact("f2", D20, 8, "50000.00", 501)
    fact("f3", D21, 8, "30000.00", 503)
    fact("f4", D21, 9, "70000.00", 503)
    fact("f5", D21, 9, "5000.00", 503, is_return=True)
    fact("f6", D22, 7, "1000.50", 505)
    return {"navoiy": navoiy, "samarqand": samarqand, "nodira": nodira}


@pytest.fixture
def admin_client(admin_user, settings) -> Client:
    settings.LANGUAGE_CODE = "en"
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(admin_user)
    return client


@pytest.fixture
def accountant_client(db) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(make_role_user("hisobchi", role="accountant"))
    return client


# --- what waits for mapping --------------------------------------------------------------------------

def test_the_backlog_counts_each_waiting_document_once(world) -> None:
    assert selectors.mapping_backlog() == selectors.MappingBacklog(documents=5, amount=Decimal("196000.50"))


def test_the_run_page_and_the_home_page_say_what_waits(world, admin_client) -> None:
    run = SyncRun.objects.create(date_from=D20, date_to=D22, status=SyncRun.Status.SUCCEEDED, days_total=3,
                                 days_done=3, trigger="user")
    line = "5 documents (196,000.50 UZS) wait for mapping."
    for url in (reverse("sync_panel:run", args=[run.pk]), reverse("admin:index")):
        html = admin_client.get(url).content.decode()
        assert line in html, url
        assert f'href="{reverse("sync_panel:unmapped")}"' in html
    ru = admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "196\xa0000,50" in ru and "ожидают сопоставления" in ru


def test_nothing_is_said_when_nothing_waits(world, admin_client) -> None:
    SalesFact.objects.exclude(regos_id="f2").delete()
    assert selectors.mapping_backlog().documents == 0
    assert 'data-testid="mapping-backlog"' not in admin_client.get(reverse("admin:index")).content.decode()


# --- the preview ---------------------------------------------------------------------------------------

def rows(plan_rows) -> list[tuple]:
    return [(p.kind, p.regos_id, p.target_name, p.creates, p.home_branch) for p in plan_rows]


def test_match_by_name_previews_namesakes_only(world) -> None:
    plan = selectors.mapping_plan(mode="match")
    assert rows(plan.stocks) == [("stock", 7, "samarqand do'koni", False, "")]
    assert rows(plan.users) == [("user", 502, "Yusupova Nodira", False, "")]
    assert [(p.kind, p.regos_id) for p in plan.ambiguous] == [("user", 505)]


def test_create_mode_adds_new_branches_and_employees_for_those_with_documents(world) -> None:
    plan = selectors.mapping_plan(mode="create")
    # stock 10 has no documents and user 504 never sold: nothing is created for them.
    assert rows(plan.stocks) == [
        ("stock", 7, "samarqand do'koni", False, ""),
        ("stock", 9, "Buxoro filiali", True, ""),
    ]
    assert rows(plan.users) == [
        ("user", 502, "Yusupova Nodira", False, ""),
        ("user", 503, "Gʻaniyev Bobur", True, "Buxoro filiali"),  # 65000 at stock 9 > 30000 at stock 8
    ]


def test_the_preview_writes_nothing_and_shows_each_row(world, admin_client) -> None:
    before = (Branch.objects.count(), Employee.objects.count(), MappingAudit.objects.count())
    html = admin_client.get(BULK + "?mode=create").content.decode()
    assert before == (Branch.objects.count(), Employee.objects.count(), MappingAudit.objects.count())
    assert 'id="bulk-stock-9"' in html and "new branch" in html and 'id="bulk-user-503"' in html
    assert 'id="bulk-stock-10"' not in html and 'id="bulk-user-504"' not in html


# --- applying ------------------------------------------------------------------------------------------

def token(client: Client, mode: str) -> str:
    html = client.get(f"{BULK}?mode={mode}").content.decode()
    return re.search(r'name="token" value="([0-9a-f]+)"', html)[1]  # type: ignore[index]


def test_apply_create_maps_creates_and_reaggregates_once(world, admin_client, django_assert_max_num_queries) -> None:
    data = {"mode": "create", "token": token(admin_client, "create"), "stock": ["7", "9"], "user": ["502", "503"]}
    response = admin_client.post(BULK, data, follow=True)
    assert "Mapped 2 stocks and 2 users." in response.content.decode()
    buxoro = Branch.objects.get(name="Buxoro filiali")
    bobur = Employee.objects.get(full_name="Gʻaniyev Bobur")
    assert bobur.branch == buxoro  # the suggested home branch
    assert StockMapping.objects.get(regos_stock_id=7).branch == world["samarqand"]
    assert SellerMapping.objects.get(regos_user_id=502).employee == world["nodira"]
    audits = list(MappingAudit.objects.order_by("kind", "regos_id").values_list("kind", "regos_id", "days_changed"))
    # one re-aggregation of 20, 21 and 22 November served all four: each audit carries its 3 days.
    assert audits == [("seller", 502, 3), ("seller", 503, 3), ("stock", 7, 3), ("stock", 9, 3)]
    # History by hand: 11-20 samarqand/Nodira 100000, Navoiy/Aziz 50000; 11-21 Navoiy/Bobur 30000,
    # Buxoro/Bobur 70000 − 5000; 11-22 samarqand/unassigned (505 stays unmapped) 1000.50.
    got = {(r.date, r.branch.name, r.employee.full_name if r.employee else "", r.total_sales)
           for r in DailySalesHistory.objects.select_related("branch", "employee")}
    assert got == {
        (D20, "samarqand do'koni", "Yusupova Nodira", Decimal("100000.00")),
        (D20, "Navoiy", "Toshmatov Aziz", Decimal("50000.00")),
        (D21, "Navoiy", "Gʻaniyev Bobur", Decimal("30000.00")),
        (D21, "Buxoro filiali", "Gʻaniyev Bobur", Decimal("65000.00")),
        (D22, "samarqand do'koni", "", Decimal("1000.50")),
    }
    assert selectors.mapping_backlog() == selectors.MappingBacklog(documents=1, amount=Decimal("1000.50"))


def test_unticked_rows_are_left_alone(world, admin_client) -> None:
    data = {"mode": "match", "token": token(admin_client, "match"), "stock": ["7"]}
    admin_client.post(BULK, data)
    assert StockMapping.objects.get(regos_stock_id=7).branch == world["samarqand"]
    assert SellerMapping.objects.get(regos_user_id=502).employee is None


def nothing_written(world) -> bool:
    return (
        MappingAudit.objects.count() == 0 and Branch.objects.count() == 2 and Employee.objects.count() == 4
        and not StockMapping.objects.filter(regos_stock_id__in=[7, 9], branch__isnull=False).exists()
        and not DailySalesHistory.objects.exists()
    )


@pytest.mark.parametrize(("stocks", "users", "message"), [
    (["10"], [], "Some of the chosen rows are not in the preview"),        # no documents: not in the plan
    (["7"], ["505"], "Some of the chosen rows are not in the preview"),    # ambiguous: not in the plan
    (["7"], ["99999999999999999999999"], "Some of the chosen rows are not in the preview"),
    (["abc"], [], "Some of the chosen rows are not in the preview"),
    ([], [], "Nothing was chosen"),
])
def test_forged_rows_are_refused_and_nothing_is_written(world, admin_client, stocks, users, message) -> None:
    data = {"mode": "create", "token": token(admin_client, "create"), "stock": stocks, "user": users}
    html = admin_client.post(BULK, data, follow=True).content.decode()
    assert message in html
    assert nothing_written(world)


def test_a_stale_preview_is_refused_and_nothing_is_written(world, admin_client) -> None:
    stale = token(admin_client, "create")
    Branch.objects.create(name="Buxoro  FILIALI")  # meanwhile: stock 9 now has a namesake to match
    data = {"mode": "create", "token": stale, "stock": ["7", "9"], "user": ["502"]}
    html = admin_client.post(BULK, data, follow=True).content.decode()
    assert "The mappings changed since this preview was shown" in html
    assert MappingAudit.objects.count() == 0 and not DailySalesHistory.objects.exists()


def test_accountants_see_no_bulk_action_and_get_403(world, accountant_client) -> None:
    assert accountant_client.get(BULK + "?mode=match").status_code == 403
    assert accountant_client.post(BULK, {"mode": "match", "stock": ["7"]}).status_code == 403
    assert "bulk-tab" not in accountant_client.get(MAPPINGS).content.decode()
    assert nothing_written(world)


def test_apply_needs_csrf(world, admin_user) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(BULK, {"mode": "match", "token": "x", "stock": ["7"]}).status_code == 403
    assert nothing_written(world)


def test_the_single_create_employee_button_suggests_the_home_branch(world, admin_client) -> None:
    admin_client.post(reverse("sync_panel:stock_map", args=[9]), {"action": "create"})
    admin_client.post(reverse("sync_panel:seller_map", args=[503]), {"action": "create"})
    assert Employee.objects.get(full_name="Gʻaniyev Bobur").branch.name == "Buxoro filiali"


# --- the mappings page -----------------------------------------------------------------------------------

def test_search_finds_by_name_login_and_id(world, admin_client) -> None:
    html = admin_client.get(MAPPINGS + "?q=buxoro").content.decode()
    assert 'id="stock-9"' in html and 'id="stock-7"' not in html
    html = admin_client.get(MAPPINGS + "?q=503").content.decode()
    assert 'id="user-503"' in html and 'id="user-502"' not in html
    html = admin_client.get(MAPPINGS + "?q=zzz").content.decode()
    assert "No REGOS stock matches “zzz”." in html


def test_users_are_paged_fifty_at_a_time(world, admin_client) -> None:
    SellerMapping.objects.bulk_create(
        SellerMapping(regos_user_id=1000 + i, full_name=f"Xodim {i:03d}") for i in range(120)
    )  # 125 users in all → pages of 50, 50, 25
    page3 = admin_client.get(MAPPINGS + "?users_page=3").content.decode()
    assert page3.count('<tr id="user-') == 25
    assert "125 rows" in page3 and 'href="?users_page=2"' in page3


def test_the_not_mapped_tab_says_everything_is_mapped(world, admin_client) -> None:
    StockMapping.objects.filter(branch__isnull=True).update(branch=world["navoiy"])
    SellerMapping.objects.filter(employee__isnull=True).update(employee=world["nodira"])
    html = admin_client.get(MAPPINGS + "?show=unmapped").content.decode()
    assert "Everything is mapped: every REGOS stock has a branch." in html
    assert "Everything is mapped: every REGOS user has an employee." in html
    assert "No REGOS stocks here yet" not in html


# --- Retry → "Retried as" ------------------------------------------------------------------------------------

def test_a_retried_run_links_to_its_retry_instead_of_offering_retry(admin_client) -> None:
    failed = SyncRun.objects.create(date_from=D20, date_to=D20, status=SyncRun.Status.FAILED, trigger="user",
                                    error="boom")
    assert 'data-testid="retry"' in admin_client.get(reverse("sync_panel:run", args=[failed.pk])).content.decode()
    retry = SyncRun.objects.create(date_from=D20, date_to=D20, status=SyncRun.Status.SUCCEEDED, trigger="user",
                                   retry_of=failed)
    html = admin_client.get(reverse("sync_panel:run", args=[failed.pk])).content.decode()
    assert 'data-testid="retry"' not in html
    assert "Retried as the run of" in html and reverse("sync_panel:run", args=[retry.pk]) in html
    # a stale page's second Retry shows the retry and starts nothing
    response = admin_client.post(reverse("sync_panel:run_retry", args=[failed.pk]))
    assert response["Location"] == reverse("sync_panel:run", args=[retry.pk])
    assert SyncRun.objects.count() == 2
