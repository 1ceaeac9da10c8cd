"""Issue 3, item 13, in real Chromium against a real daphne (HTTP and websockets, the process
`make run` starts), two browser contexts: an agent goes available; an interaction created through
the API pops on the agent's page and moves the supervisor's wallboard, neither page reloading;
the agent accepts, replies, wraps up with a disposition; the customer's timeline shows it.

daphne runs in its own process, so it reads the rows this test commits: that needs a database
two processes share, PostgreSQL (the SQLite test database lives in this process's memory)."""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from apps.accounts.models import User
from apps.core.actors import SystemActor
from apps.customers.services.customers import ContactInput, customer_create
from apps.interactions.models import (
    Disposition,
    DispositionCategory,
    DispositionSet,
    Interaction,
    InteractionStatus,
    Queue,
)
from apps.interactions.services import agent_profile_for
from tests.conftest import require_postgres
from tests.daphne_helpers import database_url_of_current_connection, running_daphne
from tests.e2e.conftest import PASSWORD, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NOT_RELOADED = "window.__switchboardNotReloaded"


@pytest.fixture
def daphne(tmp_path: Path) -> Iterator[Any]:
    require_postgres()
    # No REDIS_URL: daphne's in-memory layer. Every event of this test starts inside daphne (the
    # API call, the agent's clicks), which is the path under test; Redis has its own tests.
    with running_daphne(
        database_url=database_url_of_current_connection(), redis_url="", log_dir=tmp_path
    ) as server:
        yield server


def _signed_in_page(browser: Any, base_url: str, username: str) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, base_url, username)
    return page


def _mark_not_reloaded(page: Any) -> None:
    page.evaluate(f"{NOT_RELOADED} = true")


def _waiting_count_is(board: Any, count: int) -> None:
    """Wait for the wallboard's waiting count. A locator's wait, not wait_for_function: a predicate
    that has to be polled is compiled with eval inside the page, which the page's
    Content-Security-Policy rightly refuses."""
    board.locator(
        "section[aria-label='Waiting interactions'] h2 .count", has_text=re.compile(rf"^\s*{count}\s*$")
    ).wait_for()


def _still_same_page(page: Any) -> bool:
    return bool(page.evaluate(f"{NOT_RELOADED} === true"))


