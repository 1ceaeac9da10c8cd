"""The embedded mode's event relay (apps.core.layers): events published in the worker, beat or the
simulator reach the web process's websockets through a signed POST, and nothing else gets in."""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import Client
from django.urls import reverse

from apps.core.layers import NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, RelayChannelLayer, sign

ROOT = Path(__file__).resolve().parents[2]
EMBEDDED_LAYERS = {"default": {"BACKEND": "apps.core.layers.RelayChannelLayer"}}


@pytest.fixture
def layer(settings: Any) -> RelayChannelLayer:
    """The web process's layer: the relay class without a relay URL (in-memory)."""
    settings.CHANNEL_LAYERS = EMBEDDED_LAYERS
    found = get_channel_layer()
    assert isinstance(found, RelayChannelLayer) and found.relay_url == ""
    return found


def _subscribe(layer: RelayChannelLayer, group: str) -> str:
    channel: str = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)
    return channel


def _received(layer: RelayChannelLayer, channel: str) -> dict[str, Any] | None:
    async def receive() -> dict[str, Any] | None:
        try:
            return await asyncio.wait_for(layer.receive(channel), timeout=0.2)
        except TimeoutError:
            return None

    return async_to_sync(receive)()


def _body(group: str = "wallboard", payload: dict[str, Any] | None = None) -> bytes:
    message = {"type": "event", "payload": payload or {"kind": "interaction", "id": 7, "version": 2}}
    return json.dumps({"group": group, "message": message}).encode()


def _post(body: bytes, headers: dict[str, str]) -> Any:
    return Client().post(
        reverse("core:event-relay"), data=body, content_type="application/json", headers=headers
    )


def _signed(body: bytes, at: float | None = None) -> dict[str, str]:
    timestamp, nonce = str(int(time.time() if at is None else at)), secrets.token_hex(16)
    return {TIMESTAMP_HEADER: timestamp, NONCE_HEADER: nonce, SIGNATURE_HEADER: sign(body, timestamp, nonce)}


# --- the endpoint ------------------------------------------------------------------------------


def test_a_signed_event_is_sent_to_its_group_on_the_web_process_layer(layer: RelayChannelLayer) -> None:
    channel = _subscribe(layer, "wallboard")
    body = _body()

    response = _post(body, _signed(body))

    assert response.status_code == 204
    assert _received(layer, channel) == {
        "type": "event",
        "payload": {"kind": "interaction", "id": 7, "version": 2},
    }


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="unsigned"),
        pytest.param("no-signature", id="timestamp-and-nonce-without-signature"),
        pytest.param("no-nonce", id="signature-without-its-nonce"),
        pytest.param("forged", id="forged"),
        pytest.param("other-body", id="signature-of-another-body"),
        pytest.param("stale", id="older-than-the-replay-window"),
        pytest.param("future", id="newer-than-the-replay-window"),
        pytest.param("not-a-number", id="bad-timestamp"),
    ],
)
def test_an_unsigned_forged_or_stale_event_is_refused_and_nothing_is_sent(
    layer: RelayChannelLayer, headers: Any
) -> None:
    channel = _subscribe(layer, "wallboard")
    body = _body()
    now = int(time.time())
    if headers == "no-signature":
        headers = {TIMESTAMP_HEADER: str(now), NONCE_HEADER: "n1"}
    elif headers == "no-nonce":
        headers = {**_signed(body), NONCE_HEADER: ""}
    elif headers == "forged":
        headers = {TIMESTAMP_HEADER: str(now), NONCE_HEADER: "n1", SIGNATURE_HEADER: "0" * 64}
    elif headers == "other-body":
        headers = _signed(_body(payload={"kind": "agent", "id": 1, "version": 1}))
    elif headers == "stale":
        headers = _signed(body, at=now - 31)
    elif headers == "future":
        # Well past the window: `now` is truncated and the POST comes later, both of which bring
        # a timestamp of now + 31 back inside it on a slow run.
        headers = _signed(body, at=now + 40)
    elif headers == "not-a-number":
        headers = {TIMESTAMP_HEADER: "soon", NONCE_HEADER: "n1", SIGNATURE_HEADER: sign(body, "soon", "n1")}

    response = _post(body, headers)

    assert response.status_code == 403
    assert _received(layer, channel) is None


def test_a_signature_signed_with_another_secret_key_is_refused(
    layer: RelayChannelLayer, settings: Any
) -> None:
    channel = _subscribe(layer, "wallboard")
    body = _body()
    settings.SECRET_KEY = "another-stack-another-key-0123456789-0123456789-0123456789"
    headers = _signed(body)
    settings.SECRET_KEY = "this-stack-s-own-key-0123456789-0123456789-0123456789-012"

    response = _post(body, headers)

    assert response.status_code == 403
    assert _received(layer, channel) is None


def test_a_replayed_request_is_refused_but_the_same_event_sent_again_is_not(layer: RelayChannelLayer) -> None:
    channel = _subscribe(layer, "wallboard")
    body = _body()
    headers = _signed(body)

    first, replayed, sent_again = _post(body, headers), _post(body, headers), _post(body, _signed(body))

    assert (first.status_code, replayed.status_code, sent_again.status_code) == (204, 403, 204)
    assert _received(layer, channel) is not None
    assert _received(layer, channel) is not None
    assert _received(layer, channel) is None


