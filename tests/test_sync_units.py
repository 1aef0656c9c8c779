"""Sync rules that need no REGOS: money rounding, attribution, range validation, run claims and joins."""

from __future__ import annotations

import os
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from payroll.dates import today
from sync import services, tasks
from sync.engine.documents import base_amount, wholesale_fact
from sync.engine.history import attributed_user
from sync.engine.runs import run_claim
from sync.models import SalesFact, SyncRun
from sync.regos.models import DocWholeSale, DocWholeSaleReturn

Kind = SalesFact.Kind


# --- money ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "rate", "expected"),
    [
        # 100.50 × 12650.00 = 1 271 325.00 exactly
        (Decimal("100.50"), Decimal("12650.00"), Decimal("1271325.00")),
        # 0.01 × 0.5 = 0.005 → half up → 0.01 (banker's rounding would give 0.00)
        (Decimal("0.01"), Decimal("0.5"), Decimal("0.01")),
        # 3.333 × 3 = 9.999 → 10.00
        (Decimal("3.333"), Decimal("3"), Decimal("10.00")),
        # 12.345 × 1 = 12.345 → 12.35 (half up on the unrounded document amount)
        (Decimal("12.345"), Decimal("1"), Decimal("12.35")),
    ],
)
def test_base_amount_rounds_once_half_up(amount: Decimal, rate: Decimal, expected: Decimal) -> None:
    assert base_amount(amount, rate) == expected


def _shipment(**overrides: object) -> dict:
    doc = {
        "id": 5601,
        "date": int(datetime(2026, 11, 24, 7, tzinfo=UTC).timestamp()),
        "stock": {"id": 1, "name": "Navoiy filiali"},
        "currency": {"id": 2, "code_chr": "USD", "is_base": False},
        "amount": "100.50",
        "exchange_rate": "12650.00",
        "performed": True,
        "deleted_mark": False,
        "seller": None,
        "attached_user": {"id": 9, "full_name": "Rahimov Bobur"},
    }
    doc.update(overrides)
    return doc


def test_usd_shipment_is_converted_with_the_documents_rate() -> None:
    row = wholesale_fact(DocWholeSale.model_validate(_shipment()))
    assert row is not None
    assert (row.amount, row.doc_amount, row.currency, row.exchange_rate) == (
        Decimal("1271325.00"),
        Decimal("100.50"),
        "USD",
        Decimal("12650.000000"),
    )
    assert (row.source_kind, row.regos_id, row.is_return, row.stock_id) == (Kind.WHOLESALE, "5601", False, 1)


def test_base_currency_shipment_ignores_a_stray_rate() -> None:
    row = wholesale_fact(
        DocWholeSale.model_validate(
            _shipment(
                currency={"id": 1, "code_chr": "UZS", "is_base": True}, amount="1000.00", exchange_rate="7"
            )
        )
    )
    assert row is not None and row.amount == Decimal("1000.00")


def test_unperformed_and_delete_marked_documents_are_not_facts() -> None:
    assert wholesale_fact(DocWholeSale.model_validate(_shipment(performed=False))) is None
    assert wholesale_fact(DocWholeSale.model_validate(_shipment(deleted_mark=True))) is None
    ret = DocWholeSaleReturn.model_validate(_shipment())
    row = wholesale_fact(ret)
    assert row is not None and (row.source_kind, row.is_return, row.seller_id, row.attached_user_id) == (
        Kind.WHOLESALE_RETURN,
        True,
        None,
        9,
    )


# --- attribution ---------------------------------------------------------------------------------

# (kind, seller, cashier, attached) → expected user per mode, worked out from the rules in the issue.
# fmt: off
ATTRIBUTION = [
    # kind,                 seller, cashier, attached, seller_or_cashier, seller, cashier
    (Kind.CHEQUE,           17,     5,       None,     17,                17,     5),
    (Kind.CHEQUE,           None,   5,       None,     5,                 None,   5),
    (Kind.WHOLESALE,        17,     None,    9,        17,                17,     9),
    (Kind.WHOLESALE,        None,   None,    9,        9,                 None,   9),
    (Kind.WHOLESALE_RETURN, None,   None,    9,        9,                 9,      9),
]
# fmt: on


