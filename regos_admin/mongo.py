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
