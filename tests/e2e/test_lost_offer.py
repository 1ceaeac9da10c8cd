"""An offer reaches its agent even when its websocket message does not: real Chromium against a
real daphne, the page's socket routed through Playwright (page.route_web_socket) so that the
server's offer events are dropped on the way. The desk still pops the offer within a heartbeat
(every 4 s while the agent is available) and acknowledges it; with the socket down, its poll of
the work list pops the next one.

daphne runs in its own process and reads the rows this test commits: PostgreSQL."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from apps.accounts.models import User
from apps.interactions.models import Interaction, InteractionStatus, Queue
from apps.interactions.services import agent_profile_for
from tests.conftest import require_postgres
from tests.daphne_helpers import database_url_of_current_connection, running_daphne
from tests.e2e.conftest import PASSWORD, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# A heartbeat every 4 s, a poll every 5 s while the socket is down, plus the reloads: the bound
# leaves room for a loaded machine and still fails a desk that waits for the offer's timeout.
POPS_WITHIN_SECONDS = 9.0


@pytest.fixture
def daphne(tmp_path: Path) -> Iterator[Any]:
    require_postgres()
    with running_daphne(
        database_url=database_url_of_current_connection(), redis_url="", log_dir=tmp_path
    ) as server:
        yield server


def _create_chat(base_url: str, token: str, queue: Queue) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - a fixed http://127.0.0.1 URL
        f"{base_url}/api/v1/interactions/",
        data=json.dumps({"queue": queue.pk, "channel": "chat"}).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
        assert response.status == 201
        return dict(json.loads(response.read()))


def _is_offer_event(frame: str | bytes) -> bool:
    """The two frames that announce an offer to its agent: the interaction offered, the agent's
    state offered."""
    try:
        data = json.loads(frame)
    except ValueError:
        return False
    return (data.get("kind") == "interaction" and data.get("status") == "offered") or (
        data.get("kind") == "agent" and data.get("state") == "offered"
    )


def _wait_until(page: Any, condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        page.wait_for_timeout(200)
    return condition()


def test_the_desk_pops_an_offer_whose_websocket_message_was_lost(
    daphne: Any, chromium: Any, make_user: Callable[..., User]
) -> None:
    # Given an available agent whose desk's socket loses every offer event on the way
    queue = Queue.objects.create(name="Sales", channels=["chat"], offer_timeout_seconds=300)
    agent_user = make_user("Agent", username="amy", password=PASSWORD)
    agent_profile_for(user=agent_user).queues.add(queue)
    token = Token.objects.create(user=make_user("Supervisor")).key
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    dropped: list[dict[str, Any]] = []
    forwarded: list[dict[str, Any]] = []

    def route(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_server(frame: str | bytes) -> None:
            if _is_offer_event(frame):
                dropped.append(json.loads(frame))
                return
            forwarded.append(json.loads(frame))
            ws.send(frame)

        server.on_message(from_server)
        ws.on_message(server.send)  # the page's own frames (its heartbeats) go through as they are

    context.route_web_socket("**/ws/agent/", route)
    desk = context.new_page()
    desk.set_default_timeout(15_000)
    sign_in(desk, daphne.origin, "amy")
    desk.wait_for_selector("#live-status[data-state=live]")
    desk.select_option("#presence-select", "available")
    desk.wait_for_selector("#my-state:text('Available')")
    desk.evaluate("window.__notReloaded = true")

    # When a chat is offered to the agent and its events never reach the page
    started = time.monotonic()
    created = _create_chat(daphne.origin, token, queue)
    assert created["status"] == "offered"

    # Then the desk pops the offer within a heartbeat, opens it, and acknowledges it
    desk.locator(f".work-offered[data-interaction='{created['id']}'] .offer").wait_for(
        timeout=POPS_WITHIN_SECONDS * 1000
    )
    popped_after = time.monotonic() - started
    assert popped_after < POPS_WITHIN_SECONDS
    assert {(e["kind"], e["id"]) for e in dropped if e["kind"] == "interaction"} == {
        ("interaction", created["id"])
    }
    assert [
        e for e in forwarded if e.get("kind") == "heartbeat" and e.get("offers")
    ]  # learnt from a heartbeat
    desk.locator(f"#panel [data-interaction='{created['id']}'] .status-offered").wait_for()
    assert _wait_until(
        desk, lambda: Interaction.objects.get(pk=created["id"]).offer_seen_at is not None, 5
    ), "the desk did not acknowledge the offer it shows"
    interaction = Interaction.objects.get(pk=created["id"])
    assert (interaction.status, interaction.agent_id) == (InteractionStatus.OFFERED, agent_user.agent.pk)
    assert desk.evaluate("window.__notReloaded === true")

    # When the socket is down and a second chat is offered
    desk.evaluate("Live.suspend()")
    desk.wait_for_selector("#live-status[data-state=down]")
    started = time.monotonic()
    second = _create_chat(daphne.origin, token, queue)
    assert second["status"] == "offered"

    # Then the desk's poll of its work list shows it too, without a reconnect or a page reload
    desk.locator(f".work-offered[data-interaction='{second['id']}'] .offer").wait_for(
        timeout=POPS_WITHIN_SECONDS * 1000
    )
    assert time.monotonic() - started < POPS_WITHIN_SECONDS
    assert desk.locator("#live-status").get_attribute("data-state") == "down"
    assert _wait_until(desk, lambda: Interaction.objects.get(pk=second["id"]).offer_seen_at is not None, 5)
    assert desk.evaluate("window.__notReloaded === true")
    context.close()


def test_a_wrap_up_past_its_time_says_closing_instead_of_counting_an_overrun(
    daphne: Any, chromium: Any, make_user: Callable[..., User]
) -> None:
    """The timers close it within seconds (no beat runs here, so it stays): what the desk shows
    meanwhile is that it is closing, never a "+31s over" that keeps growing."""
    # Given an agent in a chat whose queue gives one second of wrap-up
    queue = Queue.objects.create(
        name="Support", channels=["chat"], auto_accept=True, wrap_up_seconds=1, disposition_required=True
    )
    agent_user = make_user("Agent", username="amy", password=PASSWORD)
    agent_profile_for(user=agent_user).queues.add(queue)
    token = Token.objects.create(user=make_user("Supervisor")).key
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    desk = context.new_page()
    desk.set_default_timeout(15_000)
    sign_in(desk, daphne.origin, "amy")
    desk.wait_for_selector("#live-status[data-state=live]")
    desk.select_option("#presence-select", "available")
    desk.wait_for_selector("#my-state:text('Available')")
    created = _create_chat(daphne.origin, token, queue)
    assert created["status"] == "active"
    desk.locator(f"#panel [data-interaction='{created['id']}'] .status-active").wait_for()

    # When the agent ends the chat and lets the wrap-up time run out
    desk.get_by_role("button", name="End live chat").click()
    desk.locator(".wrap-up-form").wait_for()
    countdowns = desk.locator(".countdown[data-expires]")
    desk.wait_for_timeout(2500)

    # Then each countdown says the wrap-up is closing, and still does a few seconds later
    assert countdowns.all_inner_texts() == ["closing…", "closing…"]  # the work list and the panel
    desk.wait_for_timeout(2000)
    assert countdowns.all_inner_texts() == ["closing…", "closing…"]
    context.close()
