"""Sales-history reports for accountants and admins, rendered inside the admin's look.

Views stay thin: parse the query string with a form, call selectors, render. Every view needs a staff
login (others go to the admin login) plus ``payroll.view_reports`` (exports: ``payroll.export_sales``);
missing permission is a 403. Bad query strings render the form with its errors (status 400).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import date
from functools import wraps

from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from payroll import dates, presenters, selectors, services
from payroll.exports import (
    CSV_CONTENT_TYPE,
    XLSX_CONTENT_TYPE,
    ReportTable,
    csv_lines,
    export_filename,
    history_report,
    period_register_reports,
    report_csv_chunks,
    report_filename,
    summary_reports,
    write_report_xlsx,
    write_xlsx,
)
from payroll.fields import is_object_id
from payroll.forms import (
    SUMMARY_TABLES,
    ClosePeriodForm,
    HistoryFilterForm,
    MonthForm,
    ReopenPeriodForm,
    SummaryExportForm,
)
from payroll.models import UNASSIGNED, Branch, DailySalesHistory, Employee, PayrollPeriod, PeriodTransition

ROWS_PER_PAGE = 50
VIEW_REPORTS = "payroll.view_reports"
EXPORT_SALES = "payroll.export_sales"


def permission_required(permission: str) -> Callable:
    """Staff login first (others go to the admin login), then 403 without ``permission``."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:  # type: ignore[no-untyped-def]
            if not request.user.has_perm(permission):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        # Figures change with every sync: never served from a browser or proxy cache, like admin views.
        return staff_member_required(never_cache(checked))

    return decorator


def _page_context(request: HttpRequest, title: str, **extra: object) -> dict:
    return {**admin.site.each_context(request), "title": title, **extra}


# --------------------------------------------------------------------------- history


@require_GET
@permission_required(VIEW_REPORTS)
def history(request: HttpRequest) -> HttpResponse:
    form = HistoryFilterForm(request.GET)
    if not form.is_valid():
        return _invalid_filters(request, form)
    first, last = form.cleaned_data["date_from"], form.cleaned_data["date_to"]
    filters = form.filters()
    sale_type = filters.get("sale_type")
    query = form.query_string()
    overview = selectors.history_overview(date_from=first, date_to=last, **filters)
    incomplete = selectors.history_incomplete_days(date_from=first, date_to=last)
    rows = selectors.history_rows(date_from=first, date_to=last, **filters)
    page = CountedPaginator(rows, ROWS_PER_PAGE, count=overview.rows).get_page(request.GET.get("page"))
    form.show_effective_filters()
    # Figures leave here as text: the templates print them without filters (see payroll/presenters.py).
    printer = presenters.Printer()
    context = _page_context(
        request, _("Sales history"),
        form=form,
        date_from=first,
        date_to=last,
        sale_type=sale_type,
        page_obj=page,
        rows=[
            (presenters.row_line(row, printer, quarantined=incomplete.get(row.date, 0)), _facts_url(row, query))
            for row in selectors.as_history_rows(page.object_list, sale_type=sale_type)
        ],
        overview=overview,
        tables=presenters.history_tables(overview, printer),
        incomplete_days=presenters.incomplete_days(incomplete, printer, url=_quarantine_url(request)),
        chart=presenters.history_chart(overview.daily, printer),
        query=query,
        **_export_links(request, query),
        **_mapping_links(request),
    )
    return render(request, "payroll/history.html", context)


def _quarantine_url(request: HttpRequest) -> str:
    """The quarantined documents' list, for users allowed to see it (accountants are)."""
    if request.user.has_perm("sync.view_quarantineddocument"):
        return reverse("admin:sync_quarantineddocument_changelist")
    return ""


