"""Admin for the payroll entities. Figures are computed by the sync and read-only for everyone."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import admin
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _

from payroll.models import Branch, DailySalesHistory, Employee
from regos_admin.admin_lookups import FilterLookupsOnly


def money(value: Decimal | None) -> str:
    """Amount with the locale's thousands separator and two decimals."""
    return number_format(value if value is not None else Decimal(0), decimal_pos=2, use_l10n=True,
                         force_grouping=True)


def money_column(field: str, label: str):  # type: ignore[no-untyped-def]
    @admin.display(description=label, ordering=field)
    def column(obj: object) -> str:
        return money(getattr(obj, field))

    column.__name__ = f"{field}_display"
    return column


@admin.register(Branch)
class BranchAdmin(FilterLookupsOnly, admin.ModelAdmin):
    list_display = [
        "name", "code", "is_active",
        money_column("retail_sales", _("net retail sales (month to date)")),
        money_column("wholesale_sales", _("net wholesale sales (month to date)")),
        money_column("total_sales", _("net total (month to date)")),
        "totals_month", "updated_at",
    ]
    list_filter = ["is_active"]
    search_fields = ["name", "code"]
    readonly_fields = ["retail_sales", "wholesale_sales", "total_sales", "totals_month", "updated_at"]
    fields = ["name", "code", "is_active", *readonly_fields]


@admin.register(Employee)
class EmployeeAdmin(FilterLookupsOnly, admin.ModelAdmin):
    list_display = [
        "full_name", "branch", "is_active",
        money_column("daily_sales", _("net retail sales (latest day)")),
        money_column("wholesale_sales", _("net wholesale sales (latest day)")),
        "sales_date",
    ]
    list_filter = ["is_active", "branch"]
    search_fields = ["full_name"]
    list_select_related = ["branch"]
    readonly_fields = ["daily_sales", "wholesale_sales", "sales_date", "updated_at"]
    fields = ["full_name", "branch", "is_active", *readonly_fields]


@admin.register(DailySalesHistory)
class DailySalesHistoryAdmin(FilterLookupsOnly, admin.ModelAdmin):
    list_display = [
        "date", "branch", "employee_display",
        money_column("retail_sales", _("retail sales")),
        money_column("retail_returns", _("retail returns")),
        money_column("wholesale_sales", _("wholesale sales")),
        money_column("wholesale_returns", _("wholesale returns")),
        money_column("total_sales", _("net total")),
        "cheque_count",
    ]
    list_filter = ["branch", "date"]
    search_fields = ["branch__name", "employee__full_name"]
    date_hierarchy = "date"
    list_select_related = ["branch", "employee"]

    @admin.display(description=_("employee"), ordering="employee__full_name")
    def employee_display(self, obj: DailySalesHistory) -> str:
        return obj.employee.full_name if obj.employee else str(_("(unassigned)"))

    # Only the sync writes history.
    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False
