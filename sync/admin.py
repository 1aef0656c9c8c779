"""Admin for the sync app: runs (read-only, like django-q2's task lists), mappings, audit, facts, webhooks.

Everything the sync computes is read-only for everyone. Mappings are the only editable rows, and only
their target (branch / employee): a change goes through ``sync.services`` so it is audited and the
affected days are re-aggregated at once.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.formats import date_format, number_format
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from payroll.admin import money
from regos_admin.admin_lookups import FilterLookupsOnly
from sync import services
from sync.models import (
    MappingAudit,
    QuarantinedDocument,
    SalesFact,
    SellerMapping,
    StockMapping,
    SyncRun,
    WebhookEvent,
)
from sync.views import retry_request, sync_now_context


class ReadOnlyAdmin(FilterLookupsOnly, admin.ModelAdmin):
    """Viewable with the view permission; nobody adds, changes or deletes rows here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def status_badge(status: str, label: str) -> str:
    return format_html('<span class="sync-status sync-status-{}">{}</span>', status, label)


# --- runs ----------------------------------------------------------------------------------------

@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at", "status_display", "range_display", "trigger", "triggered_by", "branch",
        "days_display", "documents_seen", "facts_display", "history_rows_written", "requests_made",
        "rate_limit_waits", "duration_display",
    ]
    list_display_links = ["created_at"]
    list_filter = ["status", "trigger", "created_at", "branch"]
    list_select_related = ["triggered_by", "branch"]
    date_hierarchy = "created_at"
    search_fields = ["error"]
    actions = ["retry_runs"]
    list_per_page = 50

    class Media:
        css = {"all": ["regos_admin/sync.css"]}

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj: SyncRun) -> str:
        return status_badge("warnings" if obj.has_warnings else obj.status, obj.status_label)

    @admin.display(description=_("business days"), ordering="date_from")
    def range_display(self, obj: SyncRun) -> str:
        first = date_format(obj.date_from, "SHORT_DATE_FORMAT")
        if obj.date_from == obj.date_to:
            return first
        return f"{first} – {date_format(obj.date_to, 'SHORT_DATE_FORMAT')}"

    @admin.display(description=_("days done"))
    def days_display(self, obj: SyncRun) -> str:
        return f"{obj.days_done}/{obj.days_total}"

    @admin.display(description=_("facts +/~/−"))
    def facts_display(self, obj: SyncRun) -> str:
        return f"+{obj.facts_inserted} ~{obj.facts_updated} −{obj.facts_removed}"

    @admin.display(description=_("duration"))
    def duration_display(self, obj: SyncRun) -> str:
        span = obj.duration
        if span is None:
            return "—"
        seconds = max(0, int(span.total_seconds()))
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"

    def has_run_sync_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("sync.run_sync")

    @admin.action(description=_("Retry the selected failed or partial runs"), permissions=["run_sync"])
    def retry_runs(self, request: HttpRequest, queryset) -> None:  # type: ignore[no-untyped-def]
        started = joined = skipped = 0
        for failed in queryset.filter(status__in=[SyncRun.Status.FAILED, SyncRun.Status.PARTIAL]):
            try:
                run, created = retry_request(failed=failed, user=request.user)
            except (services.SyncRangeError, services.SyncBusyError) as exc:
                skipped += 1
                self.message_user(request, f"{failed}: {exc}", messages.WARNING)
                continue
            if created:
                services.sync_run_enqueue(run=run)
                started += 1
            else:
                joined += 1
        skipped += queryset.exclude(status__in=[SyncRun.Status.FAILED, SyncRun.Status.PARTIAL]).count()
        self.message_user(request, _("Retries started: %(started)s; joined a run in progress: %(joined)s; "
                                     "not retryable: %(skipped)s.") % {
            "started": started, "joined": joined, "skipped": skipped,
        })

    def change_view(self, request, object_id, form_url="", extra_context=None):  # type: ignore[no-untyped-def]
        # A run's page is the panel's run page (progress, error and hint, Retry). Only for reading: a POST
        # goes on to the read-only admin, which refuses it (403) like every other write.
        if (
            request.method in ("GET", "HEAD")
            and self.has_view_permission(request)
            and SyncRun.objects.filter(pk=_uuid_or_none(object_id)).exists()
        ):
            return HttpResponseRedirect(reverse("sync_panel:run", args=[object_id]))
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):  # type: ignore[no-untyped-def]
        # Thirteen columns, the Sync now box and the filters do not fit beside the app sidebar at 1366 px:
        # the list goes without the sidebar (the breadcrumbs lead back) and its filters sit above it.
        context = {**sync_now_context(request), "is_nav_sidebar_enabled": False, **(extra_context or {})}
        return super().changelist_view(request, context)


