"""Mappings, facts, runs and the webhook inbox of the REGOS sync.

Every unique constraint is on non-null columns and every primary key is explicit, so the same
migrations serve SQLite and MongoDB. Correctness never rests on transactions or row locks: rows are
upserted by natural keys and claims are conditional updates (see sync.services).
"""

from __future__ import annotations

import enum
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Self

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from payroll.models import MONEY, Branch, Employee

if TYPE_CHECKING:
    # Django ships no type information here, so to mypy models.TextChoices is Any and a member such
    # as `QUEUED = "queued", _("queued")` would be the tuple it is written as. Django's enum metaclass
    # makes each member a str enum member whose value is the first item; this stand-in tells mypy
    # exactly that. At run time the real models.TextChoices is used.
    class TextChoices(enum.StrEnum):
        choices: ClassVar[list[tuple[str, Any]]]  # (value, lazily translated label)
        label: Any

        def __new__(cls, value: str, label: object = ...) -> Self: ...
else:
    TextChoices = models.TextChoices


class StockMapping(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    regos_stock_id = models.BigIntegerField(_("REGOS stock id"), unique=True)
    regos_name = models.CharField(_("REGOS name"), max_length=255, blank=True, default="")
    branch = models.ForeignKey(
        Branch, verbose_name=_("branch"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="stock_mappings",
        help_text=_(
            "The branch that sales of this REGOS department / store (stock) count for. In REGOS a "
            "'Department' is a product category; the store itself is a Stock."
        ),
    )
    deleted_in_regos = models.BooleanField(_("deleted in REGOS"), default=False)
    discovered_at = models.DateTimeField(_("discovered"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["regos_name"]
        verbose_name = _("REGOS department / store (stock) mapping")
        verbose_name_plural = _("REGOS department / store (stock) mappings")

    def __str__(self) -> str:
        return f"{self.regos_name} (#{self.regos_stock_id})"


class SellerMapping(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    regos_user_id = models.BigIntegerField(_("REGOS user id"), unique=True)
    full_name = models.CharField(_("REGOS full name"), max_length=255, blank=True, default="")
    login = models.CharField(_("REGOS login"), max_length=150, blank=True, default="")
    active_in_regos = models.BooleanField(_("active in REGOS"), default=True)
    employee = models.ForeignKey(
        Employee, verbose_name=_("employee"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="seller_mappings",
        help_text=_("The employee whose sales this REGOS user (seller or cashier) is."),
    )
    discovered_at = models.DateTimeField(_("discovered"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["full_name"]
        verbose_name = _("REGOS user (seller/cashier) mapping")
        verbose_name_plural = _("REGOS user (seller/cashier) mappings")

    def __str__(self) -> str:
        return f"{self.full_name} (#{self.regos_user_id})"


class MappingAudit(models.Model):
    class Kind(TextChoices):
        STOCK = "stock", _("stock → branch")
        SELLER = "seller", _("user → employee")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    regos_id = models.BigIntegerField(_("REGOS id"))
    regos_name = models.CharField(_("REGOS name"), max_length=255, blank=True, default="")
    old_target = models.CharField(_("old"), max_length=255, blank=True, default="")
    new_target = models.CharField(_("new"), max_length=255, blank=True, default="")
    days_changed = models.PositiveIntegerField(_("days re-aggregated"), default=0)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("changed by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )
    changed_at = models.DateTimeField(_("changed at"), auto_now_add=True)

    class Meta:
        ordering = ["-changed_at"]
        verbose_name = _("mapping change")
        verbose_name_plural = _("mapping changes")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.regos_id}: {self.old_target or '—'} → {self.new_target or '—'}"


class RegosCashSession(models.Model):
    """Cache: cash session (shift) uuid → operating cash, with the shift's times (REGOS's, when known).

    ``stock_id`` is set only when a shift fell between two readings of its register that disagree
    (a register moved, ``sync.engine.locate``) and its cheque lines said where it sold; else null."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session_uuid = models.CharField(max_length=64, unique=True)
    operating_cash_id = models.BigIntegerField()
    start_date = models.DateTimeField(null=True, blank=True)
    close_date = models.DateTimeField(null=True, blank=True)
    stock_id = models.BigIntegerField(null=True, blank=True)
    cached_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.session_uuid} → cash {self.operating_cash_id}"


class RegisterStockPeriod(models.Model):
    """Effective-dated register → stock: every ``OperatingCash/Get`` read from ``first_seen_at`` to
    ``last_seen_at`` said register ``regos_id`` belonged to ``stock_id``.

    REGOS moves a register to another stock without changing its past sales (``OperatingCash/Edit``),
    so a sale counts for the stock its register had when it was made. One row per stretch of equal
    readings: a reading that agrees with the latest stretch before it extends that stretch (a
    conditional update), any other one starts a new row (natural key: register and first reading).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    regos_id = models.BigIntegerField()
    stock_id = models.BigIntegerField()
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["regos_id", "first_seen_at"]
        constraints = [
            models.UniqueConstraint(fields=["regos_id", "first_seen_at"], name="register_period_one_start")
        ]

    def __str__(self) -> str:
        seen = f"{self.first_seen_at:%Y-%m-%d}…{self.last_seen_at:%Y-%m-%d}"
        return f"cash {self.regos_id} → stock {self.stock_id} ({seen})"


class RegosPage(models.Model):
    """A REGOS listing answer seen before, by the digest of its body (and of the code that read it).

    Its paging fields and the business days of its documents — all functions of the bytes — so a sync
    can page past an identical answer without parsing it (sync.engine.unchanged).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    digest = models.CharField(max_length=64, unique=True)
    count = models.PositiveIntegerField()
    total = models.BigIntegerField(null=True, blank=True)
    next_offset = models.BigIntegerField(null=True, blank=True)
    days = models.TextField(blank=True, default="")  # ISO dates, comma-separated, in order of appearance
    seen_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"page {self.digest[:12]}… ({self.count} rows)"


class SyncRun(models.Model):
    class Trigger(TextChoices):
        USER = "user", _("user")
        SCHEDULE = "schedule", _("schedule")
        WEBHOOK = "webhook", _("webhook")
        COMMAND = "command", _("command")

    class Status(TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")
        PARTIAL = "partial", _("partial")

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    trigger = models.CharField(_("trigger"), max_length=10, choices=Trigger.choices)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("triggered by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )
    date_from = models.DateField(_("from"))
    date_to = models.DateField(_("to"))
    branch = models.ForeignKey(
        Branch, verbose_name=_("branch"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True, default="")
    # The process executing a running run, "<host> <pid> <process start>" (sync.engine.runs.process_id):
    # a run whose process is gone on this host fails at once instead of waiting to go stale.
    owner = models.CharField(max_length=300, blank=True, default="")
    retry_of = models.ForeignKey(
        "self", verbose_name=_("retry of"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requests_made = models.PositiveIntegerField(_("requests"), default=0)
    rate_limit_waits = models.PositiveIntegerField(_("rate-limit retries"), default=0)
    documents_seen = models.PositiveIntegerField(_("documents"), default=0)
    facts_inserted = models.PositiveIntegerField(_("facts inserted"), default=0)
    facts_updated = models.PositiveIntegerField(_("facts updated"), default=0)
    facts_removed = models.PositiveIntegerField(_("facts removed"), default=0)
    history_rows_written = models.PositiveIntegerField(_("history rows written"), default=0)
    # Documents of the run's days that REGOS sent in a shape we cannot use (see QuarantinedDocument):
    # a run that succeeded with some is shown "succeeded with warnings".
    quarantined = models.PositiveIntegerField(_("documents quarantined"), default=0)
    days_total = models.PositiveIntegerField(_("days"), default=0)
    days_done = models.PositiveIntegerField(_("days done"), default=0)
    progress = models.JSONField(_("per-day progress"), default=list, blank=True)
    # Cheques REGOS returned that are not sales, by status ({"Default": 3}): excluded from the
    # figures, reported so the exclusion is visible (``RangeSync.not_counted``).
    not_counted = models.JSONField(_("cheques not counted"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True, default="")
    error_hint = models.TextField(_("what to do"), blank=True, default="")
    # Why it failed, as a code of ``sync.causes`` (shown as one line in the reader's language).
    error_code = models.CharField(_("cause"), max_length=32, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("sync run")
        verbose_name_plural = _("sync runs")
        indexes = [models.Index(fields=["status"], name="syncrun_status")]
        permissions = [("run_sync", "Can start, retry and join REGOS syncs")]

    def __str__(self) -> str:
        return f"{self.date_from}…{self.date_to} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def not_counted_lines(self) -> list[str]:
        """"3 cheques with status Default were not counted", one line per status, most first."""
        counts = self.not_counted if isinstance(self.not_counted, dict) else {}
        return [
            ngettext(
                "%(count)d cheque with status %(status)s was not counted",
                "%(count)d cheques with status %(status)s were not counted",
                int(count),
            ) % {"count": int(count), "status": status}
            for status, count in sorted(counts.items(), key=lambda item: (-int(item[1]), item[0]))
        ]

    @property
    def has_warnings(self) -> bool:
        return self.status == self.Status.SUCCEEDED and self.quarantined > 0

    @property
    def status_label(self) -> str:
        """The status as shown to people: a success that quarantined documents says so."""
        if self.has_warnings:
            return str(_("succeeded with warnings"))
        return str(self.get_status_display())

    @property
    def cause_label(self) -> str:
        """Why the run failed, in one line of the reader's language ("" when it did not fail)."""
        from sync.causes import cause_label

        return cause_label(self.error_code, self.error) if self.error else ""

    @property
    def duration(self):  # type: ignore[no-untyped-def]
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class SalesFact(models.Model):
    """One counted REGOS document: the audit trail behind every history figure."""

    class Kind(TextChoices):
        CHEQUE = "cheque", _("retail cheque")
        WHOLESALE = "wholesale", _("wholesale shipment")
        WHOLESALE_RETURN = "wholesale_return", _("wholesale return")

    class SaleType(TextChoices):
        RETAIL = "retail", _("retail")
        WHOLESALE = "wholesale", _("wholesale")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source_kind = models.CharField(_("document kind"), max_length=20, choices=Kind.choices)
    regos_id = models.CharField(_("REGOS id"), max_length=64)
    code = models.CharField(_("number"), max_length=64, blank=True, default="")
    business_date = models.DateField(_("business day"))
    occurred_at = models.DateTimeField(_("document time"))
    stock_id = models.BigIntegerField(_("REGOS stock id"))
    session_uuid = models.CharField(max_length=64, blank=True, default="")
    operating_cash_id = models.BigIntegerField(null=True, blank=True)
    seller_id = models.BigIntegerField(_("REGOS seller id"), null=True, blank=True)
    cashier_id = models.BigIntegerField(_("REGOS cashier id"), null=True, blank=True)
    attached_user_id = models.BigIntegerField(_("REGOS attached user id"), null=True, blank=True)
    sale_type = models.CharField(_("sale type"), max_length=10, choices=SaleType.choices)
    is_return = models.BooleanField(_("return"), default=False)
    amount = models.DecimalField(_("amount, UZS"), **MONEY)
    doc_amount = models.DecimalField(_("amount in document currency"), **MONEY)
    currency = models.CharField(_("currency"), max_length=10, default="UZS")
    exchange_rate = models.DecimalField(_("exchange rate"), max_digits=18, decimal_places=6, default=Decimal("1"))
    status = models.CharField(_("REGOS status"), max_length=20)
    last_update = models.DateTimeField(_("REGOS last update"), null=True, blank=True)
    sync_run = models.ForeignKey(
        SyncRun, verbose_name=_("last seen by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["occurred_at"]
        verbose_name = _("sales document")
        verbose_name_plural = _("sales documents")
        constraints = [models.UniqueConstraint(fields=["source_kind", "regos_id"], name="fact_one_per_document")]
        indexes = [
            models.Index(fields=["business_date"], name="fact_day"),
            models.Index(fields=["stock_id", "business_date"], name="fact_stock_day"),
        ]

    def __str__(self) -> str:
        return f"{self.get_source_kind_display()} {self.code or self.regos_id}"


class QuarantinedDocument(models.Model):
    """A REGOS document the sync could not use (a field the figures need is missing or unreadable).

    Kept as received, one row per document (natural key: kind + REGOS id; a row without a readable id
    is keyed by the hash of its body). Its business day is written without it and shown *incomplete*
    until a sync of that day no longer finds it broken: the row is then deleted by that sync (a row
    without a day is deleted once its document parses again, or by an admin).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source_kind = models.CharField(_("document kind"), max_length=20, choices=SalesFact.Kind.choices)
    regos_id = models.CharField(_("REGOS id"), max_length=64)
    method = models.CharField(_("REGOS method"), max_length=64)
    # Empty when the document's date is unreadable: which day lacks it is then unknown.
    business_date = models.DateField(_("business day"), null=True, blank=True)
    reason = models.TextField(_("reason"))
    raw = models.JSONField(_("document as received"), default=dict, blank=True)
    first_seen_at = models.DateTimeField(_("first seen"), auto_now_add=True)
    last_seen_at = models.DateTimeField(_("last seen"))
    last_run = models.ForeignKey(
        SyncRun, verbose_name=_("last seen by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["business_date", "source_kind", "regos_id"]
        verbose_name = _("quarantined document")
        verbose_name_plural = _("quarantined documents")
        constraints = [
            models.UniqueConstraint(fields=["source_kind", "regos_id"], name="quarantine_one_per_document")
        ]
        indexes = [models.Index(fields=["business_date"], name="quarantine_day")]

    def __str__(self) -> str:
        return f"{self.get_source_kind_display()} {self.regos_id}"


class SyncGate(models.Model):
    """A named mutex taken by conditional update (holder '' → token); works without transactions."""

    key = models.CharField(primary_key=True, max_length=64)
    holder = models.CharField(max_length=64, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.key} ({self.holder or 'free'})"


class HistoryDay(models.Model):
    """Per business day: whether its history rows are being rebuilt (a crash leaves 'rebuilding'), and
    which REGOS answers its facts were last written from (``source_digest``; see sync.engine.unchanged)."""

    class State(TextChoices):
        CLEAN = "clean", _("clean")
        REBUILDING = "rebuilding", _("rebuilding")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    date = models.DateField(unique=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.CLEAN)
    synced_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    # Empty when unknown: the day is then always written in full by the next sync.
    source_digest = models.CharField(max_length=64, blank=True, default="")
    source_cheques = models.PositiveIntegerField(default=0)
    source_wholesale = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.date} {self.state}"


class DirtyDay(models.Model):
    """A business day that a webhook said changed; a queued task re-syncs and clears it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    date = models.DateField(unique=True)
    marked_at = models.DateTimeField(auto_now=True)
    events = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.date} ({self.events} events)"


class WebhookEvent(models.Model):
    class Status(TextChoices):
        RECEIVED = "received", _("received")
        PROCESSED = "processed", _("processed")
        IGNORED = "ignored", _("ignored")
        FAILED = "failed", _("failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event_id = models.CharField(_("event id"), max_length=64, unique=True)
    action = models.CharField(_("action"), max_length=64)
    occurred_at = models.DateTimeField(_("occurred at"), null=True, blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    source = models.CharField(_("source"), max_length=10, default="webhook")
    document_id = models.CharField(_("document"), max_length=64, blank=True, default="")
    business_date = models.DateField(_("business day"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.RECEIVED)
    payload = models.JSONField(default=dict, blank=True)
    note = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")

    def __str__(self) -> str:
        return f"{self.action} {self.event_id}"


class KeyValue(models.Model):
    """Small durable state: the Event/Get cursor, the last scheduled-run failure, and the like."""

    key = models.CharField(primary_key=True, max_length=64)
    value = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    def __str__(self) -> str:
        return self.key


class RateLimitBucket(models.Model):
    """The REGOS token bucket shared by every process using one key (keyed by a hash, never the key)."""

    key = models.CharField(primary_key=True, max_length=64)
    tokens = models.FloatField(default=0)
    stamp = models.FloatField(default=0)
    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"bucket {self.key[:12]}…"


class ReconciliationRun(models.Model):
    """One comparison of our figures with REGOS's own reports for a range of ≤ 1 month
    (``sync.reconcile``): who asked, when, how many REGOS requests it took, and its result rows.

    Claimed queued → running by a conditional update, so a redelivered task does nothing twice."""

    class Status(TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    date_from = models.DateField(_("from"))
    date_to = models.DateField(_("to"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requested by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )
    trigger = models.CharField(_("trigger"), max_length=10, choices=SyncRun.Trigger.choices,
                               default=SyncRun.Trigger.USER)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True, default="")
    requests_made = models.PositiveIntegerField(_("requests"), default=0)
    rate_limit_waits = models.PositiveIntegerField(_("rate-limit retries"), default=0)
    registers_checked = models.PositiveIntegerField(_("registers checked"), default=0)
    differences = models.PositiveIntegerField(_("differences"), default=0)
    error = models.TextField(_("error"), blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("reconciliation run")
        verbose_name_plural = _("reconciliation runs")
        permissions = [("run_reconciliation", "Can start a reconciliation with REGOS")]

    def __str__(self) -> str:
        return f"{self.date_from}…{self.date_to} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class ReconciliationRow(models.Model):
    """Our figures against REGOS's for one register (retail) or stock (wholesale) over the run's range
    (``level`` range) or one day of it that bisection found different (``level`` day).

    Natural key: run, kind, REGOS id, first and last day — a re-executed run upserts, never doubles."""

    class Kind(TextChoices):
        REGISTER = "register", _("register")
        STOCK = "stock", _("stock (wholesale)")

    class Level(TextChoices):
        RANGE = "range", _("whole range")
        DAY = "day", _("day")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="rows")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    level = models.CharField(_("level"), max_length=10, choices=Level.choices, default=Level.RANGE)
    regos_id = models.BigIntegerField(_("REGOS id"))
    stock_id = models.BigIntegerField(_("REGOS stock id"), null=True, blank=True)
    branch = models.ForeignKey(
        Branch, verbose_name=_("branch"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    date_from = models.DateField(_("from"))
    date_to = models.DateField(_("to"))
    our_count = models.IntegerField(_("our sales"), default=0)
    regos_count = models.IntegerField(_("REGOS sales"), default=0)
    our_return_count = models.IntegerField(_("our returns"), default=0)
    regos_return_count = models.IntegerField(_("REGOS returns"), default=0)
    our_amount = models.DecimalField(_("our sales, UZS"), **MONEY)
    regos_amount = models.DecimalField(_("REGOS sales, UZS"), **MONEY)
    our_return_amount = models.DecimalField(_("our returns, UZS"), **MONEY)
    regos_return_amount = models.DecimalField(_("REGOS returns, UZS"), **MONEY)
    # REGOS's sale/return amounts by payment type ({"Naqd": ["100.00", "0.00"]}), as reported.
    payments = models.JSONField(_("REGOS by payment type"), default=dict, blank=True)
    # Known causes the data shows (open shifts, quarantined documents, cheques not counted), as text.
    causes = models.JSONField(_("known causes"), default=list, blank=True)

    class Meta:
        ordering = ["kind", "regos_id", "level", "date_from"]
        verbose_name = _("reconciliation result")
        verbose_name_plural = _("reconciliation results")
        constraints = [
            models.UniqueConstraint(
                fields=["run", "kind", "regos_id", "date_from", "date_to"], name="reconciliation_row_one"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.regos_id} {self.date_from}…{self.date_to}"

    @property
    def equal(self) -> bool:
        return (
            self.our_count == self.regos_count
            and self.our_return_count == self.regos_return_count
            and self.our_amount == self.regos_amount
            and self.our_return_amount == self.regos_return_amount
        )

    @property
    def cause_lines(self) -> list[str]:
        """The known causes (stored as codes + numbers by sync.engine.reconcile) in the current language."""
        lines = []
        for cause in self.causes if isinstance(self.causes, list) else []:
            code, n = cause.get("code"), int(cause.get("count") or 0)
            if code == "not_synced":
                lines.append(str(_("This day has not been synced yet.")))
            elif code == "open_shifts":
                lines.append(ngettext(
                    "%(count)d shift of this register was still open when we read it.",
                    "%(count)d shifts of this register were still open when we read them.", n,
                ) % {"count": n})
            elif code == "quarantined":
                lines.append(ngettext(
                    "%(count)d cheque of this day is quarantined (not in our figures).",
                    "%(count)d cheques of this day are quarantined (not in our figures).", n,
                ) % {"count": n})
            elif code == "not_counted":
                lines.append(ngettext(
                    "%(count)d cheque with status %(status)s was not counted",
                    "%(count)d cheques with status %(status)s were not counted", n,
                ) % {"count": n, "status": cause.get("status", "")})
            elif code == "no_rate":
                lines.append(ngettext(
                    "%(count)d document REGOS lists has no usable exchange rate.",
                    "%(count)d documents REGOS lists have no usable exchange rate.", n,
                ) % {"count": n})
        return lines

    @property
    def count_difference(self) -> int:
        """Ours − REGOS's, sales and returns together (positive: we count more)."""
        return (self.our_count + self.our_return_count) - (self.regos_count + self.regos_return_count)

    @property
    def amount_difference(self) -> Decimal:
        """Ours − REGOS's in net money (sales − returns)."""
        return (self.our_amount - self.our_return_amount) - (self.regos_amount - self.regos_return_amount)
