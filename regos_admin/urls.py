from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    # Before the admin's catch-all: the sync app's public endpoints (/health/, /regos/webhook/) and
    # panel pages, and the accountants' report pages.
    path("", include("sync.urls")),
    path("reports/", include("payroll.urls")),
    path("sync/", include("sync.panel_urls")),
    path("", admin.site.urls),
]

# PermissionDenied anywhere (the admin's too) gets the panel's translated 403 page with a way back.
handler403 = "regos_admin.errors.permission_denied"