@pytest.mark.parametrize(
    ("kind", "seller", "cashier", "attached", "default", "seller_only", "cashier_only"), ATTRIBUTION
)
def test_attribution(kind, seller, cashier, attached, default, seller_only, cashier_only) -> None:  # type: ignore[no-untyped-def]
    ids = {"kind": kind, "seller_id": seller, "cashier_id": cashier, "attached_user_id": attached}
    assert attributed_user(**ids, mode="seller_or_cashier") == default
    assert attributed_user(**ids, mode="seller") == seller_only
    assert attributed_user(**ids, mode="cashier") == cashier_only


# --- range validation ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_reversed_range_is_refused_and_writes_nothing() -> None:
    with pytest.raises(services.SyncRangeError, match="before the start date"):
        services.sync_run_request(date_from=date(2026, 11, 5), date_to=date(2026, 11, 1), trigger="user")
    assert SyncRun.objects.count() == 0


@pytest.mark.django_db
def test_too_long_range_names_the_limit(settings) -> None:  # type: ignore[no-untyped-def]
    settings.REGOS_SYNC_MAX_DAYS = 31
    last = today()
    with pytest.raises(services.SyncRangeError, match=r"has 32 days; at most 31 days"):
        services.sync_run_request(date_from=last - timedelta(days=31), date_to=last, trigger="user")
    assert SyncRun.objects.count() == 0


@pytest.mark.django_db
def test_future_range_is_refused() -> None:
    with pytest.raises(services.SyncRangeError, match="in the future"):
        services.sync_run_request(date_from=today(), date_to=today() + timedelta(days=1), trigger="user")


# --- joining and claiming ------------------------------------------------------------------------

DAY = date(2026, 11, 2)


@pytest.mark.django_db
def test_overlapping_trigger_joins_and_disjoint_one_does_not() -> None:
    first, created = services.sync_run_request(date_from=DAY, date_to=DAY + timedelta(days=4), trigger="user")
    same, created_again = services.sync_run_request(
        date_from=DAY + timedelta(days=4), date_to=DAY + timedelta(days=6), trigger="schedule"
    )
    other, created_other = services.sync_run_request(
        date_from=DAY + timedelta(days=5), date_to=DAY + timedelta(days=6), trigger="user"
    )
    assert (created, created_again, created_other) == (True, False, True)
    assert same.id == first.id and other.id != first.id
    assert first.status == SyncRun.Status.QUEUED and first.days_total == 5
    assert [p["status"] for p in first.progress] == ["pending"] * 5


@pytest.mark.django_db
def test_stale_running_run_is_failed_and_a_new_one_created(settings) -> None:  # type: ignore[no-untyped-def]
    settings.REGOS_RUN_STALE_AFTER_S = 60
    old = timezone.now() - timedelta(seconds=61)
    dead = SyncRun.objects.create(
        trigger="user",
        date_from=DAY,
        date_to=DAY,
        status=SyncRun.Status.RUNNING,
        started_at=old,
        heartbeat_at=old,
    )
    run, created = services.sync_run_request(date_from=DAY, date_to=DAY, trigger="user")
    dead.refresh_from_db()
    assert created and run.id != dead.id
    assert dead.status == SyncRun.Status.FAILED and "worker stopped" in dead.error


@pytest.mark.django_db
def test_live_running_run_is_joined(settings) -> None:  # type: ignore[no-untyped-def]
    settings.REGOS_RUN_STALE_AFTER_S = 60
    live = SyncRun.objects.create(
        trigger="user",
        date_from=DAY,
        date_to=DAY,
        status=SyncRun.Status.RUNNING,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )
    run, created = services.sync_run_request(date_from=DAY, date_to=DAY, trigger="user")
    assert not created and run.id == live.id


def _gone_process_owner() -> str:
    """The owner string of a process that has just exited on this host."""
    import socket
    import subprocess
    import sys

    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           timeout=60)
    return f"{socket.gethostname()} {int(child.stdout)} 12345"


@pytest.mark.django_db
def test_a_running_run_of_a_dead_process_is_failed_at_once(settings) -> None:  # type: ignore[no-untyped-def]
    """Issue 15: a killed regos_sync left its run running; later syncs joined it until it went stale."""
    settings.REGOS_RUN_STALE_AFTER_S = 3600
    now = timezone.now()
    owner = _gone_process_owner()
    dead = SyncRun.objects.create(trigger="command", date_from=DAY, date_to=DAY, status=SyncRun.Status.RUNNING,
                                  started_at=now, heartbeat_at=now, owner=owner)
    run, created = services.sync_run_request(date_from=DAY, date_to=DAY, trigger="command")
    dead.refresh_from_db()
    assert created and run.id != dead.id
    assert dead.status == SyncRun.Status.FAILED
    assert f"pid {owner.split()[1]} on {owner.split()[0]}" in dead.error and "is gone" in dead.error


