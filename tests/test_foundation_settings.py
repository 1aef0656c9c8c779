"""Settings come from the environment only; a bad value stops start-up with one line naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from regos_admin.env import DEFAULT_DATABASE_URL, AppEnv, ConfigError, load_env, mask_key, parse_database_url

REPO = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "p" * 20 + "production-secret-key-for-tests-only-0123456789",
    "DJANGO_ALLOWED_HOSTS": "regos.example.uz",
}


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REGOS_", "DATABASE_URL"))}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=clean, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith(("DJANGO_", "REGOS_")) or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    return monkeypatch


def test_defaults_serve_a_local_run(clean_env: pytest.MonkeyPatch) -> None:
    env = load_env()
    assert env.DATABASE_URL == DEFAULT_DATABASE_URL
    assert f"sqlite:///{REPO / 'db.sqlite3'}" == DEFAULT_DATABASE_URL
    assert env.REGOS_BASE_URL == "https://integration.regos.uz/gateway/out"
    assert (env.REGOS_RATE_PER_SEC, env.REGOS_BURST, env.REGOS_TIMEOUT_S, env.REGOS_LOOKBACK_DAYS) == (2, 50, 30, 3)
    assert env.REGOS_INTEGRATION_KEY == ""


def test_django_settings_use_tashkent_and_three_languages() -> None:
    from django.conf import settings

    assert settings.TIME_ZONE == "Asia/Tashkent"
    assert settings.USE_TZ is True
    assert settings.LANGUAGE_CODE == "uz"
    assert [code for code, _ in settings.LANGUAGES] == ["uz", "ru", "en"]
    assert "django.middleware.locale.LocaleMiddleware" in settings.MIDDLEWARE


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REGOS_RATE_PER_SEC", "fast"),
        ("REGOS_RATE_PER_SEC", "0"),
        ("REGOS_RATE_PER_SEC", "-2"),
        ("REGOS_BURST", "0"),
        ("REGOS_TIMEOUT_S", "soon"),
        ("REGOS_LOOKBACK_DAYS", "0"),
        ("REGOS_BASE_URL", "integration.regos.uz"),
        ("DATABASE_URL", "postgres://localhost/x"),
        ("DATABASE_URL", "mongodb://localhost:27017"),
        ("DJANGO_DEBUG", "maybe"),
        ("REGOS_SYNC_CRON", "every night"),
    ],
)
def test_bad_value_names_the_variable(clean_env: pytest.MonkeyPatch, name: str, value: str) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(ConfigError) as excinfo:
        load_env()
    message = str(excinfo.value)
    assert message.startswith(f"Invalid environment variable {name}: ")
    assert "\n" not in message


def test_bad_rate_stops_manage_py_with_one_clear_line() -> None:
    result = run_manage("check", env={"REGOS_RATE_PER_SEC": "abc"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: Invalid environment variable REGOS_RATE_PER_SEC:")
    assert "Traceback" not in result.stderr


def test_bad_key_is_refused_without_echoing_it(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("REGOS_INTEGRATION_KEY", "has spaces and / slashes secret-value")
    with pytest.raises(ConfigError) as excinfo:
        load_env()
    assert "secret-value" not in str(excinfo.value)


def test_production_refuses_the_development_secret_key(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DJANGO_DEBUG", "false")
    with pytest.raises(ConfigError, match="DJANGO_SECRET_KEY"):
        load_env()


@pytest.mark.parametrize(
    ("url", "engine", "name"),
    [
        ("sqlite:////srv/regos/db.sqlite3", "django.db.backends.sqlite3", "/srv/regos/db.sqlite3"),
        ("sqlite:///srv/db.sqlite3", "django.db.backends.sqlite3", "/srv/db.sqlite3"),
        ("mongodb://127.0.0.1:27017/regos", "django_mongodb_backend", "regos"),
        ("mongodb+srv://user:pw@cluster0.example.net/payroll?retryWrites=true", "django_mongodb_backend", "payroll"),
    ],
)
def test_database_url_parsing(url: str, engine: str, name: str) -> None:
    config = parse_database_url(url)
    assert config["ENGINE"] == engine
    assert config["NAME"] == name


def test_integration_key_is_masked_in_text() -> None:
    key = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
    text = f"POST https://integration.regos.uz/gateway/out/{key}/v1/DocCheque/Get failed"
    masked = mask_key(text, key)
    assert key not in masked
    assert masked.endswith("/v1/DocCheque/Get failed")


def test_app_env_is_case_sensitive(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("regos_burst", "7")
    assert AppEnv().REGOS_BURST == 50


def test_manage_check_passes() -> None:
    result = run_manage("check", env={})
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_passes_under_production_settings_and_names_what_it_silences() -> None:
    """Without HTTPS hardening it passes, but no longer looks clean: the silenced W004/W008 are named."""
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "regos_admin.I001" in output and "security.W004 (HSTS) is silenced" in output
    assert "1 issue (2 silenced)" in output


def test_check_deploy_with_https_hardening() -> None:
    env = PRODUCTION_ENV | {"DJANGO_HSTS_SECONDS": "31536000", "DJANGO_SECURE_SSL_REDIRECT": "true"}
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(0 silenced)" in result.stdout


def test_settings_read_the_env_file_and_the_real_environment_wins(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Issue 15: manage.py ignored .env, so createsuperuser/regos_check silently used the dev database."""
    dotenv = tmp_path / "regos.env"
    dotenv.write_text(
        f"DATABASE_URL=sqlite:///{tmp_path / 'from-file.sqlite3'}\n"
        "REGOS_LOOKBACK_DAYS=7\nREGOS_INTEGRATION_KEY=fileKey0123456789abcdef\nHOST=0.0.0.0\n"
    )
    clean_env.setenv("ENV_FILE", str(dotenv))
    clean_env.setenv("REGOS_LOOKBACK_DAYS", "5")
    env = load_env()
    from_file = f"sqlite:///{tmp_path / 'from-file.sqlite3'}"
    assert from_file == env.DATABASE_URL
    assert env.REGOS_INTEGRATION_KEY == "fileKey0123456789abcdef"
    assert env.REGOS_LOOKBACK_DAYS == 5  # the real environment wins over the file
    clean_env.setenv("ENV_FILE", "")
    assert load_env().DATABASE_URL == DEFAULT_DATABASE_URL  # ENV_FILE= reads no file


def test_manage_py_reads_the_env_file(tmp_path: Path) -> None:
    dotenv = tmp_path / "regos.env"
    database = tmp_path / "from-file.sqlite3"
    dotenv.write_text(f"DATABASE_URL=sqlite:///{database}\nDJANGO_LOG_LEVEL=ERROR\n")
    done = run_manage("shell", "-v", "0", "-c", "from django.conf import settings as s; "
                      "print(s.DATABASES['default']['NAME'], s.LOGGING['loggers']['sync']['level'])",
                      env={"ENV_FILE": str(dotenv)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(database), "ERROR"]


def test_the_env_file_is_git_ignored() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO, timeout=30)
    assert ignored.returncode == 0
