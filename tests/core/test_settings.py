"""The settings module reads the environment: embedded defaults, production URLs, loud errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, django
from django.conf import settings
django.setup()
db = settings.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "conn_max_age": db.get("CONN_MAX_AGE"), "options": db.get("OPTIONS", {}),
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"], "cache": settings.CACHES["default"]["BACKEND"],
    "broker": settings.CELERY_BROKER_URL, "debug": settings.DEBUG,
    "ssl_redirect": settings.SECURE_SSL_REDIRECT, "secure_cookies": settings.SESSION_COOKIE_SECURE,
    "hsts": settings.SECURE_HSTS_SECONDS, "allowed_hosts": settings.ALLOWED_HOSTS,
    "token_ttl_seconds": settings.API_TOKEN_TTL.total_seconds(),
    "failure_limit": settings.AXES_FAILURE_LIMIT, "cooloff_seconds": settings.AXES_COOLOFF_TIME.total_seconds(),
}))
"""


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "DEBUG",
            "SECRET_KEY",
            "ALLOWED_HOSTS",
            "CELERY_BROKER_URL",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
            "DATABASE_PREPARE_THRESHOLD",
            "DATABASE_POOL",
            "DATABASE_POOL_MIN_SIZE",
            "DATABASE_POOL_MAX_SIZE",
            "DATABASE_POOL_TIMEOUT",
            "DATABASE_CONN_MAX_AGE",
            "SECURE_SSL_REDIRECT",
            "SESSION_COOKIE_SECURE",
            "CSRF_COOKIE_SECURE",
            "SECURE_HSTS_SECONDS",
            "API_TOKEN_TTL_HOURS",
            "LOGIN_FAILURE_LIMIT",
            "LOGIN_LOCKOUT_MINUTES",
        }
    }
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings", "SWITCHBOARD_VAR_DIR": str(tmp_path / "var")})
    env.update(extra)
    return env


def _probe(env: dict[str, str]) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_debug_true_alone_gives_the_embedded_developer_run(tmp_path: Path) -> None:
    result = _probe(_clean_env(tmp_path, DEBUG="true"))  # what make run sets, and nothing else

    assert result["engine"] == "django.db.backends.sqlite3"
    assert "journal_mode=WAL" in result["options"]["init_command"]  # type: ignore[index]
    assert result["layer"] == "apps.core.layers.RelayChannelLayer"  # in-memory, relayed across processes
    assert result["broker"] == "filesystem://"
    assert result["debug"] is True
    assert (result["ssl_redirect"], result["secure_cookies"], result["hsts"]) == (False, False, 0)
    assert result["allowed_hosts"] == ["127.0.0.1", "localhost", "[::1]"]


def test_with_nothing_set_it_refuses_to_start_and_says_how_to_run_locally(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=_clean_env(tmp_path), capture_output=True, text=True
    )

    assert out.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off (DEBUG defaults to off)" in out.stderr
    assert "set DEBUG=true, as `make run` does" in out.stderr


def test_debug_is_off_unless_set_and_the_strict_defaults_follow(tmp_path: Path) -> None:
    result = _probe(_clean_env(tmp_path, SECRET_KEY="k" * 60))

    assert result["debug"] is False
    assert (result["ssl_redirect"], result["secure_cookies"], result["hsts"]) == (True, True, 31536000)
    assert result["allowed_hosts"] == []


def test_sign_in_throttling_and_token_lifetime_come_from_the_environment(tmp_path: Path) -> None:
    defaults = _probe(_clean_env(tmp_path, DEBUG="true"))
    chosen = _probe(
        _clean_env(
            tmp_path,
            DEBUG="true",
            LOGIN_FAILURE_LIMIT="3",
            LOGIN_LOCKOUT_MINUTES="30",
            API_TOKEN_TTL_HOURS="8",
        )
    )

    assert (defaults["failure_limit"], defaults["cooloff_seconds"], defaults["token_ttl_seconds"]) == (
        5,
        15 * 60,
        24 * 3600,
    )
    assert (chosen["failure_limit"], chosen["cooloff_seconds"], chosen["token_ttl_seconds"]) == (
        3,
        30 * 60,
        8 * 3600,
    )


def test_database_and_redis_urls_switch_to_postgres_and_redis(tmp_path: Path) -> None:
    env = _clean_env(
        tmp_path,
        DEBUG="true",
        DATABASE_URL="postgres://u:p@db.example:5432/crm",
        REDIS_URL="redis://cache:6379/1",
    )

    result = _probe(env)

    assert result["engine"] == "django.db.backends.postgresql"
    assert result["conn_max_age"] == 0  # pooled connections go back to the pool after each request
    assert result["options"] == {
        "pool": {"min_size": 1, "max_size": 10, "timeout": 10},
        "prepare_threshold": 5,  # routing's own SQL only (acd.sql.hot_cursor)
    }
    assert result["layer"] == "apps.core.redis_layer.RedisChannelLayer"
    assert result["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert result["broker"] == "redis://cache:6379/1"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DATABASE_URL", "mysql://root@localhost/crm", "must be a postgres:// URL"),
        ("DEBUG", "perhaps", "perhaps"),
        ("API_TOKEN_TTL_HOURS", "a day", "API_TOKEN_TTL_HOURS='a day' is not a whole number"),
        ("API_TOKEN_TTL_HOURS", "0", "API_TOKEN_TTL_HOURS=0 must be at least 1"),
        ("LOGIN_FAILURE_LIMIT", "-1", "LOGIN_FAILURE_LIMIT=-1 must be at least 1"),
        ("LOGIN_LOCKOUT_MINUTES", "15m", "LOGIN_LOCKOUT_MINUTES='15m' is not a whole number"),
    ],
)
def test_malformed_variables_fail_loudly(tmp_path: Path, variable: str, value: str, message: str) -> None:
    env = _clean_env(tmp_path, **({"DEBUG": "true"} | {variable: value}))

    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True)

    assert out.returncode != 0
    assert message in out.stderr


