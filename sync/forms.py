"""Forms of the sync pages: Sync now and the mapping rows. Every bad input is a form error, never a 500."""

from __future__ import annotations

from datetime import date

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from payroll import dates
from payroll.models import Branch, Employee


class DateInput(forms.DateInput):
    # The browser's date picker posts and expects ISO dates, whatever the UI language.
    input_type = "date"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%d")


class IsoDateField(forms.DateField):
    """A date as YYYY-MM-DD only (what ``<input type="date">`` sends), with a message saying so."""

    input_formats = ["%Y-%m-%d"]
    default_error_messages = {"invalid": _("Enter a date as YYYY-MM-DD, e.g. 2026-11-24.")}

    def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("widget", DateInput())
        super().__init__(**kwargs)

    def to_python(self, value: object) -> date | None:
        if isinstance(value, str):
            value = value.strip()
            if len(value) > 10:  # "99999-01-01", a pasted paragraph: not a date, and not worth parsing
                raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class ModelChoice(forms.ModelChoiceField):
    """A model choice whose every bad value (not a UUID, no such row) gets the field's one message."""

    def to_python(self, value: object):  # type: ignore[no-untyped-def]
        try:
            return super().to_python(value)
        except forms.ValidationError as exc:
            raise forms.ValidationError(self.error_messages["invalid_choice"], code="invalid_choice") from exc


def max_days() -> int:
    return int(settings.REGOS_SYNC_MAX_DAYS)


def default_window() -> tuple[date, date]:
    """The lookback window ending today in Tashkent: what a scheduled run re-pulls."""
    return dates.lookback_window(int(settings.REGOS_LOOKBACK_DAYS))


class SyncNowForm(forms.Form):
    """The range (inclusive business days) of a "Sync now".

    No branch choice: DocCheque/Get has no stock filter, so a run always reads every store's cheques;
    offering a branch only made the run report all branches' documents under one branch's name."""

    date_from = IsoDateField(label=_("From"))
    date_to = IsoDateField(label=_("To"))
    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        if not args and "data" not in kwargs:
            first, last = default_window()
            kwargs.setdefault("initial", {"date_from": first, "date_to": last})
        super().__init__(*args, **kwargs)
        self.fields["date_to"].help_text = _(
            "Inclusive business days (Asia/Tashkent); at most %(days)s days, not after today."
        ) % {"days": max_days()}

    def clean(self) -> dict:
        data = super().clean()
        first, last = data.get("date_from"), data.get("date_to")
        if first is None or last is None:
            return data
        if last < first:
            raise forms.ValidationError(
                _("The end date %(to)s is before the start date %(from)s."),
                code="reversed", params={"from": dates.shown(first), "to": dates.shown(last)},
            )
        count = (last - first).days + 1
        limit = max_days()
        if count > limit:
            raise forms.ValidationError(
                _("The range has %(count)s days; at most %(limit)s days can be synced at once."),
                code="too_long", params={"count": count, "limit": limit},
            )
        today = dates.today()
        if last > today:
            raise forms.ValidationError(
                _("The end date %(to)s is in the future (today in Tashkent is %(today)s)."),
                code="future", params={"to": dates.shown(last), "today": dates.shown(today)},
            )
        return data


class StockMapForm(forms.Form):
    """Map one REGOS stock to an existing branch (empty: unmap it)."""

    branch = ModelChoice(
        label=_("Branch"), queryset=Branch.objects.all(), required=False, empty_label=_("— not mapped —"),
        error_messages={"invalid_choice": _("No such branch: choose one from the list.")},
    )


class SellerMapForm(forms.Form):
    """Map one REGOS user to an existing employee (empty: unmap them)."""

    employee = ModelChoice(
        label=_("Employee"), queryset=Employee.objects.all(), required=False,
        empty_label=_("— not mapped —"),
        error_messages={"invalid_choice": _("No such employee: choose one from the list.")},
    )


class ReconcileForm(forms.Form):
    """A reconciliation range: one REGOS report window (≤ 1 month), defaulting to last month."""

    date_from = IsoDateField(label=_("From"))
    date_to = IsoDateField(label=_("To"))

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        first, last = data.get("date_from"), data.get("date_to")
        if isinstance(first, date) and isinstance(last, date):
            from sync.regos.client import month_windows

            if last < first:
                raise forms.ValidationError(_("The end date is before the start date."))
            if len(month_windows(first, last)) != 1:
                raise forms.ValidationError(_("REGOS reports at most one month at a time: choose a shorter range."))
        return data
