"""Changelist query strings may only use the lookups the page's own filters offer.

Django's ``ModelAdmin.lookup_allowed`` lets any lookup on a local field through, so an accountant could
put ``?regos_id__regex=<a backtracking pattern>`` in a changelist URL and have the database run it over
every row (61 s per request on SQLite, a frozen server with a few in parallel). ``FilterLookupsOnly``
turns that around: the allowed parameters are exactly those the list filters and the date hierarchy
generate (plus Django's own raw-id popup lookups); anything else is answered 400 with a message saying
so, before a queryset is built. Bad *values* of allowed lookups (``?business_date__gte=garbage``) keep
Django's behaviour: the changelist redirects with ``?e=1``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.filters import FieldListFilter, ListFilter, SimpleListFilter
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.admin.views.main import ERROR_FLAG, IGNORED_PARAMS, PAGE_VAR
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils.translation import gettext as _

DATE_PARTS = ("year", "month", "day")
# Django builds date-hierarchy bounds with datetime(): year 9999 overflows when it adds a year.
MIN_YEAR, MAX_YEAR = 1, 9998


def filter_lookups(model_admin: admin.ModelAdmin, request: HttpRequest) -> frozenset[str]:
    """The query-string parameters this changelist's filters and date hierarchy generate."""
    allowed: set[str] = set()
    for item in model_admin.get_list_filter(request):
        if isinstance(item, type) and issubclass(item, SimpleListFilter):
            # Its parameter is a name the filter interprets itself, not a field lookup.
            allowed.add(str(getattr(item, "parameter_name", "")))
            continue
        if isinstance(item, type) and issubclass(item, ListFilter):
            allowed.update(item(request, {}, model_admin.model, model_admin).expected_parameters() or [])
            continue
        path, make = (item[0], item[1]) if isinstance(item, tuple | list) else (item, FieldListFilter.create)
        field = get_fields_from_path(model_admin.model, path)[-1]
        spec = make(field, request, {}, model_admin.model, model_admin, field_path=path)
        allowed.update(spec.expected_parameters() or [])
    if model_admin.date_hierarchy:
        allowed.update(f"{model_admin.date_hierarchy}__{part}" for part in DATE_PARTS)
    return frozenset(allowed)


def _fk_popup_lookup(model_admin: admin.ModelAdmin, lookup: str, value: str) -> bool:
    from django.contrib.admin import widgets

    for fk_lookup in model_admin.model._meta.related_fkey_lookups:
        if callable(fk_lookup):
            fk_lookup = fk_lookup()
        if (lookup, value) in widgets.url_params_from_lookup_dict(fk_lookup).items():
            return True
    return False


class FilterLookupsOnly:
    """ModelAdmin mixin: only filter-generated lookups reach the database (see the module docstring)."""

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        model_admin: Any = self
        if request is None:
            return False
        cache = request.__dict__.setdefault("_regos_filter_lookups", {})
        key = type(self).__qualname__
        if key not in cache:
            cache[key] = filter_lookups(model_admin, request)
        return lookup in cache[key] or _fk_popup_lookup(model_admin, lookup, value)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        refusal = self._refuse_unknown_lookups(request)
        if refusal is not None:
            return refusal
        try:
            return super().changelist_view(request, extra_context)  # type: ignore[misc]
        except DisallowedModelAdminLookup:  # a check we missed above: still no query, still a clear 400
            return _bad_request(_("This filter is not offered on this page."))

    def _refuse_unknown_lookups(self, request: HttpRequest) -> HttpResponse | None:
        model_admin: Any = self
        if not model_admin.has_view_or_change_permission(request):
            return None  # Django answers 403 itself; say nothing about filters to who may not look
        hierarchy = model_admin.date_hierarchy
        for name, values in request.GET.lists():
            if name in IGNORED_PARAMS or name in (PAGE_VAR, ERROR_FLAG):
                continue
            for value in values:
                if not self.lookup_allowed(name, value, request):
                    return _bad_request(
                        _("Filtering by “%(lookup)s” is not offered on this page: use the filters in the "
                          "sidebar.") % {"lookup": name[:100]}
                    )
            if hierarchy and name == f"{hierarchy}__year" and not _year_in_range(values):
                return _bad_request(
                    _("The year must be a number from %(min)s to %(max)s.") % {"min": MIN_YEAR, "max": MAX_YEAR}
                )
        return None


def filter_lookups_everywhere(site: admin.AdminSite) -> list[str]:
    """Apply ``FilterLookupsOnly`` to every admin registered on ``site`` that lacks it.

    Our own admins inherit the mixin; Django's (User, Group) and django-q2's (tasks, schedules, queue)
    are re-registered here with it mixed in, so one rule covers every changelist. Returns the
    re-registered models' labels.
    """
    wrapped = []
    for model, model_admin in list(site._registry.items()):
        if isinstance(model_admin, FilterLookupsOnly):
            continue
        base = type(model_admin)
        guarded = type(base.__name__, (FilterLookupsOnly, base), {"__module__": base.__module__})
        site.unregister(model)
        site.register(model, guarded)
        wrapped.append(model._meta.label_lower)
    return wrapped


def _year_in_range(values: list[str]) -> bool:
    try:
        year = int(values[-1])
    except (ValueError, IndexError):
        return True  # not a number: Django's own IncorrectLookupParameters → ?e=1
    return MIN_YEAR <= year <= MAX_YEAR


def _bad_request(message: str) -> HttpResponse:
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")

