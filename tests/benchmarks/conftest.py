"""Benchmarks run only through `make bench` (pyproject's norecursedirs keeps them out of
`make test`) and need PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection


@pytest.fixture
def bench_postgres(transactional_db: None) -> None:
    if connection.vendor != "postgresql":
        pytest.fail("benchmarks need PostgreSQL: set DATABASE_URL=postgres://...", pytrace=False)
