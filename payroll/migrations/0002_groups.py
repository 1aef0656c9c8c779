"""The two roles: groups Admins and Accountants with their permissions (see payroll.apps).

Permissions are created here first (Django would only create them after every migration ran), and
the same function runs again after each migrate (post_migrate) to grant permissions of models added
later. The dependency names differ on MongoDB, where auth/contenttypes/django_q use the one-migration
modules of regos_admin.mongo_migrations.
"""

from django.conf import settings
from django.db import migrations


def _latest(app_label, stock_name):
    if app_label in getattr(settings, "MIGRATION_MODULES", {}):
        return (app_label, "0001_initial")
    return (app_label, stock_name)


def create_groups(apps, schema_editor):
    from payroll.apps import ensure_role_groups

    ensure_role_groups(apps=apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):

    dependencies = [
        ("payroll", "0001_initial"),
        ("sync", "0001_initial"),
        _latest("auth", "0012_alter_user_first_name_max_length"),
        _latest("contenttypes", "0002_remove_content_type_name"),
        _latest("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        # Reverse keeps the groups: users may belong to them, and re-applying is idempotent anyway.
        migrations.RunPython(create_groups, migrations.RunPython.noop),
    ]