def test_a_signed_request_that_is_not_a_group_message_is_a_bad_request(layer: RelayChannelLayer) -> None:
    channel = _subscribe(layer, "wallboard")
    body = json.dumps({"group": "wallboard", "message": "not a dict"}).encode()

    response = _post(body, _signed(body))

    assert response.status_code == 400
    assert _received(layer, channel) is None


def test_the_endpoint_takes_only_post_and_needs_no_session_or_csrf(layer: RelayChannelLayer) -> None:
    client = Client(enforce_csrf_checks=True)
    body = _body()

    assert client.get(reverse("core:event-relay")).status_code == 405
    signed = client.post(
        reverse("core:event-relay"), data=body, content_type="application/json", headers=_signed(body)
    )
    assert signed.status_code == 204


# --- the relaying side -------------------------------------------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A stand-in for the web process at the HTTP boundary: records what the relay POSTs."""
    _Recorder.received = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/internal/events/", _Recorder.received
    finally:
        server.shutdown()
        server.server_close()


def test_with_a_relay_url_group_send_posts_a_signed_message_instead_of_delivering_here(
    recorder: tuple[str, list[tuple[dict[str, str], bytes]]],
) -> None:
    url, received = recorder
    layer = RelayChannelLayer(relay_url=url)
    local = _subscribe(layer, "agent.5")

    async_to_sync(layer.group_send)("agent.5", {"type": "event", "payload": {"kind": "agent", "id": 5}})

    assert len(received) == 1
    headers, body = received[0]
    assert json.loads(body) == {
        "group": "agent.5",
        "message": {"type": "event", "payload": {"kind": "agent", "id": 5}},
    }
    assert headers[SIGNATURE_HEADER] == sign(body, headers[TIMESTAMP_HEADER], headers[NONCE_HEADER])
    assert abs(int(headers[TIMESTAMP_HEADER]) - time.time()) < 5
    assert _received(layer, local) is None


def test_a_relay_that_cannot_reach_the_web_process_logs_and_does_not_raise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    layer = RelayChannelLayer(relay_url=f"http://127.0.0.1:{port}/internal/events/", relay_timeout=0.5)

    delivered = layer.relay("wallboard", {"type": "event", "payload": {"kind": "agent", "id": 1}})
    paused = layer.relay("wallboard", {"type": "event", "payload": {"kind": "agent", "id": 2}})

    assert (delivered, paused) == (False, False)
    assert [r.levelname for r in caplog.records if r.name == "apps.core.layers"] == ["WARNING"]


# --- end to end: the processes of `make run` ---------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SESSION_SCRIPT = """
import django
django.setup()
from django.test import Client
from apps.accounts.roles import Role
from apps.accounts.services import user_create
user = user_create(username="relay-supervisor", password="pw-for-tests-1", roles=[Role.SUPERVISOR])
client = Client()
client.force_login(user)
print(client.cookies["sessionid"].value)
"""

# Another process writes through the services, which publish after commit (apps.interactions.events).
PUBLISH_SCRIPT = """
import django
django.setup()
from apps.core.actors import SYSTEM
from apps.interactions import services
from apps.interactions.models import Queue
queue, _ = Queue.objects.get_or_create(name="Relay test", defaults={"channels": ["chat"]})
print(services.interaction_enqueue(actor=SYSTEM, queue=queue, channel="chat").pk)
"""


def _embedded_env(var_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SWITCHBOARD_EVENT_RELAY", "SQLITE_PATH"}
    }
    env["SWITCHBOARD_VAR_DIR"] = str(var_dir)
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return env


def _python(script: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_an_event_published_in_another_process_reaches_the_wallboard_websocket_of_daphne(
    tmp_path: Path,
) -> None:
    from websockets.asyncio.client import connect

    env = _embedded_env(tmp_path / "var")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300
    )
    session = _python(SESSION_SCRIPT, env)
    port = _free_port()
    log = (tmp_path / "daphne.log").open("w")
    web = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    relayed_env = {**env, "SWITCHBOARD_EVENT_RELAY": f"http://127.0.0.1:{port}/internal/events/"}

    async def wallboard_sees(interaction_id: int, within: float, ws: Any) -> bool:
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = json.loads(await asyncio.wait_for(ws.recv(), timeout=left))
            except TimeoutError:
                return False
            if event.get("kind") == "interaction" and event.get("id") == interaction_id:
                return True
        return False

    async def scenario() -> tuple[bool, bool]:
        async with connect(
            f"ws://127.0.0.1:{port}/ws/wallboard/",
            origin=f"http://127.0.0.1:{port}",  # type: ignore[arg-type]
            additional_headers={"Cookie": f"sessionid={session}"},
            open_timeout=10,
        ) as ws:
            # Control: without the relay, the other process's event stays in its own layer.
            unrelayed = int(await asyncio.to_thread(_python, PUBLISH_SCRIPT, env))
            seen_unrelayed = await wallboard_sees(unrelayed, 1.5, ws)
            relayed = int(await asyncio.to_thread(_python, PUBLISH_SCRIPT, relayed_env))
            seen_relayed = await wallboard_sees(relayed, 10, ws)
            return seen_unrelayed, seen_relayed

    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2) as response:
                    assert response.status == 200
                break
            except OSError:
                time.sleep(0.25)
        assert web.poll() is None, (tmp_path / "daphne.log").read_text()
        seen_unrelayed, seen_relayed = asyncio.run(scenario())
    finally:
        web.terminate()
        web.wait(timeout=15)
        log.close()

    assert (seen_unrelayed, seen_relayed) == (False, True), (tmp_path / "daphne.log").read_text()
