"""Brute-force protection of the login: at most 5 failed logins per (username, client address) per 15 min.

How it works:

- ``user_login_failed`` (sent by ``authenticate()`` for every wrong password) adds a failure time to a
  ``sync.models.KeyValue`` row ``login-throttle:<sha256(username, address)>`` — the database every web
  process shares, so the count holds across gunicorn workers and machines, on SQLite and MongoDB alike.
  The row is updated by compare-and-swap (``filter(key, value=old).update(value=new)``), so failures
  posted at the same instant by different processes are all counted (no transactions, no locks needed).
- ``LoginThrottleMiddleware`` refuses a login POST for a (username, address) with 5 failures in the last
  15 minutes *before* the password is checked — even the right password is refused then — with HTTP 429
  and the login page saying why and for how long. The lock lifts 15 minutes after the 5th-latest failure.
- A successful login clears the row. The username is compared as the login form compares it (NFKC, then
  case-insensitively, so fullwidth or upper-case variants share one count); only a hash of it and of the
  address is stored.

Why not django-axes: it is not a declared dependency, and its AutoField models would need MongoDB-specific
migrations; and why not Django's cache: the default LocMemCache is per process, so with several gunicorn
workers each would keep its own count.

The address is ``REMOTE_ADDR``. Behind a reverse proxy on the same machine that is the proxy's address for
everybody, so the limit becomes per username: an attacker cannot guess faster, but can keep one username
locked out (it unlocks 15 minutes after the attempts stop). Settings (optional): ``LOGIN_THROTTLE_FAILURES``
(5), ``LOGIN_THROTTLE_WINDOW_S`` (900).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
import unicodedata
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db import IntegrityError
from django.forms.utils import ErrorDict
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

PREFIX = "login-throttle:"
LOGIN_VIEWS = frozenset({"admin:login"})
CAS_TRIES = 50


def limit() -> int:
    return int(getattr(settings, "LOGIN_THROTTLE_FAILURES", 5))


def window_s() -> float:
    return float(getattr(settings, "LOGIN_THROTTLE_WINDOW_S", 15 * 60))


def client_address(request: HttpRequest | None) -> str:
    return str((request.META.get("REMOTE_ADDR") if request is not None else "") or "")


def _key(username: str, address: str) -> str:
    # NFKC as Django's login form normalizes usernames: "ｂｕｘｇａｌｔｅｒ" must not be a fresh count.
    name = unicodedata.normalize("NFKC", username).strip().casefold()
    digest = hashlib.sha256(f"{name}\n{address}".encode()).hexdigest()
    return PREFIX + digest[:40]


def _load(value: str | None) -> list[float]:
    try:
        stamps = json.loads(value or "[]")
    except ValueError:
        return []
    return [float(s) for s in stamps if isinstance(s, int | float)] if isinstance(stamps, list) else []


def _recent(stamps: list[float], now: float) -> list[float]:
    return sorted(s for s in stamps if now - window_s() < s <= now + 1)


def failure_record(*, username: str, address: str, now: float | None = None) -> int:
    """Count one failed login; returns the failures now in the window."""
    from sync.models import KeyValue

    key = _key(username, address)
    for _attempt in range(CAS_TRIES):
        moment = time.time() if now is None else now
        row = KeyValue.objects.filter(key=key).values_list("value", flat=True).first()
        stamps = [*_recent(_load(row), moment), moment][-limit():]
        value = json.dumps(stamps)
        if row is None:
            with contextlib.suppress(IntegrityError):
                KeyValue.objects.create(key=key, value=value)
                return len(stamps)
        elif KeyValue.objects.filter(key=key, value=row).update(value=value):
            return len(stamps)
    return limit()  # the row kept changing under us: an attack in progress — count it as locked


def failures_clear(*, username: str, address: str) -> None:
    from sync.models import KeyValue

    KeyValue.objects.filter(key=_key(username, address)).delete()


def locked_for(*, username: str, address: str, now: float | None = None) -> float:
    """Seconds until this (username, address) may try again; 0 when it may try now."""
    from sync.models import KeyValue

    moment = time.time() if now is None else now
    row = KeyValue.objects.filter(key=_key(username, address)).values_list("value", flat=True).first()
    stamps = _recent(_load(row), moment)
    if len(stamps) < limit():
        return 0.0
    return max(0.0, stamps[-limit()] + window_s() - moment)


def _on_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:
    username = credentials.get("username")
    if request is None or not isinstance(username, str):
        return  # not a login from a request (e.g. a management command): nothing to throttle
    failure_record(username=username[:150], address=client_address(request))


def _on_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is not None and request.method == "POST":
        failures_clear(username=user.get_username(), address=client_address(request))


user_login_failed.connect(_on_failed, dispatch_uid="regos_admin.throttle.failed")
user_logged_in.connect(_on_logged_in, dispatch_uid="regos_admin.throttle.logged_in")


def refusal_message(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Too many failed login attempts for this username from your address: at most %(limit)s in "
        "%(window)s minutes. Try again in %(minutes)s minute.",
        "Too many failed login attempts for this username from your address: at most %(limit)s in "
        "%(window)s minutes. Try again in %(minutes)s minutes.",
        minutes,
    ) % {"limit": limit(), "window": round(window_s() / 60), "minutes": minutes}


def _refuse(request: HttpRequest, seconds: float) -> HttpResponse:
    from django.contrib import admin
    from django.contrib.admin.forms import AdminAuthenticationForm
    from django.contrib.auth import REDIRECT_FIELD_NAME

    form = AdminAuthenticationForm(request, initial={"username": request.POST.get("username", "")[:150]})
    form._errors = ErrorDict({"__all__": form.error_class([refusal_message(seconds)], error_class="nonfield")})
    context = {
        **admin.site.each_context(request),
        "title": _("Log in"),
        "subtitle": None,
        "app_path": request.get_full_path(),
        "username": request.user.get_username() if hasattr(request, "user") else "",
        "form": form,
        REDIRECT_FIELD_NAME: request.POST.get(REDIRECT_FIELD_NAME, "") or "/",
    }
    response = TemplateResponse(request, "admin/login.html", context, status=429)
    response["Retry-After"] = str(max(1, math.ceil(seconds)))
    add_never_cache_headers(response)
    return response


class LoginThrottleMiddleware:
    """Refuses login POSTs of a (username, address) that failed too often (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any) -> Any:
        match = request.resolver_match
        if request.method != "POST" or match is None or match.view_name not in LOGIN_VIEWS:
            return None
        username = request.POST.get("username", "")
        if not isinstance(username, str) or not username:
            return None
        seconds = locked_for(username=username[:150], address=client_address(request))
        return _refuse(request, seconds) if seconds > 0 else None
