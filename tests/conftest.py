"""Shared fixtures: a user per role, logged-in clients, and the CI rule that tests needing
PostgreSQL, Redis or Chromium fail instead of skipping when CI=true."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import NoReturn

import pytest
from django.db import connection
from django.test import Client
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from apps.accounts.models import User
from apps.accounts.roles import Role
from apps.accounts.services import user_create

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ROLE_NAMES = [r.value for r in Role]

# Shared machines are slow and noisy: no per-example deadline; CI runs the same examples every time.
hypothesis_settings.register_profile(
    "switchboard", deadline=None, derandomize=IN_CI, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("switchboard")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # type: ignore[no-untyped-def,type-arg]
    report = yield
    needs = {m.name for m in item.iter_markers()} & {"postgres", "redis", "browser"}
    if IN_CI and needs and report.skipped:
        report.outcome = "failed"
        report.longrepr = (
            f"CI=true: a test needing {', '.join(sorted(needs))} must run, not skip ({report.longrepr})"
        )
    return report


def _unavailable(reason: str) -> NoReturn:
    """Skip locally; under CI=true a missing PostgreSQL/Redis/Chromium fails the run."""
    if IN_CI:
        pytest.fail(f"CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def require_postgres() -> None:
    if connection.vendor != "postgresql":
        _unavailable("needs PostgreSQL: set DATABASE_URL=postgres://...")


def require_redis() -> str:
    url = os.environ.get("REDIS_URL", "")
    if not url:
        _unavailable("needs Redis: set REDIS_URL=redis://...")
    return url


def require_chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if not path:
        _unavailable("needs Debian's chromium (apt-get install -y chromium)")
    assert path is not None
    return path


@pytest.fixture
def postgres(db: None) -> None:
    require_postgres()


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    counter = {"n": 0}

    def make(role: str | None = None, **kwargs: object) -> User:
        counter["n"] += 1
        username = str(kwargs.pop("username", f"{(role or 'norole').lower()}{counter['n']}"))
        return user_create(
            username=username,
            password=str(kwargs.pop("password", "pw-for-tests-1")),
            roles=[Role(role)] if role else [],
            **kwargs,  # type: ignore[arg-type]
        )

    return make


@pytest.fixture
def agent(make_user: Callable[..., User]) -> User:
    return make_user("Agent")


@pytest.fixture
def supervisor(make_user: Callable[..., User]) -> User:
    return make_user("Supervisor")


@pytest.fixture
def marketer(make_user: Callable[..., User]) -> User:
    return make_user("Marketer")


@pytest.fixture
def admin_user(make_user: Callable[..., User]) -> User:
    return make_user("Admin")


@pytest.fixture
def client_for(make_user: Callable[..., User]) -> Callable[[str | None], Client]:
    """client_for("Agent") -> a Client logged in as a fresh user of that role; None -> anonymous."""

    def make(role: str | None) -> Client:
        client = Client()
        if role is not None:
            client.force_login(make_user(role))
        return client

    return make


@pytest.fixture
def agent_client(client: Client, agent: User) -> Client:
    client.force_login(agent)
    return client
