"""The 403 pages: in the panel's layout and the reader's language, with a way back.

``handler403`` (``regos_admin.urls``) serves every PermissionDenied, the admin's included;
``CSRF_FAILURE_VIEW`` the refused form posts (an expired page or blocked cookies, not an attack
in practice). Both are plain renders: no database writes, nothing of the refused request echoed.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _


def _back_url(request: HttpRequest) -> str:
    referer = request.META.get("HTTP_REFERER", "")
    if referer and referer != request.build_absolute_uri() and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return referer
    return reverse("admin:index")


def _page(request: HttpRequest, *, title: str, message: str, csrf: bool = False) -> HttpResponse:
    context: dict[str, object] = {"title": title, "message": message, "back_url": _back_url(request),
                                  "csrf_failure": csrf}
    if getattr(request, "user", None) is not None:
        context = {**admin.site.each_context(request), **context}
    return render(request, "403.html", context, status=403)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(request, title=_("Access denied"),
                 message=_("Your account does not have permission to open this page. Ask an administrator "
                           "if you need it."))


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _page(request, title=_("The form has expired"), csrf=True,
                 message=_("The page was open too long or your browser blocked cookies, so the form could not "
                           "be accepted. Go back, reload the page and try again."))
