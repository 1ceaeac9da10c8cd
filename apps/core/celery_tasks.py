"""The base class of every Celery task (config/celery.py names it as the app's task_cls)."""

from __future__ import annotations

from typing import Any

from celery import Task
from django.db import OperationalError

from apps.core.middleware import is_database_pool_timeout

DATABASE_BUSY_RETRIES = 5
DATABASE_BUSY_COUNTDOWN_SECONDS = 5


class RetryWhenDatabaseBusy(Task):  # type: ignore[misc]
    """A task whose wait for a pooled database connection timed out has run nothing (it never
    had a connection): it is retried a few seconds later instead of failing, as a web request
    in the same state answers 503 and lets the client try again. Any other error is the task's."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except OperationalError as exc:
            if not is_database_pool_timeout(exc):
                raise
            raise self.retry(
                exc=exc, countdown=DATABASE_BUSY_COUNTDOWN_SECONDS, max_retries=DATABASE_BUSY_RETRIES
            ) from exc
