"""Real daphne processes and websocket clients for tests and benchmarks that need the whole path
(HTTP or a service -> channel layer -> daphne -> browser socket) rather than Channels'
in-process communicator.

The websocket client is a small RFC 6455 client on asyncio streams (below, with why). Every
received message is stamped with time.perf_counter() on arrival, which the latency benchmarks
use.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.db import connection
from django.test import Client

from apps.accounts.models import User

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url_of_current_connection() -> str:
    """A DATABASE_URL naming the database this process is connected to (under pytest-django,
    the test database), so a subprocess sees the rows a transactional test commits."""
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{s['NAME']}"


class Daphne:
    """One daphne process serving config.asgi on 127.0.0.1:<port>."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_kib(self) -> int:
        """Resident set size now, from /proc (Linux)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError(f"no VmRSS for pid {self.pid}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _wait_ready(daphne: Daphne, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daphne.process.poll() is not None:
            raise RuntimeError(f"daphne exited with {daphne.process.returncode}:\n{daphne.log_tail()}")
        try:
            with urllib.request.urlopen(daphne.url("/login/"), timeout=2) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as error:
            if error.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"daphne on port {daphne.port} not ready after {timeout}s:\n{daphne.log_tail()}")


@contextlib.contextmanager
def running_daphne(
    *, database_url: str, redis_url: str, log_dir: Path, name: str = "daphne", verbosity: int = 1
) -> Iterator[Daphne]:
    """Start daphne with the given database and Redis (channel layer), wait until it answers
    HTTP, and stop it (SIGTERM, then SIGKILL) on exit."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    log = log_dir / f"{name}-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "-v",
                str(verbosity),
                "config.asgi:application",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    daphne = Daphne(process, port, log)
    try:
        _wait_ready(daphne, timeout=60)
        yield daphne
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def session_cookie(user: User) -> str:
    """A signed-in session of the user, stored in the database the daphne processes share."""
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


# -- websocket client ----------------------------------------------------------------------------
# A minimal RFC 6455 client on asyncio streams. autobahn's asyncio client cannot be used in a
# process that has imported daphne (txaio is then bound to Twisted), and the few frames these
# tests exchange (small JSON text messages, close, ping) need no more than this.


class WebsocketRefused(ConnectionError):
    """The server answered the handshake with something other than 101 (e.g. 403)."""


class WebsocketClient:
    """A connected socket. A reader task takes every frame as it arrives and queues
    (arrival perf_counter, decoded JSON), so an arrival is stamped when it happens, not when the
    test gets round to reading it; `receive()` takes the next one from that queue."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.inbox: asyncio.Queue[tuple[float, Any]] = asyncio.Queue()
        self.server_closed = asyncio.Event()
        self._closing = False
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _frame(self) -> tuple[int, bytes]:
        head = await self._reader.readexactly(2)
        opcode, size = head[0] & 0x0F, head[1] & 0x7F
        if size == 126:
            size = struct.unpack("!H", await self._reader.readexactly(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", await self._reader.readexactly(8))[0]
        mask = await self._reader.readexactly(4) if head[1] & 0x80 else b""
        payload = await self._reader.readexactly(size)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return opcode, payload

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self._writer.write(head + mask + masked)

    async def _read(self) -> None:
        try:
            while True:
                opcode, payload = await self._frame()
                if opcode == 0x8:  # close (the server's, or its answer to ours)
                    if not self._closing:
                        self._send_frame(0x8, payload[:2])
                    return
                if opcode == 0x9:  # ping
                    self._send_frame(0xA, payload)
                elif opcode in (0x1, 0x2):
                    # Servers here send whole messages: one data frame is one message.
                    self.inbox.put_nowait((time.perf_counter(), json.loads(payload)))
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            self.server_closed.set()

    async def receive(self, timeout: float = 10) -> tuple[float, Any]:
        return await asyncio.wait_for(self.inbox.get(), timeout)

    async def receive_json(self, timeout: float = 10) -> Any:
        return (await self.receive(timeout))[1]

    async def send_json(self, content: Any) -> None:
        self._send_frame(0x1, json.dumps(content).encode())
        await self._writer.drain()

    async def close(self, timeout: float = 10) -> None:
        """Close handshake: send close, wait for the server's close frame, drop the TCP link."""
        try:
            if not self.server_closed.is_set():
                self._closing = True
                with contextlib.suppress(ConnectionError):
                    self._send_frame(0x8, struct.pack("!H", 1000))
                    await self._writer.drain()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.server_closed.wait(), timeout)
        finally:
            self._task.cancel()
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()


async def ws_connect(
    port: int, path: str, *, cookie: str, origin: str, timeout: float = 10
) -> WebsocketClient:
    """Open ws://127.0.0.1:<port><path> with the session cookie and Origin; raises
    WebsocketRefused when the server refuses the handshake (e.g. a consumer closing before it
    accepts gets HTTP 403 from daphne)."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {origin}\r\nCookie: {cookie}\r\n\r\n"
        )
        writer.write(request.encode())
        await writer.drain()
        response = await reader.readuntil(b"\r\n\r\n")
    status_line = response.split(b"\r\n", 1)[0].decode()
    if " 101 " not in f"{status_line} ":
        writer.close()
        raise WebsocketRefused(status_line)
    headers = dict(line.split(":", 1) for line in response.decode("latin-1").split("\r\n")[1:] if ":" in line)
    accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()  # noqa: S324 - RFC 6455
    if {k.strip().lower(): v.strip() for k, v in headers.items()}.get("sec-websocket-accept") != accept:
        writer.close()
        raise WebsocketRefused(f"bad Sec-WebSocket-Accept in {response!r}")
    return WebsocketClient(reader, writer)


_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# -- Celery processes ----------------------------------------------------------------------------


@contextlib.contextmanager
def running_celery(
    *,
    command: str,
    database_url: str,
    redis_url: str,
    log_dir: Path,
    extra_args: tuple[str, ...] = (),
    extra_env: dict[str, str] | None = None,
    ready_text: str,
    timeout: float = 60,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `celery -A config <command>` (worker or beat) on the given database and Redis (its
    broker too), wait until its log shows `ready_text`, and stop it (SIGTERM, then SIGKILL)."""
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, **(extra_env or {})}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env.pop("CELERY_BROKER_URL", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    log = log_dir / f"celery-{command}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", command, "-l", "INFO", *extra_args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout
        while ready_text not in log.read_text(errors="replace"):
            if process.poll() is not None:
                raise RuntimeError(
                    f"celery {command} exited with {process.returncode}:\n{log.read_text()[-4000:]}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"celery {command} not ready after {timeout}s:\n{log.read_text()[-4000:]}")
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
