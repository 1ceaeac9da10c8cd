"""The agent's side of a preview campaign, in real Chromium against a real daphne: the dialer's
tick (in this process, as beat's worker would run it) queues the lead's preview; it pops on the
agent's desk without a reload, with the lead's campaign and fields; the agent accepts and dials;
the gateway's answer reaches the page; the agent hangs up and dispositions the call with a
callback kept for themselves, in the customer's local time; the lead waits for that callback,
owned by the agent, and the desk lists it.

daphne runs in its own process: it reads what this test commits from PostgreSQL, and the events
this process publishes (the tick's offer, the gateway's answer) reach its websockets through the
Redis channel layer both use."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.utils import timezone

from apps.accounts.models import User
from apps.campaigns.dialer import tick
from apps.campaigns.models import AttemptStatus, Lead, LeadAttempt, LeadStatus
from apps.core.actors import SystemActor
from apps.customers.services.customers import ContactInput, customer_create
from apps.interactions import services
from apps.interactions.models import (
    Disposition,
    DispositionCategory,
    DispositionSet,
    Interaction,
    InteractionStatus,
    Queue,
)
from apps.interactions.services import agent_profile_for
from tests.campaigns.factories import LeadFactory, make_voice_campaign
from tests.conftest import require_postgres, require_redis
from tests.daphne_helpers import database_url_of_current_connection, running_daphne
from tests.e2e.conftest import PASSWORD, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CONNECTOR = SystemActor("voice connector")
ZONE = "America/Chicago"
NOT_RELOADED = "window.__campaignDeskNotReloaded"


@pytest.fixture
def daphne(tmp_path: Path) -> Iterator[Any]:
    require_postgres()
    redis_url = require_redis()
    with running_daphne(
        database_url=database_url_of_current_connection(), redis_url=redis_url, log_dir=tmp_path
    ) as server:
        yield server


def _zone_at_noon() -> str:
    offset = (12 - timezone.now().hour) % 24
    offset = offset - 24 if offset > 14 else offset
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def test_an_agent_receives_a_preview_dials_it_and_keeps_a_callback(
    daphne: Any, chromium: Any, make_user: Callable[..., User]
) -> None:
    cache.clear()
    # Given a preview campaign on a voice queue whose dispositions include a callback
    call_back = Disposition.objects.create(
        code="call-back",
        label="Call back",
        category=DispositionCategory.CALLBACK,
        is_final=False,
        needs_callback_time=True,
    )
    dispositions = DispositionSet.objects.create(name="Renewals")
    dispositions.dispositions.add(call_back)
    queue = Queue.objects.create(
        name="Renewals",
        channels=["voice"],
        disposition_set=dispositions,
        offer_timeout_seconds=300,
        wrap_up_seconds=300,
    )
    campaign = make_voice_campaign(queue=queue, name="Winter renewals", caller_id="+14155550100")
    agent_user = make_user("Agent", username="amy", password=PASSWORD, first_name="Amy", last_name="Agent")
    agent_profile_for(user=agent_user).queues.add(queue)
    customer = customer_create(
        actor=SystemActor("test setup"),
        first_name="Grace",
        last_name="Hopper",
        time_zone=ZONE,
        contacts=[ContactInput(kind="phone", value="+13125550199")],
    )
    lead = LeadFactory(
        campaign=campaign,
        customer=customer,
        contact="+13125550199",
        time_zones=[_zone_at_noon()],
        fields={"plan": "Gold", "renewal": "2027-01-31"},
    )

    # The agent opens the desk and goes available
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    desk = context.new_page()
    desk.set_default_timeout(15_000)
    sign_in(desk, daphne.origin, "amy")
    desk.wait_for_selector("#live-status[data-state=live]")
    desk.select_option("#presence-select", "available")
    desk.wait_for_selector("#my-state:text('Available')")
    desk.evaluate(f"{NOT_RELOADED} = true")

    # When the dialer ticks, the lead's preview pops on the desk without a reload
    result = tick.campaign_tick(campaign_id=campaign.pk)
    assert result.previewed == 1
    offer = desk.locator(".offer")
    offer.wait_for()
    assert "Grace Hopper" in offer.inner_text()
    offer.get_by_role("button", name="Accept").click()

    # The agent sees the lead before dialling, and dials
    screen_pop = desk.locator("#panel .desk-section", has_text="Lead")
    screen_pop.wait_for()
    assert "Winter renewals" in screen_pop.inner_text() and "Gold" in screen_pop.inner_text()
    desk.get_by_role("button", name="Dial +13125550199").click()
    attempt = LeadAttempt.objects.get(lead=lead)
    _wait_until(lambda: _status_of(attempt.pk) == AttemptStatus.DIALING)

    # The gateway reports the answer; the page shows the call with its controls
    assert attempt.interaction_id is not None
    services.interaction_call_progress(
        actor=CONNECTOR, interaction_id=attempt.interaction_id, outcome="answered"
    )
    desk.get_by_role("button", name="Hang up").wait_for()
    desk.get_by_role("button", name="Hang up").click()

    # The agent dispositions it with a callback tomorrow at 10:30 the customer's time, kept for them
    desk.locator(".wrap-up-form").wait_for()
    assert f"the customer's local time ({ZONE})" in desk.locator(".wrap-up-form").inner_text()
    tomorrow = (timezone.now().astimezone(ZoneInfo(ZONE)) + dt.timedelta(days=1)).replace(
        hour=10, minute=30, second=0, microsecond=0
    )
    desk.select_option(f"#disposition-{attempt.interaction_id}", label="Call back")
    desk.fill(f"#callback-{attempt.interaction_id}", tomorrow.strftime("%Y-%m-%dT%H:%M"))
    desk.check("input[name=callback_personal]")
    desk.get_by_role("button", name="Finish wrap-up").click()
    desk.locator("#panel .status-closed").wait_for()
    assert desk.evaluate(f"{NOT_RELOADED} === true")

    # Then the lead waits for the agent's own callback at that time, and the desk lists it
    _wait_until(lambda: Lead.objects.get(pk=lead.pk).status == LeadStatus.CALLBACK)
    lead.refresh_from_db()
    assert (lead.callback_owner_id, lead.callback_at) == (agent_user.pk, tomorrow)
    assert Interaction.objects.get(pk=attempt.interaction_id).status == InteractionStatus.CLOSED
    desk.reload()
    callbacks = desk.locator(".desk-side .desk-section", has_text="My callbacks")
    callbacks.wait_for()
    assert "Grace Hopper" in callbacks.inner_text() and f"{tomorrow:%a %d %b} 10:30" in callbacks.inner_text()
    context.close()


def _status_of(attempt_id: int) -> str:
    return LeadAttempt.objects.values_list("status", flat=True).get(pk=attempt_id)


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("the condition did not hold in time")
