"""Production serving and the broker choice: `scripts/serve.sh` (gunicorn + whitenoise), settings from
the environment, `.env.example`, and a django-q2 round trip through a real Redis broker."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from regos_admin.env import AppEnv
from tests.fixtures.processes import start_group, stop_group
from tests.fixtures.redis import redis_server, redis_url  # noqa: F401 — fixtures

ROOT = Path(__file__).resolve().parent.parent
SERVE = ROOT / "scripts" / "serve.sh"
START_TIMEOUT_S = 120
WEBHOOK_SECRET = "hook0secret0for0the0access0log0test"  # noqa: S105 — a test value


def base_env(**extra: str) -> dict[str, str]:
    """This process's environment without any regos-admin setting, plus ``extra``."""
    prefixes = ("DJANGO_", "REGOS_", "REDIS_", "GUNICORN_", "SERVE_")
    names = {"DATABASE_URL", "HOST", "PORT", "WEB_CONCURRENCY", "ENV_FILE", "FORWARDED_ALLOW_IPS"}
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes) and k not in names}
    env.update(extra)
    return env


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return base_env(
        ENV_FILE="",  # never read a developer's .env
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),
        HOST="127.0.0.1",
        PORT="0",  # gunicorn binds a free port and logs it
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="2",
        **extra,
    )


def stop(proc: subprocess.Popen) -> None:
    stop_group(proc)


# --- make serve ----------------------------------------------------------------------------------


def test_serve_refuses_debug_mode(tmp_path):
    env = production_env(tmp_path)
    env["DJANGO_DEBUG"] = "true"

    done = subprocess.run(["bash", str(SERVE), "web"], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=60)

    assert done.returncode != 0
    assert "DJANGO_DEBUG must be false" in done.stderr
    assert not (tmp_path / "static").exists()  # nothing was started or collected


def test_serve_names_a_bad_variable_in_one_line(tmp_path):
    env = production_env(tmp_path, REDIS_URL="http://not-redis")

    done = subprocess.run(["bash", str(SERVE), "web"], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=60)

    assert done.returncode != 0
    assert "Invalid environment variable REDIS_URL" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_gunicorn_serves_login_page_statics_and_health(tmp_path, on_mongodb):
    if on_mongodb:
        pytest.skip("serves a fresh SQLite database of its own: covered by the SQLite pass")
    env = production_env(tmp_path, REGOS_WEBHOOK_SECRET=WEBHOOK_SECRET)
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = start_group(["bash", str(SERVE), "web"], env=env, cwd=ROOT, log=out)
    try:
        base = wait_for_gunicorn(proc, log)
        session = requests.Session()

        login = session.get(f"{base}/login/", timeout=10)
        assert login.status_code == 200, login.text[:500]
        assert 'name="csrfmiddlewaretoken"' in login.text
        assert 'name="username"' in login.text and 'name="password"' in login.text
        assert login.headers["X-Frame-Options"] == "DENY"
        assert "Server" not in login.headers  # issue 15: `Server: gunicorn` named the software
        policy = login.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "Secure" in login.headers.get("Set-Cookie", "")  # production cookies

        # Static files: hashed names from collectstatic, served by whitenoise with a long cache.
        css = re.search(r'href="(/static/[^"]+\.[0-9a-f]{12}\.css)"', login.text)
        assert css, "no hashed stylesheet on the login page"
        static = session.get(base + css.group(1), timeout=10)
        assert static.status_code == 200 and "text/css" in static.headers["Content-Type"]
        assert "max-age=315360000" in static.headers.get("Cache-Control", "")

        health = session.get(f"{base}/health/", timeout=10)
        # 503 is right here: a fresh database has never synced. 200 once the daily sync succeeds.
        assert health.status_code in (200, 503)
        assert health.headers["Content-Type"].startswith("application/json")
        assert health.json()["status"] in ("ok", "stale")

        session.get(f"{base}/regos/webhook/{WEBHOOK_SECRET}/", timeout=10)
    finally:
        stop(proc)
    text = log.read_text()
    assert proc.returncode == 0, text[-3000:]  # a clean stop on SIGTERM
    assert "GET /login/" in text  # the access log is on...
    access = [line for line in text.splitlines() if line.startswith('127.0.0.1 "')]
    assert any('"GET /regos/webhook/•••/ HTTP/1.1" 405' in line for line in access)  # ...without the secret
    assert not [line for line in access if WEBHOOK_SECRET in line]


