"""The production profile under a burst of chats never runs PostgreSQL out of connections.

Two daphne processes, a Celery worker (two prefork children) and beat run on PostgreSQL and
Redis as they do in production, but as a database role limited to CONNECTION_LIMIT connections
(no server restart: the limit is the role's). Agents are signed in over websockets; chats are
created over the API by many threads at once, and every agent accepts, ends and wraps up its
offers over HTTP while reloading its desk and listing its offers. Then: no 5xx, no "too many"
connections error in any log, every chat closed, and the role's connections (sampled from
pg_stat_activity) never above what the pools allow, let alone the limit.

Without the pools (DATABASE_POOL=false, each thread keeping its own connection) the same run
hits the limit: daphne runs each request's sync code in a thread of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from apps.interactions.models import Disposition, DispositionCategory, Interaction, InteractionStatus
from tests.conftest import require_postgres, require_redis
from tests.daphne_helpers import (
    Daphne,
    WebsocketClient,
    database_url_of_current_connection,
    running_celery,
    running_daphne,
    session_cookie,
    ws_connect,
)
from tests.interactions.factories import make_agent, make_queue

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

CONNECTION_LIMIT = 20
# Pool sizes per process, as README "Database connections" sizes them: 2 daphne x 4, the worker's
# main process and its 2 children x 1, beat x 1 = 12, well under the limit with headroom.
DAPHNE_POOL_MAX = 4
WORKER_CONCURRENCY = 2
POOL_BUDGET = 2 * DAPHNE_POOL_MAX + (1 + WORKER_CONCURRENCY) * 1 + 1
CHATS = 40
CREATING_THREADS = 20
AGENTS = 8
RUN_SECONDS = 90


class Traffic:
    """Every HTTP answer the run got, by status, with the 5xx ones kept for the report."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: dict[int, int] = {}
        self.server_errors: list[str] = []

    def request(
        self,
        daphne: Daphne,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        body: dict[str, Any] | None = None,
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            daphne.url(path),
            data=data,
            headers={**headers, "Content-Type": "application/json", "Accept": "application/json"},
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our daphne
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status >= 500:
                self.server_errors.append(f"{method} {path} -> {status}: {raw[:300]!r}")
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw


class ConnectionSampler(threading.Thread):
    """Counts the limited role's backends in pg_stat_activity every 50 ms, as a superuser (whose
    connection the role's limit does not count)."""

    def __init__(self, conninfo: str, role: str) -> None:
        super().__init__(daemon=True)
        self.conninfo, self.role = conninfo, role
        self.peak = 0
        self.peak_by_process: dict[str, int] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            while not self.halt.is_set():
                rows = conn.execute(
                    "SELECT application_name, count(*) FROM pg_stat_activity WHERE usename = %s GROUP BY 1",
                    (self.role,),
                ).fetchall()
                self.peak = max(self.peak, sum(count for _, count in rows))
                for name, count in rows:
                    self.peak_by_process[name] = max(self.peak_by_process.get(name, 0), count)
                time.sleep(0.05)


@contextlib.contextmanager
def limited_role(name: str) -> Iterator[str]:
    """A login role allowed CONNECTION_LIMIT connections, with the rights the app needs on the test
    database's tables; yields its DATABASE_URL. Dropped afterwards, its backends first."""
    s = connection.settings_dict
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name])
        if cursor.fetchone():
            cursor.execute(f'DROP OWNED BY "{name}"')
            cursor.execute(f'DROP ROLE "{name}"')
        cursor.execute(f'CREATE ROLE "{name}" LOGIN NOSUPERUSER CONNECTION LIMIT {CONNECTION_LIMIT}')
        cursor.execute(f'GRANT CONNECT ON DATABASE "{s["NAME"]}" TO "{name}"')
        cursor.execute(f'GRANT USAGE ON SCHEMA public TO "{name}"')
        cursor.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{name}"')
        cursor.execute(f'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO "{name}"')
    host, port = s.get("HOST") or "127.0.0.1", s.get("PORT") or 5432
    try:
        yield f"postgres://{name}@{host}:{port}/{s['NAME']}"
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [name]
            )
            cursor.execute(f'DROP OWNED BY "{name}"')
            cursor.execute(f'DROP ROLE "{name}"')


def _superuser_conninfo() -> str:
    s = connection.settings_dict
    password = f" password={s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"host={s.get('HOST') or '127.0.0.1'} port={s.get('PORT') or 5432} dbname={s['NAME']} user={s['USER']}{password}"


