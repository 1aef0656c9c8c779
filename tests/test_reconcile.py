"""Reconciliation with REGOS (issue 19), over real HTTP against the emulator, with hand-worked figures.

REGOS's side is the emulator's ``RetailReport/Counts`` and ``RetailReport/Payments``, computed from its
own dataset (shapes: ``regos-software/py-integrations`` ``schemas/api/docs/retail_report.py``,
``RetailReportCount``: sale_count, return_count, debt_amount, debt_paid_amount, gross_profit;
``RetailReportPayment``: payment_type_name, sale_amount, return_amount; requests
``RetailReportCountGet``/``RetailReportPaymentGet``: start_date, end_date, operating_cash_ids).

The month is October 2026 (31 days). Documents (Tashkent times):

=========  ========  ========  =====================  ==========  ===========
document   day       register  kind                   amount      stock
=========  ========  ========  =====================  ==========  ===========
a1         Oct 3     100       sale                   50 000.00   Navoiy
a2         Oct 3     100       sale                   12 500.50   Navoiy
a3         Oct 3     100       return                  8 000.00   Navoiy
b1         Oct 20    100       sale                   30 000.00   Navoiy
b2         Oct 20    100       sale                   15 000.00   Navoiy
x1         Oct 20    100       Canceled (not counted)  9 999.00   Navoiy
c1         Oct 7     200       sale                   70 000.00   G'ijduvon
5701       Oct 5     —         wholesale           1 000 000.00   Navoiy
5702       Oct 25    —         wholesale             400 000.00   G'ijduvon
5801       Oct 26    —         wholesale return      100 000.00   Navoiy
=========  ========  ========  =====================  ==========  ===========

Register 100: 4 sales = 107 500.50, 1 return = 8 000.00; register 200: 1 sale = 70 000.00;
register 300: nothing. Requests of a month that reconciles: OperatingCash/Get 1 + 3 registers × 2
reports + DocWholeSale/Get 1 + DocWholeSaleReturn/Get 1 = 9.

Bisection of 1..31 (the left half is asked, the right one derived; mid = first + (last − first) // 2):
- a day-20 difference: ask 1..16 (=), 17..24 (≠), 17..20 (≠), 17..18 (=), 19..19 (=) → Oct 20;
- a day-3 difference: ask 1..16 (≠), 1..8 (≠), 1..4 (≠), 1..2 (=), 3..3 (≠) → Oct 3.
Either is 5 asks × 2 reports = 10 more requests: 19 in all.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from sync import selectors, services
from sync.models import ReconciliationRow, ReconciliationRun, SalesFact, SyncRun
from sync.regos.emulator import Dataset
from tests.sync_data import GIJDUVON, NAVOIY, add_references

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_today")]

TZ = ZoneInfo("Asia/Tashkent")
FIRST, LAST = date(2026, 10, 1), date(2026, 10, 31)


def at(day: int, hh: int) -> datetime:
    return datetime(2026, 10, day, hh, tzinfo=TZ)


def october() -> Dataset:
    ds = Dataset()
    add_references(ds)
    ds.add_session(uuid="s-a", operating_cash_id=100, start=at(3, 8), close=at(3, 22))
    ds.add_session(uuid="s-b", operating_cash_id=100, start=at(20, 8), close=at(20, 22))
    ds.add_session(uuid="s-c", operating_cash_id=200, start=at(7, 9), close=at(7, 21))
    ds.add_cheque(uuid="a1", date=at(3, 10), session="s-a", amount=Decimal("50000.00"))
    ds.add_cheque(uuid="a2", date=at(3, 11), session="s-a", amount=Decimal("12500.50"))
    ds.add_cheque(uuid="a3", date=at(3, 12), session="s-a", amount=Decimal("8000.00"), is_return=True)
    ds.add_cheque(uuid="b1", date=at(20, 10), session="s-b", amount=Decimal("30000.00"))
    ds.add_cheque(uuid="b2", date=at(20, 11), session="s-b", amount=Decimal("15000.00"))
    ds.add_cheque(uuid="x1", date=at(20, 12), session="s-b", amount=Decimal("9999.00"), status="Canceled")
    ds.add_cheque(uuid="c1", date=at(7, 10), session="s-c", amount=Decimal("70000.00"))
    ds.add_wholesale(id=5701, date=at(5, 14), stock_id=NAVOIY, amount=Decimal("1000000.00"))
    ds.add_wholesale(id=5702, date=at(25, 14), stock_id=GIJDUVON, amount=Decimal("400000.00"))
    ds.add_wholesale_return(id=5801, date=at(26, 14), stock_id=NAVOIY, amount=Decimal("100000.00"))
    return ds


@pytest.fixture
def server(regos_server, cast):  # type: ignore[no-untyped-def]
    srv = regos_server(october())
    run = services.sync_range(date_from=FIRST, date_to=LAST)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    srv.reset_stats()
    return srv


def reconcile() -> ReconciliationRun:
    run = services.reconciliation_request(date_from=FIRST, date_to=LAST)
    return services.reconciliation_run_execute(run_id=run.id)


def figures(row: ReconciliationRow) -> tuple:  # type: ignore[type-arg]
    return (row.our_count, row.our_return_count, row.our_amount, row.our_return_amount,
            row.regos_count, row.regos_return_count, row.regos_amount, row.regos_return_amount)


def table(run: ReconciliationRun) -> dict[tuple[str, int, str, date], tuple]:  # type: ignore[type-arg]
    return {(r.kind, r.regos_id, r.level, r.date_from): figures(r) for r in run.rows.all()}


D = Decimal
REG100 = (4, 1, D("107500.50"), D("8000.00"))
REG200 = (1, 0, D("70000.00"), D("0.00"))
ZERO4 = (0, 0, D("0.00"), D("0.00"))
NAV_WS = (1, 1, D("1000000.00"), D("100000.00"))
GIJ_WS = (1, 0, D("400000.00"), D("0.00"))


def test_a_month_that_reconciles(server, navoiy, gijduvon) -> None:  # type: ignore[no-untyped-def]
    assert [p.kind for p in selectors.reconciliation_problems(first_day=FIRST, last_day=LAST)] == ["range"]
    run = reconcile()
    assert run.status == ReconciliationRun.Status.SUCCEEDED, run.error
    assert table(run) == {
        ("register", 100, "range", FIRST): REG100 + REG100,
        ("register", 200, "range", FIRST): REG200 + REG200,
        ("register", 300, "range", FIRST): ZERO4 + ZERO4,
        ("stock", NAVOIY, "range", FIRST): NAV_WS + NAV_WS,
        ("stock", GIJDUVON, "range", FIRST): GIJ_WS + GIJ_WS,
    }
    assert (run.registers_checked, run.differences, run.requests_made) == (3, 0, 9)
    # The emulator's own count of what it was asked agrees.
    by_method = server.stats.by_method
    assert by_method["RetailReport/Counts"] == by_method["RetailReport/Payments"] == 3
    assert server.stats.total == 9
    # REGOS's breakdown by payment type is kept; it adds up to the register's sales.
    row = run.rows.get(kind="register", regos_id=100)
    assert sum(D(sale) for sale, _ret in row.payments.values()) == D("107500.50")
    branches = dict(run.rows.filter(kind="register").values_list("regos_id", "branch_id"))
    assert branches[100] == str(navoiy.pk) and branches[200] == str(gijduvon.pk) and branches[300] is None
    assert selectors.reconciliation_problems(first_day=FIRST, last_day=LAST) == []
    # A redelivered task finds the run claimed: nothing is asked or written again.
    again = services.reconciliation_run_execute(run_id=run.id)
    assert again.requests_made == 9 and again.rows.count() == 5 and server.stats.total == 9


def test_a_missing_cheque_in_our_data_is_pinned_to_its_day(server) -> None:  # type: ignore[no-untyped-def]
    SalesFact.objects.filter(regos_id="b2").delete()  # as if one page of Oct 20 had been lost
    run = reconcile()
    ours = (3, 1, D("92500.50"), D("8000.00"))
    rows = table(run)
    assert rows[("register", 100, "range", FIRST)] == ours + REG100
    assert rows[("register", 100, "day", date(2026, 10, 20))] == (
        (1, 0, D("30000.00"), D("0.00")) + (2, 0, D("45000.00"), D("0.00"))
    )
    assert [k for k in rows if k[2] == "day"] == [("register", 100, "day", date(2026, 10, 20))]
    assert (run.differences, run.requests_made) == (1, 19)
    day = run.rows.get(level="day")
    assert (day.count_difference, day.amount_difference) == (-1, D("-15000.00"))
    problems = selectors.reconciliation_problems(first_day=FIRST, last_day=LAST)
    assert [(p.kind, p.regos_id, p.run_id) for p in problems] == [("register", 100, str(run.id))]
    assert "2026-10-20" in problems[0].reason and "-15000.00" in problems[0].reason


def test_a_double_counted_cheque_in_our_data_is_pinned_to_its_day(server) -> None:  # type: ignore[no-untyped-def]
    original = SalesFact.objects.get(regos_id="a1")
    original.pk, original.regos_id = None, "a1-copy"
    SalesFact.objects.create(**{f.name: getattr(original, f.name) for f in SalesFact._meta.fields if f.name != "id"})
    run = reconcile()
    rows = table(run)
    assert rows[("register", 100, "day", date(2026, 10, 3))] == (
        (3, 1, D("112500.50"), D("8000.00")) + (2, 1, D("62500.50"), D("8000.00"))
    )
    assert [k[3] for k in rows if k[2] == "day"] == [date(2026, 10, 3)]
    assert (run.differences, run.requests_made) == (1, 19)
    day = run.rows.get(level="day")
    assert (day.count_difference, day.amount_difference) == (1, D("50000.00"))


def test_wholesale_is_recounted_afresh(server) -> None:  # type: ignore[no-untyped-def]
    # A shipment performed in REGOS after our sync: only a fresh listing can see it.
    server.dataset.add_wholesale(id=5703, date=at(28, 10), stock_id=GIJDUVON, amount=Decimal("250000.00"))
    run = reconcile()
    rows = table(run)
    assert rows[("stock", GIJDUVON, "range", FIRST)] == GIJ_WS + (2, 0, D("650000.00"), D("0.00"))
    assert rows[("stock", NAVOIY, "range", FIRST)] == NAV_WS + NAV_WS
    assert run.differences == 1
    problems = selectors.reconciliation_problems(first_day=FIRST, last_day=LAST)
    assert [(p.kind, p.regos_id) for p in problems] == [("stock", GIJDUVON)]


def test_emulator_fault_makes_regos_under_report(server) -> None:  # type: ignore[no-untyped-def]
    # report-drop: REGOS leaves out October's 1st closed cheque (a1, Oct 3 10:00) in every range holding it.
    server.set_fault_plan("*:report-drop")
    run = reconcile()
    rows = table(run)
    assert rows[("register", 100, "range", FIRST)] == REG100 + (3, 1, D("57500.50"), D("8000.00"))
    assert [k[3] for k in rows if k[2] == "day"] == [date(2026, 10, 3)]
    assert rows[("register", 200, "range", FIRST)] == REG200 + REG200
    assert run.requests_made == 19


def test_emulator_reports_directly(server, regos_http) -> None:  # type: ignore[no-untyped-def]
    from payroll.dates import range_bounds_unix
    from tests.fixtures.regos import gateway_post

    start, end = range_bounds_unix(FIRST, LAST)
    body = {"start_date": start, "end_date": end}
    counts = gateway_post(regos_http, server, "RetailReport/Counts", body).json()
    assert counts["ok"] and counts["result"][0]["sale_count"] == 5 and counts["result"][0]["return_count"] == 1
    server.set_fault_plan("*:report-add")
    counts = gateway_post(regos_http, server, "RetailReport/Counts", {**body, "operating_cash_ids": [100]}).json()
    assert counts["result"][0]["sale_count"] == 5  # a1 counted twice: 4 + 1
    too_long = {"start_date": start, "end_date": end + 86400 * 31}
    over = gateway_post(regos_http, server, "RetailReport/Counts", too_long).json()
    assert over["ok"] is False


def test_a_range_longer_than_a_month_is_refused_and_writes_nothing(server) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(services.ReconciliationRangeError):
        services.reconciliation_request(date_from=FIRST, date_to=date(2026, 11, 1))
    assert not ReconciliationRun.objects.exists()


def test_command_month(server, capsys) -> None:  # type: ignore[no-untyped-def]
    SalesFact.objects.filter(regos_id="b2").delete()
    with pytest.raises(SystemExit) as exit_info:
        call_command("regos_reconcile", "--month", "2026-10")
    assert exit_info.value.code == 2
    out = capsys.readouterr().out
    assert "register 100 2026-10-01..2026-10-31: ✘ count -1, amount -15000.00" in out
    assert "  register 100 2026-10-20: ✘ count -1, amount -15000.00" in out
    assert "register 200 2026-10-01..2026-10-31: ✔" in out
    assert "19 REGOS requests" in out


# --------------------------------------------------------------------------- the panel pages


@pytest.fixture
def enqueued(monkeypatch) -> list[ReconciliationRun]:  # type: ignore[no-untyped-def]
    calls: list[ReconciliationRun] = []
    monkeypatch.setattr(services, "reconciliation_run_enqueue", lambda *, run: calls.append(run))
    return calls


def test_an_admin_starts_a_queued_run_and_sees_its_rows(server, group_admin_client, enqueued) -> None:  # type: ignore[no-untyped-def]
    from django.urls import reverse

    page = group_admin_client.get(reverse("sync_panel:reconciliation"))
    assert page.status_code == 200 and b'data-testid="reconcile-form"' in page.content
    too_long = group_admin_client.post(
        reverse("sync_panel:reconciliation"), {"date_from": "2026-10-01", "date_to": "2026-11-01"}
    )
    assert too_long.status_code == 200 and not ReconciliationRun.objects.exists() and enqueued == []
    started = group_admin_client.post(
        reverse("sync_panel:reconciliation"), {"date_from": "2026-10-01", "date_to": "2026-10-31"}
    )
    [run] = enqueued
    assert started.status_code == 302 and started["Location"] == reverse("sync_panel:reconciliation_run", args=[run.pk])
    assert run.status == ReconciliationRun.Status.QUEUED and run.requested_by is not None
    SalesFact.objects.filter(regos_id="b2").delete()
    from sync import tasks

    tasks.reconciliation_run_task(str(run.pk))
    detail = group_admin_client.get(started["Location"])
    html = detail.content.decode()
    assert 'data-testid="reconcile-register-100-2026-10-20"' in html
    assert "operating_cash_id=100" in html and "business_date__gte=2026-10-20" in html
    # The drill-down link is a filter the facts list really offers: it lists exactly b1.
    import re

    link = re.search(r'data-testid="reconcile-register-100-2026-10-20">.*?href="([^"]+)"', html, re.S)
    assert link is not None
    facts = group_admin_client.get(link.group(1).replace("&amp;", "&"))
    assert facts.status_code == 200
    assert [f.regos_id for f in facts.context["cl"].result_list] == ["b1"]


def test_an_accountant_views_but_cannot_start(server, accountant_client, enqueued) -> None:  # type: ignore[no-untyped-def]
    from django.urls import reverse

    run = reconcile()
    page = accountant_client.get(reverse("sync_panel:reconciliation"))
    assert page.status_code == 200 and b"reconcile-form" not in page.content
    assert accountant_client.get(reverse("sync_panel:reconciliation_run", args=[run.pk])).status_code == 200
    refused = accountant_client.post(
        reverse("sync_panel:reconciliation"), {"date_from": "2026-10-01", "date_to": "2026-10-31"}
    )
    assert refused.status_code == 403 and enqueued == [] and ReconciliationRun.objects.count() == 1


def test_known_causes_the_data_shows_are_named_on_the_day(server) -> None:  # type: ignore[no-untyped-def]
    from django.utils import timezone, translation

    from sync.models import QuarantinedDocument, RegosCashSession

    SalesFact.objects.filter(regos_id="b2").delete()
    # What our data could show about Oct 20: a shift of register 100 still open when read, a cheque
    # REGOS sent in a shape we could not use, and cheques the last sync did not count by status.
    RegosCashSession.objects.update_or_create(
        session_uuid="s-b", defaults={"operating_cash_id": 100, "start_date": at(20, 8), "close_date": None}
    )
    QuarantinedDocument.objects.create(
        source_kind=SalesFact.Kind.CHEQUE, regos_id="b9", method="DocCheque/Get", business_date=date(2026, 10, 20),
        reason="amount: not a number", last_seen_at=timezone.now(),
    )
    SyncRun.objects.update(not_counted={"Canceled": 2})
    run = reconcile()
    day = run.rows.get(level="day")
    with translation.override("en"):
        assert day.cause_lines == [
            "1 shift of this register was still open when we read it.",
            "1 cheque of this day is quarantined (not in our figures).",
            "2 cheques with status Canceled were not counted",
        ]
    with translation.override("ru"):
        # Worded when shown: the same stored run reads in Russian (2 → the "few" plural form).
        assert day.cause_lines[0] == "1 смена этой кассы была ещё открыта, когда мы её читали."
        assert day.cause_lines[2] == "2 чека со статусом Canceled не учтены"
    # The range row says nothing about causes; the difference is still shown, never hidden.
    top = run.rows.get(level="range", regos_id=100, kind="register")
    assert top.cause_lines == [] and not top.equal


def test_a_refused_report_fails_the_run_visibly_and_keeps_the_key_secret(server, regos_key) -> None:  # type: ignore[no-untyped-def]
    server.set_fault_plan("RetailReport/Payments#*:access")  # REGOS refuses the key on that method
    run = reconcile()
    assert run.status == ReconciliationRun.Status.FAILED and run.error
    assert regos_key not in run.error
    # Nothing half-compared is shown as reconciled: the range is still "not reconciled".
    assert [p.kind for p in selectors.reconciliation_problems(first_day=FIRST, last_day=LAST)] == ["range"]
