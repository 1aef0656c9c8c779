"""Issue 18, status at a glance: the status selector, /health/'s new 503s and HEAD, the home page
box, "data as of" on the reports, the run page's worker warning, failure causes and the 403 pages.

Time is pinned with time-machine; runs and heartbeats are written by hand at known moments, so
every expected figure below is read off this file, not off the code.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
import time_machine
from django.db import OperationalError
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from sync import causes, services
from sync.health import run_waiting_for_worker, sync_status_get
from sync.inbox import kv_set, stamp
from sync.models import KeyValue, QuarantinedDocument, SyncRun
from sync.regos import errors
from sync.schedule import DAILY_NAME, HEARTBEAT_KEY, SCHEDULE_ERROR_KEY, daily_next_run_get, schedule_install
from tests.sync_now_support import make_role_user

pytestmark = pytest.mark.django_db

TZ = ZoneInfo("Asia/Tashkent")
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=TZ)
KEY = "status0000regos0000secret0000key"


def beat(at: datetime) -> None:
    kv_set(HEARTBEAT_KEY, stamp(at))


def daily_run(*, status: str = "succeeded", finished: datetime, minutes: int = 4, trigger: str = "schedule",
              **fields: object) -> SyncRun:
    """A run of the three-day lookback ending the day before ``finished`` started (a fresh run)."""
    started = finished - timedelta(minutes=minutes)
    day = started.astimezone(TZ).date()
    return SyncRun.objects.create(trigger=trigger, status=status, date_from=day - timedelta(days=3),
                                  date_to=day - timedelta(days=1), started_at=started, finished_at=finished,
                                  **fields)


def health(client: Client, method: str = "get") -> tuple[int, dict]:
    with time_machine.travel(NOW, tick=False):
        response = getattr(client, method)("/health/")
    return response.status_code, (json.loads(response.content) if response.content else {})


# --- /health/ ------------------------------------------------------------------------------------


def test_a_dead_worker_makes_health_503_while_the_data_is_fresh(client: Client) -> None:
    daily_run(finished=NOW - timedelta(hours=10))
    beat(NOW - timedelta(minutes=4, seconds=59))
    status, body = health(client)
    assert (status, body["status"], body["reasons"]) == (200, "ok", [])

    beat(NOW - timedelta(minutes=5, seconds=1))  # the heartbeat rule: alive within 5 minutes
    status, body = health(client)
    assert (status, body["status"], body["reasons"]) == (503, "failing", ["worker_dead"])
    assert body["worker"]["alive"] is False


def test_a_failed_scheduled_run_makes_health_503_until_a_fresh_success(client: Client) -> None:
    beat(NOW - timedelta(seconds=30))
    daily_run(finished=NOW - timedelta(hours=20))
    daily_run(status="failed", finished=NOW - timedelta(hours=2), error="boom",
              error_code=causes.REGOS_UNREACHABLE)
    status, body = health(client)
    # The data (20 h old) is still fresh: the failed schedule alone is the reason.
    assert (status, body["reasons"], body["last_scheduled_run_failed"]) == (503, ["scheduled_run_failed"], True)

    # An admin's Sync now of the lookback succeeds afterwards: the data is fresh again.
    daily_run(finished=NOW - timedelta(hours=1), trigger="user")
    status, body = health(client)
    assert (status, body["reasons"], body["last_scheduled_run_failed"]) == (200, [], False)


def test_a_failed_user_run_is_not_a_failed_schedule(client: Client) -> None:
    beat(NOW - timedelta(seconds=30))
    daily_run(finished=NOW - timedelta(hours=20))
    daily_run(status="failed", finished=NOW - timedelta(hours=2), trigger="user", error="boom")
    status, body = health(client)
    assert (status, body["reasons"], body["last_run_failed"]) == (200, [], True)


def test_the_scheduled_job_failing_before_it_has_a_run_is_a_failed_schedule(client: Client) -> None:
    beat(NOW - timedelta(seconds=30))
    daily_run(finished=NOW - timedelta(hours=20))
    kv_set(SCHEDULE_ERROR_KEY, json.dumps({"at": (NOW - timedelta(hours=1)).isoformat(),
                                           "error": "REGOS_INTEGRATION_KEY is not set", "hint": ""}))
    status, body = health(client)
    assert (status, body["reasons"]) == (503, ["scheduled_run_failed"])


def test_head_answers_like_get_without_a_body(client: Client) -> None:
    beat(NOW - timedelta(seconds=30))
    daily_run(finished=NOW - timedelta(hours=1))
    assert health(client, "head")[0] == 200
    beat(NOW - timedelta(hours=1))
    status, body = health(client, "head")
    assert (status, body) == (503, {})
    assert client.post("/health/").status_code == 405


def test_quarantine_alone_keeps_health_200(client: Client) -> None:
    beat(NOW - timedelta(seconds=30))
    daily_run(finished=NOW - timedelta(hours=1))
    QuarantinedDocument.objects.create(source_kind="cheque", regos_id="c-1", method="DocCheque/Get",
                                       business_date=date(2026, 11, 25), reason="amount: not a number",
                                       last_seen_at=NOW)
    status, body = health(client)
    assert (status, body["data_complete"], body["reasons"]) == (200, False, [])


# --- the selector: next scheduled run -------------------------------------------------------------


def test_next_run_comes_from_the_schedule_or_its_cron_in_tashkent(settings) -> None:
    from django_q.models import Schedule

    Schedule.objects.filter(name=DAILY_NAME).delete()  # migrate installed it
    assert daily_next_run_get(now=NOW).installed is False
    settings.REGOS_SYNC_CRON = "59 23 * * *"
    schedule_install()
    # django-q2 keeps next_run; a scheduler that stopped leaves it in the past.
    Schedule.objects.filter(name=DAILY_NAME).update(next_run=NOW - timedelta(days=3))
    assert daily_next_run_get(now=NOW).at == datetime(2026, 11, 26, 23, 59, tzinfo=TZ)
    Schedule.objects.filter(name=DAILY_NAME).update(next_run=datetime(2026, 11, 27, 23, 59, tzinfo=TZ))
    assert daily_next_run_get(now=NOW).at == datetime(2026, 11, 27, 23, 59, tzinfo=TZ)
    Schedule.objects.filter(name=DAILY_NAME).update(repeats=0)
    assert daily_next_run_get(now=NOW).paused is True


def test_the_status_selector_reads_everything_once() -> None:
    done = daily_run(finished=NOW - timedelta(hours=3), minutes=7)
    beat(NOW - timedelta(seconds=40))
    status = sync_status_get(now=NOW)
    assert status.last_success_at == done.finished_at
    assert status.last_success_duration == timedelta(minutes=7)
    assert (status.stale, status.worker_alive, status.failure, status.scheduled_run_failed) == (
        False, True, None, False)


# --- the run page: no worker picked the run up ---------------------------------------------------


def queued(created: datetime) -> SyncRun:
    with time_machine.travel(created, tick=False):
        return SyncRun.objects.create(trigger="user", date_from=date(2026, 11, 26), date_to=date(2026, 11, 26),
                                      days_total=1)


def test_a_queued_run_waits_for_a_worker_only_after_a_minute_without_heartbeat() -> None:
    run = queued(NOW)
    assert run_waiting_for_worker(run, now=NOW + timedelta(seconds=60)) is False
    assert run_waiting_for_worker(run, now=NOW + timedelta(seconds=61)) is True  # never a heartbeat
    beat(NOW + timedelta(seconds=50))  # a worker is alive and renewing
    assert run_waiting_for_worker(run, now=NOW + timedelta(seconds=90)) is False


def test_a_worker_that_died_just_before_the_press_is_reported_within_about_a_minute() -> None:
    # The last heartbeat is 3 minutes old: "alive" by the 5-minute rule, but not renewed since.
    beat(NOW - timedelta(minutes=3))
    run = queued(NOW)
    assert run_waiting_for_worker(run, now=NOW + timedelta(seconds=30)) is False
    assert run_waiting_for_worker(run, now=NOW + timedelta(seconds=61)) is True


def test_a_running_or_finished_run_never_waits_for_a_worker() -> None:
    run = queued(NOW - timedelta(hours=1))
    run.status = SyncRun.Status.RUNNING
    assert run_waiting_for_worker(run, now=NOW) is False


# --- failure causes -------------------------------------------------------------------------------


@pytest.mark.parametrize(("exc", "code"), [
    (errors.RegosTransportError("Stock/Get failed after 5 attempts: connection failed"), causes.REGOS_UNREACHABLE),
    (errors.RegosAccessError("REGOS refused the integration key (HTTP 401)"), causes.REGOS_KEY),
    (errors.RegosAccessError("REGOS_INTEGRATION_KEY is not set", description="no integration key"),
     causes.REGOS_NO_KEY),
    (errors.RegosRateLimitError("still rate-limited"), causes.REGOS_RATE_LIMIT),
    (errors.RegosResponseError("DocCheque/Get: result.0.amount: not a number"), causes.REGOS_UNREADABLE),
    (errors.RegosListingChanged("listing changed"), causes.REGOS_CHANGED),
    (errors.RegosValidationError("bad params", code=1008), causes.REGOS_REFUSED),
    (requests.ConnectionError("HTTPConnectionPool(host='regos', port=80): Max retries exceeded"),
     causes.REGOS_UNREACHABLE),
    (OperationalError("unable to open database file"), causes.DATABASE),
    (ZeroDivisionError("division by zero"), causes.UNEXPECTED),
])
def test_every_failure_gets_one_cause(exc: BaseException, code: str) -> None:
    assert causes.cause_of(exc) == code


@pytest.mark.parametrize(("text", "code"), [
    ("ConnectionError: HTTPConnectionPool(host='10.0.0.5', port=8000): Max retries exceeded", causes.REGOS_UNREACHABLE),
    ("OperationalError: database is locked", causes.DATABASE),
    ("Stock/Get: REGOS refused the integration key (HTTP 403)", causes.REGOS_KEY),
    ("The run was never started by a worker.", causes.NEVER_STARTED),
    ("The worker stopped: no heartbeat for more than REGOS_RUN_STALE_AFTER_S seconds.", causes.WORKER_STOPPED),
    ("KeyError: 'x'", causes.UNEXPECTED),
])
def test_runs_stored_before_the_code_are_classified_from_their_text(text: str, code: str) -> None:
    assert causes.cause_from_text(text) == code


class _Raising:
    exc: BaseException = RuntimeError()

    def __init__(self, **kwargs: object) -> None:
        pass

    def execute(self) -> None:
        raise self.exc

    def counts_for_run(self) -> dict[str, int]:
        return {}


@pytest.mark.parametrize(("exc", "code"), [
    (requests.ConnectionError(f"HTTPConnectionPool(host='regos', port=80): Max retries exceeded with url: "
                              f"/gateway/out/{KEY}/v1/Stock/Get"), causes.REGOS_UNREACHABLE),
    (OperationalError("database is locked"), causes.DATABASE),
])
def test_a_failing_run_stores_its_cause_code_and_masks_the_key(monkeypatch, settings, exc, code) -> None:
    settings.REGOS_INTEGRATION_KEY = KEY
    monkeypatch.setattr(services, "RangeSync", type("R", (_Raising,), {"exc": exc}))
    run, _ = services.sync_run_request(date_from=date(2026, 11, 24), date_to=date(2026, 11, 24), trigger="user")
    run = services.sync_run_execute(run_id=run.pk, client=object())  # type: ignore[arg-type]
    assert (run.status, run.error_code) == ("failed", code)
    assert KEY not in run.error and run.error


@pytest.fixture
def admin_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize(("language", "line"), [
    ("en", "REGOS is not reachable"),
    ("ru", "REGOS недоступен"),
    ("uz", "REGOS bilan bogʻlanib boʻlmadi"),
])
def test_the_run_page_shows_the_cause_in_the_readers_language_and_folds_the_text(
    admin_client, settings, language, line
) -> None:
    settings.REGOS_INTEGRATION_KEY = KEY
    # An old run: no code stored, the raw text a ConnectionError left, with the key in it.
    run = daily_run(status="failed", finished=NOW, error=f"ConnectionError: HTTPConnectionPool(host='regos', "
                    f"port=80): Max retries exceeded with url: /gateway/out/{KEY}/v1/Stock/Get")
    admin_client.cookies["django_language"] = language
    html = admin_client.get(reverse("sync_panel:run", args=[run.pk])).content.decode()
    assert f'<span data-testid="run-cause">{escape(line)}</span>' in html
    details = html[html.index("<details"):html.index("</details>")]
    assert "HTTPConnectionPool" in details and KEY not in html


# --- the home page -------------------------------------------------------------------------------


def test_the_home_page_shows_the_status_at_a_glance(admin_client, settings) -> None:
    from django_q.models import Schedule

    settings.REGOS_SYNC_CRON = "59 23 * * *"
    schedule_install()
    Schedule.objects.filter(name=DAILY_NAME).update(next_run=datetime(2026, 11, 26, 23, 59, tzinfo=TZ))
    daily_run(finished=datetime(2026, 11, 26, 7, 0, tzinfo=TZ), minutes=5)  # 3 hours before NOW
    beat(NOW - timedelta(seconds=20))
    with time_machine.travel(NOW, tick=False):
        html = admin_client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    box = html[html.index('id="regos-status"'):]
    box = box[:box.index("</dl>")]
    assert "2026-11-26 07:00" in box and "3\xa0hours ago" in box and "took 0:05:00" in box
    assert "2026-11-26 23:59" in box
    assert 'data-testid="worker-alive"' in box
    assert "none" in box  # no failure, no incomplete day

    # The worker stops, the next scheduled run fails on REGOS, a day is incomplete.
    beat(NOW - timedelta(minutes=30))
    daily_run(status="failed", finished=NOW - timedelta(minutes=10), error="x", error_code=causes.REGOS_KEY)
    QuarantinedDocument.objects.create(source_kind="cheque", regos_id="c-1", method="DocCheque/Get",
                                       business_date=date(2026, 11, 25), reason="amount", last_seen_at=NOW)
    with time_machine.travel(NOW, tick=False):
        html = admin_client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    box = html[html.index('id="regos-status"'):]
    box = box[:box.index("</dl>")]
    assert 'data-testid="worker-dead"' in box and "systemctl start regos-admin-worker" in box
    assert "the last sync failed: REGOS refused the integration key" in box
    assert "1 incomplete day" in box


# --- "data as of" on the reports ------------------------------------------------------------------


@pytest.mark.parametrize(("language", "expected"), [
    ("en", "Data as of 2026-11-26 07:00"),
    ("ru", "Данные на 26.11.2026 07:00"),
])
def test_every_report_says_as_of_when(client, accountant, language, expected) -> None:
    daily_run(finished=datetime(2026, 11, 26, 7, 0, tzinfo=TZ))
    with time_machine.travel(NOW, tick=False):
        client.force_login(accountant)
        client.cookies["django_language"] = language
        for url in (reverse("reports:history"), reverse("reports:summary")):
            html = client.get(url).content.decode()
            line = html[html.index('data-testid="data-as-of"'):]
            assert expected in " ".join(line[:line.index("</p>")].split()), url


# --- 403 -----------------------------------------------------------------------------------------


def test_the_403_page_has_the_layout_the_language_and_a_way_back(db) -> None:
    client = Client()
    client.force_login(make_role_user("hisobchi", role="accountant"))
    client.cookies["django_language"] = "ru"
    response = client.get(reverse("sync_panel:sync_now"), HTTP_REFERER="http://testserver/reports/history/")
    html = response.content.decode()
    assert response.status_code == 403
    assert 'id="site-name"' in html and "regos-admin" in html  # the panel's header
    assert "Доступ запрещён" in html
    assert 'href="http://testserver/reports/history/" data-testid="forbidden-back"' in html
    # Inside the admin (its own PermissionDenied), and with a foreign referer: back to the home page.
    response = client.get(reverse("admin:sync_syncrun_add"), HTTP_REFERER="https://evil.example/")
    assert response.status_code == 403
    assert 'href="/" data-testid="forbidden-back"' in response.content.decode()


def test_a_refused_form_post_explains_itself(admin_user) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post(reverse("sync_panel:sync_now"), {"date_from": "2026-11-24"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 403
    assert "The form has expired" in response.content.decode()
    assert not SyncRun.objects.exists()
    assert not KeyValue.objects.filter(key=HEARTBEAT_KEY).exists()