def _agent_works(
    traffic: Traffic,
    daphne: Daphne,
    *,
    username: str,
    token: str,
    cookie: str,
    done: threading.Event,
    deadline: float,
) -> int:
    """One agent at work: list its offers (the API GET), reload its desk, and take each offer
    through accept, end and wrap-up. Returns how many it wrapped up."""
    api = {"Authorization": f"Token {token}"}
    wrapped = 0
    while not done.is_set() and time.monotonic() < deadline:
        traffic.request(daphne, "GET", "/desk/", headers={"Cookie": cookie})
        status, page = traffic.request(daphne, "GET", "/api/v1/interactions/?status=offered", headers=api)
        mine = (
            [row["id"] for row in page["results"] if row["agent_username"] == username]
            if status == 200
            else []
        )
        for pk in mine:
            status, _ = traffic.request(daphne, "POST", f"/api/v1/interactions/{pk}/accept/", headers=api)
            if status != 200:  # taken back from this agent meanwhile (its offer timed out): next one
                continue
            traffic.request(daphne, "POST", f"/api/v1/interactions/{pk}/end/", headers=api)
            status, _ = traffic.request(
                daphne,
                "POST",
                f"/api/v1/interactions/{pk}/wrap-up/",
                headers=api,
                body={"disposition": "resolved"},
            )
            wrapped += status == 200
        if not mine:
            time.sleep(0.2)
    return wrapped


