"""Shared fixtures. Fixture modules live in tests/fixtures/ (one per area) and are loaded here."""

import os

os.environ.setdefault("ENV_FILE", "")  # settings never read a developer's .env during tests

pytest_plugins = [
    "tests.fixtures.cast",
    "tests.fixtures.regos",
    "tests.fixtures.database",
    "tests.fixtures.redis",
    "tests.fixtures.people",
    "tests.fixtures.browser",
    "tests.fixtures.sync",
]
