"""``{% sync_now_box %}``: the Sync now box (admin index, runs list), with its form and worker warning."""

from __future__ import annotations

import re

from django import template
from django.utils.formats import number_format
from django.utils.translation import gettext, ngettext

register = template.Library()

MAPPING_VIEW_PERMS = (
    "sync.view_stockmapping", "sync.view_sellermapping", "sync.change_stockmapping", "sync.change_sellermapping",
)


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


@register.inclusion_tag("sync/_backlog.html", takes_context=True)
def mapping_backlog(context: template.Context) -> dict[str, object]:
    """"564 documents (322,952,155.53 UZS) wait for mapping" with a link to Unmapped sales; nothing
    when nothing waits or the reader may not see runs or mappings."""
    request = context.get("request")
    user = getattr(request, "user", None)
    perms = ("sync.view_syncrun", "sync.run_sync", *MAPPING_VIEW_PERMS)
    if user is None or not any(user.has_perm(p) for p in perms):
        return {}
    from payroll.admin import money
    from sync.selectors import mapping_backlog as backlog_get

    backlog = backlog_get()
    if not backlog.documents:
        return {}
    text = ngettext(
        "%(count)s document (%(amount)s UZS) waits for mapping.",
        "%(count)s documents (%(amount)s UZS) wait for mapping.",
        backlog.documents,
    ) % {"count": number_format(backlog.documents, force_grouping=True), "amount": money(backlog.amount)}
    return {
        "backlog_text": text,
        "backlog_link": any(user.has_perm(p) for p in MAPPING_VIEW_PERMS),
    }
