#!/usr/bin/env bash
# `make run`: migrate, demo superuser (local SQLite only), REGOS emulator when no key is set,
# a django-q2 worker and the development server. Ctrl-C stops all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
FAKE_PORT=${FAKE_PORT:-8765}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

if [ -z "${REGOS_INTEGRATION_KEY:-}" ]; then
  export REGOS_INTEGRATION_KEY=demo0000regos0000local0000key000
  log=$(mktemp)
  # The key comes from the environment (REGOS_INTEGRATION_KEY), not the command line `ps` shows.
  $PY manage.py regos_fake_server --port "$FAKE_PORT" >"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do grep -q '^READY ' "$log" && break; sleep 0.1; done
  if ! grep -q '^READY ' "$log"; then cat "$log"; echo "the REGOS emulator did not start"; exit 1; fi
  export REGOS_BASE_URL=$(grep '^READY ' "$log" | head -1 | cut -d' ' -f2)
  echo "No REGOS_INTEGRATION_KEY set: using the local REGOS emulator at $REGOS_BASE_URL"
fi

$PY manage.py migrate --noinput
$PY manage.py demo_setup ${DEMO_SETUP_ARGS:-}  # run_mongo.sh passes --force
$PY manage.py qcluster &
pids+=($!)
echo "regos-admin: http://$HOST:$PORT/"
$PY manage.py runserver "$HOST:$PORT" --noreload
