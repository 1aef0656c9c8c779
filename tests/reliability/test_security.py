"""Security: login everywhere, 403 for accountants' writes, CSRF, the integration key never shown,
deployment checks, and a login throttle that holds across processes."""

from __future__ import annotations

import io
import logging
import re
import subprocess
import sys
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client

from sync import services
from sync.models import KeyValue, SyncRun, WebhookEvent
from tests.fixtures.people import PASSWORD
from tests.fixtures.regos import REGOS_TEST_KEY
from tests.reliability import web
from tests.reliability.support import ROOT, Record, child_env, fast_client, make_world

pytestmark = pytest.mark.django_db

LOGIN = "/login/"


def login_redirect(response) -> bool:  # type: ignore[no-untyped-def]
    return response.status_code == 302 and response["Location"].startswith(LOGIN + "?next=")


# --- every URL needs a login ----------------------------------------------------------------------


def test_every_url_requires_login_except_health_and_the_webhook(client, record: Record) -> None:  # type: ignore[no-untyped-def]
    record("Security", "anonymous GET and POST of every URL in the URLconf (`get_resolver()`)",
           "redirect to login / 403 / 405, except /health/, the webhook, the login page and set-language")
    before = web.snapshot()
    checked, public = 0, []
    for route in web.routes():
        get = client.get(route.url)
        post = client.post(route.url, {"x": "1"})
        if route.name in web.PUBLIC:
            public.append(route.name)
            assert get.status_code != 500 and post.status_code != 500, route
            continue
        assert login_redirect(get) or get.status_code in (403, 405), (route, get.status_code, get.get("Location"))
        assert login_redirect(post) or post.status_code in (403, 405), (route, post.status_code)
        checked += 1
    assert web.snapshot() == before
    assert sorted(public) == sorted(web.PUBLIC)
    # The public ones leak nothing: health is bare JSON, the webhook refuses a GET.
    assert client.get("/health/")["Content-Type"].startswith("application/json")
    assert client.get("/regos/webhook/").status_code == 405
    record.saw(f"{checked} URL patterns: all redirect to login (or 403/405) for GET and POST; "
               f"public by design: {', '.join(sorted(public))}; nothing written")


# --- accountants cannot write ---------------------------------------------------------------------


def test_accountants_get_403_on_every_write(accountant_client, record: Record) -> None:  # type: ignore[no-untyped-def]
    record("Security", "an accountant POSTs to every write endpoint (panel + add/change/delete/actions of "
           "every admin model + another user's password)", "403; nothing written")
    made = web.objects()
    before = web.snapshot()
    refused, ignored = 0, []
    for write in web.writes(made):
        response = accountant_client.post(write.url, write.data)
        if write.kind == "admin-action":
            # The admin offers no action the user lacks a permission for: the POST is ignored.
            assert response.status_code in (200, 302, 403), (write, response.status_code)
            ignored.append(write.what)
        else:
            assert response.status_code == 403, (write, response.status_code)
            refused += 1
    assert web.snapshot() == before, "an accountant's POST changed the database"
    record.saw(f"{refused} write endpoints → 403; {len(ignored)} changelist actions not offered (ignored); "
               "database unchanged")


# --- CSRF --------------------------------------------------------------------------------------------


