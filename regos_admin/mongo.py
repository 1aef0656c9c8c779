"""MongoDB support.

1. ``configure_mongodb`` — the settings django-mongodb-backend needs, switched on by a ``mongodb://``
   (or ``mongodb+srv://``) DATABASE_URL (called at the end of ``regos_admin/settings.py``).
2. ``MongoEcoServer`` — a local MongoDB wire-protocol server (``mongoeco[wire]``, a dev dependency,
   pure Python, **in memory**) for the tests (``tests/mongo_plugin.py``), ``make migrations`` and
   ``make run-mongo`` (``scripts/mongo_server.py``). It is not meant for production data.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from typing import Any

OBJECT_ID_AUTO_FIELD = "django_mongodb_backend.fields.ObjectIdAutoField"

# Django's and django-q2's apps whose models get an ObjectId primary key on MongoDB.
_REPLACED_APPS = {
    "django.contrib.admin": "regos_admin.mongo_apps.MongoAdminConfig",
    "django.contrib.auth": "regos_admin.mongo_apps.MongoAuthConfig",
    "django.contrib.contenttypes": "regos_admin.mongo_apps.MongoContentTypesConfig",
    "django_q": "regos_admin.mongo_apps.MongoDjangoQConfig",
}
# Their migrations for MongoDB live in this project (`make migrations` regenerates them); the
# project's own apps (payroll, sync) have explicit primary keys and one migration set for both DBs.
MONGO_MIGRATION_APPS = ("admin", "auth", "contenttypes", "django_q")
MONGO_MIGRATIONS_PACKAGE = "regos_admin.mongo_migrations"


def configure_mongodb(settings: dict[str, Any]) -> None:
    settings["DEFAULT_AUTO_FIELD"] = OBJECT_ID_AUTO_FIELD
    settings["INSTALLED_APPS"] = [_REPLACED_APPS.get(app, app) for app in settings["INSTALLED_APPS"]]
    settings["MIGRATION_MODULES"] = {
        label: f"{MONGO_MIGRATIONS_PACKAGE}.{label}" for label in MONGO_MIGRATION_APPS
    }
    settings["DATABASE_ROUTERS"] = ["django_mongodb_backend.routers.MongoRouter"]


# --------------------------------------------------------------------------------------------------
# mongoeco: a local wire-protocol server for tests and the demo (never imported in production).
# --------------------------------------------------------------------------------------------------


def patch_mongoeco() -> None:
    """Make mongoeco accept what pymongo / django-mongodb-backend send. Idempotent.

    pymongo's ``server_info()`` (called by Django on every new connection) sends ``{"buildinfo": 1}``
    in lower case; mongoeco only knows ``buildInfo`` and answers "unsupported wire command".
    """
    from mongoeco.wire.executor import WireCommandExecutor

    original = WireCommandExecutor._build_request_context
    if getattr(original, "_regos_patched", False):
        return

    @functools.wraps(original)
    def _build_request_context(self, body, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(body, dict) and "buildinfo" in body and "buildInfo" not in body:
            # The command name must stay the first key.
            body = {("buildInfo" if key == "buildinfo" else key): value for key, value in body.items()}
        return original(self, body, *args, **kwargs)

    _build_request_context._regos_patched = True  # type: ignore[attr-defined]
    WireCommandExecutor._build_request_context = _build_request_context  # type: ignore[method-assign]


def _new_proxy(host: str, port: int):  # type: ignore[no-untyped-def]
    patch_mongoeco()
    from mongoeco.wire import AsyncMongoEcoProxyServer

    return AsyncMongoEcoProxyServer(host=host, port=port)


def mongodb_url(host: str, port: int, database: str = "") -> str:
    return f"mongodb://{host}:{port}/{database}"


async def serve_forever(host: str = "127.0.0.1", port: int = 0, on_ready=None, stop: asyncio.Event | None = None):  # type: ignore[no-untyped-def]
    """Run a mongoeco wire server in the running event loop until ``stop`` is set."""
    server = _new_proxy(host, port)
    address = await server.start()
    try:
        if on_ready is not None:
            on_ready(address.host, address.port)
        await (stop or asyncio.Event()).wait()
    finally:
        await server.close()


class MongoEcoServer:
    """A mongoeco wire server on an asyncio loop in a daemon thread of this process.

    ``start()`` returns once the port is bound; ``url(db)`` is a ``mongodb://`` URL for DATABASE_URL.
    Data is in memory and gone after ``stop()``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 30.0) -> MongoEcoServer:
        self._thread = threading.Thread(target=self._run, name="mongoeco-wire-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the mongoeco server did not start")
        if self._error is not None:
            raise RuntimeError(f"the mongoeco server did not start: {self._error!r}") from self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._stop = asyncio.Event()

        def ready(host: str, port: int) -> None:
            self.host, self.port = host, port
            self._ready.set()

        try:
            loop.run_until_complete(serve_forever(self.host, self.port, ready, self._stop))
        except BaseException as exc:  # noqa: BLE001 — reported to start()
            self._error = exc
        finally:
            self._ready.set()
            loop.close()

    def url(self, database: str = "") -> str:
        return mongodb_url(self.host, self.port, database)

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout)

    def __enter__(self) -> MongoEcoServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