class CountedPaginator(Paginator):
    """A paginator told the number of rows: the overview has just counted the same filtered set, so a
    second COUNT(*) over a month of history would only repeat it."""

    def __init__(self, object_list: QuerySet, per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self._count = count

    @cached_property
    def count(self) -> int:
        return self._count


def _facts_url(row: selectors.HistoryRow, query: str) -> str:
    url = reverse("reports:history_facts", args=[row.date.isoformat(), row.branch_id, row.employee_key])
    return f"{url}?{query}"


def _export_links(request: HttpRequest, query: str) -> dict:
    """The history's Export buttons: the panel report of the filtered view (not the machine format)."""
    if not request.user.has_perm(EXPORT_SALES):
        return {"export_links": []}
    return {
        "export_links": [
            ("regos-export-csv", f"{reverse('reports:history_export_csv')}?{query}", _("Export CSV")),
            ("regos-export-xlsx", f"{reverse('reports:history_export_xlsx')}?{query}", _("Export XLSX")),
        ]
    }


def _summary_export_links(request: HttpRequest, month: date) -> dict:
    """The summary's Export buttons: the whole summary as XLSX, or one table per CSV file."""
    if not request.user.has_perm(EXPORT_SALES):
        return {"export_links": []}
    query = f"month={month:%Y-%m}"
    tables = {"employees": _("Per employee"), "branches": _("Per branch"), "breakdown": _("Per employee and branch")}
    csv_url = reverse("reports:summary_export_csv")
    return {
        "export_links": [
            ("regos-export-xlsx", f"{reverse('reports:summary_export_xlsx')}?{query}", _("Export XLSX")),
            *(
                (f"regos-export-csv regos-export-csv-{name}", f"{csv_url}?{query}&table={name}",
                 _("CSV: %(table)s") % {"table": tables[name]})
                for name in SUMMARY_TABLES
            ),
        ]
    }


# Where an admin fixes an "unassigned" row: the panel's list of unmapped REGOS users, else the admin.
MAPPING_PAGES = ("sync_panel:unmapped", "admin:sync_sellermapping_changelist")


def _mapping_links(request: HttpRequest) -> dict:
    """Admin-only control: a link to map the REGOS user behind an "unassigned" row."""
    if not request.user.has_perm("sync.change_sellermapping"):
        return {"seller_mapping_url": None}
    for name in MAPPING_PAGES:
        try:
            return {"seller_mapping_url": reverse(name)}
        except NoReverseMatch:  # that page is not mounted in this build
            continue
    return {"seller_mapping_url": None}


def _invalid_filters(request: HttpRequest, form: HistoryFilterForm) -> HttpResponse:
    context = _page_context(request, _("Sales history"), form=form, invalid=True)
    return render(request, "payroll/history.html", context, status=400)


# --------------------------------------------------------------------------- drill-down


@require_GET
@permission_required(VIEW_REPORTS)
def history_facts(request: HttpRequest, day: str, branch_id: str, employee_key: str) -> HttpResponse:
    try:
        business_day = date.fromisoformat(day)
    except ValueError:
        raise Http404("bad date")
    if not dates.supported(business_day):
        raise Http404("bad date")
    branch = get_object_or_404(Branch, pk=branch_id)
    employee = None
    if employee_key != UNASSIGNED:
        if not is_object_id(employee_key):
            raise Http404("bad employee")
        employee = get_object_or_404(Employee, pk=employee_key)
    record = DailySalesHistory.objects.filter(
        date=business_day, branch=branch, employee_key=employee_key
    ).first()
    facts = selectors.history_facts(date=business_day, branch_id=branch.pk, employee_key=employee_key)
    user_names = selectors.regos_user_names(user_ids={f.attributed_user_id for f in facts})
    back_query = request.GET.urlencode()
    context = _page_context(
        request, _("Documents behind a history row"),
        business_day=business_day,
        branch=branch,
        employee=employee,
        row_figures=selectors.Figures.from_values(vars(record)) if record else None,
        facts_figures=selectors.facts_figures(facts),
        incomplete_days=presenters.incomplete_days(
            selectors.history_incomplete_days(date_from=business_day, date_to=business_day),
            presenters.Printer(), url=_quarantine_url(request),
        ),
        facts=[(fact, user_names.get(fact.attributed_user_id, "")) for fact in facts],
        back_url=f"{reverse('reports:history')}?{back_query}" if back_query else reverse("reports:history"),
        **_mapping_links(request),
    )
    return render(request, "payroll/history_facts.html", context)


# --------------------------------------------------------------------------- monthly summary


@require_GET
@permission_required(VIEW_REPORTS)
def summary(request: HttpRequest) -> HttpResponse:
    form = MonthForm(request.GET)
    if not form.is_valid():
        context = _page_context(request, _("Monthly summary"), form=form, invalid=True)
        return render(request, "payroll/summary.html", context, status=400)
    month = form.cleaned_data["month"]
    result = selectors.monthly_summary(month=month)
    form.data = QueryDict(f"month={month:%Y-%m}")
    previous, following = MonthForm.neighbours(month)
    query = f"date_from={result.date_from.isoformat()}&date_to={result.date_to.isoformat()}"
    context = _page_context(
        request, _("Monthly summary"),
        form=form,
        summary=result,
        previous_month=f"{previous:%Y-%m}",
        next_month=f"{following:%Y-%m}",
        history_url=f"{reverse('reports:history')}?{query}",
        **_summary_export_links(request, month),
    )
    return render(request, "payroll/summary.html", context)


# --------------------------------------------------------------------------- exports


@require_GET
@permission_required(EXPORT_SALES)
def export(request: HttpRequest, fmt: str) -> HttpResponse:
    """The filtered view as CSV or XLSX in exactly the machine format of ``manage.py export_sales``,
    for programs that fetch it over HTTP; people get the panel reports below."""
    form = HistoryFilterForm(request.GET)
    if not form.is_valid():
        return _invalid_filters(request, form)
    first, last = form.cleaned_data["date_from"], form.cleaned_data["date_to"]
    rows = selectors.export_rows(date_from=first, date_to=last, **form.filters())
    filename = export_filename(first, last, fmt)
    if fmt == "csv":
        response = StreamingHttpResponse(
            (line.encode() for line in csv_lines(rows)), content_type=CSV_CONTENT_TYPE
        )
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    # openpyxl needs a seekable file to finish the zip; small exports stay in memory.
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 — FileResponse closes it
    write_xlsx(rows, spool)
    spool.seek(0)
    return FileResponse(spool, as_attachment=True, filename=filename, content_type=XLSX_CONTENT_TYPE)


def _report_response(tables: list[ReportTable], fmt: str, filename: str) -> HttpResponse:
    if fmt == "csv":
        (table,) = tables  # one table per CSV file
        response = StreamingHttpResponse(report_csv_chunks(table), content_type=CSV_CONTENT_TYPE)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'  # ASCII by report_filename
        return response
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 — FileResponse closes it
    write_report_xlsx(tables, spool)
    spool.seek(0)
    return FileResponse(spool, as_attachment=True, filename=filename, content_type=XLSX_CONTENT_TYPE)


@require_GET
@permission_required(EXPORT_SALES)
def history_export(request: HttpRequest, fmt: str) -> HttpResponse:
    """The history page's Export: its filtered daily rows for people, in the reader's language."""
    form = HistoryFilterForm(request.GET)
    if not form.is_valid():
        return _invalid_filters(request, form)
    first, last = form.cleaned_data["date_from"], form.cleaned_data["date_to"]
    filters = form.filters()
    table = history_report(
        selectors.keyed_export_rows(date_from=first, date_to=last, **filters),
        totals=selectors.history_totals(date_from=first, date_to=last, **filters),
        unassigned=selectors.unassigned_users(
            date_from=first, date_to=last, branch_ids=filters.get("branch_ids"), sale_type=filters.get("sale_type")
        ),
    )
    data = form.cleaned_data
    employee = data.get("employee") or ""
    if employee and employee != UNASSIGNED:
        employee = Employee.objects.filter(pk=employee).values_list("full_name", flat=True).first() or employee
    filename = report_filename(
        "sales-history", first.isoformat(), last.isoformat(), data["branch"].name if data.get("branch") else "",
        employee, data.get("sale_type") or "", extension=fmt,
    )
    return _report_response([table], fmt, filename)


@require_GET
@permission_required(EXPORT_SALES)
def summary_export(request: HttpRequest, fmt: str) -> HttpResponse:
    """The monthly summary's Export: XLSX with a sheet per table, CSV one table (``?table=``)."""
    form = SummaryExportForm(request.GET)
    if not form.is_valid():
        context = _page_context(request, _("Monthly summary"), form=form, invalid=True)
        return render(request, "payroll/summary.html", context, status=400)
    month = form.cleaned_data["month"]
    result = selectors.monthly_summary(month=month)
    tables = summary_reports(
        result, unassigned=selectors.unassigned_users(date_from=result.date_from, date_to=result.date_to)
    )
    if fmt == "csv":
        name = form.cleaned_data["table"]
        return _report_response([tables[name]], fmt, report_filename("sales-summary", f"{month:%Y-%m}", name,
                                                                      extension=fmt))
    return _report_response(list(tables.values()), fmt, report_filename("sales-summary", f"{month:%Y-%m}",
                                                                          extension=fmt))


# --------------------------------------------------------------------------- payroll periods

CLOSE_PERIOD = "payroll.close_payrollperiod"


def _month(month: str) -> date:
    """``YYYY-MM`` of the URL → its first day; anything else is a 404."""
    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError:
        raise Http404("bad month")
    if len(month) != 7 or not dates.supported(first):
        raise Http404("bad month")
    return first


def _period_status(period: PayrollPeriod | None) -> str:
    if period is None:  # never closed: open
        return str(PayrollPeriod.Status(PayrollPeriod.Status.OPEN).label)
    return period.get_status_display()


@require_GET
@permission_required(VIEW_REPORTS)
def periods(request: HttpRequest) -> HttpResponse:
    can_close = request.user.has_perm(CLOSE_PERIOD)
    lines = [
        {
            "label": f"{line.month:%Y-%m}",
            "month": line.month,
            "period": line.period,
            "status": _period_status(line.period),
            "closed": bool(line.period and line.period.is_closed),
        }
        for line in selectors.periods_overview()
    ]
    context = _page_context(
        request, _("Payroll periods"), lines=lines, can_close=can_close,
        can_export=request.user.has_perm(EXPORT_SALES),
        transitions=PeriodTransition.objects.select_related("period")[:20],
    )
    return render(request, "payroll/periods.html", context)


@require_http_methods(["GET", "POST"])
@permission_required(CLOSE_PERIOD)
def period_close(request: HttpRequest, month: str) -> HttpResponse:
    first = _month(month)
    period = PayrollPeriod.objects.filter(month=month).first()
    if period is not None and period.is_closed:
        messages.info(request, _("%(month)s is already closed.") % {"month": month})
        return redirect("reports:periods")
    problems = selectors.period_readiness(month=first)
    form = ClosePeriodForm(request.POST or None, problems=len(problems))
    if request.method == "POST" and form.is_valid():
        try:
            services.period_close(
                month=first, username=request.user.get_username(), problems=[str(p) for p in problems],
                confirmed=bool(form.cleaned_data.get("confirm")), note=form.cleaned_data["note"],
            )
        except services.PeriodError:
            messages.error(request, _("The period changed meanwhile; nothing was done. Check it and try again."))
        else:
            messages.success(request, _("%(month)s is closed.") % {"month": month})
        return redirect("reports:periods")
    register = selectors.period_register(month=first)
    context = _page_context(
        request, _("Close %(month)s") % {"month": month},
        month=month, problems=problems, form=form, register=register,
    )
    return render(request, "payroll/period_close.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@permission_required(CLOSE_PERIOD)
def period_reopen(request: HttpRequest, month: str) -> HttpResponse:
    _month(month)
    period = PayrollPeriod.objects.filter(month=month).first()
    if period is None or not period.is_closed:
        messages.info(request, _("%(month)s is not closed.") % {"month": month})
        return redirect("reports:periods")
    form = ReopenPeriodForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.period_reopen(
                month=_month(month), username=request.user.get_username(), reason=form.cleaned_data["reason"]
            )
        except services.PeriodError:
            messages.error(request, _("The period changed meanwhile; nothing was done. Check it and try again."))
        else:
            messages.success(request, _("%(month)s is open again.") % {"month": month})
        return redirect("reports:periods")
    context = _page_context(request, _("Reopen %(month)s") % {"month": month}, month=month, period=period, form=form)
    return render(request, "payroll/period_reopen.html", context, status=400 if form.errors else 200)


@require_GET
@permission_required(VIEW_REPORTS)
def period_changes(request: HttpRequest) -> HttpResponse:
    month = request.GET.get("month") or ""
    if month:
        _month(month)
    context = _page_context(
        request, _("Changes after close"), month=month,
        adjustments=selectors.adjustment_lines(month=month or None),
    )
    return render(request, "payroll/period_changes.html", context)


@require_GET
@permission_required(EXPORT_SALES)
def period_export(request: HttpRequest, month: str) -> HttpResponse:
    register = selectors.period_register(month=_month(month))
    return _report_response(period_register_reports(register), "xlsx",
                            report_filename("payroll-register", month, extension="xlsx"))
