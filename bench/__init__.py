"""``make bench``: request optimality, pace under the REGOS limit, throughput, re-sync, a naive
baseline and panel latency — measured against the local REGOS emulator in a separate process, on a
migrated temporary SQLite file. Entry point: ``python -m bench.run`` (see BENCHMARKS.md)."""
