"""Public endpoints of the sync app (health, webhook) and the sync pages of the panel."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
