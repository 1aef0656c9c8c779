"""The engine side of sliced runs (sync/slices.py): slice execution and finalization, over the emulator."""

from __future__ import annotations

import pytest

from sync import services
from sync.engine.runs import run_claim
from sync.models import KeyValue, SyncRun
from tests.sync_data import D1, D2, D3, RULES_HISTORY, history_table, map_cast, rules_dataset

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_today")]


@pytest.fixture
def running(regos_server, navoiy, gijduvon, aziz, dilnoza, bobur) -> SyncRun:  # type: ignore[no-untyped-def]
    map_cast(navoiy=navoiy, gijduvon=gijduvon, aziz=aziz, dilnoza=dilnoza, bobur=bobur)
    regos_server(rules_dataset())
    run, _ = services.sync_run_request(date_from=D1, date_to=D3, trigger=SyncRun.Trigger.USER)
    claimed = run_claim(run_id=run.id)
    assert claimed is not None
    return claimed


def test_slices_add_up_to_the_whole_run(running: SyncRun) -> None:
    services.sync_slice_execute(run_id=running.id, date_from=D1, date_to=D1)
    services.sync_slice_execute(run_id=running.id, date_from=D2, date_to=D3)
    mid = SyncRun.objects.get(id=running.id)
    assert mid.status == SyncRun.Status.RUNNING  # a slice never ends the run
    assert (mid.days_done, mid.documents_seen, mid.facts_inserted) == (3, 15, 15)

    run = services.sync_run_finalize(run_id=running.id, failed=[])

    assert run.status == SyncRun.Status.SUCCEEDED
    assert history_table() == RULES_HISTORY
    assert [(p["date"], p["status"], p["documents"]) for p in run.progress] == [
        ("2026-11-10", "done", 8),
        ("2026-11-11", "done", 7),
        ("2026-11-12", "done", 0),
    ]
    # Slice D1: cheques, shipments, returns, the shift listing (s-nav-1, s-gij-1, s-new-1), registers = 5.
    # Slice D2..D3: its own reading of the registers (every slice reads them once, before its first
    # day), the three listings, its own shift listing (s-nav-2 is not cached yet) and s-old by uuid = 6.
    assert run.requests_made == 5 + 6
    assert run.history_rows_written == 9


def test_a_failed_slice_makes_the_run_partial(running: SyncRun, settings) -> None:  # type: ignore[no-untyped-def]
    services.sync_slice_execute(run_id=running.id, date_from=D1, date_to=D1)
    settings.REGOS_INTEGRATION_KEY = "wrongkey7777wrongkey7777wrongkey"
    with pytest.raises(Exception, match="1096"):
        services.sync_slice_execute(run_id=running.id, date_from=D2, date_to=D3)

    run = services.sync_run_finalize(run_id=running.id, failed=[(D2, D3, "RegosAccessError: key rejected")])

    assert run.status == SyncRun.Status.PARTIAL
    assert [p["status"] for p in run.progress] == ["done", "failed", "failed"]
    assert run.days_done == 1
    assert "2026-11-11..2026-11-12: RegosAccessError" in run.error
    assert set(history_table()) == {key for key in RULES_HISTORY if key[0] == D1}
    assert not KeyValue.objects.filter(key__startswith="moved:").exists()