def test_csrf_is_enforced_on_every_post(admin_user, record: Record) -> None:  # type: ignore[no-untyped-def]
    record("Security", "a superuser's browser POSTs without a CSRF token to every write endpoint, login, "
           "logout, password change, set-language", "403 everywhere, nothing written; with the token it works")
    made = web.objects()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)
    before = web.snapshot()
    targets = [w.url for w in web.writes(made)] + ["/logout/", "/password_change/", "/i18n/setlang/"]
    for url in targets:
        response = browser.post(url, {"x": "1"})
        assert response.status_code == 403, (url, response.status_code)
    anonymous = Client(enforce_csrf_checks=True)
    assert anonymous.post(LOGIN, {"username": "admin", "password": "admin-pass-123"}).status_code == 403
    assert web.snapshot() == before
    # Control: the same browser with the page's token gets through (a form error, not a 403).
    page = browser.get("/sync/now/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    answer = browser.post("/sync/now/", {"csrfmiddlewaretoken": token, "date_from": "x", "date_to": "y"})
    assert answer.status_code == 200
    record.saw(f"{len(targets) + 1} POSTs without a token → 403, database unchanged; with the token → 200")


# --- the integration key never shows ----------------------------------------------------------------

WRONG_KEY = "wrong0key0revoked0long0ago00042"


@pytest.mark.django_db(transaction=True)  # the regos_sync subprocesses write to the same database
def test_the_integration_key_never_appears_anywhere(
    regos_server, admin_user, settings, caplog, tmp_path, record: Record
) -> None:  # type: ignore[no-untyped-def]
    record("Security", "grep for the integration key (right and wrong one) in every page, log line, error, "
           "export, SyncRun/KeyValue/webhook/django-q row and `regos_sync` output, across a success, a "
           "wrong-key failure and a revoked-key webhook", "absent everywhere")
    caplog.set_level(logging.INFO, logger="django")  # its DEBUG is template-variable noise
    for name in ("urllib3", "sync", "payroll", "django-q", ""):  # last: the capture handler's level too
        caplog.set_level(logging.DEBUG, logger=name or None)
    captured: list[str] = []
    world = make_world(range_days=2, cheques_per_day=6)
    server = regos_server(world.ds, page_cap=4)

    # 1. a successful sync, 2. a wrong key (REGOS answers 1096), 3. the same through the command line.
    ok = services.sync_range(date_from=world.first, date_to=world.last, client=fast_client())
    assert ok.status == SyncRun.Status.SUCCEEDED
    settings.REGOS_INTEGRATION_KEY = WRONG_KEY
    bad = services.sync_range(date_from=world.first, date_to=world.last, client=fast_client())
    assert bad.status == SyncRun.Status.FAILED and "1096" in bad.error
    for key in (WRONG_KEY, REGOS_TEST_KEY):
        done = subprocess.run(
            [sys.executable, "manage.py", "regos_sync", "-v", "2", "--from", world.first.isoformat(),
             "--to", world.last.isoformat()],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
            env=child_env(DATABASE_URL=_database_url(), REGOS_BASE_URL=server.base_url,
                          REGOS_INTEGRATION_KEY=key, DJANGO_LOG_LEVEL="DEBUG"),
        )
        captured += [done.stdout, done.stderr]

    # 4. the panel: every admin changelist, the run pages, reports, exports, mappings, health, webhook.
    browser = Client()
    browser.force_login(admin_user)
    pages = ["/", "/sync/now/", "/sync/mappings/", "/sync/mappings/unmapped/", "/health/",
             f"/sync/runs/{bad.pk}/", f"/sync/runs/{bad.pk}/status.json", f"/sync/runs/{ok.pk}/",
             f"/sync/syncrun/{bad.pk}/change/",
             f"/reports/history/?date_from={world.first}&date_to={world.last}", "/reports/summary/",
             f"/reports/export.csv?date_from={world.first}&date_to={world.last}"]
    pages += [route.url for route in web.routes() if route.name.endswith("_changelist")]
    for url in pages:
        response = browser.get(url, follow=True)
        assert response.status_code in (200, 503), (url, response.status_code)
        captured.append(b"".join(response) .decode() if response.streaming else response.content.decode())
    xlsx = browser.get(f"/reports/export.xlsx?date_from={world.first}&date_to={world.last}")
    with zipfile.ZipFile(io.BytesIO(b"".join(xlsx.streaming_content))) as book:
        captured += [book.read(name).decode("utf-8", "replace") for name in book.namelist()]
    discover = browser.post("/sync/mappings/discover/", follow=True)  # queued for the worker...
    captured.append(discover.content.decode())
    from sync.jobs import regos_refresh

    captured.append(regos_refresh())  # ...which runs it: REGOS refuses the wrong key
    refreshed = browser.get("/sync/mappings/")
    assert 'data-testid="refresh-state" data-status="failed"' in refreshed.content.decode()
    captured.append(refreshed.content.decode())
    for key in (WRONG_KEY, "someone0elses0key0000000000000001"):
        hook = browser.post("/regos/webhook/", content_type="application/json", data={
            "action": "HandleWebhook", "event_id": f"ev-{key[:6]}", "occurred_at": "2026-11-20T10:00:00Z",
            "connected_integration_id": key, "data": {"action": "DocChequeClosed", "data": {"uuid": "u-1"}},
        })
        captured.append(hook.content.decode())

    # 5. what was stored.
    from django_q.models import Task

    captured += [str(list(model.objects.values())) for model in (SyncRun, KeyValue, WebhookEvent, Task)]
    captured += [f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records]
    text = "\n".join(captured)
    assert any(r.name == "urllib3.connectionpool" and "/v1/" in r.getMessage() for r in caplog.records)
    assert "1096" in text  # the failure is there (logs, run, page), just not the key
    for secret in (WRONG_KEY, REGOS_TEST_KEY, "someone0elses0key"):
        assert secret not in text, f"{secret[:6]}… leaked"
        assert secret[:12] not in text, f"a prefix of {secret[:6]}… leaked"
    record.saw(f"{len(pages) + 2} pages/exports, {len(caplog.records)} log records, 4 command outputs, "
               f"{SyncRun.objects.count()} SyncRun rows: no key, no key prefix")


def _database_url() -> str:
    import os

    return os.environ["DATABASE_URL"]


# --- deployment -----------------------------------------------------------------------------------


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    import secrets

    return child_env(
        DJANGO_DEBUG="false", DJANGO_SECRET_KEY=secrets.token_urlsafe(64), DJANGO_ALLOWED_HOSTS="regos.example.uz",
        DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}", **extra,
    )


