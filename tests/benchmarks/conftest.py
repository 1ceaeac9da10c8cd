"""Benchmarks run only through `make bench` (pyproject's norecursedirs keeps them out of
`make test`) and need PostgreSQL (the real-time ones Redis too)."""

from __future__ import annotations

import os

import pytest
from django.db import connection


@pytest.fixture
def bench_postgres(transactional_db: None) -> None:
    if connection.vendor != "postgresql":
        pytest.fail("benchmarks need PostgreSQL: set DATABASE_URL=postgres://...", pytrace=False)


@pytest.fixture
def bench_redis(bench_postgres: None) -> str:
    """REDIS_URL, for the real-time benchmarks (daphne + Redis channel layer + PostgreSQL)."""
    url = os.environ.get("REDIS_URL", "")
    if not url:
        pytest.fail("real-time benchmarks need Redis: set REDIS_URL=redis://...", pytrace=False)
    return url