@pytest.mark.django_db
def test_a_running_run_of_a_live_or_foreign_process_is_joined(settings) -> None:  # type: ignore[no-untyped-def]
    from sync.engine.runs import process_id

    settings.REGOS_RUN_STALE_AFTER_S = 3600
    now = timezone.now()
    pid = _gone_process_owner().split()[1]
    for owner in (process_id(), f"another-host.example {pid} 12345", ""):
        SyncRun.objects.all().delete()
        live = SyncRun.objects.create(trigger="command", date_from=DAY, date_to=DAY,
                                      status=SyncRun.Status.RUNNING, started_at=now, heartbeat_at=now, owner=owner)
        run, created = services.sync_run_request(date_from=DAY, date_to=DAY, trigger="command")
        assert not created and run.id == live.id, owner


@pytest.mark.django_db
def test_a_reused_pid_does_not_keep_a_run_alive(settings) -> None:  # type: ignore[no-untyped-def]
    """The pid is alive but started at another time: another process got the number."""
    import os
    import socket

    from sync.engine.runs import owner_is_dead, process_id

    assert not owner_is_dead(process_id())
    assert owner_is_dead(f"{socket.gethostname()} {os.getpid()} 1")


@pytest.mark.django_db
def test_a_run_is_claimed_once() -> None:
    run, _ = services.sync_run_request(date_from=DAY, date_to=DAY, trigger="user")
    claimed = run_claim(run_id=run.id)
    assert claimed is not None and claimed.owner.split()[1] == str(os.getpid())
    # A second delivery of the same task finds it running with a fresh heartbeat: not ours.
    assert run_claim(run_id=run.id) is None


@pytest.mark.django_db
def test_redelivered_task_of_a_finished_run_does_nothing() -> None:
    run = SyncRun.objects.create(trigger="user", date_from=DAY, date_to=DAY, status=SyncRun.Status.SUCCEEDED)
    assert "already succeeded" in tasks.sync_run_task(str(run.id))
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED and run.started_at is None


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_triggers_get_one_run() -> None:
    barrier = threading.Barrier(2)
    results: list[tuple[str, bool]] = []
    errors: list[BaseException] = []

    def trigger() -> None:
        try:
            barrier.wait()
            run, created = services.sync_run_request(
                date_from=DAY, date_to=DAY + timedelta(days=2), trigger="user"
            )
            results.append((str(run.id), created))
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=trigger) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len({run_id for run_id, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, True]
    assert SyncRun.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_sync_range_follows_a_running_run_instead_of_starting_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(services, "JOIN_POLL_S", 0.05)
    now = timezone.now()
    other = SyncRun.objects.create(
        trigger="user",
        date_from=DAY,
        date_to=DAY + timedelta(days=1),
        status=SyncRun.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        days_total=2,
        progress=[
            {"date": "2026-11-02", "status": "done", "documents": 4},
            {"date": "2026-11-03", "status": "pending", "documents": 0},
        ],
    )
    joined: list[SyncRun] = []
    days: list[tuple[date, str, int]] = []
    result: list[SyncRun] = []

    def command() -> None:
        try:
            result.append(
                services.sync_range(
                    date_from=DAY,
                    date_to=DAY,
                    on_join=joined.append,
                    on_day=lambda r: days.append((r.date, r.status, r.cheques)),
                )
            )
        finally:
            connection.close()

    thread = threading.Thread(target=command)
    thread.start()
    while not joined and thread.is_alive():  # the command has joined and now follows the run
        thread.join(0.05)
    SyncRun.objects.filter(id=other.id).update(
        status=SyncRun.Status.SUCCEEDED,
        finished_at=timezone.now(),
        progress=[
            {"date": "2026-11-02", "status": "done", "documents": 4},
            {"date": "2026-11-03", "status": "done", "documents": 7},
        ],
    )
    thread.join(10)

    assert [run.id for run in joined] == [other.id]
    assert result[0].id == other.id and result[0].status == SyncRun.Status.SUCCEEDED
    assert days == [(date(2026, 11, 2), "followed", 4), (date(2026, 11, 3), "followed", 7)]
    assert SyncRun.objects.count() == 1