def test_check_deploy_is_clean_and_https_settings_are_on(tmp_path, record: Record) -> None:  # type: ignore[no-untyped-def]
    record("Security", "`manage.py check --deploy --fail-level WARNING` under production settings "
           "(DJANGO_DEBUG=false, HSTS and HTTPS redirect on)", "no issues; Secure cookies, HSTS, redirect on")
    env = production_env(tmp_path, DJANGO_HSTS_SECONDS="31536000", DJANGO_SECURE_SSL_REDIRECT="true")
    done = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT, "
        "s.SESSION_COOKIE_HTTPONLY)"
    )
    shown = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                           env={**env, "DJANGO_SETTINGS_MODULE": "regos_admin.settings"})
    assert shown.stdout.split() == ["True", "True", "31536000", "True", "True"], shown.stdout + shown.stderr
    record.saw(f"check --deploy: “{done.stdout.strip()}”; SESSION/CSRF cookies Secure, HSTS 31536000 s, "
               "SSL redirect on")


def test_secure_cookies_and_hsts_are_documented_for_https(record: Record) -> None:
    record("Security", "deploy/README.md and README.md document HTTPS: Secure cookies, HSTS, HTTPS redirect",
           "documented")
    deploy = (ROOT / "deploy" / "README.md").read_text()
    readme = (ROOT / "README.md").read_text()
    for needle in ("DJANGO_HSTS_SECONDS", "DJANGO_SECURE_SSL_REDIRECT", "Secure", "X-Forwarded-Proto",
                   "DJANGO_CSRF_TRUSTED_ORIGINS"):
        assert needle in deploy, needle
    assert "DJANGO_HSTS_SECONDS" in readme and "DJANGO_SECURE_SSL_REDIRECT" in readme
    record.saw("deploy/README.md “HTTPS” section: Secure session/CSRF cookies, DJANGO_HSTS_SECONDS, "
               "DJANGO_SECURE_SSL_REDIRECT, proxy headers; README configuration table lists both variables")


# --- brute force ------------------------------------------------------------------------------------


