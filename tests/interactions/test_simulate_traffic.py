"""`manage.py simulate_traffic`: simulated customers and agents go through the real services, end
with every interaction's history complete and every agent within capacity, and repeat a run
exactly from the same seed and database."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.management import call_command

from apps.core.actors import SYSTEM, SystemActor
from apps.customers.services.customers import ContactInput, customer_create
from apps.interactions import services
from apps.interactions.events import WALLBOARD_GROUP
from apps.interactions.models import (
    HOLDING_STATUSES,
    TEXT_CHANNELS,
    AgentCapacity,
    AgentProfile,
    Interaction,
    InteractionEvent,
    Presence,
    Queue,
    QueueSkill,
)
from tests.interactions.factories import make_agent

ROOT = Path(__file__).resolve().parents[2]
CLOSED_CHAIN = ["queued", "offered", "accepted", "ended", "closed"]
ABANDONED_CHAIN = ["queued", "abandoned"]
RUN = [
    "--fast",
    "--seed=11",
    "--iterations=240",
    "--tick=0.5",
    "--rate=10",
    "--agents=3",
    "--patience=15",
    "--accept-delay=2",
    "--handle-time=12",
    "--wrap-up=3",
    "--message-every=3",
]


def _customers(count: int = 6) -> None:
    for n in range(1, count + 1):
        customer_create(
            actor=SystemActor("test setup"),
            first_name=f"Caller{n}",
            last_name="Demo",
            external_id=f"demo-sim-{n}",
            contacts=[
                ContactInput(kind="phone", value=f"+1415555{n:04d}"),
                ContactInput(kind="email", value=f"caller{n}@example.com"),
            ],
        )


def _state_changes(interaction: Interaction) -> list[str]:
    """The kinds of the interaction's events that changed its status (call-control events such
    as a voice gateway's hang-up are not state changes)."""
    return [
        kind
        for kind, before, after in interaction.events.order_by("at", "pk").values_list(
            "kind", "from_status", "to_status"
        )
        if before != after
    ]


@pytest.mark.django_db(transaction=True)
def test_a_short_run_queues_offers_closes_and_abandons_with_complete_histories(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "apps.core.layers.RelayChannelLayer", "CONFIG": {"capacity": 100_000}}
    }
    layer = get_channel_layer()
    wallboard = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(WALLBOARD_GROUP, wallboard)
    call_command("seed_contact_center", "--sim-agents=3", stdout=StringIO())
    _customers()
    support = Queue.objects.get(name="Support")
    human = make_agent(support, username="agent", skills={QueueSkill.objects.get(queue=support).skill: 3})
    out = StringIO()

    call_command("simulate_traffic", *RUN, stdout=out)

    interactions = list(Interaction.objects.select_related("queue__disposition_set", "disposition"))
    statuses = Counter(i.status for i in interactions)
    assert statuses["closed"] >= 5 and statuses["abandoned"] >= 1, statuses
    chains = {i.pk: _state_changes(i) for i in interactions}
    for interaction in interactions:
        chain = chains[interaction.pk]
        if interaction.status == "closed":
            assert chain == CLOSED_CHAIN, (interaction.pk, chain)
            assert interaction.queue is not None and interaction.queue.disposition_set is not None
            assert interaction.disposition in interaction.queue.disposition_set.dispositions.all()
            assert not interaction.disposition.marks_dnc and not interaction.disposition.needs_callback_time
            if interaction.channel in TEXT_CHANNELS:
                directions = set(interaction.messages.values_list("direction", flat=True))
                assert directions == {"inbound", "outbound"}, interaction.pk
        elif interaction.status == "abandoned":
            assert chain == ABANDONED_CHAIN, (interaction.pk, chain)
        else:  # still going when the run stopped
            assert chain in (CLOSED_CHAIN[:n] for n in (1, 2, 3, 4)), (interaction.pk, chain)
        assert interaction.customer_id is not None and interaction.contact
    # Offered to the human demo agent, but never answered for them.
    assert not InteractionEvent.objects.filter(agent__user__username="agent", kind="accepted").exists()
    assert InteractionEvent.objects.filter(agent=human, kind="offered").exists()
    # Within capacity, and each load is exactly what the agent holds.
    for capacity in AgentCapacity.objects.all():
        held = Interaction.objects.filter(
            agent_id=capacity.agent_id, channel=capacity.channel, status__in=HOLDING_STATUSES
        ).count()
        assert capacity.load == held <= capacity.capacity, capacity
    sim_agents = AgentProfile.objects.filter(user__username__startswith="sim-agent-")
    assert sim_agents.count() == 3
    assert set(sim_agents.values_list("presence", flat=True)) == {Presence.OFFLINE}  # a clean exit
    # The wallboard heard every step of every closed interaction, in order.
    published: dict[int, list[tuple[int, str]]] = {}

    async def drain() -> None:
        while True:
            try:
                message = await asyncio.wait_for(layer.receive(wallboard), timeout=0.05)
            except TimeoutError:
                return
            payload = message["payload"]
            if payload["kind"] == "interaction":
                published.setdefault(payload["id"], []).append((payload["version"], payload["status"]))

    async_to_sync(drain)()
    for interaction in interactions:
        if interaction.status == "closed":
            seen = published[interaction.pk]
            statuses = [status for _, status in seen]
            # Seen queued unless an agent was free when it arrived (then offered in the same commit).
            assert statuses in (
                ["queued", "offered", "active", "wrap_up", "closed"],
                ["offered", "active", "wrap_up", "closed"],
            ), seen
            versions = [version for version, _ in seen]
            assert versions == sorted(set(versions)) and versions[-1] == interaction.version
    assert "Simulated 240 ticks (120 s): arrivals" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_bad_options_are_refused_before_anything_runs() -> None:
    from django.core.management.base import CommandError

    for bad in (
        ["--channels=fax=1"],
        ["--channels=chat=x"],
        ["--channels=chat=0"],
        ["--tick=0"],
        ["--rate=-1"],
    ):
        with pytest.raises(CommandError):
            call_command("simulate_traffic", "--iterations=1", *bad, stdout=StringIO())
    assert not Interaction.objects.exists()


