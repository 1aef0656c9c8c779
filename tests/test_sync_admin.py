"""The sync app's admin: runs (read-only + Retry action + Sync now box), mappings, audit, facts, webhooks."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client, RequestFactory
from django.urls import reverse

from payroll.models import DailySalesHistory
from sync import services
from sync.models import MappingAudit, SalesFact, SellerMapping, StockMapping, SyncRun, WebhookEvent
from tests.sync_now_support import make_role_user

pytestmark = pytest.mark.django_db

TZ = ZoneInfo("Asia/Tashkent")
SYNC_MODELS = [SyncRun, StockMapping, SellerMapping, MappingAudit, SalesFact, WebhookEvent]
READ_ONLY = [SyncRun, MappingAudit, SalesFact, WebhookEvent]


def changelist(model) -> str:
    return reverse(f"admin:sync_{model._meta.model_name}_changelist")


def change(obj) -> str:
    return reverse(f"admin:sync_{obj._meta.model_name}_change", args=[obj.pk])


@pytest.fixture
def admin_client(admin_user, settings, monkeypatch) -> Client:
    settings.LANGUAGE_CODE = "en"
    monkeypatch.setattr("sync.views.worker_alive", lambda: True)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(admin_user)
    return client


@pytest.fixture
def accountant_client(db) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(make_role_user("hisobchi", role="accountant"))
    return client


@pytest.fixture
def enqueued(monkeypatch) -> list[SyncRun]:
    calls: list[SyncRun] = []
    monkeypatch.setattr(services, "sync_run_enqueue", lambda *, run: calls.append(run))
    return calls


def a_run(**fields) -> SyncRun:
    values = {
        "trigger": "schedule",
        "date_from": date(2026, 11, 20),
        "date_to": date(2026, 11, 22),
        "days_total": 3,
    }
    values.update(fields)
    return SyncRun.objects.create(**values)


def a_fact(
    regos_id: str,
    stock: int,
    amount: str,
    *,
    kind: str = "cheque",
    day: date = date(2026, 11, 20),
    seller=None,
) -> SalesFact:
    return SalesFact.objects.create(
        source_kind=kind,
        regos_id=regos_id,
        code=f"N-{regos_id}",
        business_date=day,
        occurred_at=datetime(day.year, day.month, day.day, 11, tzinfo=TZ),
        stock_id=stock,
        seller_id=seller,
        sale_type="retail" if kind == "cheque" else "wholesale",
        amount=Decimal(amount),
        doc_amount=Decimal(amount),
        status="closed",
    )


def test_every_sync_model_is_registered() -> None:
    assert set(SYNC_MODELS) <= set(admin.site._registry)


@pytest.mark.parametrize("model", READ_ONLY, ids=lambda m: m.__name__)
def test_computed_rows_are_read_only_even_for_a_superuser(admin_user, model) -> None:
    request = RequestFactory().get("/")
    request.user = admin_user
    model_admin = admin.site._registry[model]
    assert model_admin.has_view_permission(request) is True
    assert model_admin.has_add_permission(request) is False
    assert model_admin.has_change_permission(request) is False
    assert model_admin.has_delete_permission(request) is False


def test_a_fact_cannot_be_edited_or_deleted(admin_client) -> None:
    fact = a_fact("c-1", 7, "1000.00")
    assert admin_client.get(change(fact)).status_code == 200  # viewable
    assert admin_client.post(change(fact), {"amount": "1"}).status_code == 403
    delete = reverse("admin:sync_salesfact_delete", args=[fact.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    fact.refresh_from_db()
    assert fact.amount == Decimal("1000.00")


# --- runs ----------------------------------------------------------------------------------------


def test_the_runs_list_shows_status_range_counts_and_the_sync_now_box(admin_client) -> None:
    a_run(
        status="succeeded",
        days_done=3,
        documents_seen=41,
        facts_inserted=38,
        facts_updated=2,
        facts_removed=1,
        requests_made=7,
        started_at=datetime(2026, 11, 24, 10, 0, 0, tzinfo=TZ),
        finished_at=datetime(2026, 11, 24, 10, 1, 5, tzinfo=TZ),
    )
    html = admin_client.get(changelist(SyncRun)).content.decode()
    assert 'sync-status-succeeded">succeeded<' in html
    assert "2026-11-20 – 2026-11-22" in html
    assert "3/3" in html and "+38 ~2 −1" in html and "0:01:05" in html
    assert 'data-testid="sync-now"' in html  # the box
    assert reverse("sync_panel:sync_now") in html


def test_an_accountant_sees_the_runs_but_no_sync_now_and_no_retry(accountant_client) -> None:
    a_run(status="failed")
    response = accountant_client.get(changelist(SyncRun))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="sync-now"' not in html
    assert "retry_runs" not in html


def test_a_runs_admin_page_opens_the_panel_run_page(admin_client) -> None:
    run = a_run()
    response = admin_client.get(change(run))
    assert response.status_code == 302
    assert response["Location"] == reverse("sync_panel:run", args=[run.pk])


def test_the_retry_action_requeues_failed_runs_only(admin_client, enqueued) -> None:
    failed = a_run(status="failed", date_from=date(2026, 11, 1), date_to=date(2026, 11, 2))
    done = a_run(status="succeeded", date_from=date(2026, 11, 5), date_to=date(2026, 11, 5))
    response = admin_client.post(
        changelist(SyncRun),
        {"action": "retry_runs", ACTION_CHECKBOX_NAME: [str(failed.pk), str(done.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    retry = SyncRun.objects.get(retry_of=failed)
    assert (retry.date_from, retry.date_to, retry.status, retry.trigger) == (
        date(2026, 11, 1),
        date(2026, 11, 2),
        "queued",
        "user",
    )
    assert enqueued == [retry]
    assert not SyncRun.objects.filter(retry_of=done).exists()
    assert "Retries started: 1; joined a run in progress: 0; not retryable: 1." in response.content.decode()


def test_an_accountant_cannot_use_the_retry_action(accountant_client, enqueued) -> None:
    failed = a_run(status="failed")
    accountant_client.post(
        changelist(SyncRun), {"action": "retry_runs", ACTION_CHECKBOX_NAME: [str(failed.pk)]}
    )
    assert SyncRun.objects.count() == 1
    assert enqueued == []


# --- mappings ------------------------------------------------------------------------------------


def test_changing_a_mapping_in_the_admin_is_audited_and_re_aggregates(
    admin_client, admin_user, navoiy, aziz
) -> None:
    mapping = StockMapping.objects.create(regos_stock_id=7, regos_name="Samarqand do'koni")
    SellerMapping.objects.create(regos_user_id=501, full_name="Toshmatov Aziz", employee=aziz)
    a_fact("c-1", 7, "1500.00", seller=501)
    a_fact("c-2", 7, "250.50", seller=999)
    response = admin_client.post(change(mapping), {"branch": str(navoiy.pk)}, follow=True)
    assert response.status_code == 200
    assert "1 day re-aggregated." in response.content.decode()
    mapping.refresh_from_db()
    assert mapping.branch == navoiy
    rows = {
        (r.employee_key == "unassigned", r.total_sales, r.cheque_count)
        for r in DailySalesHistory.objects.all()
    }
    assert rows == {(False, Decimal("1500.00"), 1), (True, Decimal("250.50"), 1)}
    audit = MappingAudit.objects.get()
    assert (audit.kind, audit.old_target, audit.new_target, audit.changed_by_id, audit.days_changed) == (
        "stock",
        "",
        "Navoiy filiali",
        admin_user.pk,
        1,
    )
    # The audit is visible (read-only) in the admin.
    html = admin_client.get(changelist(MappingAudit)).content.decode()
    assert "(not mapped) → Navoiy filiali" in html


def test_only_the_target_of_a_mapping_is_editable(admin_client, navoiy) -> None:
    mapping = StockMapping.objects.create(regos_stock_id=7, regos_name="Samarqand do'koni")
    admin_client.post(
        change(mapping), {"branch": str(navoiy.pk), "regos_name": "hacked", "regos_stock_id": "1"}
    )
    mapping.refresh_from_db()
    assert (mapping.regos_stock_id, mapping.regos_name) == (7, "Samarqand do'koni")
    assert admin_client.get(reverse("admin:sync_stockmapping_add")).status_code == 403


def test_an_accountant_cannot_change_a_mapping_in_the_admin(accountant_client, navoiy, aziz) -> None:
    stock = StockMapping.objects.create(regos_stock_id=7, regos_name="Samarqand do'koni")
    seller = SellerMapping.objects.create(regos_user_id=502, full_name="Yusupova Nodira")
    assert accountant_client.post(change(stock), {"branch": str(navoiy.pk)}).status_code == 403
    assert accountant_client.post(change(seller), {"employee": str(aziz.pk)}).status_code == 403
    assert not MappingAudit.objects.exists()


# --- facts: search and filters -------------------------------------------------------------------


def test_facts_are_searchable_by_regos_id_and_number_and_filter_by_stock_and_kind(admin_client) -> None:
    a_fact("c-1", 7, "100.00")
    a_fact("c-2", 7, "200.00")
    a_fact("w-9", 8, "300.00", kind="wholesale")
    url = changelist(SalesFact)
    assert admin_client.get(url, {"q": "N-c-2"}).context["cl"].result_count == 1
    assert admin_client.get(url, {"q": "w-9"}).context["cl"].result_count == 1
    assert admin_client.get(url, {"stock": "7"}).context["cl"].result_count == 2
    assert admin_client.get(url, {"source_kind__exact": "wholesale"}).context["cl"].result_count == 1
    assert admin_client.get(url, {"stock": "abc"}).context["cl"].result_count == 0


HOSTILE_QUERIES = [
    {"q": "' OR 1=1 --"},
    {"q": "\x00"},
    {"q": "x" * 5000},
    {"o": "999"},
    {"o": "-1.abc"},
    {"p": "-1"},
    {"p": "99999"},
    {"status__exact": "bogus"},
    {"created_at__gte": "not-a-date"},
    {"nonexistent": "1"},
    {"stock": "1e999"},
    {"stock": "99999999999999999999999"},
    {"business_date__gte": "2026-02-31"},
    {"branch__isnull": "maybe"},
    {"kind__exact": "<script>"},
    {"q": "=regos_id"},
]


@pytest.mark.parametrize("model", SYNC_MODELS, ids=lambda m: m.__name__)
def test_hostile_query_strings_on_the_lists_never_500(admin_client, model) -> None:
    a_run()
    a_fact("c-1", 7, "1.00")
    StockMapping.objects.create(regos_stock_id=7)
    SellerMapping.objects.create(regos_user_id=7)
    MappingAudit.objects.create(kind="stock", regos_id=7)
    WebhookEvent.objects.create(event_id="e-1", action="DocChequeClosed")
    for query in HOSTILE_QUERIES:
        response = admin_client.get(changelist(model), query, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code in (200, 302, 400), (query, response.status_code)
        if response.status_code == 400:  # a lookup none of this page's filters offers: refused, named
            (name,) = query
            assert name not in ("q", "o", "p"), query
            assert f"Filtering by “{name}” is not offered" in response.content.decode()


def test_webhook_events_are_viewable_not_editable(admin_client) -> None:
    event = WebhookEvent.objects.create(
        event_id="e-1", action="DocChequeClosed", payload={"id": 5, "ism": "Aziz"}
    )
    page = admin_client.get(change(event))
    assert page.status_code == 200
    assert "&quot;ism&quot;: &quot;Aziz&quot;" in page.content.decode()
    assert admin_client.post(change(event), {"action": "x"}).status_code == 403
