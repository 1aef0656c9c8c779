"""Every registered admin changelist and add page loads for a superuser."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.contrib import admin
from django.urls import reverse

from payroll.models import DailySalesHistory

pytestmark = pytest.mark.django_db


def registered_models() -> list[type]:
    return sorted(admin.site._registry, key=lambda m: m._meta.label)


@pytest.mark.parametrize("model", registered_models(), ids=lambda m: m._meta.label)
def test_changelist_loads(client, admin_user, model) -> None:  # noqa: ANN001
    client.force_login(admin_user)
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    response = client.get(url)
    assert response.status_code == 200


@pytest.mark.parametrize("model", registered_models(), ids=lambda m: m._meta.label)
def test_add_page_loads_or_is_refused(client, admin_user, model) -> None:  # noqa: ANN001
    client.force_login(admin_user)
    model_admin = admin.site._registry[model]
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")
    response = client.get(url)
    # Computed figures (history, runs, facts) have no add page for anyone: 403.
    expected = 200 if model_admin.has_add_permission(_request_for(admin_user)) else 403
    assert response.status_code == expected


def _request_for(user):  # noqa: ANN001, ANN202
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = user
    return request


def test_the_three_payroll_models_are_registered() -> None:
    labels = {m._meta.label for m in admin.site._registry}
    assert {"payroll.Branch", "payroll.Employee", "payroll.DailySalesHistory"} <= labels


def test_history_amounts_show_thousands_separators(client, admin_user, navoiy, aziz) -> None:  # noqa: ANN001
    DailySalesHistory.objects.create(
        date=date(2026, 11, 24), branch=navoiy, employee=aziz,
        retail_sales=Decimal("1234567.50"), total_sales=Decimal("1234567.50"),
    )
    client.force_login(admin_user)
    url = reverse("admin:payroll_dailysaleshistory_changelist")
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert "1,234,567.50" in english.content.decode()
    russian = client.get(url, HTTP_ACCEPT_LANGUAGE="ru")
    # Russian groups with a non-breaking space and uses a decimal comma.
    assert "1\xa0234\xa0567,50" in russian.content.decode()


def test_history_is_read_only_even_for_a_superuser(client, admin_user, navoiy) -> None:  # noqa: ANN001
    row = DailySalesHistory.objects.create(date=date(2026, 11, 24), branch=navoiy)
    client.force_login(admin_user)
    url = reverse("admin:payroll_dailysaleshistory_change", args=[row.pk])
    response = client.post(url, {"retail_sales": "999"})
    assert response.status_code == 403
    row.refresh_from_db()
    assert row.retail_sales == Decimal("0")
