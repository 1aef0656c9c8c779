"""Helpers shared by the sync panel tests (no tests in here).

The roles are built here on purpose rather than taken from the groups migration: these tests pin
what the panel checks (``sync.run_sync``, ``sync.change_*mapping``), whatever a group holds.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db.models import Q

PASSWORD = "Sinov-parol-2026"  # noqa: S105 — a test password

ACCOUNTANT_EXTRA = ["payroll.view_reports", "payroll.export_sales"]


def permissions(*names: str) -> list[Permission]:
    found = []
    for name in names:
        app_label, codename = name.split(".")
        found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return found


def accountant_like_group() -> Group:
    """Only view permissions of payroll and sync (history, runs, facts, mappings) plus reports/export."""
    group, _ = Group.objects.get_or_create(name="Accountants (sync panel test)")
    views = Permission.objects.filter(
        Q(content_type__app_label__in=["payroll", "sync"]) & Q(codename__startswith="view_")
    )
    group.permissions.set([*views, *permissions(*ACCOUNTANT_EXTRA)])
    return group


def make_role_user(username: str, perms: list[str] | None = None, *, role: str = "", staff: bool = True):  # type: ignore[no-untyped-def]
    user = get_user_model().objects.create_user(username, f"{username}@example.invalid", PASSWORD)
    user.is_staff = staff
    user.save(update_fields=["is_staff"])
    if role == "accountant":
        user.groups.add(accountant_like_group())
    if perms:
        user.user_permissions.add(*permissions(*perms))
    return get_user_model().objects.get(pk=user.pk)  # fresh: no cached permissions
