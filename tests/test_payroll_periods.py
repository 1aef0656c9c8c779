"""Closing a payroll month (issue 19): the snapshot, frozen Node-facing totals, adjustments found later,
reopen/re-close audit, the readiness list. Syncs run over real HTTP against the REGOS emulator with
the rules dataset (tests/sync_data.py); every expected figure is worked out by hand in the comments.
"""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import timezone, translation

from payroll import selectors as payroll_selectors
from payroll import services
from payroll.models import MonthlySales, PayrollAdjustment, PayrollPeriod, PeriodSnapshot, PeriodTransition
from sync import services as sync_services
from sync.engine import history
from sync.models import QuarantinedDocument, SyncRun
from tests.sync_data import AZIZ, D1, D2, D3, DILNOZA, Z, at, d, rules_dataset

pytestmark = pytest.mark.django_db

NOVEMBER = date(2026, 11, 1)
# Navoiy/Aziz in November, from the rules dataset's hand-worked history (tests/sync_data.py):
# D1 (195000.00, 15000.00, 2000000.00, 0, 2180000.00, 2) + D2 (20000.00, 0, 0, 250000.00, −230000.00, 1)
AZIZ_NAVOIY = (d("215000.00"), d("15000.00"), d("2000000.00"), d("250000.00"), d("1950000.00"), 3)


@pytest.fixture
def december(monkeypatch: pytest.MonkeyPatch) -> None:
    """2 December: November is last month, the accountant closes it."""
    monkeypatch.setattr(history, "today", lambda: date(2026, 12, 2))


@pytest.fixture
def dataset(regos_server, cast, december):  # type: ignore[no-untyped-def]
    ds = rules_dataset()
    regos_server(ds)
    return ds


def sync() -> SyncRun:
    run = sync_services.sync_range(date_from=D1, date_to=D3)
    assert run.status == SyncRun.Status.SUCCEEDED, (run.error, run.error_hint)
    return run


def figures(row: object) -> tuple:
    return tuple(getattr(row, name) for name in (
        "retail_sales", "retail_returns", "wholesale_sales", "wholesale_returns", "total_sales", "cheque_count"
    ))


def node_month(aziz, navoiy) -> MonthlySales:  # type: ignore[no-untyped-def]
    return MonthlySales.objects.get(month="2026-11", branch=navoiy, employee=aziz)


def test_late_return_after_close_is_one_adjustment_in_december(dataset, navoiy, aziz) -> None:  # type: ignore[no-untyped-def]
    sync()
    assert figures(node_month(aziz, navoiy)) == AZIZ_NAVOIY
    problems = [str(p) for p in payroll_selectors.period_readiness(month=NOVEMBER)]
    period = services.period_close(month=NOVEMBER, username="buxgalter", problems=problems, confirmed=True)
    assert period.is_closed and period.closing == 1 and period.snapshot_at is not None
    snapshot = PeriodSnapshot.objects.get(month="2026-11", branch=navoiy, employee=aziz)
    assert figures(snapshot) == AZIZ_NAVOIY
    ms = node_month(aziz, navoiy)
    assert ms.closed and ms.closed_at == period.closed_at

    # A return keyed in REGOS on 11 November after the close: 40000.00, seller Aziz, at Navoiy.
    dataset.add_cheque(uuid="c-late-ret", date=at(D2, 16), session="s-nav-2", amount=d("40000.00"),
                       is_return=True, seller_id=AZIZ, cashier_id=DILNOZA)
    sync()
    # History follows REGOS: D2 Navoiy/Aziz now has 40000.00 of retail returns.
    assert history.month_figures(month=NOVEMBER)[(navoiy.pk, str(aziz.pk))][2] == d("55000.00")
    # The paid figures do not move: neither the snapshot nor the Node-facing month totals.
    assert figures(PeriodSnapshot.objects.get(pk=snapshot.pk)) == AZIZ_NAVOIY
    assert figures(node_month(aziz, navoiy)) == AZIZ_NAVOIY
    (adjustment,) = PayrollAdjustment.objects.all()
    # retail returns +40000.00, net −40000.00, nothing else; carried into December (the first open month).
    assert figures(adjustment) == (Z, d("40000.00"), Z, Z, d("-40000.00"), 0)
    assert (adjustment.month, adjustment.carried_to, adjustment.branch_id, adjustment.employee_id) == (
        "2026-11", "2026-12", navoiy.pk, aziz.pk
    )
    assert [doc["regosId"] for doc in adjustment.documents] == ["c-late-ret"]

    # Another re-sync with nothing new in REGOS: no second adjustment.
    sync()
    history.totals_recompute()
    assert PayrollAdjustment.objects.count() == 1

    # A further late sale of 10000.00: only the new difference is recorded (truth − snapshot − earlier).
    dataset.add_cheque(uuid="c-late-sale", date=at(D2, 17), session="s-nav-2", amount=d("10000.00"),
                       seller_id=AZIZ, cashier_id=DILNOZA)
    sync()
    second = PayrollAdjustment.objects.get(sequence=2)
    assert figures(second) == (d("10000.00"), Z, Z, Z, d("10000.00"), 1)
    assert [doc["regosId"] for doc in second.documents] == ["c-late-sale"]
    assert figures(node_month(aziz, navoiy)) == AZIZ_NAVOIY