def login(client: Client, username: str, password: str, address: str = "203.0.113.7"):  # type: ignore[no-untyped-def]
    return client.post(LOGIN, {"username": username, "password": password, "next": "/"}, REMOTE_ADDR=address,
                       HTTP_ACCEPT_LANGUAGE="en")


def test_brute_force_login_is_throttled(accountant, record: Record) -> None:  # type: ignore[no-untyped-def]
    record("Security", "brute force: wrong passwords for one username from one address",
           "6th attempt refused (429, clear message) even with the right password; other address not "
           "affected; allowed again after 15 min")
    browser = Client()
    for _ in range(5):
        assert login(browser, "buxgalter", "wrong-password").status_code == 200  # the form's error
    assert login(browser, "ｂｕｘｇａｌｔｅｒ", PASSWORD).status_code == 429  # fullwidth: the same user
    refused = login(browser, "BUXGALTER", PASSWORD)
    assert refused.status_code == 429
    page = refused.content.decode()
    assert "Too many failed login attempts" in page and "at most 5 in 15 minutes" in page
    assert "_auth_user_id" not in browser.session
    assert int(refused["Retry-After"]) > 0
    # Another address, or the same address for another user, is not affected.
    other = login(Client(), "buxgalter", PASSWORD, address="198.51.100.9")
    assert other.status_code == 302
    with time_machine.travel(timedelta(minutes=16)):
        later = login(Client(), "buxgalter", PASSWORD)
    assert later.status_code == 302
    record.saw("5 failures → 6th (right password; upper-case or fullwidth username) refused: 429 “Too many "
               "failed login attempts … at most 5 in 15 minutes. Try again in 15 minutes.”; other address logs "
               "in; after 16 min: logs in")


@pytest.mark.django_db(transaction=True)
def test_login_throttle_counts_failures_from_every_process(accountant, record: Record) -> None:  # type: ignore[no-untyped-def]
    record("Security", "brute force spread over processes: 2 processes × 2 wrong passwords at once, then a "
           "5th here", "all 5 counted (database, compare-and-swap): next attempt refused")
    script = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "for _ in range(2):\n"
        "    r = Client().post('/login/', {'username': 'buxgalter', 'password': 'nope'}, "
        "REMOTE_ADDR='203.0.113.50', HTTP_HOST='127.0.0.1')\n"
        "    assert r.status_code == 200, r.status_code\n"
    )
    env = child_env(DATABASE_URL=_database_url(), DJANGO_SETTINGS_MODULE="regos_admin.settings")
    procs = [subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT) for _ in range(2)]
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out.decode()
    assert login(Client(), "buxgalter", "nope", address="203.0.113.50").status_code == 200  # the 5th
    assert login(Client(), "buxgalter", PASSWORD, address="203.0.113.50").status_code == 429
    assert get_user_model().objects.filter(username="buxgalter").exists()
    record.saw("4 failures in 2 other processes + 1 here → locked (429) for the right password")


# --- secrets on the DEBUG error page (issue 15, item 1) ---------------------------------------------

DEBUG_SECRETS = {
    "REGOS_INTEGRATION_KEY": "dbgK3yRegos0123456789abcdefghijABCDEFGHIJ0123456789",  # 50 characters
    "DJANGO_SECRET_KEY": "s3cr3t!@#$%^&*(-_=+)djangoSecretKeyForTheDebugPage0123456789",
    "REGOS_WEBHOOK_SECRET": "hookS3cretPathSegment0123456789",
    "DATABASE_URL": "mongodb://regos:DbPassw0rdXyz123@db.internal:27017/regos_admin",
    "REDIS_URL": "redis://:RedisPassw0rd987654@redis.internal:6379/0",
}


def longest_run(text: str, secret: str) -> int:
    """Length of the longest piece of ``secret`` found in ``text`` (brute force, independent of the code)."""
    best = 0
    for start in range(len(secret)):
        for end in range(len(secret), start + best, -1):
            if secret[start:end] in text:
                best = end - start
                break
    return best


