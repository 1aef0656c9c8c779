"""Create the local demo superuser admin/admin — only on the default local SQLite database."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the demo superuser admin/admin when the database is the default local SQLite file."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--force", action="store_true", help="also on a non-default database")

    def handle(self, *args, force: bool = False, **options) -> None:  # type: ignore[no-untyped-def]
        if not (settings.USING_DEFAULT_SQLITE or force):
            self.stdout.write("Not the default local SQLite database: no demo user created.")
            return
        user_model = get_user_model()
        if user_model.objects.filter(username="admin").exists():
            self.stdout.write("Demo superuser 'admin' already exists.")
            return
        user_model.objects.create_superuser("admin", "admin@example.invalid", "admin")
        self.stdout.write(
            self.style.WARNING("Created demo superuser admin / admin (local SQLite only — do not use in production).")
        )
