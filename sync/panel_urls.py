"""The sync pages of the panel (Sync now, runs, mappings), under /sync/. Staff login required everywhere."""

from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, path

from sync import views

app_name = "sync_panel"


def staff(view):  # type: ignore[no-untyped-def]
    # The admin's own wrapper: staff login (else the admin login page), CSRF protection, never cached.
    return admin.site.admin_view(view)


urlpatterns: list[URLPattern | URLResolver] = [
    path("now/", staff(views.sync_now), name="sync_now"),
    path("runs/<uuid:run_id>/", staff(views.run_detail), name="run"),
    path("runs/<uuid:run_id>/status.json", staff(views.run_status), name="run_status"),
    path("runs/<uuid:run_id>/retry/", staff(views.run_retry), name="run_retry"),
    path("reconciliation/", staff(views.reconciliation), name="reconciliation"),
    path("reconciliation/<uuid:run_id>/", staff(views.reconciliation_run), name="reconciliation_run"),
    path("mappings/", staff(views.mappings), name="mappings"),
    path("mappings/unmapped/", staff(views.unmapped), name="unmapped"),
    path("mappings/bulk/", staff(views.bulk_mappings), name="bulk"),
    path("mappings/discover/", staff(views.discover), name="discover"),
    path("mappings/stocks/<int:regos_stock_id>/", staff(views.stock_map), name="stock_map"),
    path("mappings/users/<int:regos_user_id>/", staff(views.seller_map), name="seller_map"),
]