def test_reopen_needs_a_reason_and_reclose_takes_a_new_snapshot(dataset, navoiy, aziz) -> None:  # type: ignore[no-untyped-def]
    sync()
    services.period_close(month=NOVEMBER, username="buxgalter", problems=["x"], confirmed=True)
    with pytest.raises(services.PeriodError):
        services.period_close(month=NOVEMBER, username="buxgalter", problems=[], confirmed=False)
    with pytest.raises(services.PeriodError):
        services.period_reopen(month=NOVEMBER, username="boshqaruvchi", reason="   ")
    assert PayrollPeriod.objects.get(month="2026-11").is_closed

    dataset.add_cheque(uuid="c-late-ret", date=at(D2, 16), session="s-nav-2", amount=d("40000.00"),
                       is_return=True, seller_id=AZIZ, cashier_id=DILNOZA)
    services.period_reopen(month=NOVEMBER, username="boshqaruvchi", reason="Late return of 11 Nov")
    ms = node_month(aziz, navoiy)
    assert not ms.closed and ms.closed_at is None
    sync()
    # Open again: the month follows REGOS. Returns 15000 + 40000; net 1950000 − 40000.
    assert figures(node_month(aziz, navoiy)) == (
        d("215000.00"), d("55000.00"), d("2000000.00"), d("250000.00"), d("1910000.00"), 3
    )
    assert not PayrollAdjustment.objects.exists()
    period = services.period_close(month=NOVEMBER, username="buxgalter", problems=[], confirmed=False,
                                   note="After the return")
    assert period.closing == 2
    assert figures(PeriodSnapshot.objects.get(month="2026-11", closing=2, branch=navoiy, employee=aziz)) == (
        d("215000.00"), d("55000.00"), d("2000000.00"), d("250000.00"), d("1910000.00"), 3
    )
    audit = list(PeriodTransition.objects.order_by("at").values_list("action", "username", "reason",
                                                                     "confirmed_problems"))
    assert audit == [
        ("close", "buxgalter", "", ["x"]),
        ("reopen", "boshqaruvchi", "Late return of 11 Nov", []),
        ("close", "buxgalter", "After the return", []),
    ]
    sync()
    assert not PayrollAdjustment.objects.exists()


def test_a_stale_transition_loses_the_claim(dataset) -> None:  # type: ignore[no-untyped-def]
    period = services.period_get_or_create(month=NOVEMBER)
    services.period_close(month=NOVEMBER, username="a", problems=[], confirmed=False)
    # Someone holding the period as it was read before the close cannot transition it.
    assert not services._claim(period=period, changes={"status": PayrollPeriod.Status.CLOSED})
    assert PeriodTransition.objects.count() == 1


