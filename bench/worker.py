"""One measurement in a fresh process: ``python -m bench.worker SPEC.json RESULT.json``.

The orchestrator (bench.run) sets the environment (DATABASE_URL of a temporary SQLite file,
REGOS_BASE_URL of the emulator process, pacing) and writes the spec; this process sets Django up,
does what the spec's ``action`` says and writes a JSON result. A fresh process per measurement makes
``ru_maxrss`` the peak of that measurement alone.

Actions:
- ``sync``: migrate, discover (Stock/Get + User/Get, mappings with new branches/employees; not
  timed, not counted), then the timed first sync of the range and — with ``resync`` — a second one.
- ``naive``: migrate, discover, then the naive baseline (bench.naive) on the same range.
- ``panel``: on an already synced database, server time of the report pages (Django test client).
- ``profile``: like ``sync`` (first sync only) under pyinstrument; writes the text profile.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any


def _rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _setup(migrate: bool) -> None:
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)


def _wal() -> None:
    """``--wal``: the database file in WAL journal mode (a proposal measured, not the product's default)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode=WAL")


class _Emu:
    """The emulator's control endpoints, from inside the worker (around the timed section)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from bench.emulator import Emulator

        self._emu = Emulator.__new__(Emulator)
        self._emu.root_url = spec["emulator_root"]
        self.pid = int(spec["emulator_pid"])

    def reset(self) -> None:
        self._emu.reset_stats()

    def stats(self, timestamps: bool = False) -> dict[str, Any]:
        return self._emu.stats_with_timestamps() if timestamps else self._emu.stats()

    def cpu_s(self) -> float:
        from bench.emulator import process_cpu_s

        return process_cpu_s(self.pid)


def _discover() -> dict[str, int]:
    from sync import services

    found = services.regos_discover(create_missing=True)
    return {"stocks": len(found.stocks), "users": len(found.users)}


def _db_counts() -> dict[str, int]:
    from payroll.models import DailySalesHistory
    from sync.models import SalesFact

    return {"facts": SalesFact.objects.count(), "history_rows": DailySalesHistory.objects.count()}


def _client(limiter: str):  # type: ignore[no-untyped-def]
    """The client a sync would build (``default``: ``RegosClient.from_settings()``), or one on the
    shared limiter that several worker processes use (``shared``: ``limiter_for_settings()``)."""
    from sync.regos.client import RegosClient

    if limiter == "shared":
        from sync.regos.shared_limit import limiter_for_settings

        return RegosClient.from_settings(limiter=limiter_for_settings())
    return RegosClient.from_settings()


def _timed_sync(first: date, last: date, emu: _Emu, *, timestamps: bool = False,
                limiter: str = "default", reset_stats: bool = True) -> dict[str, Any]:
    from sync import services

    client = _client(limiter)
    rss_by_day: list[float] = []  # resident set after each day's flush: flat = memory does not grow with the range
    if reset_stats:
        emu.reset()
    emu_cpu0 = emu.cpu_s()
    cpu0 = time.process_time()
    started_at = time.time()
    t0 = time.perf_counter()
    try:
        run = services.sync_range(
            date_from=first, date_to=last, client=client, on_day=lambda _report: rss_by_day.append(_current_rss_mb())
        )
    finally:
        wall = time.perf_counter() - t0
        ended_at = time.time()
        cpu = time.process_time() - cpu0
        emu_cpu = emu.cpu_s() - emu_cpu0
        client.close()
    server = emu.stats(timestamps=timestamps)
    out = {
        "status": run.status,
        "error": run.error,
        "wall_s": wall,
        "started_at": started_at,
        "ended_at": ended_at,
        "cpu_s": cpu,
        "emulator_cpu_s": emu_cpu,
        "peak_rss_mb": _rss_mb(),
        "rss_now_mb": _current_rss_mb(),
        "rss_by_day_mb": [round(x, 1) for x in rss_by_day],
        "documents": run.documents_seen,
        "facts_inserted": run.facts_inserted,
        "facts_updated": run.facts_updated,
        "facts_removed": run.facts_removed,
        "history_rows_written": run.history_rows_written,
        "run_requests": run.requests_made,
        "run_rate_limit_waits": run.rate_limit_waits,
        "client_requests": client.stats.requests_made,
        "client_by_method": dict(client.stats.by_method),
        "client_rate_limit_waits": client.stats.rate_limit_waits,
        "client_retries": client.stats.retries,
        "client_wait_s": client.stats.wait_s,
        "server": server,
        **_db_counts(),
    }
    if timestamps and server.get("timestamps"):
        stamps = server.pop("timestamps")
        out["server_span_s"] = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
    return out


def action_prepare(spec: dict[str, Any]) -> dict[str, Any]:
    """Migrate and discover only (the scaling case prepares a database, then syncs it from 2 processes)."""
    t0 = time.perf_counter()
    _setup(migrate=True)
    return {"setup_s": time.perf_counter() - t0, "discovered": _discover()}


def action_slice_prepare(spec: dict[str, Any]) -> dict[str, Any]:
    """A sliced run as ``sync_run_sliced_task`` leaves it: requested, claimed (running), slices planned.

    Only the broker is left out: instead of django-q2 handing slice tasks to its worker processes, the
    bench's ``slice_work`` processes take them (``sync.slices.sync_slice_task``, the task itself).
    """
    first, last = date.fromisoformat(spec["first"]), date.fromisoformat(spec["last"])
    _setup(migrate=True)
    from sync import services, slices
    from sync.engine.runs import run_claim

    discovered = _discover()
    run, _ = services.sync_run_request(date_from=first, date_to=last, trigger="command")
    run = run_claim(run_id=run.id)
    days = int(spec.get("slice_days", slices.SLICE_DAYS))
    planned = slices.range_slices(first, last, days)
    slices._put(slices._plan_key(run.id), f"{len(planned)},{days}")
    return {"run_id": str(run.id), "slices": [(a.isoformat(), b.isoformat()) for a, b in planned],
            "discovered": discovered}


def action_slice_work(spec: dict[str, Any]) -> dict[str, Any]:
    """One worker process: take the next untaken slice (a claim row, like a broker's dequeue), run the
    slice task, repeat; then report the parent run as this process last saw it."""
    _setup(migrate=False)
    from django.db import IntegrityError

    from sync import slices
    from sync.models import KeyValue, SyncRun

    run_id = spec["run_id"]
    taken: list[str] = []
    cpu0 = time.process_time()
    started_at = time.time()
    for first, last in spec["slices"]:
        try:
            KeyValue.objects.create(key=f"benchclaim:{run_id[:8]}:{first}", value=str(os.getpid()))
        except IntegrityError:
            continue  # the other worker took it
        slices.sync_slice_task(run_id, first, last)
        taken.append(first)
    ended_at = time.time()
    run = SyncRun.objects.get(id=run_id)
    return {
        "taken": taken, "started_at": started_at, "ended_at": ended_at, "cpu_s": time.process_time() - cpu0,
        "peak_rss_mb": _rss_mb(), "run_status": run.status, "documents": run.documents_seen,
        "finished": run.finished_at is not None,
    }


def action_sync(spec: dict[str, Any]) -> dict[str, Any]:
    first, last = date.fromisoformat(spec["first"]), date.fromisoformat(spec["last"])
    emu = _Emu(spec)
    prepared = bool(spec.get("prepared"))
    t0 = time.perf_counter()
    _setup(migrate=not prepared)
    if spec.get("wal"):
        _wal()
    setup_s = time.perf_counter() - t0
    discovered = {} if prepared else _discover()
    # Discovery spent tokens of the REGOS bucket: let it refill so the timed sync starts with a full
    # burst, as the floor (requests - burst) / rate assumes.
    time.sleep(float(spec.get("refill_s", 0)))
    result: dict[str, Any] = {
        "setup_s": setup_s,
        "discovered": discovered,
        "rss_before_sync_mb": _rss_mb(),
    }
    limiter = spec.get("limiter", "default")
    result["first"] = _timed_sync(first, last, emu, timestamps=bool(spec.get("timestamps")), limiter=limiter,
                                  reset_stats=spec.get("reset_stats", True))
    if spec.get("resync"):
        result["resync"] = _timed_sync(first, last, emu)
    return result


def action_profile(spec: dict[str, Any]) -> dict[str, Any]:
    """The first sync under a profiler (pyinstrument: a call tree; cProfile: top functions)."""
    first, last = date.fromisoformat(spec["first"]), date.fromisoformat(spec["last"])
    _setup(migrate=True)
    _discover()
    from sync import services

    kind = spec.get("profiler", "pyinstrument")
    t0 = time.perf_counter()
    if kind == "cprofile":
        import cProfile
        import io
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        run = services.sync_range(date_from=first, date_to=last)
        profiler.disable()
        wall = time.perf_counter() - t0
        buffer = io.StringIO()
        stats = pstats.Stats(profiler, stream=buffer)
        stats.sort_stats("tottime").print_stats(40)
        stats.sort_stats("cumulative").print_stats(60)
        text = buffer.getvalue()
    else:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.002)
        profiler.start()
        run = services.sync_range(date_from=first, date_to=last)
        profiler.stop()
        wall = time.perf_counter() - t0
        text = profiler.output_text(unicode=True, color=False, show_all=bool(spec.get("show_all")))
    Path(spec["profile_out"]).write_text(text)
    return {"wall_s": wall, "documents": run.documents_seen, "status": run.status,
            "profile": spec["profile_out"], "profiler": kind}


def action_naive(spec: dict[str, Any]) -> dict[str, Any]:
    first, last = date.fromisoformat(spec["first"]), date.fromisoformat(spec["last"])
    emu = _Emu(spec)
    _setup(migrate=True)
    _discover()
    from bench import naive

    emu.reset()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    report = naive.naive_sync(date_from=first, date_to=last)
    wall = time.perf_counter() - t0
    return {
        "wall_s": wall,
        "cpu_s": time.process_time() - cpu0,
        "peak_rss_mb": _rss_mb(),
        **report,
        "server": emu.stats(),
        **_db_counts(),
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    # Nearest-rank on the sorted sample (p95 of 20 = the 19th value).
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.4999)))
    return ordered[rank - 1]


def action_panel(spec: dict[str, Any]) -> dict[str, Any]:
    _setup(migrate=False)
    from django.contrib.auth import get_user_model
    from django.test import Client, override_settings

    from payroll.models import Branch, DailySalesHistory
    from sync.models import SalesFact

    first, last = spec["first"], spec["last"]
    month = first[:7]
    repeats = int(spec.get("repeats", 20))
    user_model = get_user_model()
    user = user_model.objects.filter(username="bench").first() or user_model.objects.create_superuser(
        "bench", "bench@example.invalid", "bench-password-not-used"
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    branch = Branch.objects.order_by("name").first()
    base = f"date_from={first}&date_to={last}"
    pages = {
        "history": f"/reports/history/?{base}",
        "history_filtered": f"/reports/history/?{base}&branch={branch.pk}&sale_type=retail&page=2",
        "summary": f"/reports/summary/?month={month}",
        "export_csv": f"/reports/export.csv?{base}",
    }
    results: dict[str, Any] = {
        "facts": SalesFact.objects.count(),
        "history_rows": DailySalesHistory.objects.count(),
        "repeats": repeats,
    }
    # DJANGO_DEBUG=false uses whitenoise's manifest storage, which needs collectstatic; the pages'
    # {% static %} tags are not what is measured, so plain storage is used here.
    plain_static = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=plain_static):
        for name, url in pages.items():
            times: list[float] = []
            size = lines = 0
            for i in range(repeats + 1):  # the first request warms caches and is not counted
                t0 = time.perf_counter()
                response = client.get(url)
                body = b"".join(response.streaming_content) if response.streaming else response.content
                elapsed = time.perf_counter() - t0
                if response.status_code != 200:
                    raise RuntimeError(f"{url} answered {response.status_code}: {body[:300]!r}")
                if i:
                    times.append(elapsed)
                size, lines = len(body), body.count(b"\n")
            results[name] = {
                "url": url,
                "p50_ms": statistics.median(times) * 1000,
                "p95_ms": _percentile(times, 95) * 1000,
                "max_ms": max(times) * 1000,
                "bytes": size,
                "lines": lines,
            }
    return results


ACTIONS = {
    "prepare": action_prepare, "sync": action_sync, "naive": action_naive, "panel": action_panel,
    "profile": action_profile, "slice_prepare": action_slice_prepare, "slice_work": action_slice_work,
}


def main(argv: list[str]) -> int:
    spec_path, out_path = argv[1], argv[2]
    spec = json.loads(Path(spec_path).read_text())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "regos_admin.settings")
    result = ACTIONS[spec["action"]](spec)
    Path(out_path).write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
