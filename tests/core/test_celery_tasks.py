"""Celery tasks retry when the database pool had no connection for them, and only then."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError
from psycopg_pool import PoolTimeout

from apps.core.celery_tasks import RetryWhenDatabaseBusy
from config.celery import app


def _pool_timeout() -> OperationalError:
    try:
        try:
            raise PoolTimeout("couldn't get a connection after 10.00 sec")
        except PoolTimeout as cause:
            raise OperationalError("couldn't get a connection") from cause
    except OperationalError as wrapped:
        return wrapped


def test_every_task_of_the_app_has_the_retrying_base() -> None:
    from apps.customers.tasks import import_run
    from apps.interactions.tasks import offers_expire_due

    assert isinstance(import_run, RetryWhenDatabaseBusy)
    assert isinstance(offers_expire_due, RetryWhenDatabaseBusy)


def test_a_task_that_found_the_pool_busy_is_retried_and_then_succeeds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Run eagerly as a worker would (a retry re-runs the task) instead of raising at once.
    monkeypatch.setitem(app.conf, "task_eager_propagates", False)
    calls: list[int] = []

    @app.task(bind=True, name="tests.core.flaky_pool")
    def flaky(self: Any) -> str:
        calls.append(self.request.retries)
        if len(calls) < 3:
            raise _pool_timeout()
        return "done"

    result = flaky.apply()

    assert result.get() == "done"
    assert calls == [0, 1, 2]


def test_any_other_database_error_is_not_retried() -> None:
    calls: list[int] = []

    @app.task(bind=True, name="tests.core.broken_query")
    def broken(self: Any) -> str:
        calls.append(self.request.retries)
        raise OperationalError("relation does not exist")

    with pytest.raises(OperationalError, match="relation does not exist"):
        broken.apply().get()
    assert calls == [0]
