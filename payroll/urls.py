"""Report pages, mounted at /reports/ before the admin's catch-all (see regos_admin/urls.py)."""

from __future__ import annotations

from django.urls import path

from payroll import views

app_name = "reports"

urlpatterns = [
    path("history/", views.history, name="history"),
    path(
        "history/<str:day>/<uuid:branch_id>/<str:employee_key>/",
        views.history_facts,
        name="history_facts",
    ),
    path("summary/", views.summary, name="summary"),
    path("export.csv", views.export, {"fmt": "csv"}, name="export_csv"),
    path("export.xlsx", views.export, {"fmt": "xlsx"}, name="export_xlsx"),
]
