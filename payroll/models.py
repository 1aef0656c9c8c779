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
    # A closed payroll month (PayrollPeriod): these figures are the ones paid and never change again.
    closed = models.BooleanField(_("closed"), default=False)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True, db_column="closedAt")

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


FIGURES = ("retail_sales", "retail_returns", "wholesale_sales", "wholesale_returns", "total_sales", "cheque_count")


class PayrollPeriod(models.Model):
    """One payroll month: open (its figures follow REGOS) or closed (its figures are the ones paid).

    Transitions are claims by conditional update on ``revision`` (payroll.services), never locks;
    each is audited in PeriodTransition. The Node payroll system reads this collection too.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        CLOSED = "closed", _("closed")

    id = DocumentIdField()
    month = models.CharField(_("month"), max_length=7, unique=True, help_text=_("YYYY-MM"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True, db_column="closedAt")
    closed_by = models.CharField(_("closed by"), max_length=150, blank=True, default="", db_column="closedBy")
    # Which closing the snapshot and adjustments belong to (1, 2, … after a reopen); 0: never closed.
    closing = models.PositiveIntegerField(default=0)
    # Set once the snapshot of the current closing is complete: until then nothing is compared with it.
    snapshot_at = models.DateTimeField(null=True, blank=True, db_column="snapshotAt")
    revision = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True, db_column="updatedAt")

    class Meta:
        db_table = "payrollperiods"
        ordering = ["-month"]
        verbose_name = _("payroll period")
        verbose_name_plural = _("payroll periods")
        permissions = [("close_payrollperiod", "Can close payroll period")]

    def __str__(self) -> str:
        return self.month

    @property
    def is_closed(self) -> bool:
        return self.status == self.Status.CLOSED


class PeriodTransition(models.Model):
    """Audit of a period: who closed or reopened it, when, why, and what was not ready at the time."""

    class Action(models.TextChoices):
        CLOSE = "close", _("closed")
        REOPEN = "reopen", _("reopened")

    id = DocumentIdField()
    period = models.ForeignKey(PayrollPeriod, on_delete=models.CASCADE, related_name="transitions",
                               db_column="periodId")
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    username = models.CharField(_("user"), max_length=150)
    at = models.DateTimeField(_("when"))
    reason = models.TextField(_("reason"), blank=True, default="")
    # Closed although the readiness list was not empty: the user confirmed these problems.
    confirmed_problems = models.JSONField(default=list, blank=True, db_column="confirmedProblems")

    class Meta:
        db_table = "payrollperiodtransitions"
        ordering = ["-at"]
        verbose_name = _("payroll period change")
        verbose_name_plural = _("payroll period changes")

    def __str__(self) -> str:
        return f"{self.period_id} {self.action} {self.at:%Y-%m-%d %H:%M}"


class _MonthFigures(models.Model):
    id = DocumentIdField()
    month = models.CharField(_("month"), max_length=7)
    closing = models.PositiveIntegerField()
    branch = models.ForeignKey(
        Branch, verbose_name=_("branch"), on_delete=models.CASCADE, related_name="+", db_column="branchId"
    )
    employee = models.ForeignKey(
        Employee, verbose_name=_("employee"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_column="employeeId",
    )
    employee_key = models.CharField(max_length=24, db_column="employeeKey")
    retail_sales = MoneyField(_("retail sales"), db_column="retailSales", **MONEY)
    retail_returns = MoneyField(_("retail returns"), db_column="retailReturns", **MONEY)
    wholesale_sales = MoneyField(_("wholesale sales"), db_column="wholesaleSales", **MONEY)
    wholesale_returns = MoneyField(_("wholesale returns"), db_column="wholesaleReturns", **MONEY)
    total_sales = MoneyField(_("net total"), db_column="totalSales", **MONEY)
    cheque_count = models.IntegerField(_("cheques"), default=0, db_column="chequeCount")

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.month} {self.branch_id} {self.employee_key}"

    def figures(self) -> tuple:
        return tuple(getattr(self, name) for name in FIGURES)


class PeriodSnapshot(_MonthFigures):
    """The figures paid for a closed month, per branch and employee, as they were at closing."""

    class Meta:
        db_table = "payrollsnapshots"
        ordering = ["month", "branch_id", "employee_key"]
        verbose_name = _("payroll snapshot")
        verbose_name_plural = _("payroll snapshots")
        constraints = [
            models.UniqueConstraint(fields=["month", "closing", "branch", "employee_key"], name="snapshot_one_row")
        ]


class PayrollAdjustment(_MonthFigures):
    """A change found after ``month`` was closed: REGOS truth − snapshot − earlier adjustments, per
    figure, carried into the first open month (``carried_to``) to pay or claw back there.

    ``sequence`` numbers the adjustments of one (month, closing, branch, employee): two detections
    racing for the same change claim the same number, and the unique index lets only one in.
    """

    sequence = models.PositiveIntegerField()
    carried_to = models.CharField(_("carried to"), max_length=7, db_column="carriedTo")
    found_at = models.DateTimeField(_("found"), db_column="foundAt")
    documents = models.JSONField(_("documents"), default=list, blank=True)

    class Meta:
        db_table = "payrolladjustments"
        ordering = ["-found_at"]
        verbose_name = _("payroll adjustment")
        verbose_name_plural = _("payroll adjustments")
        constraints = [
            models.UniqueConstraint(
                fields=["month", "closing", "branch", "employee_key", "sequence"], name="adjustment_one_per_sequence"
            )
        ]
        indexes = [models.Index(fields=["carried_to"], name="adjustment_carried_to")]
