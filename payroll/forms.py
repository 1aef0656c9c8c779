"""Query-string forms of the reports. Every bad input becomes a form error, never a 500."""

from __future__ import annotations

import re
from datetime import date, timedelta

from django import forms
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from payroll import dates
from payroll.models import UNASSIGNED, Branch, Employee
from payroll.selectors import HistoryFilters

MAX_RANGE_DAYS = 366


class DateInput(forms.DateInput):
    # The browser's date picker posts and expects ISO dates, whatever the UI language.
    input_type = "date"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%d")


class BusinessDateField(forms.DateField):
    """A date within ``dates.FIRST_DAY``..``dates.LAST_DAY``: outside it, day arithmetic overflows."""

    def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self.error_messages["out_of_range"] = _("Enter a date between %(first)s and %(last)s.")

    def validate(self, value: date | None) -> None:
        super().validate(value)
        if value is not None and not dates.supported(value):
            raise forms.ValidationError(
                self.error_messages["out_of_range"], code="out_of_range",
                params={"first": dates.shown(dates.FIRST_DAY), "last": dates.shown(dates.LAST_DAY)},
            )


class BranchChoiceField(forms.ModelChoiceField):
    def to_python(self, value):  # type: ignore[no-untyped-def]
        # A malformed id is the same mistake as an unknown one: one message for both.
        try:
            return super().to_python(value)
        except forms.ValidationError:
            raise forms.ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")


class HistoryFilterForm(forms.Form):
    """Filters of the history page and of its exports. Missing dates mean the month so far."""

    date_from = BusinessDateField(label=_("From"), required=False, widget=DateInput())
    date_to = BusinessDateField(label=_("To"), required=False, widget=DateInput())
    branch = BranchChoiceField(
        label=_("Branch"), queryset=Branch.objects.all(), required=False, empty_label=_("All branches"),
        error_messages={"invalid_choice": _("No such branch: choose one from the list.")},
    )
    employee = forms.ChoiceField(label=_("Employee"), required=False)
    sale_type = forms.ChoiceField(
        label=_("Sale type"), required=False,
        choices=[("", _("Retail and wholesale")), ("retail", _("Retail")), ("wholesale", _("Wholesale"))],
    )

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        employees = [(str(pk), name) for pk, name in Employee.objects.values_list("id", "full_name")]
        self.fields["employee"].choices = [
            ("", _("All employees")), (UNASSIGNED, _("(unassigned)")), *employees
        ]
        self.fields["employee"].error_messages["invalid_choice"] = _(
            "No such employee: choose one from the list."
        )

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        today = dates.today()
        first = data.get("date_from") or dates.month_bounds(data.get("date_to") or today)[0]
        last = data.get("date_to") or max(first, min(today, dates.month_bounds(first)[1]))
        if last < first:
            raise forms.ValidationError(
                _("The end date %(to)s is before the start date %(from)s."),
                code="reversed", params={"from": dates.shown(first), "to": dates.shown(last)},
            )
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            raise forms.ValidationError(
                _("Choose at most %(days)s days at a time."),
                code="too_long", params={"days": MAX_RANGE_DAYS},
            )
        data["date_from"], data["date_to"] = first, last
        return data

    def filters(self) -> HistoryFilters:
        """The cleaned form as selector keyword arguments (besides the dates)."""
        data = self.cleaned_data
        filters: HistoryFilters = {"sale_type": data.get("sale_type") or None}
        if data.get("branch"):
            filters["branch_ids"] = [data["branch"].pk]
        employee = data.get("employee")
        if employee == UNASSIGNED:
            filters["unassigned_only"] = True
        elif employee:
            filters["employee_ids"] = [employee]
        return filters

    def show_effective_filters(self) -> None:
        """Re-render the inputs with the dates actually used (e.g. the month-so-far default), not blanks."""
        self.data = QueryDict(self.query_string())

    def query_string(self) -> str:
        """The cleaned filters as a query string (dates made explicit), for export and page links."""
        data = self.cleaned_data
        query = QueryDict(mutable=True)
        query["date_from"] = data["date_from"].isoformat()
        query["date_to"] = data["date_to"].isoformat()
        if data.get("branch"):
            query["branch"] = str(data["branch"].pk)
        for name in ("employee", "sale_type"):
            if data.get(name):
                query[name] = data[name]
        return query.urlencode()


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class MonthField(forms.CharField):
    """``YYYY-MM`` (what ``<input type="month">`` sends) → the month's first day."""

    widget = forms.TextInput(attrs={"type": "month"})
    default_error_messages = {"invalid": _("Enter a month as YYYY-MM, e.g. 2026-11.")}

    def to_python(self, value: str) -> date | None:
        value = super().to_python(value).strip()
        if not value:
            return None
        match = _MONTH.match(value)
        if not match:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        year, month = int(match[1]), int(match[2])
        if not (1 <= month <= 12 and dates.FIRST_DAY.year <= year <= dates.LAST_DAY.year):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return date(year, month, 1)

    def prepare_value(self, value: object) -> object:
        return value.strftime("%Y-%m") if isinstance(value, date) else value


class MonthForm(forms.Form):
    month = MonthField(label=_("Month"), required=False)

    def clean_month(self) -> date:
        return self.cleaned_data.get("month") or dates.payroll_month()

    @staticmethod
    def neighbours(month: date) -> tuple[date, date]:
        previous = (month - timedelta(days=1)).replace(day=1)
        following = dates.month_bounds(month)[1] + timedelta(days=1)
        return previous, following


SUMMARY_TABLES = ("employees", "branches", "breakdown")


class SummaryExportForm(MonthForm):
    """The summary's month, and for CSV (one table per file) which table: per employee (the default),
    per branch, or the employee × branch breakdown."""

    table = forms.ChoiceField(
        label=_("Table"), required=False,
        choices=[("", "")] + [(name, name) for name in SUMMARY_TABLES],
    )

    def clean_table(self) -> str:
        return self.cleaned_data.get("table") or SUMMARY_TABLES[0]


class ClosePeriodForm(forms.Form):
    """Closing a month: a month with problems needs the explicit confirmation (it is recorded)."""

    confirm = forms.BooleanField(
        label=_("I have read the list above and close the month anyway."), required=False
    )
    note = forms.CharField(label=_("Note (optional)"), required=False, max_length=1000,
                           widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, problems: int = 0, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.problems = problems
        if not problems:
            del self.fields["confirm"]

    def clean_confirm(self) -> bool:
        confirmed = bool(self.cleaned_data.get("confirm"))
        if self.problems and not confirmed:
            raise forms.ValidationError(
                _("The month is not ready: confirm that you close it anyway."), code="confirm"
            )
        return confirmed


class ReopenPeriodForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=1000, widget=forms.Textarea(attrs={"rows": 3}))

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("Say why the month is reopened."), code="required")
        return reason
