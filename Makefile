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

.PHONY: run serve collectstatic test test-sqlite test-mongo venv dev-venv system-deps migrate worker fake-regos lint bench migrations messages clean run-mongo

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
# redis-server for the Redis broker and shared rate-limit tests.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v msgfmt >/dev/null || missing="$$missing gettext"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

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

test: dev-venv system-deps messages
	$(PY) -m pytest -p no:cacheprovider

lint: dev-venv
	$(VENV)/bin/ruff check .

migrations: venv
	$(PY) manage.py makemigrations payroll sync

clean:
	rm -rf $(VENV) staticfiles
