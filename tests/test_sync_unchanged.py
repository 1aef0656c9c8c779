"""A re-sync leaves alone the days whose REGOS answers are byte for byte those they were written from.

Expected figures come from the hand-worked RULES_HISTORY (tests/sync_data.py); the page layout of
the rules dataset at 3 rows a page is worked out in ``PAGES_OF_3`` below.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from sync import services
from sync.engine import history, locate, runner, runs
from sync.engine.documents import UNRESOLVED_STOCK
from sync.models import HistoryDay, RegosPage, SalesFact, SyncRun
from sync.regos.client import PageSummary, RegosClient, _paging_tail
from sync.regos.emulator import Dataset
from sync.regos.models import DocCheque
from tests.sync_data import (
    AZIZ,
    D1,
    D2,
    D3,
    DILNOZA,
    E_AZIZ,
    E_BOBUR,
    E_DILNOZA,
    GIJDUVON,
    NAV,
    NAVOIY,
    RULES_FACTS,
    RULES_HISTORY,
    Z,
    at,
    d,
    dump_facts,
    dump_history,
    facts_keys,
    history_table,
    rules_dataset,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_today")]

# Closed cheques of the rules dataset by time, 3 a page (canceled c-04 and open c-05 are filtered out
# by REGOS):  P1 c-01 c-07 c-08 (D1) | P2 c-02 c-03 c-06 (D1) | P3 c-09 c-10 c-11 (D2) | P4 c-12 (D2).
# Shipments: W1 5601 5602 (D1) 5605 (D2). Returns: R1 7001 7002 (D2).
# When D1 is written, the cheque stream has read up to P3 (its first document after D1).


@pytest.fixture
def dataset(regos_server, cast) -> Dataset:  # type: ignore[no-untyped-def]
    ds = rules_dataset()
    regos_server(ds, page_cap=3)
    return ds


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many documents the engine turned into fact rows (i.e. parsed and valued)."""
    calls: Counter[str] = Counter()
    cheque_fact, wholesale_fact = runner.cheque_fact, runner.wholesale_fact

    def counting_cheque(*args: Any, **kwargs: Any) -> Any:
        calls["cheque"] += 1
        return cheque_fact(*args, **kwargs)

    def counting_wholesale(*args: Any, **kwargs: Any) -> Any:
        calls["wholesale"] += 1
        return wholesale_fact(*args, **kwargs)

    monkeypatch.setattr(runner, "cheque_fact", counting_cheque)
    monkeypatch.setattr(runner, "wholesale_fact", counting_wholesale)
    return calls


def sync(first=D1, last=D3) -> tuple[SyncRun, dict[Any, str]]:  # type: ignore[no-untyped-def]
    statuses: dict[Any, str] = {}
    run = services.sync_range(
        date_from=first, date_to=last, on_day=lambda report: statuses.__setitem__(report.date, report.status)
    )
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    return run, statuses


def test_a_rerun_of_unchanged_days_reads_no_document_and_writes_nothing(dataset, parsed) -> None:  # type: ignore[no-untyped-def]
    sync()
    assert parsed == {"cheque": 10, "wholesale": 5}  # closed cheques; performed shipments + returns
    facts, rows = dump_facts(), dump_history()
    parsed.clear()

    again, statuses = sync()

    assert statuses == {D1: "unchanged", D2: "unchanged", D3: "unchanged"}
    assert parsed == {}  # every answer was known: not one document parsed
    assert dump_facts() == facts and dump_history() == rows
    assert (again.facts_inserted, again.facts_updated, again.facts_removed, again.history_rows_written) == (0, 0, 0, 0)
    assert again.documents_seen == 15  # the counts stored with each day
    assert again.days_done == 3
    # Still asked REGOS for every page: P1-P4, W1, R1 (sessions are cached), and read the registers once.
    assert again.requests_made == 7
    assert history_table() == RULES_HISTORY


