from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

ADMINS = "Admins"
ACCOUNTANTS = "Accountants"
# Apps whose permissions the two roles are made of.
ROLE_APPS = ("payroll", "sync", "django_q", "auth", "admin")
ADMIN_ALL_OF = ("payroll", "sync", "django_q")
ADMIN_AUTH_MODELS = ("user", "group")
ACCOUNTANT_VIEW_OF = ("payroll", "sync")
ACCOUNTANT_EXTRA = (
    ("payroll", "view_reports"), ("payroll", "export_sales"), ("payroll", "close_payrollperiod"),
)


def ensure_role_groups(*, apps, using: str, create_permissions_first: bool = True) -> None:  # type: ignore[no-untyped-def]
    """Create the Admins and Accountants groups and grant them their permissions; idempotent.

    Admins: every permission of payroll, sync and django_q, plus managing users and groups.
    Accountants: only ``view_*`` of payroll and sync models (history, facts, mappings, runs) plus
    ``payroll.view_reports``, ``payroll.export_sales`` and ``payroll.close_payrollperiod`` ("close payroll
    period") — no add/change/delete, no ``sync.run_sync``.

    Grants are only ever added, never revoked: permissions of models added later are picked up at
    the next migrate, and nothing an admin granted by hand is taken away on deploy.
    ``apps`` is a migration state (or the global registry); permissions that do not exist yet at that
    point (a fresh database: Django creates them only after all migrations ran) are created first.
    """
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions
    from django.db.models import Q

    if create_permissions_first:
        for label in ROLE_APPS:
            try:
                app_config = global_apps.get_app_config(label)
            except LookupError:
                continue
            create_permissions(app_config, verbosity=0, using=using, apps=apps)

    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    permissions = permission_model.objects.using(using)

    admin_permissions = permissions.filter(
        Q(content_type__app_label__in=ADMIN_ALL_OF)
        | Q(content_type__app_label="auth", content_type__model__in=ADMIN_AUTH_MODELS)
        | Q(content_type__app_label="auth", codename="view_permission")
        | Q(content_type__app_label="admin", codename="view_logentry")
    )
    accountant_permissions = permissions.filter(
        Q(content_type__app_label__in=ACCOUNTANT_VIEW_OF, codename__startswith="view_")
        | Q(content_type__app_label="payroll", codename__in=[codename for _, codename in ACCOUNTANT_EXTRA])
    )
    for name, wanted in ((ADMINS, admin_permissions), (ACCOUNTANTS, accountant_permissions)):
        group, _created = group_model.objects.using(using).get_or_create(name=name)
        have = set(group.permissions.values_list("id", flat=True))
        missing = [pk for pk in wanted.values_list("id", flat=True) if pk not in have]
        if missing:
            group.permissions.add(*missing)


def _ensure_role_groups_after_migrate(sender, app_config, using, apps=None, **kwargs) -> None:  # type: ignore[no-untyped-def]
    # Once per migrate (or test-database flush), on our own app's signal; create_permissions runs
    # for every app concerned inside, so the order of INSTALLED_APPS does not matter.
    if app_config.label != "payroll":
        return
    from django.apps import apps as global_apps

    ensure_role_groups(apps=apps or global_apps, using=using)


class PayrollConfig(AppConfig):
    name = "payroll"
    verbose_name = _("Payroll")

    def ready(self) -> None:
        post_migrate.connect(_ensure_role_groups_after_migrate, dispatch_uid="payroll.ensure_role_groups")
