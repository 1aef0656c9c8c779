"""A faithful local emulator of the REGOS integration API (for tests, the demo and the benchmark).

    from sync.regos.emulator import Dataset, FakeRegosServer, generate_dataset

    ds = Dataset()                                   # hand-built (tests), or
    ds = generate_dataset(seed=1, days=30)           # deterministic, lazily generated per day
    with FakeRegosServer(dataset=ds, key=KEY) as srv:
        base_url = srv.base_url                      # http://127.0.0.1:<port>/gateway/out

Modules: ``protocol`` (codes, exact JSON), ``dataset`` (hand-built data, query engine, events),
``generator`` (lazy generated data), ``faults`` (fault-plan grammar), ``server`` (HTTP).
"""

from __future__ import annotations

from sync.regos.emulator.dataset import Counts, Dataset, Filter
from sync.regos.emulator.faults import FaultPlan, parse_fault_plan
from sync.regos.emulator.generator import GeneratedDataset, generate_dataset
from sync.regos.emulator.server import DEMO_KEY, EmulatorStats, FakeRegosServer, TokenBucket

__all__ = [
    "DEMO_KEY",
    "Counts",
    "Dataset",
    "EmulatorStats",
    "FakeRegosServer",
    "FaultPlan",
    "Filter",
    "GeneratedDataset",
    "TokenBucket",
    "generate_dataset",
    "parse_fault_plan",
]
