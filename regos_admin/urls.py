from django.contrib import admin
from django.urls import include, path

from regos_admin.admin_lookups import filter_lookups_everywhere

# Every admin module is imported by now (admin's autodiscover): Django's and django-q2's admins get
# the same rule as ours — only the lookups a page's filters offer reach the database.
filter_lookups_everywhere(admin.site)

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    # Before the admin's catch-all: the sync app's public endpoints (/health/, /regos/webhook/) and
    # panel pages, and the accountants' report pages.
    path("", include("sync.urls")),
    path("reports/", include("payroll.urls")),
    path("sync/", include("sync.panel_urls")),
    path("", admin.site.urls),
]
