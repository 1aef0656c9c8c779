"""Shared fixtures. Fixture modules live in tests/fixtures/ (one per area) and are loaded here."""

pytest_plugins = [
    "tests.fixtures.cast",
    "tests.fixtures.regos",
    "tests.fixtures.database",
    "tests.fixtures.redis",
    "tests.fixtures.people",
    "tests.fixtures.browser",
    "tests.fixtures.sync",
]