def _api_post(base_url: str, path: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - a fixed http://127.0.0.1 URL
        f"{base_url}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
        assert response.status == 201
        return dict(json.loads(response.read()))


def test_offer_pops_on_the_desk_the_wallboard_moves_and_the_wrap_up_reaches_the_timeline(
    daphne: Any, chromium: Any, make_user: Callable[..., User]
) -> None:
    # Given a chat queue with a disposition set, an agent who serves it, a supervisor, a customer
    resolved = Disposition.objects.create(
        code="resolved", label="Resolved", category=DispositionCategory.RESOLVED
    )
    dispositions = DispositionSet.objects.create(name="Support")
    dispositions.dispositions.add(resolved)
    queue = Queue.objects.create(
        name="Support",
        channels=["chat"],
        disposition_set=dispositions,
        disposition_required=True,
        offer_timeout_seconds=300,
        wrap_up_seconds=300,
    )
    agent_user = make_user("Agent", username="amy", password=PASSWORD, first_name="Amy", last_name="Agent")
    agent_profile_for(user=agent_user).queues.add(queue)
    supervisor = make_user("Supervisor", username="sam", password=PASSWORD)
    token = Token.objects.create(user=supervisor).key
    customer = customer_create(
        actor=SystemActor("test setup"),
        first_name="Ada",
        last_name="Lovelace",
        contacts=[ContactInput(kind="email", value="ada@example.org")],
    )
    base = daphne.origin

    # The agent opens the desk and goes available
    desk = _signed_in_page(chromium, base, "amy")
    assert desk.url.endswith("/desk/")
    desk.wait_for_selector("#live-status[data-state=live]")
    desk.select_option("#presence-select", "available")
    desk.wait_for_selector("#my-state:text('Available')")
    _mark_not_reloaded(desk)

    # The supervisor watches the wallboard: nobody waiting or ringing, Amy available
    board = _signed_in_page(chromium, base, "sam")
    assert board.url.endswith("/wallboard/")
    board.wait_for_selector("#live-status[data-state=live]")
    ringing = board.locator("section[aria-label='Waiting interactions'] h2 .count")
    assert ringing.inner_text() == "0"
    board.locator(".agent-card", has_text="Amy Agent").locator(".state-available").wait_for()
    _mark_not_reloaded(board)

    # When a chat arrives through the API
    created = _api_post(
        base,
        "/api/v1/interactions/",
        token,
        {"queue": queue.pk, "channel": "chat", "contact": "ada@example.org", "subject": "Where is my order?"},
    )
    assert created["status"] == "offered"

    # Then it pops on the desk, with the customer's screen pop, without a reload
    offer = desk.locator(".offer")
    offer.wait_for()
    assert "Ada Lovelace" in offer.inner_text()
    assert "Where is my order?" in offer.inner_text()
    desk.locator("#panel .panel-who:text('Ada Lovelace')").wait_for()
    assert _still_same_page(desk)

    # And the wallboard shows it ringing, with Amy offered, without a reload
    _waiting_count_is(board, 1)
    board.locator(".agent-card", has_text="Amy Agent").locator(".state-offered").wait_for()
    assert _still_same_page(board)

    if folder := os.environ.get("SWITCHBOARD_SCREENSHOT"):
        desk.screenshot(path=f"{folder}/desk-offer.png", full_page=True)
        board.screenshot(path=f"{folder}/wallboard.png", full_page=True)

    # When the agent accepts, replies, ends the chat and wraps up with a disposition
    offer.get_by_role("button", name="Accept").click()
    desk.locator("#panel[aria-live] .status-active").wait_for()
    desk.fill(f"#reply-{created['id']}", "Hello Ada, your order ships today.")
    desk.locator(".reply-form button[type=submit]").click()
    desk.locator(".msg-outbound", has_text="your order ships today").wait_for()
    board.locator(".agent-card", has_text="Amy Agent").locator(".state-busy").wait_for()
    desk.get_by_role("button", name="End live chat").click()
    desk.locator(".wrap-up-form").wait_for()
    if folder := os.environ.get("SWITCHBOARD_SCREENSHOT"):
        desk.screenshot(path=f"{folder}/desk-wrap-up.png", full_page=True)
    desk.select_option(f"#disposition-{created['id']}", label="Resolved")
    desk.fill(f"#wrap-notes-{created['id']}", "Order 1042 ships today")
    # An event landing now reloads the panel: what the agent chose and typed must survive it.
    desk.evaluate(
        "id => Live.reload(document.getElementById('desk').dataset.panelUrl.replace('/0/', '/' + id + '/'), document.getElementById('panel'))",
        created["id"],
    )
    assert desk.input_value(f"#disposition-{created['id']}") == str(resolved.pk)
    assert desk.input_value(f"#wrap-notes-{created['id']}") == "Order 1042 ships today"
    desk.get_by_role("button", name="Finish wrap-up").click()
    desk.locator("#panel .status-closed").wait_for()
    desk.locator("#no-work").wait_for()
    desk.locator("#my-state:text('Available')").wait_for()
    assert _still_same_page(desk)
    board.locator(".agent-card", has_text="Amy Agent").locator(".state-available").wait_for()
    _waiting_count_is(board, 0)
    assert _still_same_page(board)

    # Then the interaction is closed with its disposition and the customer's timeline shows it
    interaction = Interaction.objects.get(pk=created["id"])
    assert (interaction.status, interaction.disposition_id, interaction.notes) == (
        InteractionStatus.CLOSED,
        resolved.pk,
        "Order 1042 ships today",
    )
    assert interaction.messages.get().body == "Hello Ada, your order ships today."
    desk.goto(f"{base}/customers/{customer.pk}/")
    entry = desk.locator(f"#interaction-{interaction.pk}")
    assert "Live chat (inbound) · Support · closed" in entry.inner_text()
    assert "Disposition: Resolved" in entry.inner_text()
    assert "Order 1042 ships today" in entry.inner_text()


def test_an_offer_made_while_the_desk_was_disconnected_shows_once_it_reconnects(
    daphne: Any, chromium: Any, make_user: Callable[..., User]
) -> None:
    # Given an available agent on the desk
    queue = Queue.objects.create(name="Sales", channels=["chat"], offer_timeout_seconds=300)
    agent_user = make_user("Agent", username="amy", password=PASSWORD)
    agent_profile_for(user=agent_user).queues.add(queue)
    token = Token.objects.create(user=make_user("Supervisor")).key
    desk = _signed_in_page(chromium, daphne.origin, "amy")
    desk.wait_for_selector("#live-status[data-state=live]")
    desk.select_option("#presence-select", "available")
    desk.wait_for_selector("#my-state:text('Available')")
    _mark_not_reloaded(desk)

    # When its websocket drops and an offer is made meanwhile (its event reaches no one)
    desk.evaluate("Live.suspend()")
    desk.wait_for_selector("#live-status[data-state=down]")
    created = _api_post(daphne.origin, "/api/v1/interactions/", token, {"queue": queue.pk, "channel": "chat"})
    assert created["status"] == "offered"
    desk.wait_for_timeout(1500)
    assert desk.locator(".offer").count() == 0

    # Then the reconnect reloads the desk's state, and the offer is there, without a page reload
    desk.evaluate("Live.resume()")
    desk.wait_for_selector("#live-status[data-state=live]")
    desk.locator(".offer").wait_for()
    desk.locator("#my-state:text('Offered')").wait_for()
    assert _still_same_page(desk)
