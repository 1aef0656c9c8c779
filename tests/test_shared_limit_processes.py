"""One REGOS rate limit across processes: 4 worker processes, one emulator enforcing 2 req/s burst 50.

Each worker is a separate Python process (its own Django, its own REGOS client) that works on its
own branch (REGOS stock): it reads the stock, its registers and users, ``REQUESTS_PER_WORKER`` times
in all, through ``limiter_for_settings()``. The emulator runs in this process and records the time of
every request it receives. Asserted at the emulator, for the database and the Redis bucket:

* zero 8213 answers;
* for every window [t, t + w] between two requests: count ≤ burst + rate × w + 1.

A control run with per-process buckets shows that the same load *does* break the limit, i.e. the
test can fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sync.regos.emulator import FakeRegosServer, generate_dataset
from sync.regos.shared_limit import effective_burst
from tests.fixtures.redis import redis_server, redis_url  # noqa: F401 — fixtures

ROOT = Path(__file__).resolve().parent.parent
KEY = "procs0limit0test0key000000000001"
RATE, BURST = 2.0, 50
WORKERS = 4
REQUESTS_PER_WORKER = 18  # 72 in all: 48 at once, then 24 paced at 2/s ≈ 12 s per backend
START_TIMEOUT_S = 60
RUN_TIMEOUT_S = 120

WORKER = r"""
import json, os, sys, time
import django
django.setup()
from django.conf import settings
from sync.regos.client import RegosClient
from sync.regos.errors import RegosRateLimitError
from sync.regos.ratelimit import shared_limiter
from sync.regos.shared_limit import limiter_for_settings

stock, count, go = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
limiter = limiter_for_settings()
retries = 0 if settings.REGOS_RATE_LIMIT_STORE == "process" else 30
client = RegosClient.from_settings(limiter=limiter, max_rate_limit_retries=retries)
calls = [
    ("Stock/Get", {"ids": [stock], "limit": 1}),
    ("OperatingCash/Get", {"stock_ids": [stock]}),
    ("User/Get", {"limit": 5}),
]
print("READY", type(limiter).__name__, flush=True)
while not os.path.exists(go):
    time.sleep(0.005)
ok = limited = 0
for i in range(count):
    method, payload = calls[i % len(calls)]
    try:
        client.call(method, payload)
        ok += 1
    except RegosRateLimitError:
        limited += 1
print("RESULT " + json.dumps({"ok": ok, "limited": limited, "waits": client.stats.rate_limit_waits,
                              "limiter": type(limiter).__name__}), flush=True)
"""


@pytest.fixture
def emulator():
    server = FakeRegosServer(dataset=generate_dataset(seed=7, stocks=WORKERS, days=2, cheques_per_day=5),
                             key=KEY, rate_per_sec=RATE, burst=BURST)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def run_workers(tmp_path: Path, env: dict[str, str], count: int) -> list[dict]:
    """Start WORKERS processes, release them together, return their RESULT lines (stopped on exit)."""
    go = tmp_path / "go"
    procs: list[tuple[subprocess.Popen[str], Path]] = []
    try:
        for stock in range(1, WORKERS + 1):
            log = tmp_path / f"worker-{stock}.log"
            with log.open("w") as out:
                procs.append((subprocess.Popen(
                    [sys.executable, "-c", WORKER, str(stock), str(count), str(go)],
                    cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
                ), log))
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all("READY" in log.read_text() for _, log in procs):
            failed = [log for proc, log in procs if proc.poll() is not None]
            if failed or time.monotonic() > deadline:
                pytest.fail("a worker did not start:\n" + "\n".join(log.read_text() for log in failed))
            time.sleep(0.05)
        go.touch()
        results = []
        for proc, log in procs:
            proc.wait(RUN_TIMEOUT_S)
            text = log.read_text()
            assert proc.returncode == 0, text
            assert KEY not in text
            line = next(line for line in text.splitlines() if line.startswith("RESULT "))
            results.append(json.loads(line.removeprefix("RESULT ")))
        return results
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def worker_env(base_url: str, store: str, database_url: str, redis_url: str = "") -> dict[str, str]:  # noqa: F811
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGOS_", "REDIS_", "DJANGO_Q_"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "regos_admin.settings",
        "DATABASE_URL": database_url,
        "REGOS_BASE_URL": base_url,
        "REGOS_INTEGRATION_KEY": KEY,
        "REGOS_RATE_PER_SEC": str(RATE),
        "REGOS_BURST": str(BURST),
        "REGOS_RATE_LIMIT_STORE": store,
        "REDIS_URL": redis_url,
        "DJANGO_LOG_LEVEL": "WARNING",
    })
    return env


def worst_window(timestamps: list[float]) -> tuple[int, float, float]:
    """The window [t_i, t_j] with the largest excess count − (burst + rate × w): (count, w, excess)."""
    times = sorted(timestamps)
    worst = (0, 0.0, float("-inf"))
    for i in range(len(times)):
        for j in range(i, len(times)):
            count, width = j - i + 1, times[j] - times[i]
            excess = count - (BURST + RATE * width)
            if excess > worst[2]:
                worst = (count, width, excess)
    return worst


def paced_rate(timestamps: list[float], first_paced: int) -> float:
    """Requests per second once the burst is spent: the least-squares slope of request number over
    arrival time from request #first_paced on (robust to one request arriving a little late)."""
    times = sorted(timestamps)[first_paced:]
    if len(times) < 2:
        return 0.0
    n = len(times)
    mean_t, mean_i = sum(times) / n, (n - 1) / 2
    covariance = sum((t - mean_t) * (i - mean_i) for i, t in enumerate(times))
    variance = sum((t - mean_t) ** 2 for t in times)
    return covariance / variance if variance else float("inf")


