#!/usr/bin/env python3
"""Render the README's "Reliability" section from what the fault suite recorded.

    .venv/bin/python scripts/reliability_report.py            # rewrite README.md between the markers
    .venv/bin/python scripts/reliability_report.py --check    # exit 1 if README.md is not up to date
    .venv/bin/python scripts/reliability_report.py --stdout   # print the section only

Input: ``tests/artifacts/reliability.json``, written by ``tests/reliability/`` (part of ``make test``) —
one row per fault or attack tried, with what was expected, what was observed and the test's outcome,
per database pass (``sqlite``, ``mongodb``), plus the load test's figures. Output: the Markdown between
``<!-- reliability:start -->`` and ``<!-- reliability:end -->`` in README.md (nothing else is touched;
the markers are appended at the end if missing). Nothing in the table is written by hand.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTIFACT = ROOT / "tests" / "artifacts" / "reliability.json"
README = ROOT / "README.md"
START, END = "<!-- reliability:start -->", "<!-- reliability:end -->"
AREAS = ["REGOS fault", "Crash (SIGKILL)", "Concurrency", "Load", "Hostile input", "Security"]
BACKENDS = [("sqlite", "SQLite"), ("mongodb", "MongoDB")]
# Columns of the attack figures table, in this order; a figure a test records under another name
# gets a column of its own after these (``Record.count`` in tests/reliability/support.py).
FIGURES = ["inputs", "5xx", "wrong writes", "key chars leaked", "throttle attempts checked per burst"]
MARK = {"passed": "✅ passed", "failed": "❌ FAILED", "skipped": "⏭ skipped", "error": "❌ error"}
_VOLATILE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d{4}-\d{2}-\d{2}|\d+(\.\d+)?"
)


def cell(text: object) -> str:
    """One table cell: one line, pipes escaped, markup outside `code spans` shown as text."""
    parts = " ".join(str(text).split()).replace("|", "\\|").split("`")
    for i in range(0, len(parts), 2):  # even parts are outside backticks
        parts[i] = parts[i].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)


def _shape(text: str) -> str:
    """The observation with ids, dates and numbers blanked: equal shapes say the same thing."""
    return _VOLATILE.sub("#", text)


def merged_rows(data: dict) -> list[dict]:
    """One row per test (node id), with each database's result and observation."""
    rows: dict[str, dict] = {}
    for backend, _label in BACKENDS:
        for row in data.get("backends", {}).get(backend, {}).get("rows", []):
            merged = rows.setdefault(row["nodeid"], {**row, "results": {}, "observed_by": {}})
            merged["results"][backend] = row["result"]
            merged["observed_by"][backend] = row["observed"]
    def key(row: dict) -> tuple:
        area = AREAS.index(row["area"]) if row["area"] in AREAS else len(AREAS)
        return area, row.get("order", 0), row["nodeid"]

    return sorted(rows.values(), key=key)


def observed(row: dict) -> str:
    by = row["observed_by"]
    first = by.get("sqlite") or by.get("mongodb") or ""
    other = by.get("mongodb", "")
    text = cell(first)
    if "sqlite" in by and other and _shape(other) != _shape(first):
        text += f"<br>**MongoDB:** {cell(other)}"
    return text


def figures_section(rows: list[dict], data: dict) -> list[str]:
    """One line per attack that counted figures, per database pass (each pass's own numbers)."""
    counted = []
    for backend, label in BACKENDS:
        for row in data.get("backends", {}).get(backend, {}).get("rows", []):
            if row.get("figures"):
                counted.append((row, label))
    if not counted:
        return []
    order = {row["nodeid"]: i for i, row in enumerate(rows)}
    labels = [label for _, label in BACKENDS]
    counted.sort(key=lambda pair: (order.get(pair[0]["nodeid"], len(order)), labels.index(pair[1])))
    names = [n for n in FIGURES if any(n in row["figures"] for row, _ in counted)]
    names += sorted({n for row, _ in counted for n in row["figures"]} - set(names))
    lines = [
        "",
        "**Attack figures** (counted by the tests above, per database pass):",
        "",
        "| Attack | Pass | " + " | ".join(cell(n.capitalize()) for n in names) + " |",
        "|---|---|" + "---:|" * len(names),
    ]
    for row, label in counted:
        values = " | ".join(str(row["figures"].get(n, "—")) for n in names)
        lines.append(f"| {cell(row['case'])} | {label} | {values} |")
    return lines


