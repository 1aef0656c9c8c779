#!/usr/bin/env bash
# `make serve`: regos-admin for real — gunicorn (static files through whitenoise) and the django-q2 worker.
#
#   scripts/serve.sh          web + worker in the foreground (Ctrl-C / SIGTERM stops both)
#   scripts/serve.sh web      only the web server (gunicorn replaces this shell: systemd's main PID)
#   scripts/serve.sh worker   only the worker (manage.py qcluster)
#
# Settings come from the environment (see .env.example); a file named by ENV_FILE (default: ./.env,
# when it exists; ENV_FILE= disables it) is loaded first. DJANGO_DEBUG must be false.
# Gunicorn: HOST (127.0.0.1), PORT (8000), WEB_CONCURRENCY (2 workers), GUNICORN_TIMEOUT (60 s);
# SERVE_MIGRATE=0 skips `migrate` (e.g. on a second web machine), SERVE_COLLECTSTATIC=0 skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
GUNICORN=${GUNICORN:-.venv/bin/gunicorn}
mode=${1:-all}

die() { echo "serve: $*" >&2; exit 2; }

case "$mode" in all|web|worker) ;; *) die "unknown mode '$mode' (use: all, web or worker)";; esac

env_file=${ENV_FILE-.env}
if [ -n "$env_file" ] && [ -f "$env_file" ]; then
  set -a
  # shellcheck disable=SC1090
  . "$env_file"
  set +a
fi

[ -x "$PY" ] || die "no virtualenv at .venv: run 'make venv' first"

# Validate the whole environment now (one line naming a bad variable) and refuse a debug server.
debug=$("$PY" - <<'EOF'
import sys
from regos_admin.env import ConfigError, load_env
try:
    env = load_env()
except ConfigError as exc:
    print(exc, file=sys.stderr)
    sys.exit(1)
print("true" if env.DJANGO_DEBUG else "false")
EOF
) || die "fix the environment and start again"
if [ "$debug" != "false" ]; then
  die "DJANGO_DEBUG must be false to serve in production (set DJANGO_DEBUG=false, a 50+ character DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS; 'make run' is the development server)"
fi

HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
[[ "$PORT" =~ ^[0-9]+$ ]] && [ "$PORT" -le 65535 ] || die "PORT must be a TCP port number, got '$PORT'"
export HOST PORT

if [ "$mode" = "worker" ]; then
  exec "$PY" manage.py qcluster
fi

"$PY" manage.py check --deploy
if [ "${SERVE_COLLECTSTATIC:-1}" != "0" ]; then
  "$PY" manage.py collectstatic --noinput -v 0
fi
if [ "${SERVE_MIGRATE:-1}" != "0" ]; then
  "$PY" manage.py migrate --noinput
fi

if [ "$mode" = "web" ]; then
  exec "$GUNICORN" -c deploy/gunicorn.conf.py regos_admin.wsgi:application
fi

# all: the worker in the background, gunicorn in the foreground; when either stops, stop the other.
pids=()
cleanup() {
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM
"$PY" manage.py qcluster &
pids+=($!)
"$GUNICORN" -c deploy/gunicorn.conf.py regos_admin.wsgi:application &
pids+=($!)
echo "regos-admin: web (gunicorn pid ${pids[1]}) on $HOST:$PORT, worker (qcluster pid ${pids[0]}); Ctrl-C stops both"
set +e
wait -n "${pids[@]}"
status=$?
set -e
exit "$status"
