"""Report pages, mounted at /reports/ before the admin's catch-all (see regos_admin/urls.py)."""

from __future__ import annotations

from django.urls import path, register_converter

from payroll import views

app_name = "reports"


class ObjectIdConverter:
    """A document's key (payroll.fields.DocumentIdField): 24 lower-case hex digits."""

    regex = "[0-9a-f]{24}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: object) -> str:
        return str(value)


register_converter(ObjectIdConverter, "objectid")

urlpatterns = [
    path("history/", views.history, name="history"),
    path(
        "history/<str:day>/<objectid:branch_id>/<str:employee_key>/",
        views.history_facts,
        name="history_facts",
    ),
    path("history/export.csv", views.history_export, {"fmt": "csv"}, name="history_export_csv"),
    path("history/export.xlsx", views.history_export, {"fmt": "xlsx"}, name="history_export_xlsx"),
    path("summary/", views.summary, name="summary"),
    path("summary/export.csv", views.summary_export, {"fmt": "csv"}, name="summary_export_csv"),
    path("summary/export.xlsx", views.summary_export, {"fmt": "xlsx"}, name="summary_export_xlsx"),
    path("periods/", views.periods, name="periods"),
    path("periods/changes/", views.period_changes, name="period_changes"),
    path("periods/<str:month>/close/", views.period_close, name="period_close"),
    path("periods/<str:month>/reopen/", views.period_reopen, name="period_reopen"),
    path("periods/<str:month>/register.xlsx", views.period_export, name="period_export"),
    # The machine format of export_sales over HTTP (fixed: other programs read it).
    path("export.csv", views.export, {"fmt": "csv"}, name="export_csv"),
    path("export.xlsx", views.export, {"fmt": "xlsx"}, name="export_xlsx"),
]