def _uuid_or_none(value: str):  # type: ignore[no-untyped-def]
    import uuid

    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


# --- mappings ------------------------------------------------------------------------------------

class MappingAdmin(FilterLookupsOnly, admin.ModelAdmin):
    """Mapping rows come from REGOS discovery; only the target is edited, through the services."""

    target_field = ""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:  # type: ignore[no-untyped-def]
        target = form.cleaned_data.get(self.target_field)
        changed = self.set_target(obj, target, request.user)
        self.message_user(request, ngettext(
            "%(count)s day re-aggregated.", "%(count)s days re-aggregated.", changed
        ) % {"count": number_format(changed)})

    def set_target(self, obj, target, user) -> int:  # type: ignore[no-untyped-def]
        raise NotImplementedError

    @admin.display(description=_("mapped"), boolean=True)
    def is_mapped(self, obj) -> bool:  # type: ignore[no-untyped-def]
        return getattr(obj, f"{self.target_field}_id") is not None


class RegosIdSearch:
    """Also finds rows by their REGOS id (exact). Not with ``"=field"`` in ``search_fields``: Django makes that
    an ``iexact`` lookup, which django-mongodb-backend turns into a regular expression of the raw search
    text — searching for "(" or "[" was a 500 on MongoDB."""

    regos_id_field = ""

    def get_search_results(self, request, queryset, search_term):  # type: ignore[no-untyped-def]
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)  # type: ignore[misc]
        ids = {int(term) for term in search_term.split() if term.isdigit() and len(term) <= 18}
        if ids:
            results = results | queryset.filter(**{f"{self.regos_id_field}__in": sorted(ids)})
        return results, may_have_duplicates


@admin.register(StockMapping)
class StockMappingAdmin(RegosIdSearch, MappingAdmin):
    target_field = "branch"
    list_display = ["regos_stock_id", "regos_name", "is_mapped", "branch", "deleted_in_regos", "updated_at"]
    list_display_links = ["regos_stock_id", "regos_name"]
    list_filter = [("branch", admin.EmptyFieldListFilter), "branch", "deleted_in_regos"]
    list_select_related = ["branch"]
    search_fields = ["regos_name"]
    regos_id_field = "regos_stock_id"
    fields = ["regos_stock_id", "regos_name", "deleted_in_regos", "branch", "discovered_at", "updated_at"]
    readonly_fields = ["regos_stock_id", "regos_name", "deleted_in_regos", "discovered_at", "updated_at"]

    def set_target(self, obj, target, user) -> int:  # type: ignore[no-untyped-def]
        return services.stock_mapping_set(regos_stock_id=obj.regos_stock_id, branch=target, user=user)


@admin.register(SellerMapping)
class SellerMappingAdmin(RegosIdSearch, MappingAdmin):
    target_field = "employee"
    list_display = [
        "regos_user_id", "full_name", "login", "is_mapped", "employee", "active_in_regos", "updated_at",
    ]
    list_display_links = ["regos_user_id", "full_name"]
    list_filter = [("employee", admin.EmptyFieldListFilter), "active_in_regos"]
    list_select_related = ["employee"]
    search_fields = ["full_name", "login"]
    regos_id_field = "regos_user_id"
    readonly_fields = [
        "regos_user_id", "full_name", "login", "active_in_regos", "discovered_at", "updated_at",
    ]
    fields = [*readonly_fields[:4], "employee", *readonly_fields[4:]]

    def set_target(self, obj, target, user) -> int:  # type: ignore[no-untyped-def]
        return services.seller_mapping_set(regos_user_id=obj.regos_user_id, employee=target, user=user)


@admin.register(MappingAudit)
class MappingAuditAdmin(RegosIdSearch, ReadOnlyAdmin):
    list_display = [
        "changed_at", "kind", "regos_id", "regos_name", "change_display", "days_changed", "changed_by",
    ]
    list_filter = ["kind", "changed_at"]
    list_select_related = ["changed_by"]
    search_fields = ["regos_name", "old_target", "new_target"]
    regos_id_field = "regos_id"
    date_hierarchy = "changed_at"

    @admin.display(description=_("old → new"))
    def change_display(self, obj: MappingAudit) -> str:
        nothing = _("(not mapped)")
        return f"{obj.old_target or nothing} → {obj.new_target or nothing}"


# --- facts and webhook events --------------------------------------------------------------------

