"""Several processes dialling one campaign at once on PostgreSQL: two ticks never take one lead.

Each worker is a process of its own, started with multiprocessing's "spawn" (a fresh
interpreter that sets Django up and connects to the test database, as a second Celery worker
would; nothing is inherited from the test's process but the environment):

- four processes claim from one campaign's hopper in batches until it is empty: every lead is
  claimed exactly once, none is lost;
- four processes run the campaign's tick over and over (progressive dialling, so they also race
  for the same free agents) while ending the calls they placed as not answered, which frees the
  agents: every lead is dialled exactly once (one attempt, one call) and passed the gate, and
  no agent ever held two calls.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import time
from typing import Any

import django
from django.apps import apps as django_apps

if not django_apps.ready:  # a spawned worker imports this module to find its target
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()

import pytest  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.db.models import Count  # noqa: E402

from apps.campaigns.dialer.hopper import hopper_claim  # noqa: E402
from apps.campaigns.dialer.tick import campaign_tick  # noqa: E402
from apps.campaigns.models import Campaign, ContactLog, DialMode, Lead, LeadAttempt, LeadStatus  # noqa: E402
from apps.core.actors import SystemActor  # noqa: E402
from apps.interactions.models import (  # noqa: E402
    PLACING_STATUSES,
    CallOutcome,
    Interaction,
    InteractionEvent,
)
from apps.interactions.services.outbound import interaction_call_progress  # noqa: E402
from tests.conftest import require_postgres  # noqa: E402

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PROCESSES = 4
# Thursday 12:00 in Los Angeles: inside the campaign's window.
NOW = dt.datetime(2026, 12, 3, 20, 0, tzinfo=dt.UTC)
CONNECTOR = SystemActor("voice connector")
DEADLINE_SECONDS = 300


def _connect(db_name: str) -> None:
    """Point this (spawned) process at the test database, as the test runner did its own."""
    connections["default"].settings_dict["NAME"] = db_name


def _claim_worker(db_name: str, campaign_id: int, barrier: Any, results: Any) -> None:
    try:
        _connect(db_name)
        campaign = Campaign.objects.get(pk=campaign_id)
        barrier.wait(timeout=120)
        claimed: list[int] = []
        while True:
            batch = hopper_claim(campaign=campaign, limit=25, now=NOW)
            if not batch:
                break
            claimed += [lead.pk for lead in batch]
        results.put((claimed, None))
    except BaseException as exc:
        results.put(([], repr(exc)))
    finally:
        connections.close_all()


def _tick_worker(db_name: str, campaign_id: int, barrier: Any, results: Any) -> None:
    try:
        _connect(db_name)
        barrier.wait(timeout=120)
        deadline = time.monotonic() + DEADLINE_SECONDS
        dialled, ticks = 0, 0
        while time.monotonic() < deadline:
            result = campaign_tick(campaign_id=campaign_id, now=NOW)
            dialled += result.dialled
            ticks += 1
            # The customers do not answer: the connector says so, which frees the reserved agents.
            for pk in Interaction.objects.filter(status__in=PLACING_STATUSES).values_list("pk", flat=True)[
                :20
            ]:
                interaction_call_progress(actor=CONNECTOR, interaction_id=pk, outcome=CallOutcome.NO_ANSWER)
            if not Lead.objects.filter(campaign_id=campaign_id, status=LeadStatus.NEW).exists():
                break
        results.put(((dialled, ticks), None))
    except BaseException as exc:
        results.put(((0, 0), repr(exc)))
    finally:
        connections.close_all()


def _spawn(target: Any, campaign_id: int) -> list[Any]:
    connections.close_all()
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    db_name = connection.settings_dict["NAME"]
    children = [
        context.Process(target=target, args=(db_name, campaign_id, barrier, results))
        for _ in range(PROCESSES)
    ]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=DEADLINE_SECONDS + 180) for _ in children]
    for child in children:
        child.join(timeout=60)
    errors = [error for _, error in outcomes if error]
    assert not errors, errors
    return [value for value, _ in outcomes]


def _campaign_with_leads(count: int, **fields: Any) -> Campaign:
    from tests.campaigns.factories import LeadFactory, make_voice_campaign

    campaign = make_voice_campaign(caller_id="+14155550100", **fields)
    Lead.objects.bulk_create(
        [
            LeadFactory.build(
                campaign=campaign,
                customer=None,
                contact=f"+1415666{n:04d}",
                priority=n % 3,
                time_zones=["America/Los_Angeles"],
            )
            for n in range(count)
        ]
    )
    return campaign


def test_four_processes_claim_every_lead_of_the_hopper_exactly_once(transactional_db: None) -> None:
    require_postgres()
    campaign = _campaign_with_leads(2000, dial_mode=DialMode.POWER)

    claims = _spawn(_claim_worker, campaign.pk)

    everything = [pk for claimed in claims for pk in claimed]
    assert len(everything) == 2000
    assert set(everything) == set(Lead.objects.filter(campaign=campaign).values_list("pk", flat=True))
    assert all(claimed for claimed in claims), "a process claimed nothing: the run did not overlap"
    assert not Lead.objects.filter(campaign=campaign, claimed_until__isnull=True).exists()


def test_four_processes_ticking_one_campaign_dial_every_lead_exactly_once(transactional_db: None) -> None:
    require_postgres()
    from tests.interactions.factories import make_agent

    campaign = _campaign_with_leads(240, dial_mode=DialMode.PROGRESSIVE)
    assert campaign.queue is not None
    agents = [make_agent(campaign.queue) for _ in range(8)]

    outcomes = _spawn(_tick_worker, campaign.pk)

    assert sum(dialled for dialled, _ in outcomes) == 240
    per_lead = LeadAttempt.objects.filter(campaign=campaign).values("lead_id").annotate(n=Count("id"))
    assert {row["n"] for row in per_lead} == {1}
    assert per_lead.count() == 240
    assert Interaction.objects.count() == 240
    # Each call ended unanswered (the workers report no answer to free their agent), so each lead
    # waits for its retry with its one attempt counted.
    assert set(Lead.objects.filter(campaign=campaign).values_list("status", "attempts", "claimed_until")) == {
        (LeadStatus.RETRY, 1, None)
    }
    # Every lead passed the gate (some more than once: a lead whose agent another process
    # reserved first is given back and decided again by a later tick).
    allowed = ContactLog.objects.filter(campaign_id=campaign.pk, allowed=True)
    assert allowed.values("lead_id").distinct().count() == 240
    # Every call was placed for one of the agents, and no agent held two calls at once: replayed
    # in order, each agent's calls alternate dialled, ended.
    holding: dict[int, int] = {}
    for event in InteractionEvent.objects.filter(kind__in=["dialing", "call_no_answer"]).order_by("id"):
        agent_id = Interaction.objects.get(pk=event.interaction_id).agent_id
        assert agent_id in {agent.pk for agent in agents}
        if event.kind == "dialing":
            assert holding.get(agent_id) is None, f"agent {agent_id} reserved for two calls"
            holding[agent_id] = event.interaction_id
        else:
            assert holding.pop(agent_id) == event.interaction_id
