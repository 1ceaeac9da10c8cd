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


def test_no_variables_gives_embedded_defaults(tmp_path: Path) -> None:
    result = _probe(_clean_env(tmp_path))

    assert result["engine"] == "django.db.backends.sqlite3"
    assert "journal_mode=WAL" in result["options"]["init_command"]  # type: ignore[index]
    assert result["layer"] == "apps.core.layers.RelayChannelLayer"  # in-memory, relayed across processes
    assert result["broker"] == "filesystem://"
    assert result["debug"] is True


def test_database_and_redis_urls_switch_to_postgres_and_redis(tmp_path: Path) -> None:
    env = _clean_env(
        tmp_path, DATABASE_URL="postgres://u:p@db.example:5432/crm", REDIS_URL="redis://cache:6379/1"
    )

    result = _probe(env)

    assert result["engine"] == "django.db.backends.postgresql"
    assert result["conn_max_age"] == 60
    assert result["options"] == {"prepare_threshold": 5}  # routing's own SQL only (acd.sql.hot_cursor)
    assert result["layer"] == "apps.core.redis_layer.RedisChannelLayer"
    assert result["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert result["broker"] == "redis://cache:6379/1"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DATABASE_URL", "mysql://root@localhost/crm", "must be a postgres:// URL"),
        ("DEBUG", "perhaps", "perhaps"),
    ],
)
def test_malformed_variables_fail_loudly(tmp_path: Path, variable: str, value: str, message: str) -> None:
    env = _clean_env(tmp_path, **{variable: value})

    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True)

    assert out.returncode != 0
    assert message in out.stderr


def test_prepared_statements_can_be_turned_off_for_a_pooler(tmp_path: Path) -> None:
    env = _clean_env(
        tmp_path, DATABASE_URL="postgres://u:p@db.example:5432/crm", DATABASE_PREPARE_THRESHOLD="none"
    )

    assert _probe(env)["options"] == {"prepare_threshold": None}
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
