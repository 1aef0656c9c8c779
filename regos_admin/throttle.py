"""Brute-force protection of the login: at most 5 failed logins per (username, client address) per 15 min.

How it works:

- Every login POST first *claims* an attempt, before the password is checked: ``LoginThrottleMiddleware``
  appends the attempt's time to a ``sync.models.KeyValue`` row ``login-throttle:<sha256(username,
  address)>`` by compare-and-swap (``filter(key, value=old).update(value=new)``) — only if fewer than 5
  attempts of the last 15 minutes are in it. The database is shared by every web process, so this holds
  across gunicorn threads, workers and machines, on SQLite and MongoDB alike, without transactions or
  locks: of 40 attempts posted at the same instant, 5 claim and 35 are refused unchecked.
- A refused POST gets HTTP 429 and the login page saying why and for how long — even with the right
  password. The lock lifts 15 minutes after the last claimed attempt (the 5th).
- A claim stays as a failure unless the login succeeds (the success's own claim is dropped) or no
  password was sent (nothing was checked). A success does not wipe the earlier failures: they expire 15
  minutes after they happened, so however the attempts are spread or raced, at most 5 wrong passwords
  are checked per (username, address) in any 15 minutes.
- The username is compared as the login form compares it (NFKC, then case-insensitively, so fullwidth
  or upper-case variants share one count); only a hash of it and of the address is stored.

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


def _locked(stamps: list[float], moment: float) -> float:
    """Seconds the pair stays locked given its attempt times (all within one window of each other)."""
    if len(stamps) < limit():
        return 0.0
    return max(0.0, stamps[-1] + window_s() - moment)


def _cas(key: str, change: Callable[[list[float], float], list[float] | None], now: float | None) -> bool:
    """Apply ``change`` to the stored attempt times by compare-and-swap; False if it declined (None)."""
    from sync.models import KeyValue

    for _attempt in range(CAS_TRIES):
        moment = time.time() if now is None else now
        row = KeyValue.objects.filter(key=key).values_list("value", flat=True).first()
        stamps = change(sorted(_load(row)), moment)
        if stamps is None:
            return False
        value = json.dumps(stamps)
        if row is None:
            with contextlib.suppress(IntegrityError):
                KeyValue.objects.create(key=key, value=value)
                return True
        elif KeyValue.objects.filter(key=key, value=row).update(value=value):
            return True
    return False  # the row kept changing under us: an attack in progress


def attempt_claim(*, username: str, address: str, now: float | None = None) -> float | None:
    """Take one login attempt before its password is checked: its time, or None when the pair is locked."""
    claimed: list[float] = []

    def take(stamps: list[float], moment: float) -> list[float] | None:
        if _locked(stamps, moment) > 0:
            return None
        claimed[:] = [moment]
        return [*_recent(stamps, moment), moment][-limit():]

    return claimed[0] if _cas(_key(username, address), take, now) else None


def attempt_release(*, username: str, address: str, claim: float) -> None:
    """Drop one claimed attempt (the login succeeded, or no password was checked)."""

    def drop(stamps: list[float], moment: float) -> list[float] | None:
        if claim not in stamps:
            return None
        stamps.remove(claim)
        return stamps

    _cas(_key(username, address), drop, None)


def failure_record(*, username: str, address: str, now: float | None = None) -> None:
    """Count a failed login that claimed no attempt (a login outside the throttled views)."""
    _cas(_key(username, address), lambda stamps, moment: [*_recent(stamps, moment), moment][-limit():], now)


def locked_for(*, username: str, address: str, now: float | None = None) -> float:
    """Seconds until this (username, address) may try again; 0 when it may try now."""
    from sync.models import KeyValue

    moment = time.time() if now is None else now
    row = KeyValue.objects.filter(key=_key(username, address)).values_list("value", flat=True).first()
    return _locked(sorted(_load(row)), moment)


CLAIM_ATTR = "_login_throttle_claim"
LOGGED_IN_ATTR = "_login_throttle_logged_in"


def _on_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:
    username = credentials.get("username")
    if request is None or not isinstance(username, str):
        return  # not a login from a request (e.g. a management command): nothing to throttle
    if getattr(request, CLAIM_ATTR, None) is None:
        failure_record(username=username[:150], address=client_address(request))
    # else: the claimed attempt already counts as this failure


def _on_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is not None and request.method == "POST":
        setattr(request, LOGGED_IN_ATTR, True)


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
        response = self.get_response(request)
        claim = getattr(request, CLAIM_ATTR, None)
        if claim is not None and (getattr(request, LOGGED_IN_ATTR, False) or not request.POST.get("password")):
            attempt_release(username=request.POST.get("username", "")[:150], address=client_address(request),
                            claim=claim)
        return response

    def process_view(self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any) -> Any:
        match = request.resolver_match
        if request.method != "POST" or match is None or match.view_name not in LOGIN_VIEWS:
            return None
        username = request.POST.get("username", "")
        if not isinstance(username, str) or not username:
            return None
        address = client_address(request)
        claim = attempt_claim(username=username[:150], address=address)
        if claim is None:
            return _refuse(request, locked_for(username=username[:150], address=address) or window_s())
        setattr(request, CLAIM_ATTR, claim)
        return None
