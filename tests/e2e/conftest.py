"""Playwright in Debian's Chromium against pytest-django's live server.

Playwright's sync API runs an event loop in the test thread, which makes Django refuse ORM calls
there ("cannot be called from an async context"); the tests only touch the database before the
browser acts, from the same thread, so the guard is switched off for this folder."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections

from tests.conftest import require_chromium


@pytest.fixture(autouse=True)
def _allow_orm_beside_playwright(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only for these tests: the variable must not leak into the rest of the suite or its subprocesses.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _close_database_connections() -> None:
    """ORM calls made while Playwright's loop runs get their own connection (Django keys connections
    by context, and Playwright switches greenlets, each with its own context); close it here, or
    PostgreSQL refuses to drop the test database at the end of the run. An in-memory SQLite
    connection is the database itself and stays open."""
    for conn in connections.all(initialized_only=True):
        if not (conn.vendor == "sqlite" and conn.is_in_memory_db()):
            conn.close()


def _wait_for_request_threads(timeout: float = 5.0) -> None:
    """The live server handles each browser connection in a daemon thread that closes its database
    connection only when the browser hangs up; wait for them, or a TRUNCATE/DROP of the test
    database can race with a connection that is still open."""
    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if "process_request_thread" in thread.name:
            thread.join(max(0.0, deadline - time.monotonic()))


@pytest.fixture(scope="session")
def live_server(django_db_setup: None, live_server: Any) -> Any:
    """pytest-django's session live server, made to depend on the test database so it stops (and
    closes its connection) before the database is dropped; PostgreSQL refuses to drop a database
    with a session still open."""
    return live_server


PASSWORD = "correct-horse-battery-7"
"""The password the browser tests give their users."""


def sign_in(page: Any, base_url: str, username: str) -> None:
    """Sign in through the login form, as a person would."""
    page.goto(f"{base_url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


@pytest.fixture
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium (never a downloaded browser: `playwright install` is not used;
    CI installs Debian's chromium). Tests that need several users open a context each."""
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
            _close_database_connections()
            _wait_for_request_threads()


@pytest.fixture
def browser_page(chromium: Any) -> Iterator[object]:
    """A fresh page in its own context."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()
