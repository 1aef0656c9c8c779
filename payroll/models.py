"""The payroll system's three entities, stored under the names its Node.js/MongoDB side reads.

Each document is keyed by its ``_id`` ObjectId and links by ObjectId under camelCase names, as the
Node side's mongoose schemas expect (payroll.fields; README "Sharing the database with the Node
payroll system"); one migration set serves SQLite and MongoDB alike. The figures are
denormalized by the sync (sync.services) and are read-only everywhere else.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _

from payroll.fields import DocumentIdField, MoneyField

MONEY = {"max_digits": 18, "decimal_places": 2, "default": Decimal("0.00")}
UNASSIGNED = "unassigned"


class Branch(models.Model):
    id = DocumentIdField()
    name = models.CharField(_("name"), max_length=200, unique=True)
    code = models.CharField(_("code"), max_length=50, blank=True, default="")
    is_active = models.BooleanField(_("active"), default=True, db_column="isActive")
    retail_sales = MoneyField(_("net retail sales (month to date)"), db_column="retailSales", **MONEY)
    wholesale_sales = MoneyField(
        _("net wholesale sales (month to date)"), db_column="wholesaleSales", **MONEY
    )
    total_sales = MoneyField(_("net total (month to date)"), db_column="totalSales", **MONEY)
    totals_month = models.DateField(
        _("month of the totals"), null=True, blank=True, db_column="totalsMonth",
        help_text=_("First day of the month the month-to-date totals belong to."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_column="createdAt")
    updated_at = models.DateTimeField(_("updated"), auto_now=True, db_column="updatedAt")

    class Meta:
        db_table = "branches"
        ordering = ["name"]
        verbose_name = _("branch")
        verbose_name_plural = _("branches")

    def __str__(self) -> str:
        # A document the Node side created may lack the field.
        return self.name or f"#{self.pk}"


class Employee(models.Model):
    id = DocumentIdField()
    full_name = models.CharField(_("full name"), max_length=200, db_column="fullName")
    branch = models.ForeignKey(
        Branch, verbose_name=_("home branch"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="employees", db_column="branchId",
    )
    is_active = models.BooleanField(_("active"), default=True, db_column="isActive")
    daily_sales = MoneyField(
        _("net retail sales (latest day)"), db_column="dailySales", **MONEY,
        help_text=_("Net retail sales of the latest synced business day."),
    )
    wholesale_sales = MoneyField(
        _("net wholesale sales (latest day)"), db_column="wholesaleSales", **MONEY,
        help_text=_("Net wholesale sales of the latest synced business day."),
    )
    sales_date = models.DateField(_("latest business day"), null=True, blank=True, db_column="salesDate")
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_column="createdAt")
    updated_at = models.DateTimeField(_("updated"), auto_now=True, db_column="updatedAt")

    class Meta:
        db_table = "employees"
        ordering = ["full_name"]
        verbose_name = _("employee")
        verbose_name_plural = _("employees")

    def __str__(self) -> str:
        return self.full_name or f"#{self.pk}"


class OwnHistoryManager(models.Manager["DailySalesHistory"]):
    """Only the rows the sync wrote: those have an ``employeeKey``. A history document the Node side
    inserted itself has none; regos-admin neither counts, changes nor deletes it."""

    def get_queryset(self) -> models.QuerySet[DailySalesHistory]:
        return super().get_queryset().filter(employee_key__isnull=False)


class DailySalesHistory(models.Model):
    """Net sales of one business day, one branch and one employee (or nobody: "unassigned").

    ``employee_key`` is the employee's id as text, or ``"unassigned"``: a unique index must not
    contain a nullable column (MongoDB unique indexes skip nulls), so the nullable FK stays out of it.
    """

    id = DocumentIdField()
    date = models.DateField(_("business day"))
    branch = models.ForeignKey(
        Branch, verbose_name=_("branch"), on_delete=models.CASCADE, related_name="+", db_column="branchId"
    )
    employee = models.ForeignKey(
        Employee, verbose_name=_("employee"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_column="employeeId",
    )
    employee_key = models.CharField(max_length=36, db_column="employeeKey", editable=False)
    retail_sales = MoneyField(_("retail sales"), db_column="retailSales", **MONEY)
    retail_returns = MoneyField(_("retail returns"), db_column="retailReturns", **MONEY)
    wholesale_sales = MoneyField(_("wholesale sales"), db_column="wholesaleSales", **MONEY)
    wholesale_returns = MoneyField(_("wholesale returns"), db_column="wholesaleReturns", **MONEY)
    total_sales = MoneyField(_("net total"), db_column="totalSales", **MONEY)
    cheque_count = models.PositiveIntegerField(_("cheques"), default=0, db_column="chequeCount")
    updated_at = models.DateTimeField(_("updated"), auto_now=True, db_column="updatedAt")

    objects = OwnHistoryManager()

    class Meta:
        db_table = "dailysaleshistories"
        ordering = ["-date", "branch__name"]
        verbose_name = _("daily sales")
        verbose_name_plural = _("daily sales history")
        constraints = [
            models.UniqueConstraint(fields=["date", "branch", "employee_key"], name="history_one_row_per_day")
        ]
        indexes = [models.Index(fields=["date"], name="history_date")]
        permissions = [
            ("view_reports", "Can view sales history reports and monthly summaries"),
            ("export_sales", "Can export sales to CSV/XLSX"),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.branch_id} {self.employee_key}"

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.employee_key = self.key_for(self.employee_id)
        super().save(*args, **kwargs)

    @staticmethod
    def key_for(employee_id: str | None) -> str:
        return str(employee_id) if employee_id else UNASSIGNED


class MonthlySales(models.Model):
    """Month totals of one branch and one employee (or nobody: "unassigned"), for the Node payroll.

    Kept by the sync from DailySalesHistory (sync.engine.history.monthly_sales_recompute) for every
    month that has history, so a November payroll run in December reads November here. Same field
    names and meanings as a history row; ``month`` is "YYYY-MM" (Asia/Tashkent business days).
    """

    id = DocumentIdField()
    month = models.CharField(_("month"), max_length=7, help_text=_("YYYY-MM"))
    branch = models.ForeignKey(
        Branch, verbose_name=_("branch"), on_delete=models.CASCADE, related_name="+", db_column="branchId"
    )
    employee = models.ForeignKey(
        Employee, verbose_name=_("employee"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_column="employeeId",
    )
    employee_key = models.CharField(max_length=24, db_column="employeeKey", editable=False)
    retail_sales = MoneyField(_("retail sales"), db_column="retailSales", **MONEY)
    retail_returns = MoneyField(_("retail returns"), db_column="retailReturns", **MONEY)
    wholesale_sales = MoneyField(_("wholesale sales"), db_column="wholesaleSales", **MONEY)
    wholesale_returns = MoneyField(_("wholesale returns"), db_column="wholesaleReturns", **MONEY)
    total_sales = MoneyField(_("net total"), db_column="totalSales", **MONEY)
    cheque_count = models.PositiveIntegerField(_("cheques"), default=0, db_column="chequeCount")
    computed_at = models.DateTimeField(db_column="computedAt")

    class Meta:
        db_table = "monthlysales"
        ordering = ["-month"]
        verbose_name = _("monthly sales")
        verbose_name_plural = _("monthly sales")
        constraints = [
            models.UniqueConstraint(fields=["month", "branch", "employee_key"], name="monthly_one_row_per_month")
        ]
        indexes = [models.Index(fields=["month"], name="monthly_month")]

    def __str__(self) -> str:
        return f"{self.month} {self.branch_id} {self.employee_key}"
