"""The engine stays exact when REGOS misbehaves: listings that change while paged, unsorted streams."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from payroll.dates import today
from sync import selectors, services
from sync.models import HistoryDay, SyncRun
from sync.regos.client import ListingPage, RegosClient
from sync.regos.emulator import Dataset
from sync.regos.models import DocWholeSale
from tests.sync_data import (
    D1,
    D3,
    RULES_FACTS,
    RULES_HISTORY,
    facts_keys,
    history_table,
    rules_dataset,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_today")]


def test_a_listing_that_changes_while_paged_is_read_again_from_the_first_unwritten_day(
    regos_server, cast
) -> None:  # type: ignore[no-untyped-def]
    # 10 closed cheques in pages of 3: the 2nd cheque page reports a total one lower than the 1st,
    # as when a cheque is canceled while paging. The client refuses the listing (offsets shifted).
    srv = regos_server(rules_dataset(), page_cap=3, fault_plan="DocCheque/Get#2:shrink-total")

    run = services.sync_range(date_from=D1, date_to=D3)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert history_table() == RULES_HISTORY
    assert facts_keys() == RULES_FACTS
    # Pages 1-2 of the first read, then a full re-read (nothing was written yet: D1 has 6 cheques,
    # more than the first page) of ceil(10/3) = 4 pages.
    assert srv.stats.by_method["DocCheque/Get"] == 2 + 4


class ReversedWholesale:
    """A client whose shipment listing comes newest first (as if REGOS ignored sort_orders)."""

    def __init__(self, client: RegosClient) -> None:
        self._client = client

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._client, name)

    def listing_wholesales(self, **kwargs) -> Iterator[ListingPage[DocWholeSale]]:  # type: ignore[no-untyped-def]
        docs = [doc for page in self._client.listing_wholesales(**kwargs) for doc in page.rows()]
        yield ListingPage(request="reversed", digest="", count=len(docs), total=None, next_offset=None,
                          rows=list(reversed(docs)))


def test_documents_arriving_out_of_order_are_not_lost(regos_server, cast) -> None:  # type: ignore[no-untyped-def]
    regos_server(rules_dataset())
    client = ReversedWholesale(RegosClient.from_settings())

    run = services.sync_range(date_from=D1, date_to=D3, client=client)  # type: ignore[arg-type]

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    # 5605 (D2) came first, so D1's shipments 5601/5602 arrived after D1 was written: D1 is read again.
    assert history_table() == RULES_HISTORY
    assert facts_keys() == RULES_FACTS


def test_scheduled_run_reaches_back_to_a_day_a_crash_left_half_written(regos_server, settings) -> None:  # type: ignore[no-untyped-def]
    settings.REGOS_LOOKBACK_DAYS = 3
    regos_server(Dataset())
    crashed_day = today() - timedelta(days=10)
    HistoryDay.objects.create(date=crashed_day, state=HistoryDay.State.REBUILDING)

    run = services.sync_scheduled()

    assert run is not None and run.status == SyncRun.Status.SUCCEEDED
    assert (run.trigger, run.date_from, run.date_to) == ("schedule", crashed_day, today())
    assert selectors.days_needing_repair() == []