def assert_within_limit(server: FakeRegosServer, results: list[dict], limiter: str) -> None:
    stats = server.stats
    total = WORKERS * REQUESTS_PER_WORKER
    assert {r["limiter"] for r in results} == {limiter}
    assert [r["ok"] for r in results] == [REQUESTS_PER_WORKER] * WORKERS
    assert stats.rate_limited == 0, f"{stats.rate_limited} requests were refused with 8213"
    assert sum(r["waits"] for r in results) == 0
    assert stats.total == total
    count, width, excess = worst_window(stats.timestamps)
    rate = paced_rate(stats.timestamps, effective_burst(BURST))
    least = (total - BURST) / RATE
    print(f"\n{limiter}: {total} requests in {max(stats.timestamps) - min(stats.timestamps):.1f} s "
          f"(the limit allows no less than {least:.1f} s), "
          f"paced rate after the burst {rate:.3f}/s, worst window {count} requests in {width:.2f} s "
          f"(excess {excess:+.2f} over burst + rate × w)")
    assert excess <= 1, f"{count} requests in {width:.2f} s exceed {BURST} + {RATE} × {width:.2f} (+1)"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_four_processes_share_the_database_bucket(emulator, tmp_path, test_database_url):
    env = worker_env(emulator.base_url, "database", test_database_url)

    results = run_workers(tmp_path, env, REQUESTS_PER_WORKER)

    assert_within_limit(emulator, results, "DatabaseTokenBucket")


@pytest.mark.slow
def test_four_processes_share_the_redis_bucket(emulator, tmp_path, redis_url, on_mongodb):  # noqa: F811
    if on_mongodb:
        pytest.skip("no database involved: covered by the SQLite pass")
    # The database is not touched with the Redis store; any URL Django accepts will do.
    env = worker_env(emulator.base_url, "redis", f"sqlite:///{tmp_path / 'unused.sqlite3'}", redis_url)

    results = run_workers(tmp_path, env, REQUESTS_PER_WORKER)

    assert_within_limit(emulator, results, "RedisTokenBucket")


@pytest.mark.slow
def test_control_per_process_buckets_break_the_limit(emulator, tmp_path, on_mongodb):
    """Without a shared bucket each process spends the whole burst: REGOS refuses the excess."""
    if on_mongodb:
        pytest.skip("no database involved: covered by the SQLite pass")
    per_worker = 15  # 60 at once against a burst of 50
    env = worker_env(emulator.base_url, "process", f"sqlite:///{tmp_path / 'unused.sqlite3'}")

    results = run_workers(tmp_path, env, per_worker)

    assert {r["limiter"] for r in results} == {"TokenBucket"}
    assert emulator.stats.rate_limited >= WORKERS * per_worker - BURST - 2
    assert sum(r["limited"] for r in results) == emulator.stats.rate_limited
    assert worst_window(emulator.stats.timestamps)[2] > 1
