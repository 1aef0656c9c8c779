"""Roles and safety: the Admins / Accountants groups, who may see the reports, who may write."""

from __future__ import annotations

import pytest
from django.apps import apps as global_apps
from django.contrib.auth.models import Group, Permission
from django.core.management.sql import emit_post_migrate_signal
from django.test import Client
from django.urls import NoReverseMatch, reverse

from payroll.apps import ACCOUNTANTS, ADMINS, ensure_role_groups
from payroll.models import DailySalesHistory

pytestmark = pytest.mark.django_db

REPORT_URLS = ["/reports/history/", "/reports/summary/", "/reports/export.csv", "/reports/export.xlsx"]


def permissions_of(name: str) -> set[str]:
    group = Group.objects.get(name=name)
    return {
        f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")
    }


def test_accountants_can_only_view_and_export() -> None:
    perms = permissions_of(ACCOUNTANTS)
    assert {
        "payroll.view_reports",
        "payroll.export_sales",
        "payroll.view_branch",
        "payroll.view_employee",
        "payroll.view_dailysaleshistory",
        "sync.view_syncrun",
        "sync.view_salesfact",
        "sync.view_stockmapping",
        "sync.view_sellermapping",
        "sync.view_mappingaudit",
    } <= perms
    # Closing a payroll month is an accountant's act (issue 19); nothing else but viewing and exporting.
    assert "payroll.close_payrollperiod" in perms
    assert all(
        p.split(".")[1].startswith("view_") or p in {"payroll.export_sales", "payroll.close_payrollperiod"}
        for p in perms
    )
    assert "sync.run_sync" not in perms
    assert {p.split(".")[0] for p in perms} == {"payroll", "sync"}


def test_admins_have_everything_of_payroll_sync_and_the_queue() -> None:
    perms = permissions_of(ADMINS)
    every = {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Permission.objects.filter(
            content_type__app_label__in=["payroll", "sync", "django_q"]
        ).select_related("content_type")
    }
    assert every <= perms
    assert {
        "sync.run_sync",
        "sync.change_stockmapping",
        "sync.change_sellermapping",
        "payroll.change_branch",
        "auth.add_user",
        "auth.change_user",
        "auth.change_group",
        "django_q.delete_schedule",
    } <= perms


def test_groups_are_rebuilt_idempotently_even_without_permissions() -> None:
    before = {name: permissions_of(name) for name in (ADMINS, ACCOUNTANTS)}
    # A database where no permission exists yet (as inside the migration on a fresh database).
    Group.objects.filter(name__in=[ADMINS, ACCOUNTANTS]).delete()
    Permission.objects.all().delete()
    ensure_role_groups(apps=global_apps, using="default")
    ensure_role_groups(apps=global_apps, using="default")
    assert Group.objects.filter(name__in=[ADMINS, ACCOUNTANTS]).count() == 2
    assert {name: permissions_of(name) for name in (ADMINS, ACCOUNTANTS)} == before


def test_post_migrate_recreates_the_groups() -> None:
    Group.objects.filter(name=ACCOUNTANTS).delete()
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert "payroll.view_reports" in permissions_of(ACCOUNTANTS)


def test_grants_are_added_never_revoked() -> None:
    accountants = Group.objects.get(name=ACCOUNTANTS)
    extra = Permission.objects.get(codename="view_group", content_type__app_label="auth")
    accountants.permissions.add(extra)  # an admin's own decision
    ensure_role_groups(apps=global_apps, using="default")
    assert "auth.view_group" in permissions_of(ACCOUNTANTS)


@pytest.mark.parametrize("url", REPORT_URLS)
def test_accountant_sees_reports_and_exports(accountant_client, november_sales, url) -> None:  # noqa: ANN001
    response = accountant_client.get(url, {"date_from": "2026-11-01", "date_to": "2026-11-30"})
    assert response.status_code == 200


