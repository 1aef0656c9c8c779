#!/usr/bin/env python3
"""A local MongoDB wire-protocol server (mongoeco, pure Python, IN MEMORY) in the foreground.

    .venv/bin/python scripts/mongo_server.py [--port 0]
        prints "READY mongodb://127.0.0.1:<port>/" once it accepts connections; Ctrl-C / SIGTERM stops it.

    .venv/bin/python scripts/mongo_server.py --db regos_admin -- COMMAND [ARGS...]
        starts the server, runs COMMAND with DATABASE_URL=mongodb://127.0.0.1:<port>/regos_admin,
        stops the server and exits with COMMAND's status (used by `make migrations`).

For the tests (tests/mongo_plugin.py), `make migrations` and `make run-mongo` only: every document is
lost when it stops. For real data use a MongoDB server >= 6.0 (a replica set is recommended) and set
DATABASE_URL to it. Needs the dev dependency mongoeco[wire] (Python >= 3.13).

mongoeco differs from a real mongod in a few places that django-mongodb-backend reaches; ``patch_mongoeco``
makes it answer like MongoDB 7.0 does there (each shim names the real server's behaviour).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import functools
import os
import signal
import sys
from typing import Any

# --------------------------------------------------------------------------------------------------
# Shims: mongoeco 4.11 → MongoDB 7.0 behaviour
# --------------------------------------------------------------------------------------------------

_WEEKDAYS = {
    "sun": "sunday", "mon": "monday", "tue": "tuesday", "wed": "wednesday",
    "thu": "thursday", "fri": "friday", "sat": "saturday",
}


def _rename_buildinfo(body: dict[str, Any]) -> dict[str, Any]:
    """pymongo's ``server_info()`` (Django calls it on every new connection) sends ``{"buildinfo": 1}``;
    MongoDB's command names are case-insensitive for this one, mongoeco only knows ``buildInfo``."""
    if "buildinfo" in body and "buildInfo" not in body:
        # The command name must stay the first key.
        return {("buildInfo" if key == "buildinfo" else key): value for key, value in body.items()}
    return body


def _is_field_spec(value: object) -> bool:
    """A nested document of new fields (``{"b": expr}``), not an expression (``{"$op": ...}``)."""
    return isinstance(value, dict) and bool(value) and not any(str(key).startswith("$") for key in value)


def _dotted(prefix: str, spec: dict[str, Any], out: dict[str, Any]) -> None:
    for key, value in spec.items():
        path = f"{prefix}.{key}"
        if _is_field_spec(value):
            _dotted(path, value, out)
        else:
            out[path] = value


def _flatten_nested_fields(stage: dict[str, Any]) -> dict[str, Any]:
    """Nested field specifications → dotted paths, which MongoDB treats the same and mongoeco gets right.

    - ``{$addFields: {a: {b: expr}}}`` adds ``b`` to the embedded document ``a`` on MongoDB;
      mongoeco replaces ``a`` with ``{b: ...}``. django-mongodb-backend emits it when a query orders
      by a field of a ``select_related`` relation (the admin's Group page, a changelist ordered by
      ``branch__name``): every related object then came back as None.
    - ``{$project: {a: {b: 1}}}`` includes ``a.b`` on MongoDB; mongoeco sets ``a.b`` to the literal 1.
      django-mongodb-backend emits it for ``values("fk__field")``, which returned 1 for every row.
    """
    for operator in ("$addFields", "$set", "$project"):
        spec = stage.get(operator)
        if isinstance(spec, dict) and any(_is_field_spec(value) for value in spec.values()):
            flat: dict[str, Any] = {}
            for key, value in spec.items():
                if _is_field_spec(value):
                    _dotted(key, value, flat)
                else:
                    flat[key] = value
            stage = {**stage, operator: flat}
    return stage


def _fix_pipeline(pipeline: object) -> object:
    if not isinstance(pipeline, list):
        return pipeline
    fixed = []
    for stage in pipeline:
        if isinstance(stage, dict):
            stage = _flatten_nested_fields(stage)
            for operator in ("$lookup", "$unionWith"):
                inner = stage.get(operator)
                if isinstance(inner, dict) and "pipeline" in inner:
                    stage = {**stage, operator: {**inner, "pipeline": _fix_pipeline(inner["pipeline"])}}
            if isinstance(stage.get("$facet"), dict):
                stage = {**stage, "$facet": {k: _fix_pipeline(v) for k, v in stage["$facet"].items()}}
        fixed.append(stage)
    return fixed


def _rewrite_command(body: object) -> object:
    if not isinstance(body, dict):
        return body
    body = _rename_buildinfo(body)
    if "pipeline" in body:
        body = {**body, "pipeline": _fix_pipeline(body["pipeline"])}
    return body


