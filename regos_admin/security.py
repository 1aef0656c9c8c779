"""Response headers and deployment notes the stock Django 5.2 does not provide.

* ``ContentSecurityPolicyMiddleware``: a Content-Security-Policy on every response. Scripts only from
  this site (no inline script exists in our templates or the admin's; nothing from a CDN). Inline
  *styles* stay allowed: two progress/legend widths are computed per row and the admin's change list
  writes a ``<style>`` block; a style cannot run code.
* ``silenced_deploy_warnings``: ``check --deploy`` hides HSTS (W004) and the HTTPS redirect (W008)
  when they are off on purpose (a LAN shop on plain HTTP); this check says so in its output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core import checks
from django.http import HttpRequest, HttpResponse

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # Django's DEBUG error page is all inline script and style: left usable in development.
        if not (settings.DEBUG and response.status_code >= 500):
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response


@checks.register(checks.Tags.security, deploy=True)
def silenced_deploy_warnings(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    silenced = set(getattr(settings, "SILENCED_SYSTEM_CHECKS", []))
    notes = []
    if "security.W004" in silenced:
        notes.append("security.W004 (HSTS) is silenced because DJANGO_HSTS_SECONDS=0")
    if "security.W008" in silenced:
        notes.append("security.W008 (HTTPS redirect) is silenced because DJANGO_SECURE_SSL_REDIRECT=false")
    if not notes:
        return []
    return [checks.Info(
        "; ".join(notes) + ": right only for plain HTTP on a trusted LAN.",
        hint="Behind HTTPS set DJANGO_HSTS_SECONDS and DJANGO_SECURE_SSL_REDIRECT=true (README, Production).",
        id="regos_admin.I001",
    )]
