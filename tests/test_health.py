"""/health/, the admin index's failure banner and the silent-branch check — on hand-built rows."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.template.loader import render_to_string
from django.test import Client, RequestFactory

from payroll.models import Branch
from sync.health import failure_banner_get, health_get, silent_branches_get
from sync.models import KeyValue, SalesFact, StockMapping, SyncRun
from sync.schedule import SCHEDULE_ERROR_KEY, worker_heartbeat_execute

TZ = ZoneInfo("Asia/Tashkent")
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=TZ)
TODAY = NOW.date()
KEY = "health0000regos0000secret0000key"


def at(day: date, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=TZ)


def run(status: str, first: date, last: date, *, started: datetime, minutes: int = 5,
        branch: Branch | None = None, trigger: str = "schedule", error: str = "", hint: str = "") -> SyncRun:
    return SyncRun.objects.create(
        trigger=trigger, status=status, date_from=first, date_to=last, branch=branch, started_at=started,
        finished_at=started + timedelta(minutes=minutes), error=error, error_hint=hint,
    )


def fact(stock_id: int, day: date, n: int, *, kind: str = SalesFact.Kind.CHEQUE,
         is_return: bool = False) -> None:
    SalesFact.objects.create(
        source_kind=kind, regos_id=f"{kind}-{stock_id}-{day}-{n}", business_date=day, occurred_at=at(day, 12),
        stock_id=stock_id, sale_type="retail" if kind == SalesFact.Kind.CHEQUE else "wholesale",
        is_return=is_return, amount=Decimal("1000.00"), doc_amount=Decimal("1000.00"), status="Closed",
    )


@pytest.fixture
def branches(db, navoiy: Branch, gijduvon: Branch) -> tuple[Branch, Branch]:
    StockMapping.objects.create(regos_stock_id=1, regos_name="Navoiy", branch=navoiy)
    StockMapping.objects.create(regos_stock_id=2, regos_name="G'ijduvon", branch=gijduvon)
    return navoiy, gijduvon


def get_health(client: Client, when: datetime, *, beat: bool = True) -> tuple[int, dict]:
    """/health/ at ``when``; ``beat``: a worker wrote its heartbeat 30 s before (a dead one is a 503)."""
    if beat:
        with time_machine.travel(when - timedelta(seconds=30), tick=False):
            worker_heartbeat_execute()
    with time_machine.travel(when, tick=False):
        response = client.get("/health/")
    return response.status_code, json.loads(response.content)


# --- /health/ -------------------------------------------------------------------------------------


def test_never_synced_is_503(db, client: Client) -> None:
    status, body = get_health(client, NOW, beat=False)
    assert status == 503
    assert body["status"] == "stale"
    assert body["reasons"] == ["stale", "worker_dead"]
    assert body["last_success_at"] is None
    assert body["worker"] == {"alive": False, "last_heartbeat_at": None}


def test_fresh_daily_run_is_200_until_the_threshold_passes(branches, client: Client, settings) -> None:
    settings.REGOS_STALE_AFTER_HOURS = 26
    # The daily run of the 25th: 23:59 → 00:04 on the 26th, window 23..25.
    done = run("succeeded", date(2026, 11, 23), date(2026, 11, 25), started=at(date(2026, 11, 25), 23, 59))
    status, body = get_health(client, NOW)
    assert status == 200
    assert body["status"] == "ok"
    assert datetime.fromisoformat(body["last_success_at"]) == done.finished_at
    assert [b["name"] for b in body["branches"]] == ["G'ijduvon filiali", "Navoiy filiali"]
    assert all(not b["stale"] for b in body["branches"])
    assert body["oldest_stale_branch"] is None

    # 25 h 59 min after it finished: still fine; 26 h 1 min: stale → 503.
    assert get_health(client, done.finished_at + timedelta(hours=25, minutes=59))[0] == 200
    status, body = get_health(client, done.finished_at + timedelta(hours=26, minutes=1))
    assert status == 503
    assert body["status"] == "stale"
    assert body["oldest_stale_branch"]["name"] == "G'ijduvon filiali"  # both equally old: first by name


def test_a_successful_backfill_of_an_old_month_does_not_count_as_fresh(branches, client: Client) -> None:
    run("succeeded", date(2026, 10, 1), date(2026, 10, 31), started=NOW - timedelta(hours=1), trigger="user")
    status, body = get_health(client, NOW)
    assert status == 503
    assert body["last_success_at"] is None


def test_failed_runs_do_not_count(branches, client: Client) -> None:
    run("failed", date(2026, 11, 24), TODAY, started=NOW - timedelta(hours=1), error="boom")
    status, body = get_health(client, NOW)
    assert status == 503
    assert body["last_run_failed"] is True


def test_per_branch_freshness_and_the_oldest_stale_branch(branches, client: Client) -> None:
    navoiy, gijduvon = branches
    # All branches 30 h ago; then a Navoiy-only run 1 h ago.
    run("succeeded", date(2026, 11, 23), date(2026, 11, 25), started=NOW - timedelta(hours=30))
    recent = run("succeeded", TODAY, TODAY, started=NOW - timedelta(hours=1), branch=navoiy, trigger="user")
    fact(1, date(2026, 11, 25), 1)
    fact(2, date(2026, 11, 20), 1)
    status, body = get_health(client, NOW)
    by_name = {b["name"]: b for b in body["branches"]}
    assert datetime.fromisoformat(by_name["Navoiy filiali"]["last_success_at"]) == recent.finished_at
    assert by_name["Navoiy filiali"]["stale"] is False
    assert by_name["Navoiy filiali"]["last_sale_date"] == "2026-11-25"
    assert by_name["G'ijduvon filiali"]["stale"] is True
    assert by_name["G'ijduvon filiali"]["last_sale_date"] == "2026-11-20"
    assert body["oldest_stale_branch"]["id"] == str(gijduvon.id)
    assert status == 503


def test_inactive_and_unmapped_branches_are_not_reported(branches, client: Client) -> None:
    navoiy, gijduvon = branches
    gijduvon.is_active = False
    gijduvon.save()
    Branch.objects.create(name="Unmapped filiali")
    run("succeeded", TODAY, TODAY, started=NOW - timedelta(hours=1))
    status, body = get_health(client, NOW)
    assert [b["name"] for b in body["branches"]] == ["Navoiy filiali"]
    assert status == 200


def test_health_json_has_no_secrets(branches, client: Client, settings) -> None:
    settings.REGOS_INTEGRATION_KEY = KEY
    run("failed", TODAY, TODAY, started=NOW - timedelta(minutes=30),
        error=f"Event/Get failed at https://integration.regos.uz/gateway/out/{KEY}/v1/", hint="check the key")
    with time_machine.travel(NOW, tick=False):
        response = client.get("/health/")
    text = response.content.decode()
    assert KEY not in text
    assert "integration.regos.uz" not in text
    assert "check the key" not in text
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_health_is_get_only_and_needs_no_login(db, client: Client) -> None:
    assert client.post("/health/").status_code == 405
    assert client.put("/health/").status_code == 405
    assert client.get("/health/").status_code in (200, 503)  # anonymous, no redirect to the login page


def test_worker_is_alive_while_the_heartbeat_is_recent(db, client: Client) -> None:
    with time_machine.travel(NOW, tick=False):
        worker_heartbeat_execute()
    _, body = get_health(client, NOW + timedelta(minutes=2), beat=False)
    assert body["worker"]["alive"] is True
    assert datetime.fromisoformat(body["worker"]["last_heartbeat_at"]) == NOW
    _, body = get_health(client, NOW + timedelta(minutes=6), beat=False)
    assert body["worker"]["alive"] is False
    assert body["worker"]["alive"] is False


# --- the failure banner ---------------------------------------------------------------------------


def test_banner_shows_the_last_failure_until_a_later_success(db) -> None:
    assert failure_banner_get() is None
    run("succeeded", TODAY, TODAY, started=NOW - timedelta(hours=3))
    assert failure_banner_get() is None
    failed = run("failed", date(2026, 11, 24), TODAY, started=NOW - timedelta(hours=2),
                 error="REGOS could not be reached", hint="check the network")
    banner = failure_banner_get()
    assert banner is not None
    assert (banner.error, banner.hint, banner.trigger, banner.partial) == (
        "REGOS could not be reached", "check the network", "schedule", False)
    assert banner.at == failed.finished_at
    # Still running / queued runs change nothing; a later failure replaces it.
    SyncRun.objects.create(trigger="user", status="running", date_from=TODAY, date_to=TODAY,
                           started_at=NOW - timedelta(minutes=1))
    run("partial", TODAY, TODAY, started=NOW - timedelta(hours=1), error="day 26 failed", trigger="webhook")
    banner = failure_banner_get()
    assert banner is not None and banner.partial and banner.error == "day 26 failed"
    run("succeeded", TODAY, TODAY, started=NOW - timedelta(minutes=30), trigger="user")
    assert failure_banner_get() is None


def test_banner_shows_a_scheduled_job_that_failed_before_it_had_a_run(db) -> None:
    run("succeeded", TODAY, TODAY, started=NOW - timedelta(hours=3))
    error = "REGOS_INTEGRATION_KEY is not set"
    KeyValue.objects.create(key=SCHEDULE_ERROR_KEY, value=json.dumps(
        {"at": (NOW - timedelta(hours=1)).isoformat(), "error": error, "hint": "set it"}))
    banner = failure_banner_get()
    assert banner is not None and banner.error == error and banner.hint == "set it"
    run("succeeded", TODAY, TODAY, started=NOW - timedelta(minutes=10))
    assert failure_banner_get() is None


def test_index_include_renders_banner_and_silent_branches(branches, admin_user) -> None:
    run("failed", TODAY, TODAY, started=NOW - timedelta(hours=1), error="REGOS rate limit", hint="try later")
    fact(1, date(2026, 11, 25), 1)
    request = RequestFactory().get("/")
    request.user = admin_user
    with time_machine.travel(NOW, tick=False):
        html = render_to_string("sync/_index_health.html", request=request)
    assert "REGOS rate limit" in html and "try later" in html
    assert 'class="error regos-health-failure"' in html
    assert "G&#x27;ijduvon filiali" in html  # the silent branch, escaped
    assert "regos-health-silent" in html


def test_index_include_is_empty_when_all_is_well(branches, admin_user) -> None:
    run("succeeded", TODAY, TODAY, started=NOW - timedelta(hours=1))
    request = RequestFactory().get("/")
    request.user = admin_user
    with time_machine.travel(NOW, tick=False):
        assert render_to_string("sync/_index_health.html", request=request).strip() == ""


# --- silent branches ------------------------------------------------------------------------------


def test_silent_branch_is_flagged_with_the_day(branches, settings) -> None:
    settings.REGOS_LOOKBACK_DAYS = 3  # complete days 23..25 (today, the 26th, is not over)
    navoiy, gijduvon = branches
    for day in (date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25), TODAY):
        fact(1, day, 1)
    fact(2, date(2026, 11, 23), 1)
    fact(2, date(2026, 11, 25), 1)
    fact(2, date(2026, 11, 24), 2, is_return=True)  # a return is not a sale
    fact(2, date(2026, 11, 24), 3, kind=SalesFact.Kind.WHOLESALE)  # wholesale is not a retail cheque
    fact(2, date(2026, 11, 20), 4)  # outside the window
    with time_machine.travel(NOW, tick=False):
        silent = silent_branches_get()
    assert [(s.name, s.date) for s in silent] == [("G'ijduvon filiali", date(2026, 11, 24))]
    assert silent[0].branch_id == str(gijduvon.id)


def test_no_flag_when_nobody_sold_or_for_inactive_or_unmapped_branches(branches, settings) -> None:
    settings.REGOS_LOOKBACK_DAYS = 3
    navoiy, gijduvon = branches
    # Only an unmapped stock sold on the 24th: no mapped branch sold, nobody is flagged.
    fact(99, date(2026, 11, 24), 1)
    # Navoiy sold on the 25th; G'ijduvon is inactive (a closed branch is expected to be silent).
    fact(1, date(2026, 11, 25), 1)
    gijduvon.is_active = False
    gijduvon.save()
    with time_machine.travel(NOW, tick=False):
        assert silent_branches_get() == []


def test_branch_with_several_stocks_sells_through_any_of_them(branches, settings) -> None:
    settings.REGOS_LOOKBACK_DAYS = 1
    navoiy, gijduvon = branches
    StockMapping.objects.create(regos_stock_id=22, regos_name="G'ijduvon 2", branch=gijduvon)
    fact(1, date(2026, 11, 25), 1)
    fact(22, date(2026, 11, 25), 1)
    with time_machine.travel(NOW, tick=False):
        assert silent_branches_get() == []


def test_health_selector_counts_dirty_days_and_last_event(db) -> None:
    from sync.inbox import dirty_day_mark

    dirty_day_mark(day=date(2026, 11, 25))
    dirty_day_mark(day=date(2026, 11, 25))
    health = health_get(now=NOW)
    assert health.dirty_days == 1
    assert health.last_event_at is None


def test_quarantined_documents_are_reported_but_keep_200(branches, client: Client) -> None:
    """A quarantined document is a data problem shown to the admin, not a stopped sync: no 503."""
    from sync.models import QuarantinedDocument

    run("succeeded", date(2026, 11, 23), date(2026, 11, 25), started=at(date(2026, 11, 25), 23, 59))
    status, body = get_health(client, NOW)
    assert (status, body["data_complete"], body["quarantined_documents"], body["incomplete_days"]) == (
        200, True, 0, [])

    for regos_id, day in (("c-1", date(2026, 11, 24)), ("c-2", date(2026, 11, 24)), ("c-3", date(2026, 11, 25))):
        QuarantinedDocument.objects.create(source_kind="cheque", regos_id=regos_id, method="DocCheque/Get",
                                           business_date=day, reason="amount: not a number", last_seen_at=NOW)
    QuarantinedDocument.objects.create(source_kind="wholesale", regos_id="77", method="DocWholeSale/Get",
                                       business_date=None, reason="date: not a time", last_seen_at=NOW)

    status, body = get_health(client, NOW)
    assert status == 200 and body["status"] == "ok"
    assert body["data_complete"] is False
    assert body["quarantined_documents"] == 4  # the undated one too
    assert body["incomplete_days"] == [
        {"date": "2026-11-24", "quarantined": 2}, {"date": "2026-11-25", "quarantined": 1},
    ]