def _date_trunc_with_timezone(original):  # type: ignore[no-untyped-def]
    """``$dateTrunc`` with ``timezone`` (Django passes TIME_ZONE, e.g. for the admin's date_hierarchy)
    truncates the local wall time in that zone on MongoDB; mongoeco refuses any zone but UTC. Also
    accepts MongoDB's three-letter ``startOfWeek`` ("mon", which Django sends)."""
    from mongoeco.core.aggregation import date_expressions as dx
    from mongoeco.errors import OperationFailure

    @functools.wraps(original)
    def evaluate_date_expression(operator, document, spec, variables, **kwargs):  # type: ignore[no-untyped-def]
        if operator != "$dateTrunc" or not isinstance(spec, dict):
            return original(operator, document, spec, variables, **kwargs)
        evaluate = kwargs["evaluate_expression"]
        if isinstance(spec.get("startOfWeek"), str):
            spec = {**spec, "startOfWeek": _WEEKDAYS.get(spec["startOfWeek"].lower(), spec["startOfWeek"])}
        zone_name = evaluate(document, spec["timezone"], variables) if "timezone" in spec else None
        if zone_name in (None, "UTC") or "date" not in spec or "unit" not in spec:
            return original(operator, document, spec, variables, **kwargs)
        value = evaluate(document, spec["date"], variables)
        if value is None:
            return None
        if not isinstance(value, datetime.datetime):
            raise OperationFailure("$dateTrunc requires a datetime value")
        unit = evaluate(document, spec["unit"], variables)
        bin_size = evaluate(document, spec["binSize"], variables) if "binSize" in spec else 1
        start_of_week = evaluate(document, spec["startOfWeek"], variables) if "startOfWeek" in spec else "sunday"
        if not isinstance(unit, str) or not isinstance(bin_size, int) or not isinstance(start_of_week, str):
            return original(operator, document, spec, variables, **kwargs)  # let mongoeco report it
        zone = dx._resolve_timezone(operator, zone_name)
        local = dx._localize_datetime(value, zone).replace(tzinfo=None)
        truncated = dx._truncate_datetime(local, unit, bin_size, _WEEKDAYS.get(start_of_week, start_of_week))
        return dx._restore_datetime_timezone(truncated.replace(tzinfo=zone), value)

    evaluate_date_expression._regos_patched = True  # type: ignore[attr-defined]
    return evaluate_date_expression


def patch_mongoeco() -> None:
    """Apply the shims (idempotent). Only this process (the server) is patched."""
    from mongoeco.core.aggregation import runtime
    from mongoeco.wire.executor import WireCommandExecutor

    build = WireCommandExecutor._build_request_context
    if not getattr(build, "_regos_patched", False):

        @functools.wraps(build)
        def _build_request_context(self, body, *args, **kwargs):  # type: ignore[no-untyped-def]
            return build(self, _rewrite_command(body), *args, **kwargs)

        _build_request_context._regos_patched = True  # type: ignore[attr-defined]
        WireCommandExecutor._build_request_context = _build_request_context  # type: ignore[method-assign]

    if not getattr(runtime.evaluate_date_expression, "_regos_patched", False):
        runtime.evaluate_date_expression = _date_trunc_with_timezone(runtime.evaluate_date_expression)


# --------------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------------


def mongodb_url(host: str, port: int, database: str = "") -> str:
    return f"mongodb://{host}:{port}/{database}"


async def serve(host: str, port: int, on_ready, stop: asyncio.Event) -> None:  # type: ignore[no-untyped-def]
    """Run a mongoeco wire server in the running event loop until ``stop`` is set."""
    patch_mongoeco()
    from mongoeco.wire import AsyncMongoEcoProxyServer

    server = AsyncMongoEcoProxyServer(host=host, port=port)
    address = await server.start()
    try:
        on_ready(address.host, address.port)
        await stop.wait()
    finally:
        await server.close()


async def _watch_parent(stop: asyncio.Event) -> None:
    parent = os.getppid()
    while not stop.is_set():
        if os.getppid() != parent:  # re-parented: whoever started us is gone
            stop.set()
            return
        await asyncio.sleep(0.5)


async def _run(host: str, port: int, db: str, command: list[str], exit_with_parent: bool) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.create_task(_watch_parent(stop)) if exit_with_parent else None
    ready: asyncio.Future[str] = loop.create_future()

    def on_ready(bound_host: str, bound_port: int) -> None:
        url = mongodb_url(bound_host, bound_port, db)
        print(f"READY {url}", flush=True)
        ready.set_result(url)

    server = asyncio.create_task(serve(host, port, on_ready, stop))
    await asyncio.wait({ready, server}, return_when=asyncio.FIRST_COMPLETED)
    status = 0
    if not server.done() and command:
        env = {**os.environ, "DATABASE_URL": ready.result()}
        child = await asyncio.create_subprocess_exec(*command, env=env)
        child_done = asyncio.create_task(child.wait())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({child_done, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not child_done.done():
            child.terminate()
            try:
                await asyncio.wait_for(child_done, 15)
            except TimeoutError:
                child.kill()
                await child_done
        status = child.returncode if child.returncode is not None else 1
        stop.set()
    try:
        await server  # raises if it could not start (port taken, ...)
    finally:
        if watcher is not None:
            watcher.cancel()
    return status


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
    parser.add_argument(
        "--exit-with-parent", action="store_true", help="stop when the process that started this one exits"
    )
    args = parser.parse_args(argv)
    if command and not args.db:
        parser.error("--db NAME is required with a command")
    return asyncio.run(_run(args.host, args.port, args.db, command, args.exit_with_parent))


if __name__ == "__main__":
    sys.exit(main())
