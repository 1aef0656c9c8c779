"""Every model change is migrated, for SQLite and for MongoDB (`make migrations` regenerates both).

The project's apps (payroll, sync) have one migration set serving both databases; Django's admin,
auth, contenttypes and django-q2 get ObjectId keys on MongoDB and use the migrations generated into
regos_admin/mongo_migrations. These tests run in both passes of `make test`, and each checks both
databases (the other one in a subprocess).
"""

from __future__ import annotations

import importlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import models

from regos_admin.mongo import MONGO_MIGRATION_APPS, MONGO_MIGRATIONS_PACKAGE, configure_mongodb

ROOT = Path(__file__).resolve().parent.parent
PROJECT_APPS = ("payroll", "sync")
HOW_TO_FIX = "run `make migrations` and commit the new files"


def manage(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DATABASE_URL"] = database_url
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def manage_on_mongoeco(*args: str) -> subprocess.CompletedProcess[str]:
    """manage.py ARGS against a throw-away mongoeco server (scripts/mongo_server.py)."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run(  # noqa: S603
        [sys.executable, "scripts/mongo_server.py", "--db", "regos_migrations_check", "--",
         sys.executable, "manage.py", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.mark.django_db
def test_no_unmigrated_model_change_on_the_database_of_this_pass() -> None:
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit:
        pytest.fail(f"unmigrated model changes ({HOW_TO_FIX}):\n{out.getvalue()}")


@pytest.mark.slow
def test_no_unmigrated_model_change_on_sqlite(tmp_path: Path) -> None:
    result = manage("makemigrations", "--check", "--dry-run", database_url=f"sqlite:///{tmp_path / 'check.sqlite3'}")
    assert result.returncode == 0, f"{HOW_TO_FIX}:\n{result.stdout}{result.stderr}"
    assert "No changes detected" in result.stdout


@pytest.mark.slow
def test_no_unmigrated_model_change_on_mongodb_and_checks_pass() -> None:
    # Without app labels: the four regos_admin.mongo_migrations packages AND payroll/sync, whose one
    # migration set must need nothing more under MongoDB settings. `check` includes mongodb.E001
    # (no AutoField primary keys on MongoDB).
    result = manage_on_mongoeco("makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, f"{HOW_TO_FIX}:\n{result.stdout}{result.stderr}"
    assert "No changes detected" in result.stdout
    check = manage_on_mongoeco("check", "--fail-level", "WARNING")
    assert check.returncode == 0, check.stdout + check.stderr


def test_mongodb_settings_point_four_apps_at_the_projects_migrations() -> None:
    settings = {"INSTALLED_APPS": ["django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
                                   "django.contrib.sessions", "django_q", "payroll", "sync"]}
    configure_mongodb(settings)
    assert settings["MIGRATION_MODULES"] == {
        label: f"{MONGO_MIGRATIONS_PACKAGE}.{label}" for label in ("admin", "auth", "contenttypes", "django_q")
    }
    # One migration set for the project's own apps: never a MongoDB copy.
    assert not set(PROJECT_APPS) & set(settings["MIGRATION_MODULES"])
    assert settings["DEFAULT_AUTO_FIELD"] == "django_mongodb_backend.fields.ObjectIdAutoField"
    assert settings["DATABASE_ROUTERS"] == ["django_mongodb_backend.routers.MongoRouter"]
    assert "django.contrib.sessions" in settings["INSTALLED_APPS"]  # CharField key: needs nothing


@pytest.mark.parametrize("label", MONGO_MIGRATION_APPS)
def test_mongo_migrations_never_use_sql_auto_keys(label: str) -> None:
    migration = importlib.import_module(f"{MONGO_MIGRATIONS_PACKAGE}.{label}.0001_initial").Migration
    created = [op for op in migration.operations if op.__class__.__name__ == "CreateModel"]
    assert created, f"{label}: no models"
    for operation in created:
        fields = dict(operation.fields)
        if operation.options.get("proxy"):
            continue
        pk = type(next(field for field in fields.values() if getattr(field, "primary_key", False))).__name__
        # ObjectIdAutoField, or the model's own key (django_q.Task has a CharField one).
        assert pk == "ObjectIdAutoField" or "AutoField" not in pk, f"{label}.{operation.name}: {pk}"


@pytest.mark.parametrize("label", PROJECT_APPS)
def test_project_models_have_explicit_keys_that_work_on_both_databases(label: str) -> None:
    # An implicit key would be BigAutoField in the migrations (SQLite's DEFAULT_AUTO_FIELD), which
    # MongoDB refuses; ObjectIdAutoField would not work on SQLite. Hence UUID or natural keys.
    for model in apps.get_app_config(label).get_models(include_auto_created=True):
        if model._meta.auto_created:  # many-to-many through tables
            continue
        pk = model._meta.pk
        assert not pk.auto_created, f"{model._meta.label} has no explicit primary key"
        assert not isinstance(pk, models.AutoField | models.BigAutoField | models.SmallAutoField), model._meta.label


@pytest.mark.parametrize("label", PROJECT_APPS)
def test_project_migrations_never_create_auto_keys(label: str) -> None:
    folder = ROOT / label / "migrations"
    for path in sorted(folder.glob("[0-9]*.py")):
        text = path.read_text()
        for field in ("models.AutoField(", "models.BigAutoField(", "models.SmallAutoField(", "ObjectIdAutoField("):
            assert field not in text, f"{path.relative_to(ROOT)} creates a {field[:-1]}: it cannot serve both databases"


SEED_AND_CHECK = (
    "{py} manage.py migrate payroll 0002 --noinput -v 0 && {py} tests/fixtures/migrate_ids.py seed"
    " && {py} manage.py migrate --noinput -v 0 && {py} tests/fixtures/migrate_ids.py check"
)


@pytest.mark.slow
def test_existing_uuid_keys_become_object_ids_with_every_link_kept_on_sqlite(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    result = subprocess.run(  # noqa: S603
        ["bash", "-c", SEED_AND_CHECK.format(py=sys.executable)],  # noqa: S607
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checked" in result.stdout


@pytest.mark.slow
def test_existing_uuid_keys_become_object_ids_with_every_link_kept_on_mongodb() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "scripts/mongo_server.py", "--db", "regos_old", "--",
         "bash", "-c", SEED_AND_CHECK.format(py=sys.executable)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checked" in result.stdout
