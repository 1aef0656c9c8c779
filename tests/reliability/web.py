"""The panel as an attacker sees it: every URL of the URLconf made concrete, every POST endpoint with a
real object behind it, and a dump of every table to prove a refused request wrote nothing."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver, reverse

# Endpoints that answer without a session, on purpose.
PUBLIC = {
    "sync:health": "monitoring: 200/503, no secrets",
    "sync:webhook": "REGOS → us: authenticated by the integration key in the body, not a session",
    "sync:webhook-secret": "same, under the secret path",
    "admin:login": "the login page itself",
    "admin:logout": "logging out (POST only): ends a session, shows no data",
    "set_language": "the language switcher of the login page (a cookie, no data)",
}
# POSTs any logged-in user may make about their own session (not data writes).
OWN_SESSION = {"admin:logout", "admin:password_change", "set_language"}

_SAMPLE = {"uuid": str(uuid.UUID(int=7)), "int": "1", "str": "x", "path": "1", "slug": "x"}


@dataclass(frozen=True)
class Route:
    name: str  # "namespace:name", or the view's dotted path for unnamed patterns
    url: str  # a concrete URL with sample arguments


def _concrete(pattern: str) -> str:
    text = re.sub(r"<(?:(\w+):)?\w+>", lambda m: _SAMPLE.get(m.group(1) or "str", "x"), pattern)
    if text.startswith("^") or "(?P<" in text:  # regex patterns of the admin
        text = re.sub(r"\(\?P<app_label>([a-z_]+)\|[^)]*\)", r"\1", text)
        text = re.sub(r"\(\?P<url>\.\*\)", "no-such-page/", text)
        text = text.lstrip("^").rstrip("$")
    return "/" + text


def routes() -> list[Route]:
    """Every pattern of the URLconf (``get_resolver()``), with sample arguments filled in."""
    found: list[Route] = []

    def walk(patterns: list, prefix: str, namespace: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = namespace
                if p.namespace:
                    ns = f"{namespace}:{p.namespace}" if namespace else p.namespace
                walk(p.url_patterns, prefix + str(p.pattern), ns)
            elif isinstance(p, URLPattern):
                name = f"{namespace}:{p.name}" if namespace and p.name else (p.name or p.lookup_str)
                found.append(Route(name, _concrete(prefix + str(p.pattern))))

    walk(get_resolver().url_patterns, "", "")
    return found


def snapshot() -> dict[str, list]:
    """Every row of every table (sessions aside: logging in writes one), as comparable values."""
    state = {}
    for model in apps.get_models():
        if model._meta.label in ("sessions.Session",):
            continue
        rows = [{k: str(v) for k, v in row.items()} for row in model.objects.values()]
        state[model._meta.label] = sorted(rows, key=lambda r: sorted(r.items()))
    return state


def objects() -> dict[str, Any]:
    """One real row behind every admin change/delete URL and every panel write (the caller has a db)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone
    from django_q.models import OrmQ, Schedule, Task

    from payroll.models import Branch, DailySalesHistory, Employee
    from sync.models import MappingAudit, SalesFact, SellerMapping, StockMapping, SyncRun, WebhookEvent

    now = timezone.now()
    day = date(2026, 11, 2)
    branch = Branch.objects.create(name="Hujum filiali", code="HUJ")
    employee = Employee.objects.create(full_name="Tursunov Sherzod", branch=branch)
    run = SyncRun.objects.create(trigger="user", date_from=day, date_to=day, status="failed", error="x")
    made = {
        "branch": branch,
        "employee": employee,
        "dailysaleshistory": DailySalesHistory.objects.create(
            date=day, branch=branch, employee=employee, retail_sales=Decimal("10.00"), total_sales=Decimal("10.00")
        ),
        "syncrun": run,
        "stockmapping": StockMapping.objects.create(regos_stock_id=41, regos_name="Hujum", branch=branch),
        "sellermapping": SellerMapping.objects.create(regos_user_id=42, full_name="Sherzod", employee=employee),
        "mappingaudit": MappingAudit.objects.create(kind="stock", regos_id=41, new_target="Hujum filiali"),
        "salesfact": SalesFact.objects.create(
            source_kind="cheque", regos_id="c-sec-1", business_date=day, occurred_at=now, stock_id=41,
            seller_id=42, sale_type="retail", amount=Decimal("10.00"), doc_amount=Decimal("10.00"),
            status="Closed",
        ),
        "webhookevent": WebhookEvent.objects.create(event_id="ev-sec-1", action="DocChequeClosed"),
        "group": Group.objects.create(name="Kassirlar"),
        "user": get_user_model().objects.create_user("begona", "b@example.invalid", "Begona-parol-2026"),
        "schedule": Schedule.objects.create(name="sec-test", func="math.floor", schedule_type=Schedule.ONCE,
                                            next_run=now + timedelta(days=1)),
        "success": Task.objects.create(id="sec-task-ok", name="ok", func="math.floor", started=now, stopped=now,
                                       success=True),
        "failure": Task.objects.create(id="sec-task-ko", name="ko", func="math.floor", started=now, stopped=now,
                                       success=False),
        "ormq": OrmQ.objects.create(key="regos-admin", payload="x", lock=None),
    }
    return made