def test_readiness_lists_unmapped_quarantined_failed_runs_and_negative_totals(dataset, dilnoza) -> None:  # type: ignore[no-untyped-def]
    sync()
    items = payroll_selectors.period_readiness(month=NOVEMBER)
    codes = [item.code for item in items]
    # Stock 3 (c-08) is unmapped and Nodira (c-07, return 7002) has no employee: they wait for a mapping;
    # no reconciliation with REGOS covers November yet.
    assert codes == ["unmapped", "unreconciled"]
    assert items[0].url
    QuarantinedDocument.objects.create(source_kind="cheque", regos_id="q-1", business_date=D2, reason="bad",
                                       last_seen_at=timezone.now())
    SyncRun.objects.create(trigger="user", date_from=date(2026, 11, 20), date_to=date(2026, 11, 21),
                           status=SyncRun.Status.FAILED)
    # A failed run that a later successful run covered is no longer a problem.
    SyncRun.objects.create(trigger="user", date_from=D1, date_to=D1, status=SyncRun.Status.FAILED)
    SyncRun.objects.create(trigger="user", date_from=D1, date_to=D3, status=SyncRun.Status.SUCCEEDED)
    items = payroll_selectors.period_readiness(month=NOVEMBER)
    assert [item.code for item in items] == ["unmapped", "quarantined", "failed_run", "unreconciled"]
    assert "2026-11-11" in items[1].message and "2026-11-20" in items[2].message
    # Dilnoza: D1 42000.50 + D2 25000.00 = 67000.50; a return of 100000.00 makes it −32999.50.
    dataset.add_cheque(uuid="c-big-ret", date=at(D2, 18), session="s-nav-2", amount=d("100000.00"),
                       is_return=True, seller_id=DILNOZA, cashier_id=DILNOZA)
    sync()
    with translation.override("uz"):
        negative = [item for item in payroll_selectors.period_readiness(month=NOVEMBER) if item.code == "negative"]
    assert [item.message for item in negative] == ["Karimova Dilnoza: oylik sof jami -32999.50 soʻm."]
    assert f"employee={dilnoza.pk}" in negative[0].url
    # Nothing in December but the reconciliation with REGOS that no run has done yet.
    assert [item.code for item in payroll_selectors.period_readiness(month=date(2026, 12, 1))] == ["unreconciled"]


def test_a_recompute_that_raced_the_close_is_undone_by_the_next_totals_step(dataset, navoiy, aziz) -> None:  # type: ignore[no-untyped-def]
    sync()
    services.period_close(month=NOVEMBER, username="buxgalter", problems=[], confirmed=True)
    dataset.add_cheque(uuid="c-late-ret", date=at(D2, 16), session="s-nav-2", amount=d("40000.00"),
                       is_return=True, seller_id=AZIZ, cashier_id=DILNOZA)
    sync()
    # A sync that read "open" just before the close rewrites the month from history…
    history.monthly_sales_recompute(month=NOVEMBER)
    assert node_month(aziz, navoiy).retail_returns == d("55000.00")
    # …and the next totals step puts the paid figures back, marked closed, and records nothing twice.
    history.totals_recompute()
    ms = node_month(aziz, navoiy)
    assert figures(ms) == AZIZ_NAVOIY and ms.closed
    assert PayrollAdjustment.objects.count() == 1


def test_readiness_names_registers_that_differ_from_regos_and_clears_once_reconciled() -> None:
    """Hand-made reconciliation results for November: register 7 counted one sale of 25000.00 more than
    REGOS reports (pinned to 11 November); stock 3's wholesale equal. Then a newer run finds all equal."""
    from sync.models import ReconciliationRow, ReconciliationRun

    def run(*, differs: bool) -> ReconciliationRun:
        reconciled = ReconciliationRun.objects.create(
            date_from=date(2026, 11, 1), date_to=date(2026, 11, 30), status=ReconciliationRun.Status.SUCCEEDED,
            finished_at=timezone.now(),
        )
        regos = d("75000.00") if differs else d("100000.00")
        for level, first, last in (("range", date(2026, 11, 1), date(2026, 11, 30)), ("day", D2, D2)):
            ReconciliationRow.objects.create(
                run=reconciled, kind="register", level=level, regos_id=7, date_from=first, date_to=last,
                our_count=4, regos_count=3 if differs else 4, our_amount=d("100000.00"), regos_amount=regos,
                our_return_amount=d("0.00"), regos_return_amount=d("0.00"),
            )
        ReconciliationRow.objects.create(
            run=reconciled, kind="stock", regos_id=3, date_from=date(2026, 11, 1), date_to=date(2026, 11, 30),
            our_count=1, regos_count=1, our_amount=d("500.00"), regos_amount=d("500.00"),
            our_return_amount=d("0.00"), regos_return_amount=d("0.00"),
        )
        return reconciled

    differing = run(differs=True)
    with translation.override("en"):
        items = [i for i in payroll_selectors.period_readiness(month=NOVEMBER) if i.code == "unreconciled"]
    # 4 − 3 = +1 cheque, 100000.00 − 75000.00 = +25000.00 net; one item (stock 3 is equal).
    assert [i.message for i in items] == ["register 7 differs from REGOS: count +1, amount +25000.00 (2026-11-11)"]
    assert str(differing.id) in items[0].url
    run(differs=False)
    assert [i for i in payroll_selectors.period_readiness(month=NOVEMBER) if i.code == "unreconciled"] == []
