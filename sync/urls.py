"""Public endpoints of the sync app (health, webhook) and the sync pages of the panel."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from sync.health import health_view
from sync.webhooks import webhook_receive

app_name = "sync"

urlpatterns: list[URLPattern | URLResolver] = [
    # Public, no login: an external monitor polls it (200 fresh / 503 stale), no secrets inside.
    path("health/", health_view, name="health"),
    # REGOS → us. With REGOS_WEBHOOK_SECRET set only the secret path answers (see sync.webhooks).
    path("regos/webhook/", webhook_receive, name="webhook"),
    path("regos/webhook/<str:secret>/", webhook_receive, name="webhook-secret"),
]
