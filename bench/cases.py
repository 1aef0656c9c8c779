"""What the benchmark measures: the data sets and the cases, for the full run and the smoke run.

Every case is "a large chain's month": 20 stocks (branches) with 2 cash registers each, 40 REGOS users,
30 business days (September 2026: a whole calendar month in the past, so the monthly summary and the
CSV export cover exactly the synced data), the generator's own realistic mix (~90 % closed sales, ~4 %
canceled, ~3 % unfinished, ~3 % returns, ~20 % without a seller, late shops whose shifts straddle
midnight, wholesale = cheques/50 a day of which ~88 % performed, returns = wholesale/8). Nothing in the
mix is tuned for the benchmark: the sizes only change ``cheques_per_day``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta

SEED = 20260901
MONTH_LAST = date(2026, 9, 30)
MONTH_DAYS = 30


@dataclass(frozen=True)
class DataSet:
    """Arguments of ``manage.py regos_fake_server`` (the emulator process)."""

    cheques_per_day: int
    stocks: int = 20
    cashes_per_stock: int = 2
    users: int = 40
    days: int = MONTH_DAYS
    end_day: date = MONTH_LAST
    seed: int = SEED
    page_cap: int = 1000
    rate: float | None = None  # None: the emulator enforces no rate limit
    burst: int | None = None

    @property
    def first_day(self) -> date:
        return self.end_day - timedelta(days=self.days - 1)

    @property
    def cheques(self) -> int:
        return self.cheques_per_day * self.days

    def server_args(self) -> list[str]:
        args = [
            "--seed", str(self.seed), "--stocks", str(self.stocks),
            "--cashes-per-stock", str(self.cashes_per_stock), "--users", str(self.users),
            "--days", str(self.days), "--end-day", self.end_day.isoformat(),
            "--cheques-per-day", str(self.cheques_per_day), "--page-cap", str(self.page_cap),
        ]
        if self.rate is None:
            args.append("--no-rate-limit")
        else:
            args += ["--rate", str(self.rate), "--burst", str(self.burst or 50)]
        return args

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["end_day"] = self.end_day.isoformat()
        data["first_day"] = self.first_day.isoformat()
        data["cheques"] = self.cheques
        return data


def per_day(total_cheques: int, days: int = MONTH_DAYS) -> int:
    return math.ceil(total_cheques / days)


@dataclass(frozen=True)
class Plan:
    """One benchmark run: which cases, at which sizes."""

    name: str
    throughput: tuple[tuple[str, DataSet], ...]  # (label, data); each synced twice (first + re-sync)
    representative: str  # the throughput label whose requests are "the representative month"
    pace: DataSet | None
    client_rate: float = 2.0  # the pace case's client pacing (REGOS: 2 /s, burst 50)
    client_burst: int = 50
    naive: str | None = None  # the throughput label whose data the naive baseline syncs
    naive_max_cheques: int | None = None  # sync only the first days of it, up to about this many
    panel: str | None = None  # the throughput label whose synced DB the panel latency is measured on
    panel_repeats: int = 20
    scaling: DataSet | None = None
    profile: str | None = None  # throughput label profiled (separately from the timed run)
    extras: dict[str, object] = field(default_factory=dict)


FULL = Plan(
    name="full",
    throughput=(
        ("10k", DataSet(cheques_per_day=per_day(10_000))),
        ("100k", DataSet(cheques_per_day=per_day(100_000))),
        ("1M", DataSet(cheques_per_day=per_day(1_000_000))),
    ),
    representative="100k",
    # ~150 requests with a page cap of 100: a floor of ~50 s at 2 requests/s after the burst of 50.
    pace=DataSet(cheques_per_day=500, page_cap=100, rate=2.0, burst=50),
    naive="10k",
    panel="1M",
    panel_repeats=20,
    profile="100k",
)

# A tiny run for the test suite: the same code paths, seconds instead of minutes, no timing claims.
SMOKE = Plan(
    name="smoke",
    throughput=(("tiny", DataSet(cheques_per_day=40, stocks=2, cashes_per_stock=1, users=4, days=3,
                                 page_cap=25)),),
    representative="tiny",
    pace=None,
    naive="tiny",
    panel="tiny",
    panel_repeats=2,
)


def with_sizes(plan: Plan, labels: list[str]) -> Plan:
    """The plan restricted to some throughput sizes (``--sizes 10k,100k``)."""
    chosen = tuple((label, data) for label, data in plan.throughput if label in labels)
    if not chosen:
        raise ValueError(f"no such size among {[label for label, _ in plan.throughput]}: {labels}")
    keep = {label for label, _ in chosen}
    return replace(
        plan,
        throughput=chosen,
        representative=plan.representative if plan.representative in keep else chosen[-1][0],
        naive=plan.naive if plan.naive in keep else None,
        panel=plan.panel if plan.panel in keep else None,
        profile=plan.profile if plan.profile in keep else chosen[-1][0],
    )