def test_an_edit_rewrites_the_days_from_its_answer_on_and_only_parses_those(dataset, parsed) -> None:  # type: ignore[no-untyped-def]
    sync()
    dataset.set_cheque_amount("c-12", d("6000.00"))  # D2, return, no seller → cashier Dilnoza (was 5000.00)
    parsed.clear()

    run, statuses = sync()

    # D1's answers (P1-P3, W1, R1) are unchanged; P4 changed, and D2 and D3 were read past it.
    assert statuses == {D1: "unchanged", D2: "done", D3: "done"}
    # D2 needed P3 (known, parsed now) and P4 (new): c-09 c-10 c-11 c-12; W1 and R1 for their D2 documents.
    assert parsed == {"cheque": 4, "wholesale": 5}
    assert (run.facts_inserted, run.facts_updated, run.facts_removed) == (0, 1, 0)
    expected = dict(RULES_HISTORY)
    expected[(D2, NAV, E_DILNOZA)] = (d("30000.00"), d("6000.00"), Z, Z, d("24000.00"), 1)  # 30000 − 6000
    assert history_table() == expected


def _redate_shipment_5602(dataset: Dataset, day) -> None:  # type: ignore[no-untyped-def]
    with dataset.lock:
        dataset._store("wholesale")[5602]["date"] = int(at(day, 15).timestamp())  # edited in REGOS
        dataset._version += 1  # the emulator's cached sort order must see the edit


def test_a_new_document_leaves_the_days_before_it_unread(dataset, parsed) -> None:  # type: ignore[no-untyped-def]
    sync()
    dataset.add_cheque(
        uuid="c-13", date=at(D3, 10), session="s-nav-2", amount=d("7000.00"), seller_id=AZIZ, cashier_id=DILNOZA
    )
    parsed.clear()

    run, statuses = sync()

    # Every answer now says total 11, but P1-P3 hold the same cheques: D1 (read up to P3) is unchanged.
    # P4 is now c-12 c-13, so D2 (read up to P4) and D3 are written.
    assert statuses == {D1: "unchanged", D2: "done", D3: "done"}
    assert parsed == {"cheque": 5, "wholesale": 5}  # P3 and P4 for D2 and D3; W1 and R1 for D2
    assert (run.facts_inserted, run.facts_updated, run.facts_removed) == (1, 0, 0)
    expected = dict(RULES_HISTORY)
    expected[(D3, NAV, E_AZIZ)] = (d("7000.00"), Z, Z, Z, d("7000.00"), 1)  # s-nav-2 → register 100 → Navoiy
    assert history_table() == expected


def test_a_day_that_lost_a_document_is_written_again_even_if_regos_answers_as_before(dataset) -> None:  # type: ignore[no-untyped-def]
    sync()
    _redate_shipment_5602(dataset, D2)
    sync(D2, D3)  # 5602 moves from D1's facts to D2's
    _redate_shipment_5602(dataset, D1)  # ...and back: REGOS now answers D1..D3 exactly as at first

    _, statuses = sync()

    # D1 lost 5602 after it was written from these answers: it is written again, and takes 5602 back.
    assert statuses[D1] == "done"
    assert SalesFact.objects.get(regos_id="5602").business_date == D1
    assert facts_keys() == RULES_FACTS
    assert history_table() == RULES_HISTORY


def test_a_day_left_rebuilding_is_written_even_if_regos_answers_as_before(dataset) -> None:  # type: ignore[no-untyped-def]
    sync()
    # A crash on MongoDB (no transaction) after part of D2's facts were replaced:
    history.history_day_mark_rebuilding(day=D2)
    SalesFact.objects.filter(regos_id="c-10").delete()

    run, statuses = sync()

    assert statuses == {D1: "unchanged", D2: "done", D3: "unchanged"}
    assert run.facts_inserted == 1
    assert facts_keys() == RULES_FACTS
    assert history_table() == RULES_HISTORY
    assert set(HistoryDay.objects.values_list("state", flat=True)) == {"clean"}


