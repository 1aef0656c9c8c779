"""``manage.py regos_check``: is this installation configured end to end?

Prints one ``[ok]`` / ``[FAIL]`` / ``[skip]`` line per check, each failure followed by its fix, and
exits non-zero when anything failed. Checks, in order:

0. Django's system checks (with the deployment checks when ``DJANGO_DEBUG`` is off);
1. the database is reachable;
2. every migration is applied;
3. Redis answers (only when ``REDIS_URL`` is set: broker and shared rate limit);
4. the shared REGOS rate limit's store is usable;
5. REGOS accepts the integration key (one cheap ``Stock/Get`` with ``limit`` 1, through the
   shared limiter like every other request), and a few rows of every listing the sync reads
   (cheques, wholesale and returns of the last month, shifts, registers, stocks, users) pass the
   models the sync validates them with ("REGOS data");
6. a worker is alive: a no-op task is queued and must come back within ``--worker-timeout``
   seconds (this proves broker → worker → result store, on any broker);
7. the scheduler is alive: the worker heartbeat (KeyValue ``worker-heartbeat``, written every
   minute by the ``regos-worker-heartbeat`` schedule, see ``sync.schedule``) is recent;
8. the daily schedule ``regos-daily-sync`` is installed.

The integration key is never printed: every line goes through ``mask_key``, and the database or
Redis URLs (which may hold passwords) are never shown either.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connections
from django.utils import timezone

from payroll.dates import range_bounds_unix, today
from regos_admin.env import mask_key

DAILY_SCHEDULE = "regos-daily-sync"
HEARTBEAT_SCHEDULE = "regos-worker-heartbeat"
HEARTBEAT_KEY = "worker-heartbeat"
HEARTBEAT_WITHIN = timedelta(minutes=5)
PING_FUNC = "sync.management.commands.regos_check.ping"

FIX_DATABASE = (
    "check DATABASE_URL (sqlite:////absolute/path.sqlite3 or mongodb://host:27017/dbname) "
    "and that the database server is running and reachable from this machine"
)
FIX_MIGRATE = "run `manage.py migrate` (`make serve` and the web unit do it on start)"
FIX_REDIS = (
    "start Redis (`systemctl start redis-server`) or correct REDIS_URL; unset REDIS_URL to use "
    "the database broker and limit on a single machine"
)
FIX_KEY = (
    "set REGOS_INTEGRATION_KEY to the key of an active *local integration* in REGOS.Online "
    "(Settings → Integrations), and give its user access to the stores"
)
FIX_SCHEMA = (
    "REGOS sends data this version cannot read (its API changed, or a record is broken): the sync "
    "would fail or quarantine it; report the line above with the REGOS version"
)
# What the listings check reads: a few rows of each, documents from the last month.
LISTING_ROWS = 3
LISTING_DAYS = 31
FIX_REACH = "check the network and REGOS_BASE_URL (default https://integration.regos.uz/gateway/out)"
FIX_RATE = (
    "another program is using the same integration key: stop it or give regos-admin its own key; "
    "then run the check again"
)
FIX_WORKER = (
    "start the worker: `systemctl start regos-admin-worker` (or `make worker` / `scripts/serve.sh "
    "worker`) with the same DATABASE_URL / REDIS_URL as the web server"
)
FIX_SCHEDULER = (
    "exactly one running qcluster must have the scheduler on (DJANGO_Q_SCHEDULER=true, the "
    "default): start it, or set DJANGO_Q_SCHEDULER=true on one worker machine"
)
FIX_SCHEDULE = "run `manage.py migrate` (installs the schedules) or `manage.py regos_schedule --install`"


def ping() -> str:
    """The no-op task of the worker check."""
    return "pong"


@dataclass
class Check:
    name: str
    status: str  # "ok" | "FAIL" | "skip"
    detail: str
    fix: str = ""


class Command(BaseCommand):
    help = "Check the configuration end to end (database, migrations, REGOS key, worker, schedule)."
    # Django's system checks are one item of the checklist (reported, not fatal before the list).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--worker-timeout",
            type=float,
            default=10.0,
            help="seconds to wait for the worker to run a test task (default 10)",
        )
        parser.add_argument(
            "--regos-timeout",
            type=float,
            default=15.0,
            help="timeout of the REGOS test request, seconds (default 15)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.results: list[Check] = []
        self._run("django checks", self.check_django)
        db_ok = self._run("database", self.check_database)
        if db_ok:
            self._run("migrations", self.check_migrations)
        else:
            self._skip("migrations", "the database is unreachable")
        redis_ok = self._run("redis", self.check_redis) if settings.REDIS_URL else False
        limiter = self._limiter(db_ok, redis_ok)
        regos_ok = self._run("REGOS key", lambda: self.check_regos(limiter, options["regos_timeout"]))
        if regos_ok:
            self._run("REGOS data", lambda: self.check_listings(limiter, options["regos_timeout"]))
        else:
            self._skip("REGOS data", "REGOS did not accept the key")
        if db_ok:
            self._run("worker", lambda: self.check_worker(options["worker_timeout"]))
            self._run("scheduler", self.check_scheduler)
            self._run("schedule", self.check_schedule)
        else:
            for name in ("worker", "scheduler", "schedule"):
                self._skip(name, "the database is unreachable")
        failed = [c for c in self.results if c.status == "FAIL"]
        if failed:
            raise CommandError(
                f"{len(failed)} check(s) failed: {', '.join(c.name for c in failed)}", returncode=1
            )
        skipped = [c for c in self.results if c.status == "skip"]
        if skipped:  # only when nothing failed, which cannot happen today; kept for future checks
            raise CommandError(f"{len(skipped)} check(s) could not run", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"All {len(self.results)} checks passed."))

    # --- plumbing ---

    def _emit(self, check: Check) -> None:
        self.results.append(check)
        tag = {
            "ok": self.style.SUCCESS("[ok]"),
            "FAIL": self.style.ERROR("[FAIL]"),
            "skip": self.style.WARNING("[skip]"),
        }[check.status]
        self.stdout.write(mask_key(f"{tag} {check.name}: {check.detail}"))
        if check.fix:
            self.stdout.write(mask_key(f"       fix: {check.fix}"))

    def _skip(self, name: str, why: str) -> None:
        self._emit(Check(name, "skip", f"not checked: {why}"))

    def _run(self, name: str, check: Callable[[], tuple[bool, str, str]]) -> bool:
        try:
            ok, detail, fix = check()
        except DatabaseError as exc:  # typically a table that a migration would create
            ok, detail, fix = False, f"{exc.__class__.__name__}: {_one_line(exc)}", FIX_MIGRATE
        except Exception as exc:  # noqa: BLE001 — a check must report, never crash the checklist
            ok, detail, fix = False, f"{exc.__class__.__name__}: {_one_line(exc)}", ""
        self._emit(Check(name, "ok" if ok else "FAIL", detail, "" if ok else fix))
        return ok

    # --- the checks ---

    def check_django(self) -> tuple[bool, str, str]:
        from django.core import checks

        deploy = not settings.DEBUG
        issues = checks.run_checks(include_deployment_checks=deploy, databases=None)
        errors = [i for i in issues if i.level >= checks.ERROR and not i.is_silenced()]
        warnings = [i for i in issues if checks.WARNING <= i.level < checks.ERROR and not i.is_silenced()]
        scope = "with deployment checks" if deploy else "DJANGO_DEBUG is on: deployment checks not run"
        if errors:
            first = errors[0]
            return (
                False,
                f"{len(errors)} error(s), first: {first.id}: {_one_line(Exception(first.msg))}",
                (
                    f"run `manage.py check{' --deploy' if deploy else ''}` and fix what it reports"
                    + (f" ({first.hint})" if first.hint else "")
                ),
            )
        ids = ", ".join(sorted({w.id or "?" for w in warnings}))
        note = f"; {len(warnings)} warning(s): {ids}" if warnings else ""
        return True, f"no errors ({scope}){note}", ""

    def check_database(self) -> tuple[bool, str, str]:
        connection = connections["default"]
        engine = connection.settings_dict["ENGINE"].rsplit(".", 1)[-1]
        where = f"{engine} {connection.settings_dict.get('NAME')}"  # never the URL: it may hold a password
        try:
            connection.ensure_connection()
            if connection.vendor == "mongodb":  # no SQL there: one cheap read (an absent collection is fine)
                from django.contrib.contenttypes.models import ContentType

                ContentType.objects.exists()
            else:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
        except Exception as exc:  # noqa: BLE001
            detail = f"cannot connect ({where}): {exc.__class__.__name__}: {_one_line(exc)}"
            return False, detail, FIX_DATABASE
        return True, f"reachable ({where})", ""

    def check_migrations(self) -> tuple[bool, str, str]:
        from django.db.migrations.executor import MigrationExecutor

        executor = MigrationExecutor(connections["default"])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if not plan:
            return True, "all applied", ""
        names = [f"{m.app_label}.{m.name}" for m, _backwards in plan]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        return False, f"{len(names)} not applied ({shown})", FIX_MIGRATE

    def check_redis(self) -> tuple[bool, str, str]:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
        try:
            client.ping()
            version = client.info("server").get("redis_version", "?")
        except redis.RedisError as exc:
            return False, f"REDIS_URL does not answer: {exc.__class__.__name__}", FIX_REDIS
        finally:
            client.close()
        return True, f"Redis {version} answers (django-q2 broker and shared REGOS rate limit)", ""

    def _limiter(self, db_ok: bool, redis_ok: bool) -> Any:
        """The shared limiter, reported as a check; None (the client's per-process default) if unusable."""
        from sync.regos.shared_limit import limiter_store

        store = limiter_store(settings)
        if store == "process":
            self._emit(
                Check(
                    "rate limit",
                    "ok",
                    "per process (REGOS_RATE_LIMIT_STORE=process): run a "
                    "single worker process, or several workers will exceed REGOS's limit together",
                )
            )
            return None
        if not settings.REGOS_INTEGRATION_KEY:
            self._skip("rate limit", "REGOS_INTEGRATION_KEY is not set")
            return None
        if store == "database" and not db_ok:
            self._skip("rate limit", "the database is unreachable")
            return None
        if store == "redis" and not redis_ok:
            self._emit(Check("rate limit", "FAIL", "the shared bucket lives in Redis, which does not answer",
                             FIX_REDIS))
            return None
        holder: dict[str, Any] = {}

        def check() -> tuple[bool, str, str]:
            from sync.regos.shared_limit import limiter_for_settings

            limiter = limiter_for_settings()
            tokens = limiter.available()
            holder["limiter"] = limiter
            where = "Redis" if store == "redis" else "the database"
            return (
                True,
                (
                    f"shared by all workers in {where} ({settings.REGOS_RATE_PER_SEC:g}/s, burst "
                    f"{limiter.burst}; {max(tokens, 0):.0f} tokens available now)"
                ),
                "",
            )

        def fixed() -> tuple[bool, str, str]:
            try:
                return check()
            except Exception as exc:  # noqa: BLE001
                fix = FIX_REDIS if store == "redis" else FIX_MIGRATE
                return False, f"unusable: {exc.__class__.__name__}: {_one_line(exc)}", fix

        self._run("rate limit", fixed)
        return holder.get("limiter")

    def check_regos(self, limiter: Any, timeout_s: float) -> tuple[bool, str, str]:
        from sync.regos.client import RegosClient
        from sync.regos.errors import (
            RegosAccessError,
            RegosApiError,
            RegosError,
            RegosRateLimitError,
            RegosTransportError,
        )

        if not settings.REGOS_INTEGRATION_KEY:
            return False, "REGOS_INTEGRATION_KEY is not set", FIX_KEY
        options = self._client_options(limiter, timeout_s)
        started = time.monotonic()
        client_log = logging.getLogger("sync.regos")
        level = client_log.level
        client_log.setLevel(logging.ERROR)  # the checklist line says it; no duplicate request log lines
        try:
            with RegosClient.from_settings(**options) as client:
                client.call("Stock/Get", {"limit": 1})
        except RegosAccessError as exc:
            return False, f"REGOS refused the key ({_api_code(exc)})", FIX_KEY
        except RegosRateLimitError:
            return False, "REGOS kept answering 'too many requests' (8213)", FIX_RATE
        except RegosTransportError as exc:
            return False, f"REGOS is unreachable at {settings.REGOS_BASE_URL}: {_one_line(exc)}", FIX_REACH
        except RegosApiError as exc:
            return False, f"REGOS answered with an error ({_api_code(exc)})", FIX_KEY
        except RegosError as exc:
            return False, f"REGOS answered something unexpected: {_one_line(exc)}", FIX_REACH
        finally:
            client_log.setLevel(level)
        ms = round((time.monotonic() - started) * 1000)
        return True, f"accepted by {settings.REGOS_BASE_URL} (Stock/Get, {ms} ms)", ""

    @staticmethod
    def _client_options(limiter: Any, timeout_s: float) -> dict[str, Any]:
        options: dict[str, Any] = {
            "timeout_s": min(float(settings.REGOS_TIMEOUT_S), timeout_s),
            "max_attempts": 2,
            "max_rate_limit_retries": 3,
            "max_rate_limit_wait_s": 30.0,
        }
        if limiter is not None:
            options["limiter"] = limiter
        return options

    def check_listings(self, limiter: Any, timeout_s: float) -> tuple[bool, str, str]:
        """A few rows of every listing the sync reads, through the models the sync validates them with:
        a key can be accepted while REGOS sends entities we cannot read (a changed schema)."""
        from sync.regos.client import RegosClient, parse_entities
        from sync.regos.errors import RegosError

        start, end = range_bounds_unix(today() - timedelta(days=LISTING_DAYS - 1), today())
        period = {"start_date": start, "end_date": end, "limit": LISTING_ROWS, "offset": 0}
        problems: list[str] = []
        rows = 0
        client_log = logging.getLogger("sync.regos")
        level = client_log.level
        client_log.setLevel(logging.ERROR)
        try:
            with RegosClient.from_settings(**self._client_options(limiter, timeout_s)) as client:
                for method, model, payload in _listings(period):
                    try:
                        result = client.call(method, payload, expect=list)["result"]
                        rows += len(parse_entities(model, result, method=method))
                    except RegosError as exc:
                        problems.append(_one_line(exc))
        finally:
            client_log.setLevel(level)
        if problems:
            return (False, f"{len(problems)} of {len(_listings(period))} listings unreadable; first: {problems[0]}",
                    FIX_SCHEMA)
        return True, f"{len(_listings(period))} listings read ({rows} rows), every row valid", ""

    def check_worker(self, timeout_s: float) -> tuple[bool, str, str]:
        from django_q.models import Task
        from django_q.tasks import async_task, result

        try:
            started = time.monotonic()
            task_id = async_task(PING_FUNC, task_name=f"regos-check-{int(time.time())}")
            answer = result(task_id, wait=int(timeout_s * 1000))
        except DatabaseError as exc:
            return False, f"django-q2's tables are unusable: {exc.__class__.__name__}", FIX_MIGRATE
        except Exception as exc:
            import redis

            if isinstance(exc, redis.RedisError):
                return False, f"the Redis broker does not answer: {exc.__class__.__name__}", FIX_REDIS
            raise
        if answer == "pong":
            Task.objects.filter(id=task_id).delete()
            seconds = time.monotonic() - started
            return True, f"a worker ran a test task in {seconds:.1f} s", ""
        self._withdraw(task_id)
        return False, f"no worker ran a test task within {timeout_s:g} s{self._clusters_note()}", FIX_WORKER

    @staticmethod
    def _withdraw(task_id: str) -> None:
        """Take the unanswered test task back out of the ORM queue (repeated checks leave no pile)."""
        from django_q.conf import Conf
        from django_q.models import OrmQ

        if not Conf.ORM:
            return  # Redis: the queued ping is harmless and is answered once a worker starts
        try:
            for row in OrmQ.objects.filter(key=Conf.CLUSTER_NAME).only("id", "payload")[:1000]:
                if row.task_id() == task_id:
                    row.delete()
        except DatabaseError:
            pass

    @staticmethod
    def _clusters_note() -> str:
        """With the Redis broker django-q2's cluster stats are visible from here: name them."""
        if not settings.REDIS_URL:
            return ""
        try:
            from django_q.status import Stat

            clusters = Stat.get_all()
        except Exception:  # noqa: BLE001
            return ""
        if not clusters:
            return " (no cluster reports to the broker)"
        hosts = ", ".join(sorted({f"{c.host}:{c.status}" for c in clusters}))
        return f" (clusters reporting: {hosts} — all workers busy?)"

    def check_scheduler(self) -> tuple[bool, str, str]:
        from sync.models import KeyValue

        try:
            from sync.health import HEARTBEAT_KEY as key
            from sync.health import WORKER_ALIVE_WITHIN as within
        except ImportError:
            key, within = HEARTBEAT_KEY, HEARTBEAT_WITHIN
        beat = KeyValue.objects.filter(key=key).values_list("updated_at", flat=True).first()
        if beat is None:
            return False, "no worker heartbeat was ever written", FIX_SCHEDULER
        age = timezone.now() - beat
        if age > within:
            return (
                False,
                (
                    f"last worker heartbeat {_ago(age)} ago (expected every minute, "
                    f"alarm after {_ago(within)})"
                ),
                FIX_SCHEDULER,
            )
        return True, f"worker heartbeat {_ago(age)} ago", ""

    def check_schedule(self) -> tuple[bool, str, str]:
        from django_q.models import Schedule

        found = {
            row["name"]: row
            for row in Schedule.objects.filter(name__in=[DAILY_SCHEDULE, HEARTBEAT_SCHEDULE]).values(
                "name", "cron", "next_run", "repeats"
            )
        }
        missing = [name for name in (DAILY_SCHEDULE, HEARTBEAT_SCHEDULE) if name not in found]
        if missing:
            return False, f"missing: {', '.join(missing)}", FIX_SCHEDULE
        daily = found[DAILY_SCHEDULE]
        if daily["repeats"] == 0:
            return (
                False,
                f"{DAILY_SCHEDULE} is paused (repeats = 0)",
                ("set its repeats to -1 in the admin (Django Q2 → Scheduled tasks)"),
            )
        next_run = (
            timezone.localtime(daily["next_run"]).strftime("%Y-%m-%d %H:%M %Z")
            if daily["next_run"]
            else "not set"
        )
        return True, f"{DAILY_SCHEDULE} installed (cron '{daily['cron']}', next run {next_run})", ""


def _listings(period: dict[str, Any]) -> list[tuple[str, type[Any], dict[str, Any]]]:
    """Every REGOS listing the sync depends on, with the model it validates rows with."""
    from sync.regos import models

    small = {"limit": LISTING_ROWS, "offset": 0}
    return [
        ("DocCheque/Get", models.DocCheque, period),
        ("DocWholeSale/Get", models.DocWholeSale, period),
        ("DocWholeSaleReturn/Get", models.DocWholeSaleReturn, period),
        ("DocCashSession/Get", models.DocCashSession, period),
        ("OperatingCash/Get", models.OperatingCash, small),
        ("Stock/Get", models.Stock, small),
        ("User/Get", models.User, small),
    ]


def _one_line(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(mask_key(str(exc)).split())
    return text if len(text) <= limit else text[:limit] + "…"


def _api_code(exc: Any) -> str:
    code = getattr(exc, "code", None)
    description = _one_line(Exception(getattr(exc, "description", "") or ""), 120)
    if code:
        return f"error {code}: {description}" if description else f"error {code}"
    return _one_line(exc)


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
