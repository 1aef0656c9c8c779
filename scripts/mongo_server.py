#!/usr/bin/env python3
"""A local MongoDB wire-protocol server (mongoeco, pure Python, IN MEMORY) in the foreground.

    .venv/bin/python scripts/mongo_server.py [--port 0]
        prints "READY mongodb://127.0.0.1:<port>/" once it accepts connections; Ctrl-C / SIGTERM stops it.

    .venv/bin/python scripts/mongo_server.py --db regos_admin -- COMMAND [ARGS...]
        starts the server, runs COMMAND with DATABASE_URL=mongodb://127.0.0.1:<port>/regos_admin,
        stops the server and exits with COMMAND's status (used by `make migrations`).

For tests, `make migrations` and `make run-mongo` only: every document is lost when it stops. For real
data use a MongoDB server >= 6.0 (a replica set is recommended) and set DATABASE_URL to it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from regos_admin.mongo import mongodb_url, serve_forever  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (default) picks a free port")
    parser.add_argument("--db", default="", help="database name appended to the printed URL / DATABASE_URL")
    args = parser.parse_args(argv)
    if command and not args.db:
        parser.error("--db NAME is required with a command")
    return asyncio.run(_run(args.host, args.port, args.db, command))


async def _run(host: str, port: int, db: str, command: list[str]) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ready: asyncio.Future[str] = loop.create_future()

    def on_ready(bound_host: str, bound_port: int) -> None:
        url = mongodb_url(bound_host, bound_port, db)
        print(f"READY {url}", flush=True)
        ready.set_result(url)

    server = asyncio.create_task(serve_forever(host, port, on_ready, stop))
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait({asyncio.ensure_future(ready), server}, return_when=asyncio.FIRST_COMPLETED)
    if server.done():  # failed to start (port taken, ...)
        waiter.cancel()
        await server
        return 1
    status = 0
    if command:
        env = {**os.environ, "DATABASE_URL": ready.result()}
        child = await asyncio.create_subprocess_exec(*command, env=env)
        child_done = asyncio.create_task(child.wait())
        await asyncio.wait({child_done, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if not child_done.done():
            child.terminate()
            try:
                await asyncio.wait_for(child_done, 15)
            except TimeoutError:
                child.kill()
                await child_done
        status = child.returncode if child.returncode is not None else 1
        stop.set()
    await server
    waiter.cancel()
    return status


if __name__ == "__main__":
    sys.exit(main())
