"""One odd document never stops a sync: it is quarantined, its day marked incomplete, and cleared by itself.

End to end through the real HTTP client against the emulator, whose fault plan corrupts one document
(``amount-letters=N``: the N-th document of the answer gets ``"amount": "abc"``; ``date-garbage=N``:
``"date": "not a time"``). The REGOS shape of the corrupted fields follows the vendor's schema
(regos-software/py-integrations, schemas/api/docs/cheque.py ``DocCheque.amount: Decimal``,
``DocCheque.date: int`` — unix seconds; schemas/api/docs/wholesale.py ``DocWholeSale.date: int``):
a string of letters and a date that is not a time are exactly what no parser may count.

Every figure is worked by hand from ``tests.sync_data.rules_dataset`` (see RULES_HISTORY there) plus
one cheque on D3 added here.
"""

from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from sync import inbox, services
from sync.engine.runner import DayReport
from sync.models import QuarantinedDocument, SyncRun, WebhookEvent
from tests.sync_data import (
    AZIZ,
    D1,
    D2,
    D3,
    E_AZIZ,
    E_BOBUR,
    E_DILNOZA,
    GIJ,
    NAV,
    RULES_HISTORY,
    Z,
    at,
    d,
    history_table,
    map_cast,
    rules_dataset,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_today")]

# Closed cheques in date order (what DocCheque/Get answers for D1..D3): c-01, c-07, c-08, c-02, c-03,
# c-06 (D1), c-09, c-10, c-11, c-12 (D2), c-13 (D3). The 8th is c-10: D2 10:00, 30000.00, no seller,
# cashier Dilnoza.
CORRUPT_C10 = "DocCheque/Get#*:amount-letters=8"
# Performed shipments in date order: 5601, 5602 (D1), 5605 (D2 G'ijduvon, seller Bobur, 1500000.00).
CORRUPT_5605_DATE = "DocWholeSale/Get#*:date-garbage=3"

# D3: c-13, 64000.00, seller Aziz, on register 100 (Navoiy).
D3_ROW = {(D3, NAV, E_AZIZ): (d("64000.00"), Z, Z, Z, d("64000.00"), 1)}
COMPLETE = {**RULES_HISTORY, **D3_ROW}
# D2 Navoiy/Dilnoza without c-10: only the return c-12 5000.00 is left → 0 − 5000.00 = −5000.00, no sale.
WITHOUT_C10 = {**COMPLETE, (D2, NAV, E_DILNOZA): (Z, d("5000.00"), Z, Z, d("-5000.00"), 0)}
# Without 5605 G'ijduvon/Bobur has no row on D2 at all.
WITHOUT_5605 = {key: row for key, row in COMPLETE.items() if key != (D2, GIJ, E_BOBUR)}


@pytest.fixture
def server(regos_server, navoiy, gijduvon, aziz, dilnoza, bobur):  # type: ignore[no-untyped-def]
    map_cast(navoiy=navoiy, gijduvon=gijduvon, aziz=aziz, dilnoza=dilnoza, bobur=bobur)
    ds = rules_dataset()
    ds.add_session(uuid="s-nav-3", operating_cash_id=100, start=at(D3, 8), close=at(D3, 22))
    ds.add_cheque(uuid="c-13", date=at(D3, 11), session="s-nav-3", amount=d("64000.00"), seller_id=AZIZ)
    emulator = regos_server(ds)
    emulator.dataset = ds
    return emulator


def sync(reports: list[DayReport] | None = None) -> SyncRun:
    return services.sync_range(date_from=D1, date_to=D3, on_day=reports.append if reports is not None else None)


def test_a_corrupt_cheque_is_quarantined_the_rest_written_and_the_next_clean_sync_heals(server) -> None:  # type: ignore[no-untyped-def]
    server.set_fault_plan(CORRUPT_C10)

    run = sync()

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.quarantined == 1
    assert run.has_warnings
    with translation.override("en"):
        assert run.status_label == "succeeded with warnings"
    assert run.days_done == 3
    # D1 and D3 complete, D2 without c-10 only.
    assert history_table() == WITHOUT_C10
    held = QuarantinedDocument.objects.get()
    assert (held.source_kind, held.regos_id, held.business_date, held.method) == ("cheque", "c-10", D2, "DocCheque/Get")
    assert held.reason.startswith("DocCheque/Get: result[7].amount: ")
    assert "decimal" in held.reason
    assert held.raw["uuid"] == "c-10" and held.raw["amount"] == "abc"  # stored as received
    assert held.last_run_id == run.id
    assert [day.get("quarantined", 0) for day in run.progress] == [0, 1, 0]

    server.set_fault_plan(None)
    clean = sync()

    assert clean.status == SyncRun.Status.SUCCEEDED
    assert clean.quarantined == 0 and not clean.has_warnings
    assert not QuarantinedDocument.objects.exists()
    # D2 Navoiy/Dilnoza with c-10 again: 30000.00 − 5000.00 = 25000.00 (RULES_HISTORY).
    assert history_table() == COMPLETE


def test_a_day_with_a_quarantined_document_is_never_taken_as_unchanged(server, settings) -> None:  # type: ignore[no-untyped-def]
    settings.REGOS_SKIP_UNCHANGED_DAYS = True
    server.set_fault_plan(CORRUPT_C10)
    sync()
    first_seen = QuarantinedDocument.objects.get().last_seen_at

    reports: list[DayReport] = []
    again = sync(reports)

    # Same bytes from REGOS: D1 and D3 are left alone, D2 is written again from the remembered answer,
    # which is parsed again and still holds the broken c-10 (the quarantine stays, seen again).
    assert {r.date: r.status for r in reports} == {D1: "unchanged", D2: "done", D3: "unchanged"}
    assert again.quarantined == 1
    held = QuarantinedDocument.objects.get()
    assert held.regos_id == "c-10" and held.last_seen_at > first_seen and held.last_run_id == again.id
    assert history_table() == WITHOUT_C10

    server.set_fault_plan(None)
    sync()
    assert not QuarantinedDocument.objects.exists()
    assert history_table() == COMPLETE


def test_a_quarantined_document_that_is_gone_from_its_day_is_cleared(server) -> None:  # type: ignore[no-untyped-def]
    server.set_fault_plan(CORRUPT_C10)
    sync()
    assert QuarantinedDocument.objects.filter(regos_id="c-10").exists()

    server.dataset.cancel_cheque("c-10")  # no longer closed: REGOS no longer lists it for D2
    server.set_fault_plan(None)
    run = sync()

    assert run.quarantined == 0
    assert not QuarantinedDocument.objects.exists()
    assert history_table() == WITHOUT_C10  # c-10 canceled: D2 Dilnoza is the return alone


def test_a_document_with_an_unreadable_date_is_kept_without_a_day(server) -> None:  # type: ignore[no-untyped-def]
    server.set_fault_plan(CORRUPT_5605_DATE)

    run = sync()

    assert run.status == SyncRun.Status.SUCCEEDED and run.quarantined == 1
    held = QuarantinedDocument.objects.get()
    assert (held.source_kind, held.regos_id, held.business_date) == ("wholesale", "5605", None)
    assert held.reason.startswith("DocWholeSale/Get: result[2].date: ")
    assert history_table() == WITHOUT_5605

    server.set_fault_plan(None)
    sync()
    # 5605 parses again (D2): its quarantine is cleared there, though it had no day.
    assert not QuarantinedDocument.objects.exists()
    assert history_table() == COMPLETE


def test_the_run_page_health_and_history_show_the_incomplete_day(server, admin_user, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LANGUAGE_CODE = "en"
    server.set_fault_plan(CORRUPT_C10)
    run = sync()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(admin_user)

    page = client.get(reverse("sync_panel:run", args=[run.pk])).content.decode()
    assert "succeeded with warnings" in page
    assert 'data-testid="quarantine-warning"' in page
    assert "incomplete: 1 document quarantined" in page
    assert f"?run={run.pk}" in page and f"?business_date={D2.isoformat()}" in page

    status = client.get(reverse("sync_panel:run_status", args=[run.pk])).json()
    assert (status["status_label"], status["quarantined"]) == ("succeeded with warnings", 1)

    # (200 vs 503 follows freshness alone: tests/test_health.py; these runs are of November's days.)
    body = client.get("/health/").json()
    assert body["data_complete"] is False and body["quarantined_documents"] == 1
    assert body["incomplete_days"] == [{"date": D2.isoformat(), "quarantined": 1}]

    listing = client.get(reverse("admin:sync_quarantineddocument_changelist"), {"run": str(run.pk)})
    assert listing.status_code == 200 and "c-10" in listing.content.decode()
    assert "amount" in listing.content.decode()
    other_run = client.get(reverse("admin:sync_quarantineddocument_changelist"), {"run": str(uuid.uuid4())})
    assert other_run.status_code == 200 and "c-10" not in other_run.content.decode()
    other_day = client.get(reverse("admin:sync_quarantineddocument_changelist"),
                           {"business_date": D1.isoformat()}).content.decode()
    assert "c-10" not in other_day
    detail = client.get(reverse("admin:sync_quarantineddocument_change", args=[QuarantinedDocument.objects.get().pk]))
    assert "&quot;abc&quot;" in detail.content.decode()  # the document as received

    history = client.get(reverse("reports:history"), {"date_from": D1.isoformat(), "date_to": D3.isoformat()})
    html = history.content.decode()
    assert 'data-testid="incomplete-days"' in html
    assert "incomplete: 1 document quarantined" in html
    # Every row of D2 (4 of them: Navoiy Aziz, Dilnoza, Bobur, unassigned; G'ijduvon Bobur) carries the
    # mark, no row of D1 or D3 does.
    d2_rows = sum(1 for key in WITHOUT_C10 if key[0] == D2)
    assert html.count('data-testid="row-incomplete"') == d2_rows == 5

    server.set_fault_plan(None)
    sync()
    body = client.get("/health/").json()
    assert body["data_complete"] is True and body["incomplete_days"] == []
    html = client.get(reverse("reports:history"), {"date_from": D1.isoformat(), "date_to": D3.isoformat()}).content
    assert b'data-testid="incomplete-days"' not in html and b'data-testid="row-incomplete"' not in html


def test_regos_sync_says_succeeded_with_warnings(server) -> None:  # type: ignore[no-untyped-def]
    server.set_fault_plan(CORRUPT_C10)
    out, err = StringIO(), StringIO()

    call_command("regos_sync", "--from", D1.isoformat(), "--to", D3.isoformat(), stdout=out, stderr=err)

    assert "Sync succeeded with warnings" in out.getvalue()
    assert f"{D2}  cheques 3  wholesale 3" in out.getvalue()  # c-09, c-11, c-12; 5605, 7001, 7002
    assert "quarantined 1 (incomplete)" in out.getvalue()
    assert "1 document(s) quarantined" in err.getvalue()
    assert f"Incomplete days: {D2} (1)" in err.getvalue()


def test_the_webhook_refetch_quarantines_instead_of_failing(server) -> None:  # type: ignore[no-untyped-def]
    sync()
    inbox.inbox_record(event_id="ev-1", action="DocChequeClosed", occurred_at=at(D2, 10, 1), data={"uuid": "c-10"})
    # The re-fetch by uuid answers c-10 alone, broken; REGOS answers properly afterwards.
    server.set_fault_plan("DocCheque/Get#1:amount-letters=1")

    days = inbox._refetch_days([D2], timezone.now())

    assert days == {D2}  # its readable date still tells the day to re-sync
    held = QuarantinedDocument.objects.get()
    assert (held.regos_id, held.business_date, held.last_run_id) == ("c-10", D2, None)

    result = inbox.inbox_resync_execute()

    assert result.failed == 0 and [status for *_, status in result.runs] == ["succeeded"]
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
    # The day's sync read c-10 properly: counted again, its quarantine cleared.
    assert not QuarantinedDocument.objects.exists()
    assert history_table() == COMPLETE


def test_the_webhook_resync_runs_although_every_refetched_document_is_broken(server) -> None:  # type: ignore[no-untyped-def]
    sync()
    inbox.inbox_record(event_id="ev-2", action="DocChequeClosed", occurred_at=at(D2, 10, 1), data={"uuid": "c-10"})
    server.set_fault_plan("DocCheque/Get#*:amount-letters=1")  # the first document of every answer

    result = inbox.inbox_resync_execute()

    assert [status for *_, status in result.runs] == ["succeeded"]
    run = SyncRun.objects.get(pk=result.runs[0][2])
    assert (run.trigger, run.date_from, run.date_to, run.quarantined) == (SyncRun.Trigger.WEBHOOK, D2, D2, 1)
    # The re-fetch quarantined c-10 (first of its answer); D2's listing answers c-09 first: c-09 is
    # quarantined and c-10, readable there, counted — its quarantine cleared.
    assert list(QuarantinedDocument.objects.values_list("regos_id", "business_date")) == [("c-09", D2)]
    # D2 Navoiy/Aziz without c-09 (20000.00): only return 7001 250000.00 → −250000.00, no sale.
    assert history_table() == {**COMPLETE, (D2, NAV, E_AZIZ): (Z, Z, Z, d("250000.00"), d("-250000.00"), 0)}


def test_a_quarantine_row_is_upserted_not_duplicated(server) -> None:  # type: ignore[no-untyped-def]
    server.set_fault_plan(CORRUPT_C10)
    for _ in range(3):
        sync()
    held = QuarantinedDocument.objects.get()
    assert held.first_seen_at < held.last_seen_at


def test_a_shipment_without_a_usable_rate_is_quarantined_and_cleared_once_gone(server) -> None:  # type: ignore[no-untyped-def]
    # Parses, but a USD shipment with rate 0 cannot be valued in UZS (schemas/api/docs/wholesale.py:
    # DocWholeSale.exchange_rate: Decimal): it is quarantined on its day, D3.
    server.dataset.add_wholesale(id=5606, date=at(D3, 15), stock_id=1, amount=d("10.00"), currency="USD",
                                 exchange_rate=d("0"), seller_id=AZIZ)

    run = sync()

    assert run.status == SyncRun.Status.SUCCEEDED and run.quarantined == 1
    held = QuarantinedDocument.objects.get()
    assert (held.source_kind, held.regos_id, held.business_date) == ("wholesale", "5606", D3)
    assert "no usable exchange rate" in held.reason and held.reason.startswith("DocWholeSale/Get: ")
    assert history_table() == COMPLETE  # D3 without 5606 is c-13 alone

    server.dataset.perform_cancel_wholesale(5606)
    server.dataset.delete_wholesale(5606)
    sync()
    assert not QuarantinedDocument.objects.exists()
    assert history_table() == COMPLETE


def test_the_quarantine_list_is_read_only_and_accountants_may_read_it(server, admin_user, accountant) -> None:  # type: ignore[no-untyped-def]
    server.set_fault_plan(CORRUPT_C10)
    sync()
    held = QuarantinedDocument.objects.get()
    admin = Client(HTTP_ACCEPT_LANGUAGE="en")
    admin.force_login(admin_user)

    assert admin.get(reverse("admin:sync_quarantineddocument_add")).status_code == 403
    assert admin.post(reverse("admin:sync_quarantineddocument_delete", args=[held.pk])).status_code == 403
    change = reverse("admin:sync_quarantineddocument_change", args=[held.pk])
    assert admin.post(change, {"reason": "x"}).status_code == 403
    assert QuarantinedDocument.objects.get().reason == held.reason

    reader = Client(HTTP_ACCEPT_LANGUAGE="en")
    reader.force_login(accountant)
    listing = reverse("admin:sync_quarantineddocument_changelist")
    assert "c-10" in reader.get(listing).content.decode()
    # A bad ?run= value shows nothing rather than failing.
    assert "c-10" not in reader.get(listing, {"run": "nope"}).content.decode()
