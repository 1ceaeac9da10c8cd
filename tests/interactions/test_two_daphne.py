"""Issue 3, item 8: with REDIS_URL set, an event made in one daphne process reaches a websocket
client of another. Two real daphne processes share the test database (PostgreSQL) and the
Redis channel layer; an interaction created over HTTP on the first is seen by a supervisor's
wallboard and the offered agent's desktop connected to the second."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from apps.accounts.models import User
from apps.interactions.models import InteractionStatus
from tests.conftest import require_postgres, require_redis
from tests.daphne_helpers import (
    Daphne,
    WebsocketClient,
    database_url_of_current_connection,
    running_daphne,
    session_cookie,
    ws_connect,
)
from tests.interactions.factories import make_agent, make_queue

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def _post(daphne: Daphne, path: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        daphne.url(path),
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        assert response.status == 201, response.read()
        return dict(json.loads(response.read()))


async def _next_matching(client: WebsocketClient, **wanted: Any) -> dict[str, Any]:
    """The first message with the wanted fields (others, e.g. agent state changes, are skipped)."""
    while True:
        message = await client.receive_json(timeout=15)
        if all(message.get(key) == value for key, value in wanted.items()):
            return dict(message)


def test_an_interaction_created_on_one_daphne_reaches_clients_of_the_other(
    transactional_db: None, make_user: Any, tmp_path: Path
) -> None:
    require_postgres()
    redis_url = require_redis()
    queue = make_queue()
    agent = make_agent(queue)
    supervisor: User = make_user("Supervisor")
    token = Token.objects.create(user=supervisor).key
    board_cookie, agent_cookie = session_cookie(supervisor), session_cookie(agent.user)
    database_url = database_url_of_current_connection()

    with (
        running_daphne(database_url=database_url, redis_url=redis_url, log_dir=tmp_path, name="one") as one,
        running_daphne(database_url=database_url, redis_url=redis_url, log_dir=tmp_path, name="two") as two,
    ):

        async def run() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
            board = await ws_connect(two.port, "/ws/wallboard/", cookie=board_cookie, origin=two.origin)
            desk = await ws_connect(two.port, "/ws/agent/", cookie=agent_cookie, origin=two.origin)
            try:
                created = await asyncio.to_thread(
                    _post, one, "/api/v1/interactions/", token, {"queue": queue.pk, "channel": "chat"}
                )
                on_board = await _next_matching(board, kind="interaction", id=created["id"], status="offered")
                offer = await _next_matching(desk, kind="interaction", id=created["id"], status="offered")
                return created, on_board, offer
            finally:
                await board.close()
                await desk.close()

        created, on_board, offer = asyncio.run(run())

    assert created["status"] == InteractionStatus.OFFERED  # routed at once on daphne #1
    # Offered in its enqueue's transaction: both sockets hear the offer (never a queued step).
    assert (
        on_board
        == offer
        == {
            "kind": "interaction",
            "id": created["id"],
            "version": 2,
            "status": "offered",
            "queue": queue.pk,
            "channel": "chat",
        }
    )