@pytest.mark.parametrize("url", REPORT_URLS)
def test_group_admin_sees_reports_too(group_admin_client, november_sales, url) -> None:  # noqa: ANN001
    assert group_admin_client.get(url).status_code == 200


@pytest.mark.parametrize(
    "url", [*REPORT_URLS, "/reports/history/2026-11-03/00000000-0000-0000-0000-000000000000/unassigned/"]
)
def test_anonymous_and_non_staff_go_to_the_login(client, clerk, url) -> None:  # noqa: ANN001
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=/reports/")
    client.force_login(clerk)
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=/reports/")


@pytest.mark.parametrize("url", REPORT_URLS)
def test_staff_without_a_role_gets_403(client, staff_without_role, url) -> None:  # noqa: ANN001
    client.force_login(staff_without_role)
    assert client.get(url).status_code == 403


def test_report_pages_refuse_post(accountant_client) -> None:  # noqa: ANN001
    assert accountant_client.post("/reports/history/").status_code == 405


def test_view_reports_without_export_has_no_export_links_and_403(
    client, staff_without_role, november_sales
) -> None:  # noqa: ANN001
    staff_without_role.user_permissions.add(Permission.objects.get(codename="view_reports"))
    client.force_login(staff_without_role)
    html = client.get(
        "/reports/history/", {"date_from": "2026-11-01", "date_to": "2026-11-30"}
    ).content.decode()
    assert "regos-export-csv" not in html
    assert client.get("/reports/export.csv").status_code == 403


def test_accountant_cannot_write_branches_or_history(accountant_client, november_sales) -> None:  # noqa: ANN001
    c = november_sales
    change = reverse("admin:payroll_branch_change", args=[c.navoiy.pk])
    # Viewing is allowed (read-only form without a Save button) ...
    page = accountant_client.get(change)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    # ... writing is not.
    assert accountant_client.post(change, {"name": "Hacked", "code": "X"}).status_code == 403
    assert accountant_client.post(reverse("admin:payroll_branch_add"), {"name": "New"}).status_code == 403
    assert (
        accountant_client.post(
            reverse("admin:payroll_branch_delete", args=[c.navoiy.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    row = DailySalesHistory.objects.filter(branch=c.navoiy).first()
    assert (
        accountant_client.post(
            reverse("admin:payroll_dailysaleshistory_change", args=[row.pk]), {"total_sales": "1"}
        ).status_code
        == 403
    )
    c.navoiy.refresh_from_db()
    assert c.navoiy.name == "Navoiy filiali"


def test_accountant_cannot_start_a_sync(accountant_client) -> None:  # noqa: ANN001
    try:
        url = reverse("sync_panel:sync_now")
    except NoReverseMatch:  # the sync panel is not mounted in this build
        pytest.fail("the sync panel's Sync now URL should exist")
    response = accountant_client.post(url, {"date_from": "2026-11-01", "date_to": "2026-11-03"})
    assert response.status_code == 403


def test_index_shows_reports_box_without_add_links_for_accountants(accountant_client) -> None:  # noqa: ANN001
    html = accountant_client.get("/").content.decode()
    assert 'id="regos-reports"' in html
    assert 'href="/reports/history/"' in html and 'href="/reports/summary/"' in html
    assert 'class="addlink"' not in html


def test_index_hides_reports_box_from_staff_without_role(client, staff_without_role) -> None:  # noqa: ANN001
    client.force_login(staff_without_role)
    assert 'id="regos-reports"' not in client.get("/").content.decode()


def test_language_switch_is_a_csrf_protected_post() -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.post("/i18n/setlang/", {"language": "ru", "next": "/"}).status_code == 403
    page = client.get("/login/")
    html = page.content.decode()
    assert 'action="/i18n/setlang/"' in html and 'name="csrfmiddlewaretoken"' in html
    token = page.cookies["csrftoken"].value
    response = client.post(
        "/i18n/setlang/", {"language": "ru", "next": "/login/", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302 and response.cookies["django_language"].value == "ru"
