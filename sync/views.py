"""The sync pages of the panel: Sync now, a run's page (+ its JSON status and Retry), and the mappings.

Thin views: every write goes through ``sync.services``. Every page needs a staff login (the URLs wrap
the views in ``admin.site.admin_view``); every write is a POST with CSRF and a permission check:
``sync.run_sync`` for Sync now / Retry, ``sync.change_stockmapping`` / ``sync.change_sellermapping``
for the mappings (both for "Refresh from REGOS"). Everyone else gets 403.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from payroll.models import Branch, Employee
from regos_admin.env import mask_key
from sync import selectors, services
from sync.engine.discover import employee_adopt_or_create
from sync.forms import ReconcileForm, SellerMapForm, StockMapForm, SyncNowForm, max_days
from sync.health import run_waiting_for_worker
from sync.models import ReconciliationRow, ReconciliationRun, SalesFact, SellerMapping, StockMapping, SyncRun

log = logging.getLogger(__name__)

RUN_SYNC = "sync.run_sync"
VIEW_RUNS = "sync.view_syncrun"
CHANGE_STOCKS = "sync.change_stockmapping"
CHANGE_SELLERS = "sync.change_sellermapping"
VIEW_STOCKS = "sync.view_stockmapping"
VIEW_SELLERS = "sync.view_sellermapping"
RETRYABLE = (SyncRun.Status.FAILED, SyncRun.Status.PARTIAL)
MAX_REGOS_ID = 2**63 - 1  # REGOS ids are BigIntegerFields: anything larger names nothing


def _require(request: HttpRequest, *perms: str, any_of: bool = False) -> None:
    user = request.user
    allowed = any(user.has_perm(p) for p in perms) if any_of else user.has_perms(perms)
    if not allowed:
        raise PermissionDenied


def _page(request: HttpRequest, template: str, title: str, **context: object) -> HttpResponse:
    return render(request, template, {**admin.site.each_context(request), "title": title, **context})


def _next_url(request: HttpRequest, default: str) -> str:
    candidate = request.POST.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def _busy_message() -> str:
    return _("Another sync is being started right now: try again in a moment.")


# --- the worker ----------------------------------------------------------------------------------

def worker_alive() -> bool:
    """Whether a django-q2 worker is running (``sync.health``'s heartbeat rule)."""
    from sync import health

    return health.worker_alive()


# --- Sync now ------------------------------------------------------------------------------------

def sync_now_context(request: HttpRequest, form: SyncNowForm | None = None) -> dict[str, object]:
    """What the Sync now box needs (its page, the admin index and the runs list render it)."""
    can_sync = request.user.has_perm(RUN_SYNC)
    if not can_sync:
        return {"can_sync": False}
    return {
        "can_sync": True,
        "sync_form": form if form is not None else SyncNowForm(),
        "worker_alive": worker_alive(),
        "max_days": max_days(),
        "lookback_days": settings.REGOS_LOOKBACK_DAYS,
        "active_runs": list(SyncRun.objects.filter(status__in=SyncRun.ACTIVE).order_by("-created_at")[:5]),
        "can_view_runs": request.user.has_perm(VIEW_RUNS),
        "can_view_mappings": any(
            request.user.has_perm(p) for p in (VIEW_STOCKS, VIEW_SELLERS, CHANGE_STOCKS, CHANGE_SELLERS)
        ),
    }


def _started(request: HttpRequest, run: SyncRun, created: bool, *, started: str) -> HttpResponse:
    if created:
        services.sync_run_enqueue(run=run)
        messages.success(request, started)
    else:
        messages.info(request, _("A sync for an overlapping range is already in progress — showing it."))
    return redirect("sync_panel:run", run_id=run.pk)


@require_http_methods(["GET", "POST"])
def sync_now(request: HttpRequest) -> HttpResponse:
    _require(request, RUN_SYNC)
    form = SyncNowForm(request.POST) if request.method == "POST" else SyncNowForm()
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            run, created = services.sync_run_request(
                date_from=data["date_from"], date_to=data["date_to"], trigger=SyncRun.Trigger.USER,
                user=request.user,
            )
        except services.SyncRangeError as exc:  # the form checks the same rules; this is the backstop
            form.add_error(None, str(exc))
        except services.SyncBusyError:
            form.add_error(None, _busy_message())
        else:
            return _started(request, run, created, started=_("Sync started."))
    return _page(
        request, "sync/sync_now.html", _("Sync now"),
        **sync_now_context(request, form),
        recent_runs=list(SyncRun.objects.select_related("triggered_by").order_by("-created_at")[:10]),
    )


# --- a run ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DayProgress:
    date: date | str
    status: str
    label: str
    documents: int
    quarantined: int = 0  # documents of the day quarantined now: the day's figures are incomplete


def _day_label(status: str) -> str:
    labels = {
        "pending": _("pending"),
        "running": _("running"),
        "done": _("done"),
        "failed": _("failed"),
        "skipped": _("skipped"),
    }
    return labels.get(status, status)


def _progress(run: SyncRun, incomplete: dict[date, int] | None = None) -> list[DayProgress]:
    incomplete = incomplete or {}
    rows = []
    for item in run.progress if isinstance(run.progress, list) else []:
        if not isinstance(item, dict):
            continue
        raw = str(item.get("date", ""))
        try:
            day: date | str = date.fromisoformat(raw)
        except ValueError:
            day = raw
        status = str(item.get("status", ""))
        try:
            documents = int(item.get("documents") or 0)
        except (TypeError, ValueError):
            documents = 0
        held = incomplete.get(day, 0) if isinstance(day, date) else 0
        rows.append(DayProgress(day, status, _day_label(status), documents, held))
    return rows


def _percent(run: SyncRun) -> int:
    if not run.days_total:
        return 100 if run.status == SyncRun.Status.SUCCEEDED else 0
    return max(0, min(100, round(100 * run.days_done / run.days_total)))


def _duration(run: SyncRun) -> str:
    """H:MM:SS between start and finish ("" while not finished)."""
    span = run.duration
    if span is None:
        return ""
    seconds = max(0, int(span.total_seconds()))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _stamp(run: SyncRun, *, no_worker: bool = False) -> str:
    """Changes whenever the page would show something new (the polling script reloads on a change)."""
    return f"{run.status}:{run.days_done}:{run.documents_seen}:{run.requests_made}:{'nw' if no_worker else ''}"


def _run_status(run: SyncRun) -> dict[str, object]:
    no_worker = run_waiting_for_worker(run)
    return {
        "id": str(run.pk),
        "status": run.status,
        "status_label": run.status_label,
        "quarantined": run.quarantined,
        "active": run.is_active,
        "stamp": _stamp(run, no_worker=no_worker),
        "no_worker": no_worker,
        "cause": run.cause_label,
        "days_done": run.days_done,
        "days_total": run.days_total,
        "percent": _percent(run),
        "requests_made": run.requests_made,
        "rate_limit_waits": run.rate_limit_waits,
        "documents_seen": run.documents_seen,
        "facts_inserted": run.facts_inserted,
        "facts_updated": run.facts_updated,
        "facts_removed": run.facts_removed,
        "history_rows_written": run.history_rows_written,
        "duration": _duration(run),
        "progress": [
            {"date": str(p.date), "status": p.status, "label": p.label, "documents": p.documents}
            for p in _progress(run)
        ],
    }


@require_GET
def run_detail(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    _require(request, VIEW_RUNS, RUN_SYNC, any_of=True)
    run = get_object_or_404(SyncRun.objects.select_related("triggered_by", "branch", "retry_of"), pk=run_id)
    incomplete = selectors.incomplete_days(date_from=run.date_from, date_to=run.date_to)
    retries = list(SyncRun.objects.filter(retry_of=run).order_by("-created_at")[:5])
    no_worker = run_waiting_for_worker(run)
    return _page(
        request, "sync/run_detail.html", _("Sync run"),
        run=run,
        days=_progress(run, incomplete),
        incomplete_days=sum(1 for count in incomplete.values() if count),
        quarantine_url=reverse("admin:sync_quarantineddocument_changelist"),
        percent=_percent(run),
        duration=_duration(run),
        can_retry=request.user.has_perm(RUN_SYNC) and run.status in RETRYABLE,
        no_worker=no_worker,
        stamp=_stamp(run, no_worker=no_worker),
        error_text=mask_key(run.error),
        retries=retries,
        # A retried run offers no second Retry: the newest retry carries on (and is retried itself).
        retried_as=retries[0] if retries else None,
    )


@require_GET
def run_status(request: HttpRequest, run_id: uuid.UUID) -> JsonResponse:
    _require(request, VIEW_RUNS, RUN_SYNC, any_of=True)
    return JsonResponse(_run_status(get_object_or_404(SyncRun, pk=run_id)))


@require_POST
def run_retry(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    _require(request, RUN_SYNC)
    failed = get_object_or_404(SyncRun, pk=run_id)
    if failed.status not in RETRYABLE:
        messages.warning(request, _("Only a failed or partial run can be retried."))
        return redirect("sync_panel:run", run_id=failed.pk)
    newest = SyncRun.objects.filter(retry_of=failed).order_by("-created_at").first()
    if newest is not None:  # a second click (or a stale page): show the retry instead of starting another
        messages.info(request, _("This run has already been retried — showing the retry."))
        return redirect("sync_panel:run", run_id=newest.pk)
    try:
        run, created = retry_request(failed=failed, user=request.user)
    except services.SyncRangeError as exc:
        messages.error(request, _("This run cannot be retried: %(reason)s") % {"reason": exc})
        return redirect("sync_panel:run", run_id=failed.pk)
    except services.SyncBusyError:
        messages.error(request, _busy_message())
        return redirect("sync_panel:run", run_id=failed.pk)
    return _started(request, run, created, started=_("Retry started."))


def retry_request(*, failed: SyncRun, user) -> tuple[SyncRun, bool]:  # type: ignore[no-untyped-def]
    """A run for the same range as ``failed`` (joining an active overlapping one), marked as its retry.

    ``sync_run_request`` does not take ``retry_of``: it is set on the fresh run by a conditional update.
    The caller enqueues a created run.
    """
    run, created = services.sync_run_request(
        date_from=failed.date_from, date_to=failed.date_to, trigger=SyncRun.Trigger.USER,
        user=user, branch=failed.branch,
    )
    if created and SyncRun.objects.filter(pk=run.pk, retry_of__isnull=True).update(retry_of=failed):
        run.retry_of = failed
    return run, created


# --- mappings ------------------------------------------------------------------------------------

def _mapping_permissions(request: HttpRequest) -> dict[str, object]:
    user = request.user
    can_stocks = user.has_perm(CHANGE_STOCKS)
    can_sellers = user.has_perm(CHANGE_SELLERS)
    return {
        "can_map_stocks": can_stocks,
        "can_map_sellers": can_sellers,
        "can_create_branch": can_stocks and user.has_perm("payroll.add_branch"),
        "can_create_employee": can_sellers and user.has_perm("payroll.add_employee"),
        "can_discover": can_stocks and can_sellers,
        "refresh": (refresh := refresh_state()),
        "refresh_worker_alive": refresh.status != "queued" or worker_alive(),
        "branches": list(Branch.objects.order_by("name")) if can_stocks else [],
        "employees": list(Employee.objects.order_by("full_name")) if can_sellers else [],
    }


def _require_mapping_view(request: HttpRequest) -> None:
    _require(request, VIEW_STOCKS, VIEW_SELLERS, CHANGE_STOCKS, CHANGE_SELLERS, any_of=True)


MAPPINGS_PER_PAGE = 50


def _search(rows: QuerySet, query: str, *, id_field: str, fields: tuple[str, ...]) -> QuerySet:
    """Rows where any of ``fields`` contains the query (case-insensitive); a number also finds the id."""
    if not query:
        return rows
    found = Q()
    for name in fields:
        found |= Q(**{f"{name}__icontains": query})
    if query.isdigit() and int(query) <= MAX_REGOS_ID:
        found |= Q(**{id_field: int(query)})
    return rows.filter(found)


@require_GET
def mappings(request: HttpRequest) -> HttpResponse:
    _require_mapping_view(request)
    not_mapped = request.GET.get("show") == "unmapped"
    query = " ".join(request.GET.get("q", "").split())[:100]
    stocks = StockMapping.objects.select_related("branch").order_by("regos_name", "regos_stock_id")
    users = SellerMapping.objects.select_related("employee").order_by("full_name", "regos_user_id")
    any_stocks, any_users = stocks.exists(), users.exists()
    if not_mapped:
        stocks = stocks.filter(branch__isnull=True)
        users = users.filter(employee__isnull=True)
    stocks = _search(stocks, query, id_field="regos_stock_id", fields=("regos_name", "branch__name"))
    users = _search(users, query, id_field="regos_user_id", fields=("full_name", "login", "employee__full_name"))
    stock_page = Paginator(stocks, MAPPINGS_PER_PAGE).get_page(request.GET.get("stocks_page"))
    user_page = Paginator(users, MAPPINGS_PER_PAGE).get_page(request.GET.get("users_page"))
    documents = {
        row["stock_id"]: row["n"]
        for row in SalesFact.objects.filter(stock_id__in=[r.regos_stock_id for r in stock_page])
        .values("stock_id").annotate(n=Count("id"))
    }
    stock_rows = list(stock_page)
    for row in stock_rows:
        row.documents = documents.get(row.regos_stock_id, 0)
    def others(param: str) -> str:  # the query string without this table's page number
        params = request.GET.copy()
        params.pop(param, None)
        return params.urlencode()

    return _page(
        request, "sync/mappings.html", _("Mappings"),
        stocks=stock_rows, users=list(user_page), stock_page=stock_page, user_page=user_page,
        query=query, stocks_qs=others("stocks_page"), users_qs=others("users_page"),
        any_stocks=any_stocks, any_users=any_users,
        tab="not_mapped" if not_mapped else "all",
        **_mapping_permissions(request),
    )


@require_GET
def unmapped(request: HttpRequest) -> HttpResponse:
    _require_mapping_view(request)
    stocks = sorted(selectors.unmapped_stocks(), key=lambda s: (-s.amount, s.regos_stock_id))
    users = selectors.unmapped_users()
    return _page(
        request, "sync/unmapped.html", _("Unmapped REGOS stocks and users"),
        stocks=stocks, users=users,
        stocks_total=sum((s.amount for s in stocks), Decimal("0.00")),
        users_total=sum((u.amount for u in users), Decimal("0.00")),
        **_mapping_permissions(request),
    )


def _require_bulk(request: HttpRequest, mode: str) -> None:
    _require(request, CHANGE_STOCKS, CHANGE_SELLERS)
    if mode == "create":
        _require(request, "payroll.add_branch", "payroll.add_employee")


def _ids(values: Iterable[str]) -> list[int] | None:
    """The posted REGOS ids, or None if any is not one (nothing is written then)."""
    ids = []
    for value in values:
        if not value.isdigit() or int(value) > MAX_REGOS_ID:
            return None
        ids.append(int(value))
    return ids


@require_http_methods(["GET", "POST"])
def bulk_mappings(request: HttpRequest) -> HttpResponse:
    """Bulk mapping: GET previews (``mode=match``: by name only; ``mode=create``: also create the
    rest), POST applies the ticked rows of that very preview in one audited re-aggregation."""
    data = request.POST if request.method == "POST" else request.GET
    mode = data.get("mode", "match")
    if mode not in selectors.PLAN_MODES:
        mode = "match"
    _require_bulk(request, mode)
    back = reverse("sync_panel:bulk") + f"?mode={mode}"
    if request.method == "POST":
        stock_ids, user_ids = _ids(request.POST.getlist("stock")), _ids(request.POST.getlist("user"))
        if stock_ids is None or user_ids is None:
            messages.error(request, _("Some of the chosen rows are not in the preview: nothing was changed."))
            return HttpResponseRedirect(back)
        try:
            stocks, users, changed = services.mapping_plan_apply(
                mode=mode, token=request.POST.get("token", ""), stock_ids=stock_ids, user_ids=user_ids,
                user=request.user,
            )
        except services.MappingPlanError as exc:
            messages.error(request, _(str(exc)))  # noqa: INT001 — the message is a gettext_noop msgid
            return HttpResponseRedirect(back)
        messages.success(request, "{} {}".format(
            _("Mapped %(stocks)s stocks and %(users)s users.") % {
                "stocks": number_format(stocks), "users": number_format(users)
            },
            _days_message(changed),
        ))
        return HttpResponseRedirect(reverse("sync_panel:mappings"))
    plan = selectors.mapping_plan(mode=mode)
    return _page(
        request, "sync/bulk.html", _("Map by name") if mode == "match" else _("Map all unmapped"),
        plan=plan, mode=mode, tab="bulk", can_create_all=request.user.has_perms(
            ["payroll.add_branch", "payroll.add_employee"]
        ),
        **_mapping_permissions(request),
    )


@require_POST
def discover(request: HttpRequest) -> HttpResponse:
    """Queue "Refresh from REGOS" for the worker (REGOS may be slow; a web thread never waits on it)."""
    _require(request, CHANGE_STOCKS, CHANGE_SELLERS)
    if services.regos_refresh_request(user=request.user):
        messages.success(request, _(
            "Refresh from REGOS queued: the worker asks REGOS for its stocks and users; this page shows when "
            "it is done."
        ))
    else:
        messages.info(request, _("A refresh from REGOS is already queued or running — this page shows its state."))
    return HttpResponseRedirect(_next_url(request, reverse("sync_panel:mappings")))


@dataclass(frozen=True)
class RefreshState:
    status: str  # "", queued, running, done, failed
    text: str


def refresh_state() -> RefreshState:
    """The last "Refresh from REGOS" in one translated line for the mappings pages."""
    state = services.regos_refresh_state()
    status = str(state.get("status", ""))

    def when(key: str) -> str:
        from sync.inbox import parse_stamp

        moment = parse_stamp(str(state.get(key, "")))
        return date_format(timezone.localtime(moment), "DATETIME_FORMAT") if moment else "?"

    if status == "queued":
        text = _("Refresh from REGOS: queued at %(when)s, waiting for the worker.") % {"when": when("requested_at")}
    elif status == "running":
        text = _("Refresh from REGOS: running since %(when)s.") % {"when": when("started_at")}
    elif status == "done":
        text = _(
            "Refreshed from REGOS: %(stocks)s stocks (%(unmapped_stocks)s not mapped), "
            "%(users)s users (%(unmapped_users)s not mapped)."
        ) % {key: state.get(key, 0) for key in ("stocks", "unmapped_stocks", "users", "unmapped_users")}
        text = f"{text} ({when('finished_at')})"
    elif status == "failed":
        reason = str(state.get("error", ""))
        hint = str(state.get("hint", ""))
        if hint:
            reason = f"{reason} {_(hint)}"
        text = _("Could not refresh from REGOS: %(reason)s") % {"reason": mask_key(" ".join(reason.split()))[:500]}
        text = f"{text} ({when('finished_at')})"
    else:
        return RefreshState("", "")
    return RefreshState(status, text)


def _reason(exc: Exception) -> str:
    """The error's one-line text and hint, with the integration key masked (it is never shown)."""
    text = str(exc) or type(exc).__name__
    hint = getattr(exc, "hint", "")
    if hint:
        text = f"{text} {hint}"
    return mask_key(" ".join(text.split()))[:500]


def _days_message(count: int) -> str:
    return ngettext("%(count)s day re-aggregated.", "%(count)s days re-aggregated.", count) % {
        "count": number_format(count)
    }


def _check_regos_id(value: int) -> None:
    if value > MAX_REGOS_ID:
        raise Http404


def _form_error(form: StockMapForm | SellerMapForm) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


@require_POST
def stock_map(request: HttpRequest, regos_stock_id: int) -> HttpResponse:
    """Map a REGOS stock to the chosen branch (``branch``) or to a new one named after it (action=create)."""
    _require(request, CHANGE_STOCKS)
    _check_regos_id(regos_stock_id)
    back = _next_url(request, reverse("sync_panel:mappings"))
    mapping = StockMapping.objects.select_related("branch").filter(regos_stock_id=regos_stock_id).first()
    if mapping is None and not SalesFact.objects.filter(stock_id=regos_stock_id).exists():
        messages.error(request, _("REGOS stock #%(id)s is unknown: refresh from REGOS first.") % {
            "id": regos_stock_id
        })
        return HttpResponseRedirect(back)
    name = (mapping.regos_name if mapping else "") or _("REGOS stock #%(id)s") % {"id": regos_stock_id}
    created = False
    if request.POST.get("action") == "create":
        _require(request, "payroll.add_branch")
        if mapping is not None and mapping.branch is not None:
            messages.info(request, _("“%(name)s” is already mapped to branch “%(branch)s”.") % {
                "name": name, "branch": mapping.branch
            })
            return HttpResponseRedirect(back)
        # Branch names are unique: a branch of that name is reused (as regos_discover --create-missing does).
        branch, created = Branch.objects.get_or_create(name=name[:200])
    else:
        form = StockMapForm(request.POST)
        if not form.is_valid():
            messages.error(request, _form_error(form))
            return HttpResponseRedirect(back)
        branch = form.cleaned_data["branch"]
    changed = services.stock_mapping_set(regos_stock_id=regos_stock_id, branch=branch, user=request.user)
    if branch is None:
        text = _("“%(name)s” is no longer mapped.") % {"name": name}
    elif created:
        text = _("Branch “%(branch)s” created and “%(name)s” mapped to it.") % {
            "branch": branch, "name": name
        }
    else:
        text = _("“%(name)s” mapped to branch “%(branch)s”.") % {"name": name, "branch": branch}
    messages.success(request, f"{text} {_days_message(changed)}")
    return HttpResponseRedirect(back)


@require_POST
def seller_map(request: HttpRequest, regos_user_id: int) -> HttpResponse:
    """Map a REGOS user to the chosen employee (``employee``), or to a new one (``action=create``)."""
    _require(request, CHANGE_SELLERS)
    _check_regos_id(regos_user_id)
    back = _next_url(request, reverse("sync_panel:mappings"))
    mapping = SellerMapping.objects.select_related("employee").filter(regos_user_id=regos_user_id).first()
    seen = SalesFact.objects.filter(
        Q(seller_id=regos_user_id) | Q(cashier_id=regos_user_id) | Q(attached_user_id=regos_user_id)
    ).exists()
    if mapping is None and not seen:
        messages.error(request, _("REGOS user #%(id)s is unknown: refresh from REGOS first.") % {
            "id": regos_user_id
        })
        return HttpResponseRedirect(back)
    name = (mapping.full_name if mapping else "") or _("REGOS user #%(id)s") % {"id": regos_user_id}
    created = False
    if request.POST.get("action") == "create":
        _require(request, "payroll.add_employee")
        if mapping is not None and mapping.employee is not None:
            messages.info(request, _("“%(name)s” is already mapped to employee “%(employee)s”.") % {
                "name": name, "employee": mapping.employee
            })
            return HttpResponseRedirect(back)
        # An unmapped employee of exactly that name (e.g. the Node payroll system's) is adopted.
        employee, created = employee_adopt_or_create(
            full_name=name[:200], is_active=mapping.active_in_regos if mapping else True,
            branch=selectors.suggested_home_branch(regos_user_id=regos_user_id),
        )
    else:
        form = SellerMapForm(request.POST)
        if not form.is_valid():
            messages.error(request, _form_error(form))
            return HttpResponseRedirect(back)
        employee = form.cleaned_data["employee"]
    changed = services.seller_mapping_set(regos_user_id=regos_user_id, employee=employee, user=request.user)
    if employee is None:
        text = _("“%(name)s” is no longer mapped.") % {"name": name}
    elif created:
        text = _("Employee “%(employee)s” created and “%(name)s” mapped to them.") % {
            "employee": employee, "name": name
        }
    else:
        text = _("“%(name)s” mapped to employee “%(employee)s”.") % {"name": name, "employee": employee}
    messages.success(request, f"{text} {_days_message(changed)}")
    return HttpResponseRedirect(back)


# --- reconciliation with REGOS ---------------------------------------------------------------------

RUN_RECONCILIATION = "sync.run_reconciliation"
VIEW_RECONCILIATION = "sync.view_reconciliationrun"


@require_http_methods(["GET", "POST"])
def reconciliation(request: HttpRequest) -> HttpResponse:
    """Recent reconciliation runs (accountants view); admins start one (queued like Sync now)."""
    _require(request, VIEW_RECONCILIATION, RUN_RECONCILIATION, any_of=True)
    can_run = request.user.has_perm(RUN_RECONCILIATION)
    if request.method == "POST":
        _require(request, RUN_RECONCILIATION)
        form = ReconcileForm(request.POST)
        if form.is_valid():
            run = services.reconciliation_request(
                date_from=form.cleaned_data["date_from"], date_to=form.cleaned_data["date_to"], user=request.user
            )
            services.reconciliation_run_enqueue(run=run)
            messages.success(request, _("Reconciliation started."))
            return redirect("sync_panel:reconciliation_run", run_id=run.pk)
    else:
        from payroll.dates import add_months, month_bounds, today

        first, last = month_bounds(add_months(today(), -1))
        form = ReconcileForm(initial={"date_from": first, "date_to": last})
    return _page(
        request, "sync/reconciliation.html", _("Reconciliation with REGOS"),
        form=form if can_run else None, runs=list(selectors.reconciliation_runs_recent()),
        worker_alive=worker_alive(),
    )


@dataclass(frozen=True)
class ReconciliationLine:
    row: ReconciliationRow
    branch: str
    facts_url: str  # our documents of this register/stock and range (the admin's facts list)


def _facts_url(row: ReconciliationRow) -> str:
    query = {
        "business_date__gte": row.date_from.isoformat(),
        "business_date__lt": (row.date_to + timedelta(days=1)).isoformat(),
    }
    if row.kind == ReconciliationRow.Kind.REGISTER:
        query |= {"operating_cash_id": str(row.regos_id), "source_kind__exact": SalesFact.Kind.CHEQUE}
    else:
        query |= {"stock": str(row.regos_id), "sale_type__exact": SalesFact.SaleType.WHOLESALE}
    return f"{reverse('admin:sync_salesfact_changelist')}?{urlencode(query)}"


@require_GET
def reconciliation_run(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    """One run: per branch and register (then stock) ✔ or ✘ with the difference, and the days bisection
    pinned, each linked to our documents of that register and day."""
    _require(request, VIEW_RECONCILIATION, RUN_RECONCILIATION, any_of=True)
    run = get_object_or_404(ReconciliationRun, pk=run_id)
    branches = dict(Branch.objects.values_list("id", "name"))
    lines = [
        ReconciliationLine(row, branches.get(row.branch_id, "") if row.branch_id else "", _facts_url(row))
        for row in run.rows.all()
    ]
    lines.sort(key=lambda line: (line.row.kind != "register", line.branch == "", line.branch,
                                 line.row.regos_id, line.row.level != "range", line.row.date_from))
    return _page(
        request, "sync/reconciliation_run.html", _("Reconciliation with REGOS"),
        run=run, lines=lines, worker_alive=worker_alive(),
    )