def test_the_debug_error_page_prints_no_secret(record: Record) -> None:
    record("Security", "DEBUG on, every secret set (REGOS key, DJANGO_SECRET_KEY, webhook secret, MongoDB and "
           "Redis passwords, also in the environment the dev server copies into request.META); Django's "
           "technical 500 page and its text form rendered for an exception raised in a frame holding them",
           "no secret, nor 8+ characters of one, anywhere on the page")
    env = child_env(DJANGO_DEBUG="true", **DEBUG_SECRETS)
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "from django.test import RequestFactory; from django.views.debug import technical_500_response; "
        "import sys, os\n"
        "request = RequestFactory().get('/reports/history/?date_from=9999-12-31', **dict(os.environ))\n"
        "key = s.REGOS_INTEGRATION_KEY; url = os.environ['DATABASE_URL']\n"
        "try:\n    raise OverflowError('date value out of range ' + key)\n"
        "except OverflowError:\n    info = sys.exc_info()\n"
        "page = technical_500_response(request, *info).content.decode()\n"
        "from django.views.debug import get_exception_reporter_class\n"
        "text = get_exception_reporter_class(request)(request, *info).get_traceback_text()\n"
        "sys.stdout.write(page + '\\n<<TEXT>>\\n' + text)\n"
    )
    # A child process: the settings are read from this environment the way `make run` reads them
    # (mongodb:// needs no server to render a page).
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**env, "DJANGO_SETTINGS_MODULE": "regos_admin.settings"})
    assert done.returncode == 0, done.stderr[-3000:]
    page = done.stdout
    assert "OverflowError" in page and "<<TEXT>>" in page and "Request information" in page
    assert "REGOS_INTEGRATION_KEY" in page  # the META copy of the environment is there, masked
    secrets = list(DEBUG_SECRETS.values()) + ["DbPassw0rdXyz123", "RedisPassw0rd987654"]
    leaked = {secret[:6]: longest_run(page, secret) for secret in secrets}
    assert all(run < 8 for run in leaked.values()), leaked
    assert "ENV" not in re.findall(r'<td>([A-Z_]+)</td>', page)  # no setting holds the env object
    record.count(inputs=len(secrets), key_chars_leaked=max(leaked.values()))
    record.saw(f"page of {len(page)} characters (HTML + text): longest run of any secret "
               f"{max(leaked.values())} characters")


# --- a cut key in a non-JSON answer (issue 15, item 3) ----------------------------------------------

ECHO_KEY = "EchoK3y0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"  # 50 characters, like a real key