def test_prepared_statements_can_be_turned_off_for_a_pooler(tmp_path: Path) -> None:
    env = _clean_env(
        tmp_path,
        DEBUG="true",
        DATABASE_URL="postgres://u:p@db.example:5432/crm",
        DATABASE_PREPARE_THRESHOLD="none",
    )

    assert _probe(env)["options"]["prepare_threshold"] is None  # type: ignore[index]
    env["DATABASE_PREPARE_THRESHOLD"] = "often"
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "must be a number or 'none'" in out.stderr


def test_debug_off_without_secret_key_refuses_to_start(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=_clean_env(tmp_path, DEBUG="false"),
        capture_output=True,
        text=True,
    )

    assert out.returncode != 0
    assert "SECRET_KEY must be set" in out.stderr


def test_check_deploy_is_clean_under_production_variables(tmp_path: Path) -> None:
    env = _clean_env(
        tmp_path,
        DEBUG="false",
        SECRET_KEY="x7!kq2-production-like-secret-" + "a8Zr4vT9wLm3pQ6sN1bC5dF0gH2jK4" * 2,
        ALLOWED_HOSTS="crm.example.com",
        CSRF_TRUSTED_ORIGINS="https://crm.example.com",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )

    out = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )

    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues" in out.stdout


POSTGRES = "postgres://u:p@db.example:5432/crm"


def test_the_pool_sizes_and_wait_come_from_the_environment(tmp_path: Path) -> None:
    env = _clean_env(
        tmp_path,
        DEBUG="true",
        DATABASE_URL=POSTGRES,
        DATABASE_POOL_MIN_SIZE="0",
        DATABASE_POOL_MAX_SIZE="4",
        DATABASE_POOL_TIMEOUT="30",
    )

    result = _probe(env)

    assert result["conn_max_age"] == 0
    assert result["options"]["pool"] == {"min_size": 0, "max_size": 4, "timeout": 30}  # type: ignore[index]


def test_without_the_pool_each_thread_keeps_a_persistent_connection(tmp_path: Path) -> None:
    defaults = _probe(_clean_env(tmp_path, DEBUG="true", DATABASE_URL=POSTGRES, DATABASE_POOL="false"))
    chosen = _probe(
        _clean_env(
            tmp_path, DEBUG="true", DATABASE_URL=POSTGRES, DATABASE_POOL="false", DATABASE_CONN_MAX_AGE="300"
        )
    )

    assert (defaults["conn_max_age"], defaults["options"]) == (60, {"prepare_threshold": 5})
    assert chosen["conn_max_age"] == 300


def test_sqlite_never_gets_a_pool(tmp_path: Path) -> None:
    result = _probe(_clean_env(tmp_path, DEBUG="true", DATABASE_POOL="true"))

    assert result["engine"] == "django.db.backends.sqlite3"
    assert "pool" not in result["options"]  # type: ignore[operator]


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"DATABASE_CONN_MAX_AGE": "60"},
            "DATABASE_CONN_MAX_AGE must be 0 (or unset) while DATABASE_POOL is on",
        ),
        (
            {"DATABASE_POOL_MIN_SIZE": "5", "DATABASE_POOL_MAX_SIZE": "2"},
            "DATABASE_POOL_MIN_SIZE=5 must not exceed DATABASE_POOL_MAX_SIZE=2",
        ),
        ({"DATABASE_POOL_MAX_SIZE": "0"}, "DATABASE_POOL_MAX_SIZE=0 must be at least 1"),
        ({"DATABASE_POOL_TIMEOUT": "ten"}, "DATABASE_POOL_TIMEOUT='ten' is not a whole number"),
        ({"DATABASE_POOL": "maybe"}, "DATABASE_POOL='maybe' is not a boolean"),
    ],
)
def test_a_pool_setting_that_cannot_work_fails_loudly(
    tmp_path: Path, variables: dict[str, str], message: str
) -> None:
    env = _clean_env(tmp_path, DEBUG="true", DATABASE_URL=POSTGRES, **variables)

    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True)

    assert out.returncode != 0
    assert message in out.stderr


def test_makemigrations_runs_on_a_bare_checkout_and_serving_commands_stay_strict() -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL")
    }
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"  # not the suite's, which turns DEBUG on

    migrations = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    check = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )

    assert migrations.returncode == 0, migrations.stdout + migrations.stderr
    assert "No changes detected" in migrations.stdout
    assert check.returncode != 0 and "SECRET_KEY must be set" in check.stderr