SETUP_SCRIPT = """
import django
django.setup()
from django.core.management import call_command
from apps.core.actors import SystemActor
from apps.customers.services.customers import ContactInput, customer_create
call_command("seed_contact_center", "--sim-agents=3")
for n in range(1, 7):
    customer_create(actor=SystemActor("test setup"), first_name=f"Caller{n}", external_id=f"demo-sim-{n}", contacts=[
        ContactInput(kind="phone", value=f"+1415555{n:04d}"), ContactInput(kind="email", value=f"c{n}@example.com")])
"""


def _history(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            """
            SELECT i.id, i.channel, i.queue_id, i.agent_id, i.status, i.disposition_id, i.customer_id, i.contact,
                   (SELECT group_concat(e.kind, ',') FROM interactions_interactionevent e WHERE e.interaction_id = i.id),
                   (SELECT count(*) FROM interactions_message m WHERE m.interaction_id = i.id)
            FROM interactions_interaction i ORDER BY i.id
            """
        ).fetchall()
    return rows


@pytest.mark.slow
def test_the_same_seed_on_the_same_database_repeats_the_run(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SWITCHBOARD_EVENT_RELAY", "SQLITE_PATH"}
    }
    env["SWITCHBOARD_VAR_DIR"] = str(tmp_path / "var")
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300
    )
    subprocess.run([sys.executable, "-c", SETUP_SCRIPT], cwd=ROOT, env=env, check=True, timeout=120)
    seeded = tmp_path / "var" / "db.sqlite3"
    outputs, histories = [], []
    for name in ("first", "second"):
        copy = tmp_path / f"{name}.sqlite3"
        shutil.copy(seeded, copy)
        done = subprocess.run(
            [sys.executable, "manage.py", "simulate_traffic", *RUN],
            cwd=ROOT,
            env={**env, "SQLITE_PATH": str(copy)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout.strip().splitlines()[-1])
        histories.append(_history(copy))

    assert outputs[0] == outputs[1]
    assert histories[0] == histories[1]
    assert len(histories[0]) > 10
    assert json.dumps(histories[0]).count("abandoned") >= 1


@pytest.mark.django_db(transaction=True)
def test_simulated_agents_dial_the_previews_they_accept() -> None:
    call_command("seed_contact_center", "--sim-agents=2", stdout=StringIO())
    sales = Queue.objects.get(name="Sales")
    preview = services.interaction_enqueue(
        actor=SYSTEM,
        queue=sales,
        channel="voice",
        direction="outbound",
        contact="+14155550177",
        subject="Preview",
    )

    call_command("simulate_traffic", "--fast", "--seed=3", "--iterations=40", "--tick=0.5", "--rate=0",
                 "--agents=2", "--accept-delay=1", stdout=StringIO())  # fmt: skip

    preview.refresh_from_db()
    assert preview.dialed_at is not None
    assert preview.events.filter(kind="dialing", data__preview=True).exists()
