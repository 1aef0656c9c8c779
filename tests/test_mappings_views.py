"""The Mappings and Unmapped pages and their POSTs, with hand-built facts and hand-worked totals.

The facts (amounts in UZS; attribution seller_or_cashier):

| fact | kind             | day   | stock | seller | cashier | attached | amount       |
|------|------------------|-------|-------|--------|---------|----------|--------------|
| c-1  | cheque           | 11-20 | 7     | 501    | 502     |          | 100000.00    |
| c-2  | cheque           | 11-20 | 7     |        | 502     |          | 50000.50     |
| c-3  | cheque (return)  | 11-20 | 7     | 501    |         |          | 20000.00     |
| w-1  | wholesale (USD)  | 11-21 | 7     | 501    |         |          | 12500000.00  | (1000.00 × 12500)
| r-1  | wholesale return | 11-21 | 7     |        |         | 501      | 300000.00    |
| c-4  | cheque           | 11-22 | 8     | 501    |         |          | 77777.00     |
| c-5  | cheque           | 11-22 | 9     | 503    |         |          | 5000.00      |

Mappings: stock 8 → Navoiy; stock 7 ("Samarqand do'koni") known but unmapped; stock 9 never discovered.
User 501 → Toshmatov Aziz; user 502 ("Yusupova Nodira") known but unmapped; user 503 never discovered.

Waiting, by hand:
- stock 7: 5 documents, 100000.00 + 50000.50 − 20000.00 + 12500000.00 − 300000.00 = 12330000.50
- stock 9: 1 document, 5000.00
- user 502: only c-2 counts for her (on c-1 she is the cashier, but c-1 has a seller): 1 document, 50000.50
- user 503: c-5: 1 document, 5000.00
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse

from payroll.models import UNASSIGNED, Branch, DailySalesHistory, Employee
from sync import services
from sync.engine.discover import DiscoveredStock, DiscoveredUser, DiscoverResult
from sync.models import MappingAudit, SalesFact, SellerMapping, StockMapping
from sync.regos.errors import RegosAccessError
from tests.sync_now_support import make_role_user

pytestmark = pytest.mark.django_db

TZ = ZoneInfo("Asia/Tashkent")
D20, D21, D22 = date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)
MAPPINGS = reverse("sync_panel:mappings")
UNMAPPED = reverse("sync_panel:unmapped")


def fact(
    regos_id: str,
    kind: str,
    day: date,
    stock: int,
    amount: str,
    *,
    seller=None,
    cashier=None,
    attached=None,
    is_return=False,
    doc_amount=None,
    currency="UZS",
    rate="1",
) -> SalesFact:
    return SalesFact.objects.create(
        source_kind=kind,
        regos_id=regos_id,
        code=regos_id.upper(),
        business_date=day,
        occurred_at=datetime(day.year, day.month, day.day, 12, tzinfo=TZ),
        stock_id=stock,
        seller_id=seller,
        cashier_id=cashier,
        attached_user_id=attached,
        sale_type="retail" if kind == "cheque" else "wholesale",
        is_return=is_return,
        amount=Decimal(amount),
        doc_amount=Decimal(doc_amount or amount),
        currency=currency,
        exchange_rate=Decimal(rate),
        status="closed" if kind == "cheque" else "performed",
    )


@pytest.fixture
def facts(navoiy, aziz) -> None:
    StockMapping.objects.create(regos_stock_id=8, regos_name="Navoiy filiali", branch=navoiy)
    StockMapping.objects.create(regos_stock_id=7, regos_name="Samarqand do'koni")
    SellerMapping.objects.create(regos_user_id=501, full_name="Toshmatov Aziz", employee=aziz)
    SellerMapping.objects.create(regos_user_id=502, full_name="Yusupova Nodira")
    fact("c-1", "cheque", D20, 7, "100000.00", seller=501, cashier=502)
    fact("c-2", "cheque", D20, 7, "50000.50", cashier=502)
    fact("c-3", "cheque", D20, 7, "20000.00", seller=501, is_return=True)
    fact(
        "w-1",
        "wholesale",
        D21,
        7,
        "12500000.00",
        seller=501,
        doc_amount="1000.00",
        currency="USD",
        rate="12500",
    )
    fact("r-1", "wholesale_return", D21, 7, "300000.00", attached=501, is_return=True)
    fact("c-4", "cheque", D22, 8, "77777.00", seller=501)
    fact("c-5", "cheque", D22, 9, "5000.00", seller=503)


@pytest.fixture
def admin_client(admin_user, settings) -> Client:
    settings.LANGUAGE_CODE = "en"
    settings.REGOS_ATTRIBUTION = "seller_or_cashier"
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(admin_user)
    return client


@pytest.fixture
def accountant_client(db) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(make_role_user("hisobchi", role="accountant"))
    return client


def history() -> set[tuple]:
    """Every history row as (day, branch, employee or 'unassigned', rs, rr, ws, wr, total, cheques)."""
    return {
        (
            r.date,
            r.branch.name,
            r.employee.full_name if r.employee else UNASSIGNED,
            r.retail_sales,
            r.retail_returns,
            r.wholesale_sales,
            r.wholesale_returns,
            r.total_sales,
            r.cheque_count,
        )
        for r in DailySalesHistory.objects.select_related("branch", "employee")
    }


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def m(text: str) -> Decimal:
    return Decimal(text)


# --- pages ---------------------------------------------------------------------------------------


def test_the_unmapped_page_lists_what_waits_with_the_amounts(admin_client, facts) -> None:
    response = admin_client.get(UNMAPPED)
    assert response.status_code == 200
    stocks = [(s.regos_stock_id, s.regos_name, s.facts, s.amount) for s in response.context["stocks"]]
    assert stocks == [(7, "Samarqand do'koni", 5, m("12330000.50")), (9, "", 1, m("5000.00"))]
    users = [(u.regos_id, u.name, u.documents, u.amount) for u in response.context["users"]]
    assert users == [(502, "Yusupova Nodira", 1, m("50000.50")), (503, "", 1, m("5000.00"))]
    html = response.content.decode()
    assert "12,330,000.50" in html and "12,335,000.50" in html  # stock 7, and the stocks' total
    assert "50,000.50" in html and "55,000.50" in html
    assert 'data-testid="create-branch-7"' in html and 'data-testid="create-employee-503"' in html


def test_the_unmapped_page_formats_amounts_in_russian(admin_client, facts) -> None:
    html = admin_client.get(UNMAPPED, HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "12\xa0330\xa0000,50" in html


def test_the_mappings_page_lists_stocks_and_users_with_their_state(admin_client, facts) -> None:
    response = admin_client.get(MAPPINGS)
    assert response.status_code == 200
    stocks = {
        (s.regos_stock_id, s.branch.name if s.branch else None, s.documents)
        for s in response.context["stocks"]
    }
    assert stocks == {(7, None, 5), (8, "Navoiy filiali", 1)}
    users = {
        (u.regos_user_id, u.employee.full_name if u.employee else None) for u in response.context["users"]
    }
    assert users == {(501, "Toshmatov Aziz"), (502, None)}
    html = response.content.decode()
    assert 'data-testid="discover"' in html
    only_unmapped = admin_client.get(MAPPINGS, {"show": "unmapped"})
    assert [s.regos_stock_id for s in only_unmapped.context["stocks"]] == [7]
    assert [u.regos_user_id for u in only_unmapped.context["users"]] == [502]


def test_an_accountant_sees_the_mappings_without_any_control(accountant_client, facts) -> None:
    for url in (MAPPINGS, UNMAPPED):
        response = accountant_client.get(url)
        assert response.status_code == 200
        html = response.content.decode()
        assert 'data-testid="discover"' not in html
        assert "sync-map-form" not in html


# --- mapping a stock: re-aggregation and audit ---------------------------------------------------


def test_mapping_an_unmapped_stock_re_aggregates_its_days_and_is_audited(
    admin_client, admin_user, facts, gijduvon
) -> None:
    assert history() == set()
    response = admin_client.post(
        reverse("sync_panel:stock_map", args=[7]),
        {"branch": str(gijduvon.pk), "next": UNMAPPED},
        follow=True,
    )
    assert response.redirect_chain == [(UNMAPPED, 302)]
    assert messages_of(response) == [
        "“Samarqand do'koni” mapped to branch “G'ijduvon filiali”. 2 days re-aggregated."
    ]
    gij = "G'ijduvon filiali"
    assert history() == {
        (D20, gij, "Toshmatov Aziz", m("100000.00"), m("20000.00"), m("0"), m("0"), m("80000.00"), 1),
        (D20, gij, UNASSIGNED, m("50000.50"), m("0"), m("0"), m("0"), m("50000.50"), 1),
        (D21, gij, "Toshmatov Aziz", m("0"), m("0"), m("12500000.00"), m("300000.00"), m("12200000.00"), 0),
    }
    audit = MappingAudit.objects.get()
    assert (
        audit.kind,
        audit.regos_id,
        audit.regos_name,
        audit.old_target,
        audit.new_target,
        audit.days_changed,
        audit.changed_by_id,
    ) == (
        "stock",
        7,
        "Samarqand do'koni",
        "",
        gij,
        2,
        admin_user.pk,
    )
    # No longer waiting.
    assert [s.regos_stock_id for s in response.context["stocks"]] == [9]


def test_mapping_an_unmapped_user_moves_the_unassigned_sales_to_the_employee(
    admin_client, facts, gijduvon, bobur
) -> None:
    admin_client.post(reverse("sync_panel:stock_map", args=[7]), {"branch": str(gijduvon.pk)}, follow=True)
    response = admin_client.post(
        reverse("sync_panel:seller_map", args=[502]), {"employee": str(bobur.pk)}, follow=True
    )
    assert messages_of(response) == [
        "“Yusupova Nodira” mapped to employee “Rahimov Bobur”. 1 day re-aggregated."
    ]
    gij = "G'ijduvon filiali"
    assert history() == {
        (D20, gij, "Toshmatov Aziz", m("100000.00"), m("20000.00"), m("0"), m("0"), m("80000.00"), 1),
        (D20, gij, "Rahimov Bobur", m("50000.50"), m("0"), m("0"), m("0"), m("50000.50"), 1),
        (D21, gij, "Toshmatov Aziz", m("0"), m("0"), m("12500000.00"), m("300000.00"), m("12200000.00"), 0),
    }
    audit = MappingAudit.objects.filter(kind="seller").get()
    assert (audit.regos_id, audit.old_target, audit.new_target, audit.days_changed) == (
        502,
        "",
        "Rahimov Bobur",
        1,
    )


def test_unmapping_a_stock_takes_its_sales_out_of_the_history(admin_client, facts) -> None:
    # Build day 22 first (stock 8 → Navoiy): Aziz 77777.00.
    admin_client.post(reverse("sync_panel:stock_map", args=[9]), {"action": "create"}, follow=True)
    assert (
        D22,
        "Navoiy filiali",
        "Toshmatov Aziz",
        m("77777.00"),
        m("0"),
        m("0"),
        m("0"),
        m("77777.00"),
        1,
    ) in history()
    response = admin_client.post(reverse("sync_panel:stock_map", args=[8]), {"branch": ""}, follow=True)
    assert messages_of(response) == ["“Navoiy filiali” is no longer mapped. 1 day re-aggregated."]
    assert not DailySalesHistory.objects.filter(branch__name="Navoiy filiali").exists()
    audit = MappingAudit.objects.filter(regos_id=8).get()
    assert (audit.old_target, audit.new_target) == ("Navoiy filiali", "")


def test_create_branch_from_a_stock_in_one_click(admin_client, facts) -> None:
    response = admin_client.post(reverse("sync_panel:stock_map", args=[7]), {"action": "create"}, follow=True)
    branch = Branch.objects.get(name="Samarqand do'koni")
    assert StockMapping.objects.get(regos_stock_id=7).branch == branch
    assert messages_of(response) == [
        "Branch “Samarqand do'koni” created and “Samarqand do'koni” mapped to it. 2 days re-aggregated."
    ]
    # A second press changes nothing and says so.
    again = admin_client.post(reverse("sync_panel:stock_map", args=[7]), {"action": "create"}, follow=True)
    assert messages_of(again) == ["“Samarqand do'koni” is already mapped to branch “Samarqand do'koni”."]
    assert Branch.objects.filter(name="Samarqand do'koni").count() == 1
    assert MappingAudit.objects.count() == 1


def test_a_stock_known_only_from_facts_can_be_mapped(admin_client, facts) -> None:
    response = admin_client.post(reverse("sync_panel:stock_map", args=[9]), {"action": "create"}, follow=True)
    assert messages_of(response)[0].startswith("Branch “REGOS stock #9” created")
    assert StockMapping.objects.get(regos_stock_id=9).branch.name == "REGOS stock #9"
    # Day 22 rebuilt: stock 9's cheque (user 503, unmapped) and stock 8's (Aziz at Navoiy).
    assert history() == {
        (D22, "REGOS stock #9", UNASSIGNED, m("5000.00"), m("0"), m("0"), m("0"), m("5000.00"), 1),
        (D22, "Navoiy filiali", "Toshmatov Aziz", m("77777.00"), m("0"), m("0"), m("0"), m("77777.00"), 1),
    }


def test_create_employee_from_a_user_in_one_click_once(admin_client, facts, gijduvon) -> None:
    url = reverse("sync_panel:seller_map", args=[502])
    admin_client.post(url, {"action": "create"})
    admin_client.post(url, {"action": "create"})
    assert Employee.objects.filter(full_name="Yusupova Nodira").count() == 1
    assert SellerMapping.objects.get(regos_user_id=502).employee.full_name == "Yusupova Nodira"
    assert MappingAudit.objects.filter(kind="seller").count() == 1


def test_create_adopts_an_unmapped_employee_of_exactly_that_name(admin_client, facts) -> None:
    # E.g. created by the Node payroll system before the REGOS user was ever seen.
    existing = Employee.objects.create(full_name="Yusupova Nodira")
    response = admin_client.post(reverse("sync_panel:seller_map", args=[502]), {"action": "create"}, follow=True)
    assert Employee.objects.filter(full_name="Yusupova Nodira").count() == 1
    assert SellerMapping.objects.get(regos_user_id=502).employee_id == existing.pk
    assert messages_of(response)[0].startswith("“Yusupova Nodira” mapped to employee “Yusupova Nodira”.")


def test_create_does_not_adopt_an_employee_mapped_to_another_user(admin_client, facts) -> None:
    taken = Employee.objects.create(full_name="Yusupova Nodira")
    SellerMapping.objects.create(regos_user_id=999, full_name="Yusupova Nodira", employee=taken)
    admin_client.post(reverse("sync_panel:seller_map", args=[502]), {"action": "create"})
    adopted = SellerMapping.objects.get(regos_user_id=502).employee
    assert adopted.pk != taken.pk
    assert Employee.objects.filter(full_name="Yusupova Nodira").count() == 2


# --- refused writes ------------------------------------------------------------------------------


def test_an_accountant_gets_403_on_every_mapping_write(
    accountant_client, facts, gijduvon, bobur, monkeypatch
) -> None:
    monkeypatch.setattr(services, "regos_discover", lambda **kw: pytest.fail("discover must not run"))
    posts = [
        (reverse("sync_panel:stock_map", args=[7]), {"branch": str(gijduvon.pk)}),
        (reverse("sync_panel:stock_map", args=[7]), {"action": "create"}),
        (reverse("sync_panel:seller_map", args=[502]), {"employee": str(bobur.pk)}),
        (reverse("sync_panel:seller_map", args=[502]), {"action": "create"}),
        (reverse("sync_panel:discover"), {}),
    ]
    for url, data in posts:
        assert accountant_client.post(url, data).status_code == 403, url
    assert not MappingAudit.objects.exists()
    assert StockMapping.objects.get(regos_stock_id=7).branch is None
    assert not Branch.objects.filter(name="Samarqand do'koni").exists()


def test_mapping_rights_are_separate(db, facts, gijduvon, bobur) -> None:
    client = Client()
    client.force_login(make_role_user("omborchi", ["sync.change_stockmapping", "sync.view_stockmapping"]))
    assert (
        client.post(reverse("sync_panel:stock_map", args=[7]), {"branch": str(gijduvon.pk)}).status_code
        == 302
    )
    assert (
        client.post(reverse("sync_panel:seller_map", args=[502]), {"employee": str(bobur.pk)}).status_code
        == 403
    )
    # Create needs payroll.add_branch as well.
    assert client.post(reverse("sync_panel:stock_map", args=[8]), {"action": "create"}).status_code == 403
    assert client.post(reverse("sync_panel:discover")).status_code == 403


def test_anonymous_and_non_staff_are_sent_to_login(client, facts) -> None:
    urls = [MAPPINGS, UNMAPPED]
    for url in urls:
        assert client.get(url)["Location"].startswith(reverse("admin:login"))
    client.force_login(make_role_user("kassir", ["sync.change_stockmapping"], staff=False))
    response = client.post(reverse("sync_panel:stock_map", args=[7]), {"action": "create"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    assert not MappingAudit.objects.exists()


def test_mapping_posts_need_the_csrf_token(admin_user, facts, gijduvon) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert (
        client.post(reverse("sync_panel:stock_map", args=[7]), {"branch": str(gijduvon.pk)}).status_code
        == 403
    )
    assert not MappingAudit.objects.exists()


def test_mapping_pages_answer_get_only_and_writes_post_only(admin_client) -> None:
    assert admin_client.post(MAPPINGS).status_code == 405
    assert admin_client.get(reverse("sync_panel:stock_map", args=[7])).status_code == 405
    assert admin_client.get(reverse("sync_panel:discover")).status_code == 405


@pytest.mark.parametrize(
    "value", ["not-a-uuid", "00000000-0000-0000-0000-000000000000", "1 OR 1=1", "x" * 3000]
)
def test_a_bad_branch_choice_is_refused_and_nothing_is_written(admin_client, facts, value) -> None:
    response = admin_client.post(reverse("sync_panel:stock_map", args=[7]), {"branch": value}, follow=True)
    assert response.status_code == 200
    assert messages_of(response) == ["No such branch: choose one from the list."]
    assert not MappingAudit.objects.exists()
    assert not DailySalesHistory.objects.exists()


def test_a_bad_employee_choice_is_refused(admin_client, facts) -> None:
    response = admin_client.post(
        reverse("sync_panel:seller_map", args=[502]), {"employee": "nobody"}, follow=True
    )
    assert messages_of(response) == ["No such employee: choose one from the list."]
    assert not MappingAudit.objects.exists()


def test_unknown_or_absurd_regos_ids_write_nothing(admin_client, facts, gijduvon) -> None:
    response = admin_client.post(
        reverse("sync_panel:stock_map", args=[4242]), {"branch": str(gijduvon.pk)}, follow=True
    )
    assert messages_of(response) == ["REGOS stock #4242 is unknown: refresh from REGOS first."]
    assert not StockMapping.objects.filter(regos_stock_id=4242).exists()
    huge = "/sync/mappings/stocks/99999999999999999999999/"
    assert admin_client.post(huge, {"branch": str(gijduvon.pk)}).status_code == 404
    assert admin_client.post("/sync/mappings/users/-5/", {"action": "create"}).status_code == 404
    assert not MappingAudit.objects.exists()


def test_next_may_only_point_inside_the_site(admin_client, facts, gijduvon) -> None:
    response = admin_client.post(
        reverse("sync_panel:stock_map", args=[7]),
        {"branch": str(gijduvon.pk), "next": "https://evil.example/"},
    )
    assert response["Location"] == MAPPINGS


# --- Refresh from REGOS --------------------------------------------------------------------------


def _queued_tasks(monkeypatch) -> list[tuple]:
    queued: list[tuple] = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **kw: queued.append(a) or "task-id")
    return queued


def _refresh_state(response) -> tuple[str, str]:
    page = response.content.decode()
    found = re.search(r'data-testid="refresh-state" data-status="(\w+)">(.*?)</p>', page, re.S)
    assert found, "no refresh state on the page"
    return found.group(1), " ".join(re.sub(r"<[^>]+>", "", found.group(2)).split())


def test_refresh_from_regos_is_queued_and_the_page_shows_its_state(
    admin_client, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    calls = []

    def fake_discover(**kwargs):
        calls.append(kwargs)
        return DiscoverResult(
            stocks=[
                DiscoveredStock(1, "Navoiy filiali", False, "mapped", "Navoiy filiali"),
                DiscoveredStock(3, "Yangi do'kon", False, "unmapped", ""),
            ],
            users=[DiscoveredUser(17, "Toshmatov Aziz", "aziz", True, "unmapped", "")],
        )

    monkeypatch.setattr(services, "regos_discover", fake_discover)
    queued = _queued_tasks(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("sync_panel:discover"), {"next": UNMAPPED}, follow=True)
    assert calls == []  # the web request never talks to REGOS
    assert queued == [("sync.jobs.regos_refresh",)]
    assert response.redirect_chain == [(UNMAPPED, 302)]
    assert messages_of(response)[0].startswith("Refresh from REGOS queued")
    status, text = _refresh_state(response)
    assert status == "queued" and text.startswith("Refresh from REGOS: queued at")
    assert "No worker is running" in text  # no heartbeat in this test database

    # A second press while it is queued joins it: nothing more is queued.
    with django_capture_on_commit_callbacks(execute=True):
        again = admin_client.post(reverse("sync_panel:discover"), follow=True)
    assert len(queued) == 1
    assert messages_of(again) == ["A refresh from REGOS is already queued or running — this page shows its state."]

    from sync.jobs import regos_refresh

    assert regos_refresh() == "2 stocks, 1 users"  # the worker runs the task
    assert calls == [{}]  # never create_missing from the panel: creating is per row, on purpose
    status, text = _refresh_state(admin_client.get(MAPPINGS))
    assert status == "done"
    assert text.startswith("Refreshed from REGOS: 2 stocks (1 not mapped), 1 users (1 not mapped).")

    # Done: the next press queues a new one.
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("sync_panel:discover"))
    assert len(queued) == 2


def test_double_presses_at_once_queue_one_refresh(monkeypatch, django_capture_on_commit_callbacks) -> None:
    queued = _queued_tasks(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        claims = [services.regos_refresh_request(user=None) for _ in range(5)]
    assert claims == [True, False, False, False, False] and len(queued) == 1


def test_a_refresh_failure_is_shown_without_the_key(admin_client, monkeypatch, settings,
                                                    django_capture_on_commit_callbacks) -> None:
    settings.REGOS_INTEGRATION_KEY = "secret0000regos0000key0000abcdef"

    def failing(**kwargs):
        raise RegosAccessError(
            f"Stock/Get refused for key {settings.REGOS_INTEGRATION_KEY}", method="Stock/Get"
        )

    monkeypatch.setattr(services, "regos_discover", failing)
    _queued_tasks(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("sync_panel:discover"))
    from sync.jobs import regos_refresh

    assert regos_refresh() == "failed: RegosAccessError"
    response = admin_client.get(MAPPINGS)
    assert response.status_code == 200
    status, text = _refresh_state(response)
    assert status == "failed"
    assert text.startswith("Could not refresh from REGOS: Stock/Get refused")
    assert "REGOS key rejected: check REGOS_INTEGRATION_KEY" in text
    assert settings.REGOS_INTEGRATION_KEY not in response.content.decode()
    assert settings.REGOS_INTEGRATION_KEY not in str(services.regos_refresh_state())