def test_a_day_with_an_unresolved_shift_is_written_until_regos_resolves_it(regos_server, cast) -> None:  # type: ignore[no-untyped-def]
    ds = rules_dataset()
    with ds.lock:
        old_shift = ds._store("session").pop("s-old")  # REGOS does not know c-11's shift (yet)
        ds._version += 1
    regos_server(ds, page_cap=3)
    sync()
    assert SalesFact.objects.get(regos_id="c-11").stock_id == UNRESOLVED_STOCK

    _, statuses = sync()
    assert statuses[D2] == "done"  # not "unchanged": its answers are the same, but REGOS may know more now

    with ds.lock:
        ds._store("session")["s-old"] = old_shift
        ds._version += 1
    _, statuses = sync()

    assert statuses[D2] == "done"
    assert SalesFact.objects.get(regos_id="c-11").stock_id == NAVOIY  # s-old → register 100 → Navoiy
    assert history_table()[(D2, NAV, E_BOBUR)] == RULES_HISTORY[(D2, NAV, E_BOBUR)]
    _, statuses = sync()
    assert statuses[D2] == "unchanged"


def test_a_register_moved_to_another_stock_rewrites_the_days_and_keeps_their_stocks(  # type: ignore[no-untyped-def]
    dataset, monkeypatch
) -> None:
    first_run, move, second_run = at(D3, 23), at(D3 + timedelta(days=1), 9), at(D3 + timedelta(days=1), 23)
    monkeypatch.setattr(locate, "now", lambda: first_run)
    sync()
    dataset.move_operating_cash(200, NAVOIY, at=move)  # REGOS OperatingCash/Edit, after every sale of D1..D3
    dataset.clock = lambda: int(second_run.timestamp())
    monkeypatch.setattr(locate, "now", lambda: second_run)

    _, statuses = sync()

    # The register history changed, so every day is written again — with the same figures: c-07
    # (250000.00, register 200, D1) was sold before the move and stays G'ijduvon's.
    assert statuses == {D1: "done", D2: "done", D3: "done"}
    assert history_table() == RULES_HISTORY
    assert SalesFact.objects.get(regos_id="c-07").stock_id == GIJDUVON
    _, statuses = sync()
    assert statuses == {D1: "unchanged", D2: "unchanged", D3: "unchanged"}


def test_another_attribution_rule_rewrites_the_days(dataset, settings) -> None:  # type: ignore[no-untyped-def]
    sync()
    settings.REGOS_ATTRIBUTION = "cashier"

    _, statuses = sync()

    assert statuses == {D1: "done", D2: "done", D3: "done"}
    # D1 Navoiy: c-01 185000.00, c-02 42000.50, c-06 10000.00 sales and c-03 15000.00 return, all
    # rung up by cashier Dilnoza: 237000.50 − 15000.00 = 222000.50 over 3 cheques.
    assert history_table()[(D1, NAV, E_DILNOZA)] == (d("237000.50"), d("15000.00"), Z, Z, d("222000.50"), 3)


def test_a_sliced_run_counts_unchanged_days_as_synced(dataset) -> None:  # type: ignore[no-untyped-def]
    sync()
    run, _ = services.sync_run_request(date_from=D1, date_to=D3, trigger=SyncRun.Trigger.USER)
    assert runs.run_claim(run_id=run.id) is not None
    services.sync_slice_execute(run_id=run.id, date_from=D1, date_to=D3)

    finished = services.sync_run_finalize(run_id=run.id, failed=[])

    # The finalizer reads "synced since the run started" off the markers: unchanged days are synced too.
    assert finished.status == SyncRun.Status.SUCCEEDED
    assert [(p["date"], p["status"], p["documents"]) for p in finished.progress] == [
        ("2026-11-10", "done", 8),
        ("2026-11-11", "done", 7),
        ("2026-11-12", "done", 0),
    ]
    assert (finished.days_done, finished.facts_inserted, finished.history_rows_written) == (3, 0, 0)