class StockFilter(admin.SimpleListFilter):
    """Filter facts by REGOS stock: the known stocks by name, plus any stock id seen on facts."""

    title = _("REGOS stock")
    parameter_name = "stock"

    def lookups(self, request, model_admin):  # type: ignore[no-untyped-def]
        names = dict(StockMapping.objects.values_list("regos_stock_id", "regos_name"))
        seen = {row["stock_id"] for row in SalesFact.objects.values("stock_id").annotate(n=Count("id"))}
        return [
            (str(i), f"{names[i]} (#{i})" if names.get(i) else f"#{i}") for i in sorted(set(names) | seen)
        ]

    def queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        value = self.value()
        if value is None:
            return queryset
        try:
            stock_id = int(value)
        except ValueError:
            return queryset.none()
        return queryset.filter(stock_id=stock_id)


@admin.register(SalesFact)
class SalesFactAdmin(ReadOnlyAdmin):
    list_display = [
        "business_date", "occurred_at", "source_kind", "code", "regos_id", "stock_id", "seller_id",
        "cashier_id", "attached_user_id", "sale_type", "is_return", "amount_display", "currency", "status",
    ]
    list_filter = ["source_kind", "sale_type", "is_return", "business_date", StockFilter, "operating_cash_id"]
    search_fields = ["regos_id", "code"]
    date_hierarchy = "business_date"
    list_per_page = 100

    @admin.display(description=_("amount, UZS"), ordering="amount")
    def amount_display(self, obj: SalesFact) -> str:
        return money(obj.amount)


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "action", "status", "business_date", "document_id", "source", "note"]
    list_filter = ["status", "action", "source", "received_at"]
    search_fields = ["event_id", "document_id", "action"]
    date_hierarchy = "received_at"
    exclude = ["payload"]
    readonly_fields = ["payload_display"]

    @admin.display(description=_("payload"))
    def payload_display(self, obj: WebhookEvent) -> str:
        import json

        text = json.dumps(obj.payload, ensure_ascii=False, indent=2, default=str)
        return format_html("<pre>{}</pre>", text)


# --- quarantine ----------------------------------------------------------------------------------

class QuarantineRunFilter(admin.SimpleListFilter):
    """``?run=<id>``: the documents a run last saw (linked from the run page); lists the runs holding some."""

    title = _("sync run")
    parameter_name = "run"

    def lookups(self, request, model_admin):  # type: ignore[no-untyped-def]
        run_ids = QuarantinedDocument.objects.exclude(last_run=None).values_list("last_run_id", flat=True)
        runs = SyncRun.objects.filter(pk__in=set(run_ids)).order_by("-created_at")[:20]
        return [(str(run.pk), date_format(run.created_at, "SHORT_DATETIME_FORMAT")) for run in runs]

    def has_output(self) -> bool:
        return True  # the filter must apply to a ?run= link even when no run is listed

    def queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        if self.value() is None:
            return queryset
        run_id = _uuid_or_none(self.value() or "")
        return queryset.filter(last_run_id=run_id) if run_id is not None else queryset.none()


@admin.register(QuarantinedDocument)
class QuarantinedDocumentAdmin(ReadOnlyAdmin):
    """Documents REGOS sent in a shape the figures cannot use: kept as received, cleared by the sync itself."""

    list_display = [
        "document_display", "business_date", "reason", "first_seen_at", "last_seen_at", "run_display",
    ]
    list_filter = ["source_kind", "business_date", QuarantineRunFilter]
    search_fields = ["regos_id", "reason"]
    date_hierarchy = "business_date"
    list_select_related = ["last_run"]
    exclude = ["raw"]
    readonly_fields = ["raw_display"]
    list_per_page = 100

    @admin.display(description=_("document"), ordering="regos_id")
    def document_display(self, obj: QuarantinedDocument) -> str:
        return f"{obj.get_source_kind_display()} {obj.regos_id}"

    @admin.display(description=_("last seen by"))
    def run_display(self, obj: QuarantinedDocument) -> str:
        if obj.last_run_id is None:
            return "—"
        return format_html('<a href="{}">{}</a>', reverse("sync_panel:run", args=[obj.last_run_id]),
                           date_format(obj.last_run.created_at, "SHORT_DATETIME_FORMAT"))

    @admin.display(description=_("document as received"))
    def raw_display(self, obj: QuarantinedDocument) -> str:
        import json

        text = json.dumps(obj.raw, ensure_ascii=False, indent=2, default=str)
        return format_html("<pre>{}</pre>", text)
