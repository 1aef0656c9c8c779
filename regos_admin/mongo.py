"""Settings that django-mongodb-backend needs, switched on by a mongodb:// DATABASE_URL."""

from __future__ import annotations

from typing import Any

_REPLACED_APPS = {
    "django.contrib.admin": "regos_admin.mongo_apps.MongoAdminConfig",
    "django.contrib.auth": "regos_admin.mongo_apps.MongoAuthConfig",
    "django.contrib.contenttypes": "regos_admin.mongo_apps.MongoContentTypesConfig",
    "django_q": "regos_admin.mongo_apps.MongoDjangoQConfig",
}


def configure_mongodb(settings: dict[str, Any]) -> None:
    settings["DEFAULT_AUTO_FIELD"] = "django_mongodb_backend.fields.ObjectIdAutoField"
    settings["INSTALLED_APPS"] = [_REPLACED_APPS.get(app, app) for app in settings["INSTALLED_APPS"]]
    settings["MIGRATION_MODULES"] = {
        label: f"regos_admin.mongo_migrations.{label}" for label in ("admin", "auth", "contenttypes", "django_q")
    }
    settings["DATABASE_ROUTERS"] = ["django_mongodb_backend.routers.MongoRouter"]