@dataclass(frozen=True)
class Write:
    what: str
    url: str
    data: dict[str, Any]
    kind: str  # "panel" | "admin-add" | "admin-change" | "admin-delete" | "admin-action" | "admin-password"


def writes(made: dict[str, Any]) -> list[Write]:
    """Every POST endpoint that changes data: the panel's, and add/change/delete/actions of every model
    registered in the admin (enumerated from ``admin.site._registry``)."""
    run, branch, employee = made["syncrun"], made["branch"], made["employee"]
    found = [
        Write("Sync now", reverse("sync_panel:sync_now"), {"date_from": "2026-11-01", "date_to": "2026-11-02"},
              "panel"),
        Write("Retry a run", reverse("sync_panel:run_retry", args=[run.pk]), {}, "panel"),
        Write("Refresh mappings from REGOS", reverse("sync_panel:discover"), {}, "panel"),
        Write("Map a stock", reverse("sync_panel:stock_map", args=[41]), {"branch": str(branch.pk)}, "panel"),
        Write("Map a stock to a new branch", reverse("sync_panel:stock_map", args=[41]), {"action": "create"},
              "panel"),
        Write("Map a seller", reverse("sync_panel:seller_map", args=[42]), {"employee": str(employee.pk)},
              "panel"),
        Write("Map a seller to a new employee", reverse("sync_panel:seller_map", args=[42]),
              {"action": "create"}, "panel"),
    ]
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        base = f"admin:{opts.app_label}_{opts.model_name}"
        obj = made.get(opts.model_name)
        label = opts.label
        found.append(Write(f"{label}: add", reverse(f"{base}_add"), {"name": "x"}, "admin-add"))
        if obj is not None:
            found.append(Write(f"{label}: change", reverse(f"{base}_change", args=[obj.pk]), {"name": "x"},
                               "admin-change"))
            found.append(Write(f"{label}: delete", reverse(f"{base}_delete", args=[obj.pk]), {"post": "yes"},
                               "admin-delete"))
            for action in ["delete_selected", *(a for a in (model_admin.actions or []) if isinstance(a, str))]:
                found.append(Write(
                    f"{label}: action {action}", reverse(f"{base}_changelist"),
                    {"action": action, "_selected_action": [str(obj.pk)], "post": "yes", "index": "0"},
                    "admin-action",
                ))
    user = made["user"]
    found.append(Write("auth.User: set another user's password",
                       reverse("admin:auth_user_password_change", args=[user.pk]),
                       {"password1": "Yangi-parol-2026", "password2": "Yangi-parol-2026"}, "admin-password"))
    return found