def wait_for_gunicorn(proc: subprocess.Popen, log: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", log.read_text())
        if found:
            base = found.group(1)
            try:
                requests.get(f"{base}/health/", timeout=5)
                return base
            except requests.ConnectionError:
                pass
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    stop(proc)
    pytest.fail("gunicorn did not start:\n" + log.read_text()[-5000:])


# --- settings from the environment ---------------------------------------------------------------


def settings_in_subprocess(**env: str) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({'Q_CLUSTER': s.Q_CLUSTER, 'STATIC_ROOT': str(s.STATIC_ROOT), "
        "'REGOS_RATE_LIMIT_STORE': s.REGOS_RATE_LIMIT_STORE}))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env=base_env(DJANGO_SETTINGS_MODULE="regos_admin.settings", **env))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_broker_is_the_database_by_default_and_redis_with_redis_url(tmp_path):
    default = settings_in_subprocess()
    assert default["Q_CLUSTER"]["orm"] == "default"
    assert "redis" not in default["Q_CLUSTER"]
    assert default["Q_CLUSTER"]["scheduler"] is True
    assert default["STATIC_ROOT"] == str(ROOT / "staticfiles")
    assert default["REGOS_RATE_LIMIT_STORE"] == "auto"

    scaled = settings_in_subprocess(REDIS_URL="redis://10.0.0.5:6379/2", DJANGO_Q_SCHEDULER="false",
                                    DJANGO_Q_WORKERS="6", DJANGO_STATIC_ROOT=str(tmp_path))
    assert scaled["Q_CLUSTER"]["redis"] == "redis://10.0.0.5:6379/2"
    assert "orm" not in scaled["Q_CLUSTER"]
    assert scaled["Q_CLUSTER"]["scheduler"] is False
    assert scaled["Q_CLUSTER"]["workers"] == 6
    assert scaled["STATIC_ROOT"] == str(tmp_path)


def test_env_example_lists_every_variable():
    text = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))
    assert set(AppEnv.model_fields) <= listed, sorted(set(AppEnv.model_fields) - listed)
    # ...and the web server's own variables (scripts/serve.sh, deploy/gunicorn.conf.py).
    assert {"HOST", "PORT", "WEB_CONCURRENCY", "GUNICORN_TIMEOUT", "GUNICORN_READ_TIMEOUT"} <= listed
    # Every listed value is accepted as-is by the settings (with a real secret, as the file asks).
    values = dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", text, flags=re.MULTILINE))
    values = {k: v.strip('"') for k, v in values.items() if k in AppEnv.model_fields}
    values["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(64)
    AppEnv(**values)


def test_systemd_units_run_web_and_worker_separately():
    web = (ROOT / "deploy" / "regos-admin-web.service").read_text()
    worker = (ROOT / "deploy" / "regos-admin-worker.service").read_text()
    assert re.search(r"^ExecStart=\S+/scripts/serve\.sh web$", web, flags=re.MULTILINE)
    assert re.search(r"^ExecStart=\S+/scripts/serve\.sh worker$", worker, flags=re.MULTILINE)
    for unit in (web, worker):
        assert "EnvironmentFile=/etc/regos-admin.env" in unit
        assert "[Install]" in unit and "WantedBy=multi-user.target" in unit


# --- the Redis broker ----------------------------------------------------------------------------

ENQUEUE = (
    "import django; django.setup(); "
    "from django_q.tasks import async_task, result; "
    "task = async_task('math.hypot', 3, 4); "
    "print('RESULT', result(task, wait=60000), flush=True)"
)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_async_task_round_trip_through_redis_broker(tmp_path, redis_url, test_database_url):  # noqa: F811
    import redis
    from django_q.models import OrmQ, Success

    env = base_env(DJANGO_SETTINGS_MODULE="regos_admin.settings", DATABASE_URL=test_database_url,
                   REDIS_URL=redis_url, DJANGO_Q_SCHEDULER="false", DJANGO_Q_WORKERS="1")
    log = tmp_path / "qcluster.log"
    with log.open("w") as out:
        cluster = start_group([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, log=out)
    try:
        done = subprocess.run([sys.executable, "-c", ENQUEUE], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=90)
        assert done.returncode == 0, done.stderr + log.read_text()
        assert "RESULT 5.0" in done.stdout, done.stdout + log.read_text()

        # The running cluster reports its status into the broker: proof it is attached to this Redis.
        client = redis.Redis.from_url(redis_url)
        deadline = time.monotonic() + 30
        while not (keys := {k.decode() for k in client.keys("django_q:regos-admin:cluster*")}):
            assert time.monotonic() < deadline, "the cluster never reported to Redis"
            time.sleep(0.2)
        client.close()
    finally:
        stop(cluster)
    assert keys
    assert not OrmQ.objects.exists()  # nothing went through the database queue
    assert Success.objects.filter(func="math.hypot").exists()  # results still land in the database
    assert cluster.returncode is not None
