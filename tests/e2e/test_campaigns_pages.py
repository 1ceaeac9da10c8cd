"""In real Chromium against a real daphne (the process `make run` starts): a marketer lands on the
campaigns list, creates a preview campaign on its settings page, uploads a contact list for it
(the customers import: its columns matched, its progress, then its per-row error report), starts the campaign from its
dashboard, and the dashboard's figures, list penetration and chart move without a reload when the
dialer records an attempt in another process (this test's).

Both channel layers a deployment has: daphne's in-memory layer, which this process reaches
through the embedded mode's signed relay as the worker does, and Redis (REDIS_URL), which both
processes share. daphne runs in its own process, so it reads the rows this test commits:
PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.accounts.models import User
from apps.campaigns.models import Campaign, CampaignStatus, ContactList, DialMode, Lead, LeadAttempt
from apps.campaigns.services.attempts import attempt_start
from apps.customers.models import ImportStatus
from apps.customers.services.imports import import_job_run
from tests.conftest import require_postgres, require_redis
from tests.daphne_helpers import database_url_of_current_connection, running_daphne
from tests.e2e.conftest import PASSWORD, sign_in
from tests.interactions.factories import make_queue

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NOT_RELOADED = "window.__switchboardNotReloaded"
LIST_FILE = (
    "first_name,last_name,phone,email\n"
    "Ada,Lovelace,+14155550134,ada@example.org\n"
    "Grace,Hopper,+14155550135,grace@example.org\n"
    "Nobody,Reachable,not a number,not an address\n"
)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def daphne(request: pytest.FixtureRequest, tmp_path: Path, settings: Any) -> Iterator[Any]:
    """daphne with the layer under test, and this process publishing into it as a Celery worker
    of that deployment would: through daphne's event relay (apps.core.layers) in the embedded
    mode, straight into Redis otherwise."""
    require_postgres()
    redis_url = require_redis() if request.param == "redis" else ""
    with running_daphne(
        database_url=database_url_of_current_connection(), redis_url=redis_url, log_dir=tmp_path
    ) as server:
        if redis_url:
            settings.CHANNEL_LAYERS = {
                "default": {
                    "BACKEND": "apps.core.redis_layer.RedisChannelLayer",
                    "CONFIG": {"hosts": [redis_url], "prefix": "switchboard"},
                }
            }
        else:
            settings.CHANNEL_LAYERS = {
                "default": {
                    "BACKEND": "apps.core.layers.RelayChannelLayer",
                    "CONFIG": {"relay_url": server.url("/internal/events/")},
                }
            }
        yield server


def _figure(page: Any, figure_id: str, value: str) -> None:
    """Wait for a figure to read `value`. A locator's wait, not wait_for_function: a polled
    predicate is compiled with eval inside the page, which its Content-Security-Policy refuses."""
    page.locator(f"#{figure_id}", has_text=re.compile(rf"^\s*{re.escape(value)}\s*$")).wait_for(
        timeout=10_000
    )


def test_a_marketer_uploads_a_list_starts_a_preview_campaign_and_its_dashboard_follows_the_dialer(
    daphne: Any, chromium: Any, make_user: Any, tmp_path: Path
) -> None:
    # Given a voice queue and a marketer
    queue = make_queue(name="Outbound sales", channels=["voice"])
    marketer: User = make_user("Marketer", username="mia", password=PASSWORD)
    base = daphne.origin
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

    # When she signs in she lands on the campaigns list
    sign_in(page, base, "mia")
    assert page.url == f"{base}/campaigns/"
    page.get_by_role("link", name="New campaign").click()

    # And creates a preview campaign worked by the queue, with a retry rule
    page.fill("#id_name", "Winter renewals")
    page.select_option("#id_channel", "voice")
    page.select_option("#id_dial_mode", "preview")
    # (an agent-worked call has no message to set, nor the pacing of power and predictive modes)
    assert page.locator("#section-message").is_hidden()
    assert page.locator("#id_lines_per_agent").is_hidden()
    page.select_option("#id_queue", str(queue.pk))
    page.fill("#id_retry_busy_delay", "10")
    page.get_by_role("button", name="Create campaign").click()
    page.wait_for_url(re.compile(r"/campaigns/\d+/$"))
    campaign = Campaign.objects.get(name="Winter renewals")
    assert (campaign.status, campaign.dial_mode, campaign.created_by_id) == (
        CampaignStatus.DRAFT,
        DialMode.PREVIEW,
        marketer.pk,
    )

    # And uploads a contact list for it from its dashboard
    page.get_by_role("link", name="Upload a list").click()
    page.wait_for_url(re.compile(r"/campaigns/lists/upload/\?campaign=\d+$"))
    assert page.locator("#id_campaign").input_value() == str(campaign.pk)
    upload = tmp_path / "lapsed-members.csv"
    upload.write_text(LIST_FILE)
    page.fill("#id_name", "Lapsed members")
    page.set_input_files("#id_file", str(upload))
    page.get_by_role("button", name="Upload and match columns").click()

    # And confirms the columns the customer import suggests
    page.get_by_role("heading", name="2. Match the columns of lapsed-members.csv").wait_for()
    suggested = [page.locator(f"#column_{n}").input_value() for n in range(4)]
    assert suggested == ["first_name", "last_name", "phone", "email"]
    page.get_by_role("button", name="Start import").click()
    page.wait_for_url(re.compile(r"/campaigns/lists/\d+/$"))
    contact_list = ContactList.objects.select_related("import_job").get(name="Lapsed members")
    assert contact_list.import_job is not None
    page.locator("#import-progress", has_text="Waiting").wait_for()

    # Then, once the imports worker has run the job (here, in this process), the page shows the
    # import's outcome and the rejected row, without being reloaded
    page.evaluate(f"{NOT_RELOADED} = true")
    job = import_job_run(job_id=contact_list.import_job.pk, workers=0)
    assert (job.status, job.created_count, job.rejected_count) == (ImportStatus.DONE, 2, 1)
    page.locator("#import-progress", has_text="Done").wait_for()
    assert page.evaluate(f"{NOT_RELOADED} === true")
    assert sorted(Lead.objects.filter(campaign=campaign).values_list("contact", flat=True)) == [
        "+14155550134",
        "+14155550135",
    ]
    page.get_by_role("link", name="Show the rejected rows").click()
    rejected = page.locator("table").filter(has_text="Reason")
    rejected.locator("tbody tr").first.wait_for()
    assert rejected.locator("tbody tr").count() == 1
    assert "4" in rejected.locator("tbody tr td").first.inner_text()  # the file's line 4

    # When she opens the campaign's dashboard, it counts the list's leads, none attempted yet
    page.goto(f"{base}/campaigns/{campaign.pk}/")
    page.wait_for_selector("#live-status[data-state=live]")
    _figure(page, "fig-dialled", "0")
    penetration = page.locator("section[aria-label='List penetration'] tbody tr", has_text="Lapsed members")
    assert re.sub(r"\s+", " ", penetration.inner_text()).strip().endswith("0 2 0.0%")

    # And starts it
    page.get_by_role("button", name="Start").click()
    page.locator("#campaign-status-label", has_text="Active").wait_for()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.ACTIVE
    page.evaluate(f"{NOT_RELOADED} = true")

    # When the dialer records an attempt on one of its leads (in this process, not daphne's)
    lead = Lead.objects.filter(campaign=campaign).order_by("contact").first()
    assert lead is not None
    attempt_start(lead=lead, channel="voice")
    assert LeadAttempt.objects.filter(campaign=campaign).count() == 1

    # Then the dashboard counts it within seconds (its fallback refresh is every 30 s), unreloaded
    _figure(page, "fig-dialled", "1")
    assert page.evaluate(f"{NOT_RELOADED} === true")
    penetration.filter(has_text="50.0%").wait_for()
    assert re.sub(r"\s+", " ", penetration.inner_text()).strip().endswith("1 2 50.0%")
    in_progress = page.evaluate(
        "Chart.getChart(document.querySelector('#figures canvas.attempts-chart'))"
        ".data.datasets.find(d => d.label === 'In progress').data.reduce((a, b) => a + b, 0)"
    )
    assert in_progress == 1
    assert errors == []
    context.close()