def test_a_burst_of_chats_stays_within_the_database_connection_limit(
    transactional_db: None, make_user: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a queue, agents with chat capacity, a supervisor who creates chats over the API,
    # and the whole production profile running as a role limited to CONNECTION_LIMIT connections
    require_postgres()
    redis_url = require_redis()
    queue = make_queue(channels=["chat"])
    Disposition.objects.create(code="resolved", label="Resolved", category=DispositionCategory.RESOLVED)
    agents = [make_agent(queue, capacity={"chat": 3}) for _ in range(AGENTS)]
    supervisor = make_user("Supervisor")
    supervisor_token = Token.objects.create(user=supervisor).key
    agent_tokens = [Token.objects.create(user=a.user).key for a in agents]
    agent_cookies = [session_cookie(a.user) for a in agents]
    # A pool wait must never turn into an error here: a slow shared machine may keep every
    # connection busy for a while, and the test is about the limit, not about latency.
    monkeypatch.setenv("DATABASE_POOL_TIMEOUT", "60")
    monkeypatch.setenv("DATABASE_POOL_MIN_SIZE", "0")

    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(limited_role(f"switchboard_profile_{os.getpid()}"))
        sampler = ConnectionSampler(_superuser_conninfo(), f"switchboard_profile_{os.getpid()}")
        sampler.start()
        stack.callback(sampler.join, 10)
        stack.callback(sampler.halt.set)
        daphnes = []
        for name in ("one", "two"):
            monkeypatch.setenv("PGAPPNAME", f"daphne-{name}")
            monkeypatch.setenv("DATABASE_POOL_MAX_SIZE", str(DAPHNE_POOL_MAX))
            daphnes.append(
                stack.enter_context(
                    running_daphne(
                        database_url=database_url, redis_url=redis_url, log_dir=tmp_path, name=name
                    )
                )
            )
        small_pool = {"DATABASE_POOL_MAX_SIZE": "1"}
        stack.enter_context(
            running_celery(
                command="worker",
                database_url=database_url,
                redis_url=redis_url,
                log_dir=tmp_path,
                extra_args=(
                    "--pool",
                    "prefork",
                    "--concurrency",
                    str(WORKER_CONCURRENCY),
                    "--without-mingle",
                ),
                extra_env={**small_pool, "PGAPPNAME": "worker"},
                ready_text="ready.",
            )
        )
        stack.enter_context(
            running_celery(
                command="beat",
                database_url=database_url,
                redis_url=redis_url,
                log_dir=tmp_path,
                extra_args=("--schedule", str(tmp_path / "beat-schedule")),
                extra_env={**small_pool, "PGAPPNAME": "beat"},
                ready_text="beat: Starting",
            )
        )
        traffic = Traffic()

        async def sign_in() -> list[WebsocketClient]:
            return [
                await ws_connect(
                    daphnes[i % 2].port, "/ws/agent/", cookie=agent_cookies[i], origin=daphnes[i % 2].origin
                )
                for i in range(AGENTS)
            ]

        loop = asyncio.new_event_loop()
        stack.callback(loop.close)
        sockets = loop.run_until_complete(sign_in())

        async def sign_out() -> None:
            for socket in sockets:
                await socket.close()

        stack.callback(lambda: loop.run_until_complete(sign_out()))

        # When chats arrive in a burst over both daphnes and the agents work them over HTTP
        deadline = time.monotonic() + RUN_SECONDS
        done = threading.Event()
        create_headers = {"Authorization": f"Token {supervisor_token}"}

        def create(n: int) -> int:
            status, _ = traffic.request(
                daphnes[n % 2],
                "POST",
                "/api/v1/interactions/",
                headers=create_headers,
                body={"queue": queue.pk, "channel": "chat"},
            )
            return status

        with ThreadPoolExecutor(CREATING_THREADS + AGENTS) as pool:
            workers = [
                pool.submit(
                    _agent_works,
                    traffic,
                    daphnes[i % 2],
                    username=agents[i].user.username,
                    token=agent_tokens[i],
                    cookie=agent_cookies[i],
                    done=done,
                    deadline=deadline,
                )
                for i in range(AGENTS)
            ]
            created = list(pool.map(create, range(CHATS)))
            while (
                time.monotonic() < deadline
                and Interaction.objects.filter(status=InteractionStatus.CLOSED).count() < CHATS
            ):
                time.sleep(0.5)
            done.set()
            wrapped = sum(f.result() for f in workers)
        logs = {log.name: log.read_text(errors="replace") for log in tmp_path.glob("*.log")}

    # Then nothing failed, nothing is left open, and the connections stayed within the pools
    too_many = {name: text.count("too many") for name, text in logs.items() if "too many" in text}
    assert traffic.server_errors == [], (
        f"{len(traffic.server_errors)} 5xx, first: {traffic.server_errors[:2]}"
    )
    assert too_many == {}
    assert created == [201] * CHATS
    assert (wrapped, Interaction.objects.exclude(status=InteractionStatus.CLOSED).count()) == (CHATS, 0)
    assert sampler.peak <= POOL_BUDGET, sampler.peak_by_process
    assert sampler.peak <= CONNECTION_LIMIT
    assert set(traffic.statuses) <= {200, 201, 409}, traffic.statuses


def test_a_request_that_finds_every_connection_busy_gets_a_503_and_changes_nothing(
    transactional_db: None, make_user: Any, agent: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a daphne whose pool holds one connection, and that connection stuck behind a lock the
    # test holds on the API tokens (the first request's authentication waits for it)
    require_postgres()
    queue = make_queue(channels=["chat"])
    token = Token.objects.create(user=make_user("Supervisor")).key
    cookie = session_cookie(agent)
    monkeypatch.setenv("DATABASE_POOL_MIN_SIZE", "0")
    monkeypatch.setenv("DATABASE_POOL_MAX_SIZE", "1")
    monkeypatch.setenv("DATABASE_POOL_TIMEOUT", "1")
    monkeypatch.setenv("PGAPPNAME", "daphne-one-connection")
    traffic = Traffic()
    api = {"Authorization": f"Token {token}"}
    with (
        running_daphne(
            database_url=database_url_of_current_connection(), redis_url="", log_dir=tmp_path, name="small"
        ) as daphne,
        psycopg.connect(_superuser_conninfo()) as lock_holder,
        ThreadPoolExecutor(1) as pool,
    ):
        lock_holder.execute("LOCK TABLE authtoken_token IN ACCESS EXCLUSIVE MODE")
        stuck = pool.submit(traffic.request, daphne, "GET", "/api/v1/interactions/", headers=api)
        _wait_for_a_backend_waiting_on_a_lock("daphne-one-connection")

        # When more requests come while it waits
        api_status, api_body = _raw(daphne, "POST", "/api/v1/interactions/", api, {"queue": queue.pk})
        page_status, page_body = _raw(daphne, "GET", "/desk/", {"Cookie": cookie}, None)
        lock_holder.rollback()
        stuck_status, _ = stuck.result(timeout=60)

    # Then each gets a 503 it can act on, nothing was created, and the waiting request is served
    message = (
        "The service is busy right now and could not take this request; nothing was changed. "
        "Please try again in 5 seconds."
    )
    assert api_status == (503, "5", "application/json")
    assert json.loads(api_body) == {"detail": message, "code": "database_busy"}
    assert page_status == (503, "5", "text/plain; charset=utf-8")
    assert page_body.decode() == message
    assert Interaction.objects.count() == 0
    assert stuck_status == 200


def _raw(
    daphne: Daphne, method: str, path: str, headers: dict[str, str], body: dict[str, Any] | None
) -> tuple[tuple[int, str | None, str | None], bytes]:
    """(status, Retry-After, Content-Type) and the body of one request."""
    request = urllib.request.Request(
        daphne.url(path),
        data=json.dumps(body).encode() if body is not None else None,
        headers={**headers, "Content-Type": "application/json"},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our daphne
            return (
                response.status,
                response.headers["Retry-After"],
                response.headers["Content-Type"],
            ), response.read()
    except urllib.error.HTTPError as error:
        return (error.code, error.headers["Retry-After"], error.headers["Content-Type"]), error.read()


def _wait_for_a_backend_waiting_on_a_lock(application_name: str) -> None:
    deadline = time.monotonic() + 30
    with psycopg.connect(_superuser_conninfo(), autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'",
                (application_name,),
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.1)
    raise AssertionError(f"no backend of {application_name} waits on the lock")
