#!/usr/bin/env bash
# `make run-mongo`: the demo of `make run` on MongoDB, without installing MongoDB. Starts a local
# MongoDB wire-protocol server (mongoeco, pure Python, IN MEMORY: every document is gone when it
# stops), points DATABASE_URL at it and runs scripts/run.sh (migrate, demo user admin/admin, REGOS
# emulator, django-q2 worker, development server). Ctrl-C stops everything.
# MONGO_PORT=27017 picks the port (default: a free one). For a real MongoDB set DATABASE_URL and use `make run`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
log=$(mktemp)
$PY scripts/mongo_server.py --port "${MONGO_PORT:-0}" --exit-with-parent >"$log" 2>&1 &
mongo_pid=$!
cleanup() { kill "$mongo_pid" 2>/dev/null || true; wait "$mongo_pid" 2>/dev/null || true; rm -f "$log"; }
trap cleanup EXIT
for _ in $(seq 1 300); do
  grep -q '^READY ' "$log" && break
  kill -0 "$mongo_pid" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q '^READY ' "$log"; then cat "$log"; echo "the local MongoDB server (mongoeco) did not start"; exit 1; fi
export DATABASE_URL="$(grep '^READY ' "$log" | head -1 | cut -d' ' -f2)regos_admin"
# demo_setup creates admin/admin only on the default SQLite file unless told otherwise.
export DEMO_SETUP_ARGS="--force"
echo "MongoDB: $DATABASE_URL (mongoeco, in memory: everything is lost when this stops)"
bash scripts/run.sh