def load_section(data: dict) -> list[str]:
    figures = None
    for backend, label in BACKENDS:
        load = data.get("backends", {}).get(backend, {}).get("extras", {}).get("load")
        if load:
            figures, where = load, label
            break
    if figures is None:
        return []
    lines = [
        "",
        f"**Load** ({where} pass, {figures['users']} accountants for {figures['seconds']} s on "
        f"{figures.get('cpus', '?')} CPU cores shared by locust, {figures.get('web', 'gunicorn')}, the sync "
        f"and the emulator): {figures['requests']} requests, **{figures['failures']} failed**, "
        f"{figures['rps']:.1f} req/s; latency p50 **{figures['p50_ms']:.0f} ms**, p95 **{figures['p95_ms']:.0f} ms**, "
        f"p99 {figures['p99_ms']:.0f} ms, max {figures['max_ms']:.0f} ms. Meanwhile the sync wrote "
        f"{figures['sync_days_written_during_load']} more day(s) (status afterwards: {figures['sync_status_after']}).",
        "",
        "| Page | Requests | p95 |",
        "|---|---:|---:|",
    ]
    for name, endpoint in sorted(figures.get("endpoints", {}).items()):
        lines.append(f"| `{cell(name)}` | {endpoint['requests']} | {endpoint['p95_ms']:.0f} ms |")
    return lines


def render(data: dict) -> str:
    rows = merged_rows(data)
    sessions = []
    for backend, label in BACKENDS:
        section = data.get("backends", {}).get(backend, {})
        last = section.get("last_session")
        if last:
            results = [row["result"] for row in section.get("rows", [])]
            counts = ", ".join(f"{results.count(r)} {r}" for r in ("passed", "skipped", "failed", "error")
                               if results.count(r))
            sessions.append(f"{label}: {counts} — last pass {last['duration_s']:.0f} s, {last['finished_at']}")
    lines = [
        "## Reliability",
        "",
        "_Generated by `scripts/reliability_report.py` from `tests/artifacts/reliability.json`, which the fault "
        "suite `tests/reliability/` (part of `make test`) writes on each database pass — not written by hand._",
        "",
        "Every REGOS fault runs a real sync of a generated multi-day world against the local emulator with a "
        "fault plan, then one clean re-run; facts, history and Branch/Employee totals are compared, as sorted "
        "value tuples, with an oracle computed independently from the emulator's data (`tests/reliability/"
        "oracle.py`). Crashes are real `SIGKILL`s of a `manage.py regos_sync` process. "
        + ("Last runs — " + "; ".join(sessions) + "." if sessions else ""),
        "",
        "| Area | Fault / attack tried | Expected | Observed | " + " | ".join(label for _, label in BACKENDS) + " |",
        "|---|---|---|---|" + "---|" * len(BACKENDS),
    ]
    for row in rows:
        results = " | ".join(MARK.get(row["results"].get(backend, ""), "—") for backend, _ in BACKENDS)
        lines.append(f"| {cell(row['area'])} | {cell(row['case'])} | {cell(row['expected'])} | {observed(row)} "
                     f"| {results} |")
    lines += figures_section(rows, data)
    lines += load_section(data)
    return "\n".join(lines) + "\n"


def updated_readme(readme: str, section: str) -> str:
    if START in readme and END in readme:
        head, rest = readme.split(START, 1)
        _old, tail = rest.split(END, 1)
        return f"{head}{START}\n{section}{END}{tail}"
    return readme.rstrip("\n") + f"\n\n{START}\n{section}{END}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is not up to date")
    parser.add_argument("--stdout", action="store_true", help="print the section instead of writing README.md")
    parser.add_argument("--input", type=Path, default=ARTIFACT)
    args = parser.parse_args(argv)
    if not args.input.exists():
        print(f"{args.input} not found: run the suite first (make test, or pytest tests/reliability)",
              file=sys.stderr)
        return 2
    section = render(json.loads(args.input.read_text()))
    if args.stdout:
        sys.stdout.write(section)
        return 0
    readme = README.read_text()
    new = updated_readme(readme, section)
    if args.check:
        if new != readme:
            print("README.md's Reliability section is out of date: run scripts/reliability_report.py",
                  file=sys.stderr)
            return 1
        return 0
    if new != readme:
        README.write_text(new)
    print(f"README.md: Reliability section with {len(merged_rows(json.loads(args.input.read_text())))} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
