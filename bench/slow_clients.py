"""Slow clients against a real gunicorn on 127.0.0.1 (issue 15, item 7): what keeps ``/health/`` answering.

    .venv/bin/python -m bench.slow_clients                      # every configuration, 16 and 64 drippers
    .venv/bin/python -m bench.slow_clients --only guard --clients 16

Each configuration starts ``gunicorn -c deploy/gunicorn.conf.py regos_admin.wsgi`` (production settings,
a fresh migrated SQLite file, a free port on 127.0.0.1), opens N connections that send a request line
and then one header line every ``--drip`` seconds (never finishing), waits until all are connected,
then asks ``/health/`` with a ``--probe-timeout`` and reports how long it took or that it timed out.
Loops are bounded; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

CONFIGS: dict[str, dict[str, str]] = {
    # The gthread worker as `make serve` ran it before: 2 workers × 4 threads, keep-alive 5 s.
    # (GUNICORN_CMD_ARGS overrides deploy/gunicorn.conf.py.)
    "gthread 2×4": {"GUNICORN_CMD_ARGS": "--worker-class gthread"},
    "gthread 2×4, keep-alive 1 s": {"GUNICORN_CMD_ARGS": "--worker-class gthread --keep-alive 1"},
    "gthread 2×32": {"GUNICORN_CMD_ARGS": "--worker-class gthread --threads 32"},
    "gevent 2×1000 (a dev dependency only)": {"GUNICORN_CMD_ARGS": "--worker-class gevent"},
    "ReadDeadlineWorker (10 s), 2×4": {},
}


def production_env(db: Path, static: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REGOS_", "GUNICORN_"))}
    env.update(DJANGO_DEBUG="false", DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
               DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost", DATABASE_URL=f"sqlite:///{db}",
               DJANGO_STATIC_ROOT=str(static), HOST="127.0.0.1", PORT="0", WEB_CONCURRENCY="2",
               GUNICORN_LOG_LEVEL="warning", **extra)
    return env


def start(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    with log.open("w") as out:
        proc = subprocess.Popen(  # noqa: S603
            [PY, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "--log-level", "info",
             "regos_admin.wsgi:application"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", log.read_text())
        if found and probe(int(found.group(1)), 5.0) is not None:
            return proc, int(found.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    stop(proc)
    raise SystemExit("gunicorn did not start:\n" + log.read_text()[-3000:])


def stop(proc: subprocess.Popen[bytes]) -> None:
    import signal

    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def probe(port: int, timeout: float) -> float | None:
    """Seconds until ``/health/`` answered with a status line, or None on a timeout / refused connection."""
    began = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.settimeout(max(0.1, timeout - (time.monotonic() - began)))
            sock.sendall(b"GET /health/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            first = sock.recv(64)
    except OSError:
        return None
    return time.monotonic() - began if first.startswith(b"HTTP/1.1 ") else None


class Drippers:
    """N connections sending one header line every ``every`` seconds; counts the ones the server closed."""

    def __init__(self, port: int, count: int, every: float) -> None:
        self.port, self.count, self.every = port, count, every
        self.stop = threading.Event()
        self.connected = threading.Semaphore(0)
        self.closed_by_server = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._drip, args=(i,), daemon=True) for i in range(count)]

    def __enter__(self) -> Drippers:
        for thread in self.threads:
            thread.start()
        for _ in range(self.count):
            self.connected.acquire(timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def _drip(self, i: int) -> None:
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        except OSError:
            self.connected.release()
            return
        with sock:
            try:
                sock.sendall(b"GET /health/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                self.connected.release()
                n = 0
                while not self.stop.wait(self.every) and n < 1000:
                    sock.sendall(f"X-Drip-{n}: {i}\r\n".encode())
                    n += 1
            except OSError:
                with self.lock:
                    self.closed_by_server += 1


def measure(name: str, extra: dict[str, str], clients: int, drip: float, probe_timeout: float, tmp: Path,
            db: Path) -> str:
    proc, port = start(production_env(db, tmp / "static", extra), tmp / f"gunicorn-{clients}.log")
    try:
        with Drippers(port, clients, drip) as drippers:
            # Let the drippers' first lines reach the threads (the worker waits up to 5 s for a first byte).
            time.sleep(drip + 1)
            answered = probe(port, probe_timeout)
            closed = drippers.closed_by_server
    finally:
        stop(proc)
    outcome = f"{answered:.2f} s" if answered is not None else f"no answer in {probe_timeout:.0f} s"
    return f"| {name} | {clients} | {outcome} | {closed} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", default="16,64")
    parser.add_argument("--drip", type=float, default=5.0)
    parser.add_argument("--probe-timeout", type=float, default=30.0)
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        db = tmp / "db.sqlite3"
        env = production_env(db, tmp / "static", {})
        subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)  # noqa: S603
        subprocess.run([PY, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env,  # noqa: S603
                       check=True)
        print("| configuration | drippers | /health/ answered after | drippers closed by the server |")
        print("|---|---|---|---|")
        for cname, extra in CONFIGS.items():
            if args.only and args.only not in cname:
                continue
            for clients in (int(c) for c in args.clients.split(",")):
                print(measure(cname, extra, clients, args.drip, args.probe_timeout, tmp, db), flush=True)


if __name__ == "__main__":
    main()
