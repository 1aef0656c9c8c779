"""Faults from REGOS, one emulator fault plan per test, against a small mapped multi-day world.

Every test does the same four steps:

1. a clean sync of the range ("old" state) — checked against the independent oracle;
2. REGOS data changes on several days (a cheque canceled, two re-priced, a shipment perform-canceled);
3. a sync with the fault plan installed. A transient fault must be retried and the run must end
   ``succeeded`` with exactly the new oracle; a persistent one must end ``failed``/``partial`` with a
   clear one-line error and hint, and then every day the run reports done must be exactly "new" and
   every other day exactly "old" (facts and history alike: never a mix, never wrong numbers); a
   document REGOS sends unusable is quarantined: the run ends ``succeeded`` with a warning, every day
   is exactly "new" except the document's own day, which lacks exactly that document;
4. the fault plan is removed and one clean re-run must leave exactly the new oracle: facts, history,
   Branch month-to-date and Employee latest-day totals, and no day flagged "rebuilding".

The client is the production client from settings with test-sized backoff (``fast_client``): the
same retry budgets, shorter sleeps. REGOS_TIMEOUT_S is 0.5 s for the "slow" case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest

from sync import selectors, services
from sync.models import QuarantinedDocument, SyncRun
from tests.reliability.oracle import State, database_state, derived_totals
from tests.reliability.support import Record, World, assert_state, fast_client, make_world

pytestmark = pytest.mark.django_db

PAGE = 5  # documents per page: ~6 cheque pages, so a fault lands mid-stream with days already written
OK, BROKEN, QUARANTINED = "succeeded", "failed or partial", "succeeded with warnings"


@dataclass(frozen=True)
class Fault:
    name: str
    plan: str
    expect: str = OK
    error: str = ""  # a substring the run's error must contain (persistent faults)
    hint: str = ""  # a substring of the run's hint
    client: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.plan


FAULTS = [
    # --- transient: retried, the run succeeds with exact numbers
    Fault("8213 storm: six answers in a row", "DocCheque/Get#3:8213x6"),
    Fault("8213 on every 3rd request of the run", "every=3:8213"),
    Fault("HTTP 429 without Retry-After, three in a row", "DocCheque/Get#3:http429x3"),
    Fault("HTTP 429 with Retry-After: 1", "DocCheque/Get#3:http429-retry-after=1"),
    Fault("HTTP 502 twice", "DocWholeSale/Get#1:http502x2"),
    Fault("HTTP 503 twice", "DocCheque/Get#3:http503x2"),
    Fault("HTTP 504 twice", "DocWholeSaleReturn/Get#1:http504x2"),
    Fault("connection reset twice", "DocCheque/Get#3:resetx2"),
    Fault("connection cut mid-body", "DocCheque/Get#3:cut"),
    Fault(
        "answer slower than REGOS_TIMEOUT_S (0.5 s timeout, 1 s answer)", "DocCheque/Get#3:slow=1",
        settings={"REGOS_TIMEOUT_S": 0.5},
    ),
    Fault("truncated JSON body", "DocCheque/Get#3:truncated"),
    Fault("HTML error page with HTTP 200, twice", "DocCheque/Get#3:html200x2"),
    Fault("ok:true with result of the wrong type", "DocCheque/Get#3:wrongtype"),
    Fault("total shrinks between pages (documents deleted mid-sync)", "DocCheque/Get#3:shrink-total"),
    Fault("next_offset does not advance, once (the page is read again)", "DocCheque/Get#4:stuck-offset"),
    Fault("an empty page before the total is reached, once (read again)", "DocCheque/Get#4:empty-page"),
    Fault("cheque amount sent as a JSON string", "DocCheque/Get#2:amount-string"),
    Fault("shipment amount sent as a JSON string", "DocWholeSale/Get#1:amount-string"),
    # --- persistent: the run stops with a clear error; finished days stay, the rest is untouched
    Fault(
        "8213 storm that never ends", "DocCheque/Get#4+:8213", BROKEN, "still rate-limited",
        "REGOS rate limit", client={"max_rate_limit_retries": 4},
    ),
    Fault(
        "HTTP 429 that never ends", "DocCheque/Get#4+:http429", BROKEN, "HTTP 429", "REGOS rate limit",
        client={"max_rate_limit_retries": 4},
    ),
    Fault(
        "HTTP 503 on every attempt", "DocCheque/Get#4+:http503", BROKEN, "failed after 3 attempts: HTTP 503",
        "could not be reached", client={"max_attempts": 3},
    ),
    Fault(
        "connection reset on every attempt", "DocCheque/Get#4+:reset", BROKEN, "connection failed",
        "could not be reached", client={"max_attempts": 3},
    ),
    Fault(
        "HTML page with HTTP 200 on every attempt", "DocCheque/Get#4+:html200", BROKEN,
        "not valid JSON", "does not understand", client={"max_attempts": 3},
    ),
    Fault(
        "wrong result type on every attempt", "DocCheque/Get#4+:wrongtype", BROKEN,
        "'result' is a string, expected an array", "does not understand", client={"max_attempts": 3},
    ),
    Fault(
        "next_offset never advances", "DocCheque/Get#4+:stuck-offset", BROKEN,
        "paging did not advance", "does not understand", client={"max_attempts": 3},
    ),
    Fault(
        "an empty page before the total is reached, on every read", "DocCheque/Get#4+:empty-page", BROKEN,
        "empty page at offset", "does not understand", client={"max_attempts": 3},
    ),
    # --- one unusable document: quarantined, the rest of the run written
    Fault("a cheque without an amount", "DocCheque/Get#4:amount-missing", QUARANTINED, ".amount: Field required"),
    Fault("a cheque whose amount is letters", "DocCheque/Get#4:amount-letters=2", QUARANTINED,
          ".amount: Input should be a valid decimal"),
    Fault(
        "integration key revoked mid-run (REGOS 1096)", "DocCheque/Get#4+:access", BROKEN, "REGOS error 1096",
        "REGOS key rejected",
    ),
    Fault(
        "HTTP 401 mid-run", "DocCheque/Get#4+:http401", BROKEN, "refused the integration key (HTTP 401)",
        "REGOS key rejected",
    ),
    Fault(
        "REGOS refuses the parameters (1008)", "DocCheque/Get#4:error=1008", BROKEN, "REGOS error 1008",
        "bug in regos-admin",
    ),
]


def sync(world: World, **client: Any) -> SyncRun:
    regos = fast_client(**client)
    try:
        return services.sync_range(date_from=world.first, date_to=world.last, client=regos)
    finally:
        regos.close()


def check_days(run: SyncRun, old: State, new: State) -> tuple[int, int]:
    """Days the run reports done are exactly new; every other day is exactly old. (done, untouched)"""
    done = untouched = 0
    state = database_state()
    for item in run.progress:
        day = date.fromisoformat(item["date"])
        actual = state.day(day)
        if item["status"] == "done":
            assert actual == new.day(day), f"{day} is marked done but is not the new state"
            done += 1
        else:
            assert actual == old.day(day), f"{day} ({item['status']}) is not the old state"
            untouched += 1
    return done, untouched


@pytest.fixture
def world(db) -> World:  # type: ignore[no-untyped-def]
    # 3 days × 10 cheques (~9 closed), 2 shipments and 1 return a day: small enough for MongoDB.
    return make_world(range_days=3, cheques_per_day=10)


@pytest.mark.parametrize("fault", FAULTS, ids=[f.id for f in FAULTS])
def test_a_regos_fault_never_leaves_wrong_numbers(
    fault: Fault, world: World, regos_server, settings, record: Record
) -> None:  # type: ignore[no-untyped-def]
    expected = {
        OK: "retried; run succeeded with exactly the oracle",
        BROKEN: "run failed/partial with a clear error; done days new, others old; clean re-run = oracle",
        QUARANTINED: "run succeeded with a warning; the document quarantined, its day new without it, other "
                     "days new; clean re-run = oracle, quarantine cleared",
    }[fault.expect]
    record("REGOS fault", f"{fault.name} (`{fault.plan}`)", expected)
    server = regos_server(world.ds, page_cap=PAGE)

    first = sync(world)
    assert first.status == SyncRun.Status.SUCCEEDED, first.error
    assert_state(database_state(), world.oracle())
    old = database_state()

    world.apply(world.changes())
    new = world.oracle()
    assert new.history != old.history  # the changes are visible in the figures

    for name, value in fault.settings.items():
        setattr(settings, name, value)
    server.reset_stats()
    server.set_fault_plan(fault.plan)
    faulty = sync(world, **fault.client)
    injected = sum(server.stats.faults.values())
    assert injected > 0, "the fault plan never fired"

    if fault.expect == QUARANTINED:
        assert faulty.status == SyncRun.Status.SUCCEEDED, f"{faulty.status}: {faulty.error}"
        assert faulty.quarantined == 1 and faulty.has_warnings
        held = QuarantinedDocument.objects.get()
        assert fault.error in held.reason, held.reason
        assert held.business_date is not None
        state = database_state()
        for item in faulty.progress:
            day = date.fromisoformat(item["date"])
            if day == held.business_date:
                facts, _ = state.day(day)
                wanted, _ = new.day(day)
                # Exactly the new day's documents but the quarantined one.
                assert facts == [f for f in wanted if (f[0], f[1]) != (held.source_kind, held.regos_id)]
                assert len(facts) == len(wanted) - 1
            else:
                assert state.day(day) == new.day(day), f"{day} is not the new state"
        assert_totals_consistent()
        record.saw(f"succeeded with warnings: {held.source_kind} {held.regos_id} quarantined on "
                   f"{held.business_date} (“{held.reason[:100]}”); every other day = oracle")
    elif fault.expect == OK:
        assert faulty.status == SyncRun.Status.SUCCEEDED, f"{faulty.status}: {faulty.error}"
        assert_state(database_state(), new)
        record.saw(
            f"{faulty.status} after {injected} injected fault(s), {faulty.requests_made} requests "
            f"({faulty.rate_limit_waits} rate-limit waits); facts+history+totals = oracle"
        )
    else:
        assert faulty.status in (SyncRun.Status.FAILED, SyncRun.Status.PARTIAL), faulty.status
        assert fault.error in faulty.error, faulty.error
        assert fault.hint in faulty.error_hint, faulty.error_hint
        assert "\n" not in faulty.error and "Traceback" not in faulty.error
        assert settings.REGOS_INTEGRATION_KEY not in faulty.error + faulty.error_hint
        done, untouched = check_days(faulty, old, new)
        assert untouched > 0
        # Totals are derived from history: they must agree with whatever history now holds.
        assert_totals_consistent()
        record.saw(
            f"{faulty.status}: “{faulty.error[:140]}” — hint “{faulty.error_hint[:80]}”; "
            f"{done} day(s) new, {untouched} untouched"
        )

    server.set_fault_plan(None)
    clean = sync(world)
    assert clean.status == SyncRun.Status.SUCCEEDED, clean.error
    assert_state(database_state(), new)
    assert selectors.days_needing_repair() == []
    assert not QuarantinedDocument.objects.exists()
    record.saw("clean re-run: succeeded, = oracle")


def assert_totals_consistent() -> None:
    """Branch month-to-date and Employee latest-day figures equal what the stored history says."""
    state = database_state()
    branches, employees = derived_totals(state)
    assert state.branch_totals == branches, (state.branch_totals, branches)
    assert state.employee_totals == employees, (state.employee_totals, employees)


# --- a document whose REGOS date was edited, then REGOS fails mid-run -------------------------------


def moving_world(cast) -> tuple[object, list, object]:  # type: ignore[no-untyped-def]
    """Three days of cheques at Navoiy (3 per day) and one shipment on the first day."""
    from datetime import timedelta

    from payroll.dates import today
    from sync.regos.emulator import Dataset
    from tests.sync_data import AZIZ, BOBUR, DILNOZA, NAVOIY, add_references, at, d, map_cast

    map_cast(navoiy=cast.navoiy, gijduvon=cast.gijduvon, aziz=cast.aziz, dilnoza=cast.dilnoza, bobur=cast.bobur)
    days = [today() - timedelta(days=n) for n in (5, 4, 3)]
    ds = Dataset()
    add_references(ds)
    for i, day in enumerate(days):
        ds.add_session(uuid=f"s-{i}", operating_cash_id=100, start=at(day, 8), close=at(day, 22),
                       start_user_id=DILNOZA)
        for k in range(3):
            ds.add_cheque(uuid=f"c-{i}-{k}", date=at(day, 10 + k), session=f"s-{i}",
                          amount=d(f"{(i + 1) * 10000 + k}.00"), seller_id=AZIZ)
    shipment = ds.add_wholesale(id=9001, date=at(days[0], 14), stock_id=NAVOIY, amount=d("700000.00"),
                                seller_id=BOBUR, attached_user_id=BOBUR)
    return ds, days, shipment


def test_a_moved_document_is_not_double_counted_when_regos_fails_after_its_new_day(
    regos_server, cast_people, record: Record
) -> None:  # type: ignore[no-untyped-def]
    """A shipment's date is edited in REGOS from day A to day B; a sync of B..C writes B (the fact moves
    to B), then REGOS fails. Day A is outside the run: its history must still lose the shipment."""
    from payroll.dates import today
    from tests.reliability.oracle import Mapping, expected_state
    from tests.sync_data import AZIZ, BOBUR, DILNOZA, E_AZIZ, E_BOBUR, E_DILNOZA, GIJ, NAV, at

    record(
        "REGOS fault", "a shipment re-dated from day A to day B, then HTTP 503 after B is written "
        "(sync of B..C)", "A's history loses the shipment at once (no double count); re-run = oracle",
    )
    ds, (a, b, c), shipment = moving_world(cast_people)
    server = regos_server(ds, page_cap=2)
    mapping = Mapping({1: NAV, 2: GIJ}, {AZIZ: E_AZIZ, DILNOZA: E_DILNOZA, BOBUR: E_BOBUR})

    def oracle() -> State:
        return expected_state(ds, a, c, mapping, today=today(), branches=[NAV, GIJ],
                              employees=[E_AZIZ, E_DILNOZA, E_BOBUR])

    run = services.sync_range(date_from=a, date_to=c, client=fast_client())
    assert run.status == SyncRun.Status.SUCCEEDED
    assert_state(database_state(), oracle())

    shipment["date"] = int(at(b, 15).timestamp())  # edited in REGOS (no emulator API moves a date)
    ds._version += 1  # the emulator's cached sort order must see the edit
    new = oracle()
    # Cheque pages of B..C: [b0 b1] [b2 c0] [c1 c2]: B is written while page 2 is read, page 3 fails.
    server.set_fault_plan("DocCheque/Get#3+:http503")
    regos = fast_client(max_attempts=2)
    try:
        faulty = services.sync_range(date_from=b, date_to=c, client=regos)
    finally:
        regos.close()
    assert faulty.status == SyncRun.Status.PARTIAL, faulty.error
    assert [p["status"] for p in faulty.progress] == ["done", "failed"]
    state = database_state()
    assert state.facts == new.facts  # the shipment's one fact row moved to B
    assert state.history == new.history, "day A still counts the moved shipment (double count)"
    assert_totals_consistent()
    record.saw(f"{faulty.status}: B done, C failed; A's history rebuilt without the shipment")

    server.set_fault_plan(None)
    again = services.sync_range(date_from=b, date_to=c, client=fast_client())
    assert again.status == SyncRun.Status.SUCCEEDED
    assert_state(database_state(), new)
    record.saw("clean re-run of B..C: = oracle for A..C")
