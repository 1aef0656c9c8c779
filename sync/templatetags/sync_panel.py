"""``{% sync_now_box %}``: the Sync now box (admin index, runs list), with its form and worker warning."""

from __future__ import annotations

import re

from django import template
from django.utils.translation import gettext, ngettext

register = template.Library()


@register.inclusion_tag("sync/_sync_now_box.html", takes_context=True)
def sync_now_box(context: template.Context) -> dict[str, object]:
    request = context.get("request")
    if request is None or not getattr(request, "user", None) or not request.user.has_perm("sync.run_sync"):
        return {"can_sync": False}
    from sync.views import sync_now_context

    # An inclusion tag's template gets a fresh context: hand over what the form needs.
    return {**sync_now_context(request), "request": request, "csrf_token": context.get("csrf_token")}


_RETRIED = re.compile(r"REGOS rate limit: retried (\d+) times\. (.*)", re.DOTALL)


@register.filter
def regos_hint(value: str) -> str:
    """Translate a stored run hint (kept as its English msgid) into the current language."""
    if not value:
        return ""
    match = _RETRIED.fullmatch(value)
    if match:
        original = f"REGOS rate limit: {match[2]}"
        retried = ngettext("Retried %(count)s time.", "Retried %(count)s times.", int(match[1])) % {
            "count": match[1]
        }
        return f"{gettext(original)} {retried}"
    return gettext(value)
