"""The real client over HTTP against servers that cap pages at 1,000 or 10,000 rows and answer each
``next_offset`` rule REGOS might follow: the request count is the minimum for the server's real cap,
and no row is lost or repeated — on one listing and through a full sync.

Sources: REGOS silently replaces a ``limit`` above its query limit with its own cap (docs en
docwholesale/get, wholesaleoperation/get); the vendor's reference methods default to and cap at
10,000 (swagger in regos-software/py-integrations, ``schemas/api/**``); the ``next_offset`` rule is
not published, one third-party fixture shows ``next_offset: 0`` on the last page.

The client asks for 10,000 rows (``REGOS_PAGE_SIZE``), learns the cap from the first page cut short
while ``total`` says more remain, and asks for the cap from then on. Expected counts, by hand:

    cap     n       pages the server sends                        requests
    1,000   0       [] (an empty answer is an answer)             1
    1,000   999     999                                           1
    1,000   1,000   1,000 < 10,000 asked, ends at total: the end  1
    1,000   2,000   1,000 (cap learned) + 1,000 full at total     2 + 1 confirming the end = 3
    1,000   2,500   1,000 (cap learned) + 1,000 + 500             3
    10,000  9,999   9,999                                         1
    10,000  10,000  10,000 = asked, full at total                 1 + 1 confirming = 2
    10,000  20,000  10,000 + 10,000 full at total                 2 + 1 confirming = 3
    10,000  25,000  10,000 + 10,000 + 5,000                       3

i.e. ceil(n / cap) (at least 1), plus one where the last page is full to the cap and ends exactly at
``total``: only that request can catch a total that is one row short.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from sync import services
from sync.models import SalesFact, SyncRun
from sync.regos.client import RegosClient
from sync.regos.emulator import Dataset, FakeRegosServer
from sync.regos.emulator.protocol import NEXT_OFFSET_RULES
from sync.regos.errors import RegosResponseError
from sync.regos.ratelimit import UnlimitedLimiter
from tests.fixtures.database import using_mongodb
from tests.sync_data import at

FIRST = date(2026, 10, 1)
SIZES = (0, 25, 250, 999, 1000, 2000, 2500, 9999, 10_000, 20_000, 25_000)
DAY_OF = {n: FIRST + timedelta(days=i) for i, n in enumerate(SIZES)}  # one day per listing size

CASES = [  # (page cap, cheques, requests) — the table above
    (1000, 0, 1),
    (1000, 999, 1),
    (1000, 1000, 1),
    (1000, 2000, 3),
    (1000, 2500, 3),
    (10_000, 9999, 1),
    (10_000, 10_000, 2),
    (10_000, 20_000, 3),
    (10_000, 25_000, 3),
]


def _uuid(day: date, k: int) -> str:
    return f"c-{day:%m%d}-{k:05d}"


def _world() -> Dataset:
    """Day DAY_OF[n] holds n closed cheques of 1,000.00 on one register, one shift a day."""
    ds = Dataset()
    ds.add_stock(id=1, name="Navoiy filiali")
    ds.add_user(id=5, full_name="Karimova Dilnoza")
    ds.add_operating_cash(id=100, stock_id=1)
    for n, day in DAY_OF.items():
        session = f"s-{day:%m%d}"
        ds.add_session(uuid=session, operating_cash_id=100, start=at(day, 7), close=at(day, 23), start_user_id=5)
        start = int(at(day, 8).timestamp())
        for k in range(n):
            # 2 cheques a second from 08:00: many share a second, so the uuid tie-break of the sort matters.
            ds.add_cheque(uuid=_uuid(day, k), date=start + k // 2, session=session, amount=Decimal("1000.00"))
    return ds


@pytest.fixture(scope="module")
def world() -> Dataset:
    return _world()


def _client(server: FakeRegosServer, **options: object) -> RegosClient:
    return RegosClient(base_url=server.base_url, key=server.key, limiter=UnlimitedLimiter(),
                       sleep=lambda _s: None, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("rule", NEXT_OFFSET_RULES)
@pytest.mark.parametrize(("cap", "n", "requests"), CASES)
def test_a_listing_takes_the_minimum_requests_for_the_cap(world, rule, cap, n, requests):
    day = DAY_OF[n]
    with FakeRegosServer(world, page_cap=cap, next_offset=rule) as server:
        client = _client(server)

        uuids = [c.uuid for page in client.iter_cheques(first_day=day, last_day=day) for c in page]

        assert server.stats.by_method == {"DocCheque/Get": requests}
        assert server.stats.total == client.stats.requests_made == requests
    # Every row once, in the server's order (date, then uuid).
    assert uuids == [_uuid(day, k) for k in range(n)]


@pytest.mark.parametrize("rule", NEXT_OFFSET_RULES)
def test_the_cap_learned_in_one_window_is_asked_for_in_the_next(world, rule):
    # Two listings of one client: 2,500 rows (cap learned on the first page: 3 requests), then 2,000 rows
    # asked 1,000 from the start: 1,000 + 1,000 full at total + the confirming request = 3.
    with FakeRegosServer(world, page_cap=1000, next_offset=rule) as server:
        client = _client(server)
        first = sum(len(p) for p in client.iter_cheques(first_day=DAY_OF[2500], last_day=DAY_OF[2500]))
        assert server.stats.total == 3
        second = sum(len(p) for p in client.iter_cheques(first_day=DAY_OF[1000], last_day=DAY_OF[1000]))

        assert (first, second) == (2500, 1000)
        # 1,000 rows with the cap known: a page full to the cap at total → confirmed (2 requests).
        assert server.stats.total == 3 + 2
        assert client.page_limits == {"DocCheque/Get": 1000}


@pytest.mark.parametrize("rule", NEXT_OFFSET_RULES)
def test_a_stuck_next_offset_is_still_caught(world, rule):
    day = DAY_OF[2500]
    with FakeRegosServer(world, page_cap=1000, next_offset=rule, fault_plan="DocCheque/Get#2+:stuck-offset") as srv:
        client = _client(srv, max_attempts=2)
        pages = client.iter_cheques(first_day=day, last_day=day)
        assert len(next(pages)) == 1000

        with pytest.raises(RegosResponseError, match=r"paging did not advance at offset 1000 of total 2500 "
                                                     r"\(next_offset 1000, 1000 rows on the page\) \(read 2 times\)"):
            next(pages)


@pytest.mark.parametrize("rule", NEXT_OFFSET_RULES)
def test_a_total_short_by_a_page_is_still_caught(world, rule):
    # 2,500 rows reported as 2,000: the second page ends at "total" full to the cap, the confirming
    # request finds 500 more rows — an error rather than 500 rows lost.
    day = DAY_OF[2500]
    with FakeRegosServer(world, page_cap=1000, next_offset=rule,
                         fault_plan="DocCheque/Get#1+:shrink-total=500") as server:
        client = _client(server, max_attempts=2)
        seen: list[str] = []

        with pytest.raises(RegosResponseError, match="total 2000, yet sent 500 more rows at offset 2000"):
            for page in client.iter_cheques(first_day=day, last_day=day):
                seen.extend(c.uuid for c in page)
    assert len(seen) == 1000  # the page that could not be vouched for was not handed out


@pytest.mark.parametrize("rule", NEXT_OFFSET_RULES)
def test_an_empty_page_below_total_is_still_caught(world, rule):
    day = DAY_OF[2500]
    with FakeRegosServer(world, page_cap=1000, next_offset=rule, fault_plan="DocCheque/Get#3+:empty-page") as srv:
        client = _client(srv, max_attempts=2)

        with pytest.raises(RegosResponseError, match=r"empty page at offset 2000 of total 2500 \(read 2 times\)"):
            list(client.iter_cheques(first_day=day, last_day=day))


class _Forgetful:
    """A page memo that knows no answer (every body is parsed); the listing still hashes each one."""

    def recall(self, digest: str) -> None:
        return None


@pytest.mark.parametrize("rule", NEXT_OFFSET_RULES)
def test_answers_are_identified_alike_whether_or_not_the_cap_was_known(world, rule):
    # The re-sync of unchanged days chains (request, body digest) of every answer. A run that learned
    # the cap in an earlier window asks 1,000 where a fresh run asks 10,000 for the same first page;
    # REGOS answers the same rows, so the same day must get the same digest: ``limit`` is not part of
    # the request's identity, and the next_offset member (which may echo the limit) is not hashed.
    day = DAY_OF[2500]
    with FakeRegosServer(world, page_cap=1000, next_offset=rule) as server:
        fresh = _client(server)
        learned = _client(server)
        list(learned.iter_cheques(first_day=DAY_OF[2000], last_day=DAY_OF[2000]))
        assert learned.page_limits == {"DocCheque/Get": 1000}

        def answers(client: RegosClient) -> list[tuple[str, str, int]]:
            return [(page.request, page.digest, page.count)
                    for page in client.listing_cheques(first_day=day, last_day=day, memo=_Forgetful())]

        assert answers(fresh) == answers(learned)
        assert [count for _, _, count in answers(fresh)] == [1000, 1000, 500]


# --- through a full sync -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("rule", NEXT_OFFSET_RULES)
@pytest.mark.parametrize(("cap", "n"), [(10, 25), (100, 250), (1000, 2500), (10_000, 25_000)])
def test_a_sync_reads_every_cheque_once_with_the_minimum_requests(regos_server, world, rule, cap, n):
    # n = 2.5 caps: 3 cheque requests at every scale (cap, cap, cap / 2).
    if n > 250 and using_mongodb():
        pytest.skip("mongoeco, the in-memory test server, cancels the bulk insert of thousands of facts; "
                    "the paging is the same code on both databases and runs at these sizes on SQLite")
    day = DAY_OF[n]
    server = regos_server(world, page_cap=cap, next_offset=rule)

    run = services.sync_range(date_from=day, date_to=day)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    # Cheques: 3 pages (table above). Shipments, returns: one empty answer each. Shifts: the period
    # listing (this day's and the two days before: 3 shifts) in one answer. Registers: one answer.
    assert dict(server.stats.by_method) == {
        "DocCheque/Get": 3,
        "DocWholeSale/Get": 1,
        "DocWholeSaleReturn/Get": 1,
        "DocCashSession/Get": 1,
        "OperatingCash/Get": 1,
    }
    assert run.requests_made == server.stats.total == 7
    facts = SalesFact.objects.filter(business_date=day, source_kind="cheque")
    assert facts.count() == n
    assert set(facts.values_list("regos_id", flat=True)) == {_uuid(day, k) for k in range(n)}
    assert sum(facts.values_list("amount", flat=True), Decimal(0)) == Decimal("1000.00") * n
