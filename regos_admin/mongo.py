"""Settings that django-mongodb-backend needs, switched on by a ``mongodb://`` / ``mongodb+srv://``
DATABASE_URL (called at the end of ``regos_admin/settings.py``).

The local test/demo server (mongoeco) is ``scripts/mongo_server.py``; nothing here imports it.
"""

from __future__ import annotations

from typing import Any

OBJECT_ID_AUTO_FIELD = "django_mongodb_backend.fields.ObjectIdAutoField"

# Django's and django-q2's apps whose models get an ObjectId primary key on MongoDB.
_REPLACED_APPS = {
    "django.contrib.admin": "regos_admin.mongo_apps.MongoAdminConfig",
    "django.contrib.auth": "regos_admin.mongo_apps.MongoAuthConfig",
    "django.contrib.contenttypes": "regos_admin.mongo_apps.MongoContentTypesConfig",
    "django_q": "regos_admin.mongo_apps.MongoDjangoQConfig",
}
# Their migrations for MongoDB are kept in this project (`make migrations` regenerates them). The
# project's own apps (payroll, sync) have explicit primary keys: one migration set serves both DBs.
MONGO_MIGRATION_APPS = ("admin", "auth", "contenttypes", "django_q")
MONGO_MIGRATIONS_PACKAGE = "regos_admin.mongo_migrations"


def configure_mongodb(settings: dict[str, Any]) -> None:
    settings["DEFAULT_AUTO_FIELD"] = OBJECT_ID_AUTO_FIELD
    settings["INSTALLED_APPS"] = [_REPLACED_APPS.get(app, app) for app in settings["INSTALLED_APPS"]]
    settings["MIGRATION_MODULES"] = {
        label: f"{MONGO_MIGRATIONS_PACKAGE}.{label}" for label in MONGO_MIGRATION_APPS
    }
    settings["DATABASE_ROUTERS"] = ["django_mongodb_backend.routers.MongoRouter"]


def make_mongo_migrations(*options: str) -> None:
    """`make migrations`, MongoDB part: (re)generate regos_admin/mongo_migrations under MongoDB settings.

    payroll/sync migrations are left out of the graph while doing it: they depend on these packages
    (e.g. payroll.0002 on ``("auth", "0001_initial")``), which would make regenerating them from
    scratch fail with NodeNotFoundError. Needs DATABASE_URL=mongodb://... and a server there
    (makemigrations checks the recorded history): ``scripts/mongo_server.py --db x -- python -c ...``.
    """
    import os
    from pathlib import Path

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "regos_admin.settings")
    django.setup()
    from django.apps import apps
    from django.conf import settings
    from django.core.management import call_command

    if settings.DATABASES["default"]["ENGINE"] != "django_mongodb_backend":
        raise SystemExit("make_mongo_migrations needs DATABASE_URL=mongodb://...")
    root = Path(settings.BASE_DIR).resolve()
    project_apps = [app.label for app in apps.get_app_configs() if Path(app.path).resolve().is_relative_to(root)]
    settings.MIGRATION_MODULES.update(dict.fromkeys(project_apps))  # None: "no migrations" meanwhile
    call_command("makemigrations", *MONGO_MIGRATION_APPS, *options)
