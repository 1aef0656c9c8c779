from django.contrib import admin
from django.contrib.contenttypes import views as contenttype_views
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import include, path
from django.utils.translation import gettext as _

from regos_admin.admin_lookups import filter_lookups_everywhere


def view_on_site(request: HttpRequest, content_type_id: str, object_id: str) -> HttpResponse:
    """The admin's ``/r/<content type>/<id>/``: an id our UUID/ObjectId keys reject is a 404, not a 500
    (Django's view only expects a ValueError from a bad id)."""
    try:
        return contenttype_views.shortcut(request, content_type_id, object_id)
    except ValidationError:
        raise Http404(_("There is no such object: the address is not valid.")) from None


# Every admin module is imported by now (admin's autodiscover): Django's and django-q2's admins get
# the same rule as ours — only the lookups a page's filters offer reach the database.
filter_lookups_everywhere(admin.site)

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    # Before the admin's own, with the same staff-only wrapping.
    path("r/<path:content_type_id>/<path:object_id>/", admin.site.admin_view(view_on_site)),
    # Before the admin's catch-all: the sync app's public endpoints (/health/, /regos/webhook/) and
    # panel pages, and the accountants' report pages.
    path("", include("sync.urls")),
    path("reports/", include("payroll.urls")),
    path("sync/", include("sync.panel_urls")),
    path("", admin.site.urls),
]

# PermissionDenied anywhere (the admin's too) gets the panel's translated 403 page with a way back.
handler403 = "regos_admin.errors.permission_denied"
