# regos-admin — the whole set-up is `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.13
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
FAKE_PORT ?= 8765
DEMO_KEY := demo0000regos0000local0000key000

.PHONY: node-deps run serve collectstatic test test-sqlite test-mongo venv dev-venv system-deps migrate worker fake-regos lint bench migrations messages clean run-mongo

$(VENV)/.stamp-base: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q .
	@touch $@

$(VENV)/.stamp-dev: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q ".[dev]"
	@touch $@ $(VENV)/.stamp-base

venv: $(VENV)/.stamp-base
dev-venv: $(VENV)/.stamp-dev

# Debian packages the tests need: Chromium for the browser tests, gettext for compilemessages,
# redis-server for the Redis broker and shared rate-limit tests, Node.js + npm for the Node payroll
# client (tests/node_payroll).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	command -v msgfmt >/dev/null || missing="$$missing gettext"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# The Node payroll client the suite runs (tests/test_node_payroll.py), from the npm registry, as locked.
node-deps: system-deps
	cd tests/node_payroll && npm ci --no-audit --no-fund --loglevel=error

messages: $(VENV)/.stamp-base
	@if command -v msgfmt >/dev/null; then $(PY) manage.py compilemessages --ignore=.venv -v 0; fi

migrate: venv messages
	$(PY) manage.py migrate --noinput

# The product: server + django-q2 worker + (without REGOS_INTEGRATION_KEY) the local REGOS emulator.
run: venv messages
	@bash scripts/run.sh

# Production: gunicorn + whitenoise + the django-q2 worker (DJANGO_DEBUG=false; see deploy/README.md).
serve: venv messages
	@bash scripts/serve.sh

collectstatic: venv
	$(PY) manage.py collectstatic --noinput

worker: venv
	$(PY) manage.py qcluster

fake-regos: venv
	$(PY) manage.py regos_fake_server --port $(FAKE_PORT)

# The whole suite twice: on SQLite, then on MongoDB (a local mongoeco wire server that
# tests/mongo_plugin.py starts on a free port). Fails if either pass fails or their test counts differ.
# TEST_DBS=mongo runs one pass; PYTEST_ARGS="-x -k admin" goes to every pass.
TEST_DBS ?= sqlite mongo
test: dev-venv system-deps messages node-deps
	@summary=$$(mktemp); status=0; \
	for db in $(TEST_DBS); do \
	  echo; echo "==================== make test: $$db pass (the whole suite) ===================="; \
	  REGOS_TEST_DB=$$db REGOS_TEST_SUMMARY=$$summary $(PY) -m pytest -p no:cacheprovider -p tests.mongo_plugin \
	    $(PYTEST_ARGS) || status=1; \
	done; \
	echo; echo "==================== make test: summary ===================="; cat $$summary; \
	if [ "$$(wc -l < $$summary)" != "$(words $(TEST_DBS))" ]; then echo "a pass did not finish"; status=1; \
	elif [ "$$(grep -o ' tests=[0-9]*' $$summary | sort -u | wc -l)" != 1 ]; then \
	  echo "the passes ran different numbers of tests"; status=1; fi; \
	rm -f $$summary; \
	if [ $$status = 0 ]; then echo "make test: passed on $(TEST_DBS)"; else echo "make test: FAILED"; fi; \
	exit $$status

lint: dev-venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# The benchmark (not part of make test): one table on stdout and bench/results.json; see BENCHMARKS.md.
# BENCH_ARGS passes options, e.g. make bench BENCH_ARGS="--sizes 10k,100k --profile".
bench: dev-venv
	$(PY) -m bench.run $(BENCH_ARGS)

# Every migration that must be regenerated, idempotently ("No changes detected" when up to date):
# the project's apps (one set for both databases, made under SQLite settings), then Django's and
# django-q2's apps for MongoDB (regos_admin/mongo_migrations, made against a throw-away mongoeco
# server), then a check that MongoDB settings need nothing more.
migrations: dev-venv
	DATABASE_URL=sqlite:///:memory: $(PY) manage.py makemigrations
	$(PY) scripts/mongo_server.py --db regos_makemigrations -- bash -c \
	  '$(PY) -c "from regos_admin.mongo import make_mongo_migrations; make_mongo_migrations()" \
	   && $(PY) manage.py makemigrations --check --dry-run'

# The demo on MongoDB without installing MongoDB: a local mongoeco wire server (pure Python, in
# memory: the data is gone when it stops), then what `make run` does. Log in as admin / admin.
run-mongo: dev-venv messages
	@bash scripts/run_mongo.sh

clean:
	rm -rf $(VENV) staticfiles