def test_a_url_echoing_answer_leaks_no_run_of_the_key(admin_user, settings, record: Record) -> None:  # type: ignore[no-untyped-def]
    record("Security", "REGOS (or a proxy) answers non-JSON that echoes the request URL, with the key crossing "
           "the 80-character snippet at every offset and the body cut at every length through the key; the "
           "sync's run error, run page, `regos_sync`/`regos_check`/`regos_discover` output and logs searched",
           "no run of 8+ key characters anywhere")
    import responses as responses_lib
    from django.core.management import CommandError, call_command

    settings.REGOS_INTEGRATION_KEY = ECHO_KEY
    settings.REGOS_BASE_URL = "https://regos.test/gateway/out"
    settings.REGOS_MAX_ATTEMPTS = 1
    settings.REGOS_RATE_LIMIT_STORE = "process"
    echo = f"<html><body>Bad gateway for POST /gateway/out/{ECHO_KEY}/v1/DocCheque/Get</body></html>"
    at = echo.index(ECHO_KEY)
    # The key crosses the snippet's 80th character for every padding up to 80 - at.
    bodies = [" " * pad + echo for pad in range(0, 80 - at + 1)] + [echo[:cut] for cut in range(at, at + 51, 5)]
    browser = Client()
    browser.force_login(admin_user)
    worst, tried, outputs = 0, 0, []
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    from regos_admin.logging import MaskRegosKeyFilter

    handler.addFilter(MaskRegosKeyFilter())
    logging.getLogger().addHandler(handler)
    try:
        for number, body in enumerate(bodies):
            with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as mock:
                mock.add(responses_lib.POST, re.compile(r"https://regos\.test/.*"), body=body, status=200)
                run = services.sync_range(date_from=DAY, date_to=DAY, client=fast_client())
                try:  # the client's own error, before anything downstream masks it again
                    fast_client().get_stocks()
                except Exception as exc:  # noqa: BLE001 — its text is what is searched
                    raw = f"{exc!s} {exc!r}"
                page = browser.get(f"/sync/runs/{run.pk}/").content.decode()
                out = io.StringIO()
                # The commands (each runs Django's checks: slow) on every fourth answer.
                for command, args in [] if number % 4 else (("regos_sync", ["--from", str(DAY), "--to", str(DAY)]),
                                      ("regos_discover", []), ("regos_check", ["--worker-timeout", "0"])):
                    try:
                        call_command(command, *args, stdout=out, stderr=out)
                    except (CommandError, SystemExit) as exc:
                        out.write(str(exc))
            texts = [run.error, run.error_hint, page, out.getvalue(), raw]
            outputs.append(texts)
            tried += 1
            worst = max([worst] + [longest_run(t, ECHO_KEY) for t in texts])
    finally:
        logging.getLogger().removeHandler(handler)
    worst = max(worst, longest_run(stream.getvalue(), ECHO_KEY))
    assert any("not valid JSON" in texts[0] for texts in outputs), outputs[0][0]
    assert worst < 8, worst
    record.count(inputs=tried, key_chars_leaked=worst)
    record.saw(f"{tried} answers × (run error, run page, 3 command outputs, logs): longest run of key "
               f"characters {worst}")


DAY = __import__("datetime").date(2026, 11, 20)


# --- smaller issue-15 findings ---------------------------------------------------------------------


def test_login_without_next_lands_on_the_home_page(accountant, record: Record) -> None:  # type: ignore[no-untyped-def]
    record("Security", "log in with no `next` field (a script, a bookmarked login URL)",
           "redirect to the home page, which answers 200 (it was a 404 at /accounts/profile/)")
    client = Client()
    response = client.post(LOGIN, {"username": accountant.username, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    record.saw(f"302 → {response['Location']} → 200")


def test_every_page_carries_a_script_policy_and_needs_no_inline_script(admin_user, record: Record) -> None:  # type: ignore[no-untyped-def]
    record("Security", "Content-Security-Policy on the panel's pages; every page scanned for inline script "
           "and event-handler attributes the policy would block", "`script-src 'self'` everywhere; no inline script")
    browser = Client()
    browser.force_login(admin_user)
    pages = ["/", "/login/", "/sync/now/", "/sync/mappings/", "/reports/history/", "/reports/summary/"]
    pages += [route.url for route in web.routes() if route.name.endswith(("_changelist", "_add"))]
    inline = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>|\son[a-z]+=\"", re.I)
    checked = 0
    for url in pages:
        response = browser.get(url)
        if response.status_code != 200 or not response["Content-Type"].startswith("text/html"):
            continue
        assert "script-src 'self'" in response["Content-Security-Policy"], url
        assert not inline.findall(response.content.decode()), (url, inline.findall(response.content.decode())[:3])
        checked += 1
    assert checked > 10
    record.saw(f"{checked} HTML pages: policy present, no inline script or on*= handler")


def test_check_deploy_names_the_warnings_it_silences(tmp_path, record: Record) -> None:  # type: ignore[no-untyped-def]
    record("Security", "`check --deploy` under production settings with HSTS and the HTTPS redirect off "
           "(a LAN install)", "passes, and its output says W004/W008 are silenced and why")
    done = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=ROOT, env=production_env(tmp_path), capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "security.W004 (HSTS) is silenced because DJANGO_HSTS_SECONDS=0" in output
    assert "security.W008 (HTTPS redirect) is silenced" in output
    record.saw(" ".join(output.split())[:300])