def test_the_setting_off_reads_and_compares_every_day(dataset, parsed, settings) -> None:  # type: ignore[no-untyped-def]
    settings.REGOS_SKIP_UNCHANGED_DAYS = False
    sync()
    parsed.clear()

    run, statuses = sync()

    assert statuses == {D1: "done", D2: "done", D3: "done"}
    assert parsed == {"cheque": 10, "wholesale": 5}
    assert (run.facts_inserted, run.facts_updated, run.facts_removed) == (0, 0, 0)
    assert not RegosPage.objects.exists()


def test_the_command_says_which_days_were_unchanged(dataset) -> None:  # type: ignore[no-untyped-def]
    sync()
    out = StringIO()

    call_command("regos_sync", "--from", D1.isoformat(), "--to", D3.isoformat(), stdout=out)

    lines = out.getvalue().splitlines()
    assert f"{D1}  cheques 6  wholesale 2  unchanged since it was written" in lines
    assert f"{D2}  cheques 4  wholesale 3  unchanged since it was written" in lines


class ListMemo:
    """A client-side memo: what the test recorded, or tampered with."""

    def __init__(self) -> None:
        self.pages: dict[str, PageSummary] = {}

    def recall(self, digest: str) -> PageSummary | None:
        return self.pages.get(digest)


def test_a_known_answer_is_paged_unparsed_and_still_checked(regos_server) -> None:  # type: ignore[no-untyped-def]
    server = regos_server(rules_dataset(), page_cap=3)
    client = RegosClient.from_settings()
    memo = ListMemo()
    first = list(client.listing_cheques(first_day=D1, last_day=D3, memo=memo))
    assert [page.count for page in first] == [3, 3, 3, 1]
    assert [page.rows()[0].uuid for page in first] == ["c-01", "c-02", "c-09", "c-12"]
    for page in first:
        memo.pages[page.digest] = PageSummary(count=page.count, total=page.total, next_offset=page.next_offset)

    again = list(client.listing_cheques(first_day=D1, last_day=D3, memo=memo))

    assert [page.known is not None for page in again] == [True, True, True, True]
    assert [page.digest for page in again] == [page.digest for page in first]
    assert [page.rows()[0].uuid for page in again] == ["c-01", "c-02", "c-09", "c-12"]  # parsed on demand
    assert isinstance(again[3].rows()[0], DocCheque)
    assert server.stats.by_method["DocCheque/Get"] == 8

    # A new cheque after the others: every answer now says total 11, yet P1-P3 hold the same rows, so
    # they stay known, and paging follows the live fields to the new last page.
    server.dataset.add_cheque(uuid="c-13", date=at(D3, 10), session="s-nav-2", amount=d("7000.00"))
    grown = list(client.listing_cheques(first_day=D1, last_day=D3, memo=memo))

    assert [page.known is not None for page in grown] == [True, True, True, False]
    assert [(page.total, page.next_offset) for page in grown[:3]] == [(11, 3), (11, 6), (11, 9)]
    assert [cheque.uuid for cheque in grown[3].rows()] == ["c-12", "c-13"]


def test_the_paging_members_closing_a_body_are_read_without_parsing_it() -> None:
    assert _paging_tail(b'{"ok":true,"result":[{"a":1}],"next_offset":3,"total":10}') == (
        29,
        {"next_offset": 3, "total": 10},
    )
    assert _paging_tail(b'{ "ok": true, "result": [], "total": 0, "next_offset": null }\n') == (
        26,
        {"total": 0, "next_offset": None},
    )
    # Members of a document, or of any object but the envelope, are not the envelope's paging fields.
    assert _paging_tail(b'{"ok":true,"result":[{"a":1,"total":1}]}') is None
    assert _paging_tail(b'{"ok":true,"result":[],"x":{"total":1}}') is None
    assert _paging_tail(b'{"ok":true,"result":[],"total":1,"total":2}') is None  # a repeated member
    assert _paging_tail(b'{"ok":true,"result":[],"total":1.5}') is None  # not an integer
