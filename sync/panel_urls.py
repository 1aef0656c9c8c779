"""The sync pages of the panel (Sync now, runs, mappings)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
