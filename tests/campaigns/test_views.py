"""The marketers' pages: who may open and act on each, the campaign form's checks (the typed
values kept, the field named), start/pause/resume/complete, the dashboard's figures and the
query counts of the list and the dashboard."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from apps.accounts.models import User
from apps.campaigns.models import (
    AttemptStatus,
    Campaign,
    CampaignList,
    CampaignStatus,
    CampaignStatusChange,
    LeadAttempt,
    RetryRule,
)
from apps.campaigns.selectors.dashboard import campaign_dashboard
from apps.campaigns.services.attempts import attempt_finish, attempt_start
from apps.campaigns.views.lists import SESSION_KEY
from apps.core.actors import SYSTEM
from apps.interactions.models import AgentState, AgentStateChange, Disposition, DispositionCategory
from tests.campaigns.factories import (
    CampaignFactory,
    ContactListFactory,
    LeadFactory,
    attach_list,
    make_voice_campaign,
)
from tests.interactions.factories import make_agent, make_queue

pytestmark = pytest.mark.django_db

ROLES = ("Agent", "Supervisor", "Marketer", "Admin")
READERS = {"Supervisor", "Marketer", "Admin"}
MANAGERS = {"Marketer", "Admin"}


def _state() -> dict[str, Any]:
    return {
        "campaigns": list(Campaign.objects.order_by("pk").values()),
        "links": list(CampaignList.objects.order_by("pk").values()),
        "rules": list(RetryRule.objects.order_by("pk").values()),
        "changes": CampaignStatusChange.objects.count(),
    }


def _form_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Winter renewals",
        "description": "Call lapsed members",
        "channel": "voice",
        "dial_mode": "progressive",
        "queue": "",
        "disposition_set": "",
        "caller_id": "+14155550100",
        "lines_per_agent": "2",
        "broadcast_lines": "10",
        "max_abandon_percent": "3",
        "window_start": "09:00",
        "window_end": "19:00",
        "window_days": ["mon", "tue", "wed"],
        "time_zone": "America/Chicago",
        "holiday_country": "us",
        "holiday_subdivision": "",
        "max_attempts_per_lead": "5",
        "max_attempts_per_number": "3",
        "starts_at": "",
        "ends_at": "",
        "message_subject": "",
        "message_body": "",
        "recording_url": "",
        "broadcast_action": "press_one",
        "sends_per_minute": "60",
    }
    data.update(overrides)
    return data


def _urls(campaign: Campaign, contact_list_id: int) -> list[tuple[str, str, set[str], int]]:
    """(method, url, roles allowed, status for them)."""
    pk = campaign.pk
    return [
        ("GET", "/campaigns/", READERS, 200),
        ("GET", f"/campaigns/{pk}/", READERS, 200),
        ("GET", f"/campaigns/{pk}/figures/", READERS, 200),
        ("GET", f"/campaigns/{pk}/status/", READERS, 200),
        ("GET", f"/campaigns/lists/{contact_list_id}/", READERS, 200),
        ("GET", "/campaigns/new/", MANAGERS, 200),
        ("GET", f"/campaigns/{pk}/edit/", MANAGERS, 200),
        ("GET", "/campaigns/lists/upload/", MANAGERS, 200),
        ("GET", "/campaigns/lists/segment/", MANAGERS, 200),
        ("POST", f"/campaigns/{pk}/status/pause/", MANAGERS, 302),
    ]


@pytest.mark.parametrize("role", [*ROLES, None])
def test_every_page_answers_each_role_as_its_rule_says(
    client_for: Callable[[str | None], Client], role: str | None
) -> None:
    campaign = make_voice_campaign()
    contact_list = attach_list(campaign)
    client = client_for(role)

    for method, url, allowed, ok in _urls(campaign, contact_list.pk):
        before = _state()
        response = client.get(url) if method == "GET" else client.post(url)
        if role is None:
            assert response.status_code == 302, url
            assert response["Location"].startswith("/login/?next="), url
        elif role in allowed:
            assert response.status_code == ok, (role, url)
        else:
            assert response.status_code == 403, (role, url)
        if method == "POST" and role not in MANAGERS:
            assert _state() == before, (role, url)

    campaign.refresh_from_db()
    expected = CampaignStatus.PAUSED if role in MANAGERS else CampaignStatus.ACTIVE
    assert campaign.status == expected


@pytest.mark.parametrize("role", ["Agent", "Supervisor", None])
def test_a_role_that_may_not_manage_creates_and_edits_nothing(
    client_for: Callable[[str | None], Client], role: str | None
) -> None:
    campaign = make_voice_campaign(name="Spring")
    client = client_for(role)
    before = _state()

    created = client.post("/campaigns/new/", _form_data())
    edited = client.post(f"/campaigns/{campaign.pk}/edit/", _form_data(name="Renamed"))
    started = client.post(f"/campaigns/{campaign.pk}/status/complete/", HTTP_HX_REQUEST="true")

    assert {created.status_code, edited.status_code, started.status_code} == (
        {302} if role is None else {403}
    )
    assert _state() == before


def test_a_marketer_creates_a_campaign_with_its_lists_and_retry_rules(marketer: User) -> None:
    queue = make_queue(channels=["voice"])
    first, second = ContactListFactory(name="Lapsed 2025"), ContactListFactory(name="Web leads")
    client = Client()
    client.force_login(marketer)

    response = client.post(
        "/campaigns/new/",
        _form_data(
            queue=str(queue.pk),
            **{
                f"list_{first.pk}_attach": "on",
                f"list_{first.pk}_priority": "5",
                f"list_{first.pk}_weight": "2",
                f"list_{second.pk}_priority": "0",
                f"list_{second.pk}_weight": "1",
                "retry_busy_delay": "10",
                "retry_no_answer_delay": "90",
                "retry_no_answer_max": "2",
            },
        ),
    )

    campaign = Campaign.objects.get(name="Winter renewals")
    assert response.status_code == 302
    assert response["Location"] == f"/campaigns/{campaign.pk}/"
    assert (campaign.status, campaign.channel, campaign.dial_mode, campaign.queue_id) == (
        "draft",
        "voice",
        "progressive",
        queue.pk,
    )
    assert campaign.window_days == ["mon", "tue", "wed"]
    assert (campaign.window_start, campaign.window_end) == (dt.time(9), dt.time(19))
    assert campaign.holiday_country == "US"
    assert campaign.created_by == marketer
    assert list(
        CampaignList.objects.filter(campaign=campaign).values_list("contact_list_id", "priority", "weight")
    ) == [(first.pk, 5, 2)]
    assert sorted(
        RetryRule.objects.filter(campaign=campaign).values_list("category", "delay_minutes", "max_attempts")
    ) == [("busy", 10, None), ("no_answer", 90, 2)]


def test_a_window_that_ends_before_it_starts_is_refused_on_its_field_and_the_typed_values_stay(
    marketer: User,
) -> None:
    client = Client()
    client.force_login(marketer)

    response = client.post(
        "/campaigns/new/", _form_data(window_start="18:00", window_end="10:00", description="Keep me")
    )

    page = response.content.decode()
    assert response.status_code == 400
    assert response.context["form"].errors == {"window_end": ["the calling window must end after it starts."]}
    assert "Keep me" in page
    assert 'value="Winter renewals"' in page
    assert Campaign.objects.count() == 0


def test_an_unknown_time_zone_and_a_taken_name_are_named(marketer: User) -> None:
    CampaignFactory(name="Winter renewals")
    client = Client()
    client.force_login(marketer)

    bad_zone = client.post("/campaigns/new/", _form_data(name="Other", time_zone="Mars/Olympus"))
    taken = client.post("/campaigns/new/", _form_data())

    assert bad_zone.status_code == 400
    assert bad_zone.context["form"].errors == {"time_zone": ["'Mars/Olympus' is not an IANA time zone."]}
    assert taken.status_code == 400
    assert taken.context["form"].errors == {"name": ["a campaign called 'Winter renewals' exists already."]}
    assert Campaign.objects.count() == 1


def test_form_checks_name_the_field_before_the_service_is_asked(marketer: User) -> None:
    client = Client()
    client.force_login(marketer)

    response = client.post(
        "/campaigns/new/",
        _form_data(channel="fax", window_days=[], max_attempts_per_lead="-1", retry_busy_max="2"),
    )

    errors = response.context["form"].errors
    assert response.status_code == 400
    assert set(errors) == {"channel", "window_days", "max_attempts_per_lead", "retry_busy_delay"}
    assert Campaign.objects.count() == 0


def test_zero_attempts_per_lead_is_refused_by_the_service_on_its_field(marketer: User) -> None:
    client = Client()
    client.force_login(marketer)

    response = client.post("/campaigns/new/", _form_data(max_attempts_per_lead="0"))

    assert response.status_code == 400
    assert response.context["form"].errors == {"max_attempts_per_lead": ["at least 1."]}
    assert Campaign.objects.count() == 0


def test_a_list_removed_before_the_save_is_not_attached(marketer: User) -> None:
    contact_list = ContactListFactory()
    client = Client()
    client.force_login(marketer)
    data = _form_data(
        **{
            f"list_{contact_list.pk}_attach": "on",
            f"list_{contact_list.pk}_priority": "1",
            f"list_{contact_list.pk}_weight": "1",
        }
    )
    contact_list.delete()  # gone between the page and the save: the form no longer knows it

    response = client.post("/campaigns/new/", data)

    assert response.status_code == 302  # the unknown fields are ignored: nothing to attach
    assert CampaignList.objects.count() == 0


def test_editing_a_campaign_changes_its_settings_and_lists(marketer: User) -> None:
    campaign = make_voice_campaign(name="Spring", status=CampaignStatus.DRAFT)
    kept = attach_list(campaign, priority=1, weight=1)
    dropped = attach_list(campaign)
    client = Client()
    client.force_login(marketer)

    page = client.get(f"/campaigns/{campaign.pk}/edit/")
    response = client.post(
        f"/campaigns/{campaign.pk}/edit/",
        _form_data(
            name="Spring 2027",
            queue=str(campaign.queue_id),
            **{
                f"list_{kept.pk}_attach": "on",
                f"list_{kept.pk}_priority": "3",
                f"list_{kept.pk}_weight": "4",
                f"list_{dropped.pk}_priority": "0",
                f"list_{dropped.pk}_weight": "1",
            },
        ),
    )

    campaign.refresh_from_db()
    assert page.status_code == 200
    assert 'value="Spring"' in page.content.decode()
    assert response.status_code == 302
    assert campaign.name == "Spring 2027"
    assert campaign.version == 3  # 1, then one more for the settings and one for the lists
    assert sorted(
        CampaignList.objects.filter(campaign=campaign).values_list(
            "contact_list_id", "priority", "weight", "is_active"
        )
    ) == [(kept.pk, 3, 4, True), (dropped.pk, 0, 1, False)]


def test_a_completed_campaign_is_not_edited(marketer: User) -> None:
    campaign = make_voice_campaign(status=CampaignStatus.COMPLETED)
    client = Client()
    client.force_login(marketer)
    before = _state()

    response = client.post(f"/campaigns/{campaign.pk}/edit/", _form_data())

    assert response.status_code == 302
    assert response["Location"] == f"/campaigns/{campaign.pk}/"
    assert _state() == before


def test_start_pause_resume_and_complete_through_htmx(marketer: User) -> None:
    campaign = make_voice_campaign(status=CampaignStatus.DRAFT)
    client = Client()
    client.force_login(marketer)
    seen = []

    for action in ("start", "pause", "resume", "complete"):
        response = client.post(f"/campaigns/{campaign.pk}/status/{action}/", HTTP_HX_REQUEST="true")
        assert response.status_code == 200, action
        campaign.refresh_from_db()
        seen.append(campaign.status)

    assert seen == ["active", "paused", "active", "completed"]
    assert 'data-action="' not in response.content.decode()  # completed: no button left
    assert list(
        CampaignStatusChange.objects.filter(campaign=campaign)
        .order_by("at", "id")
        .values_list("to_status", flat=True)
    ) == ["active", "paused", "active", "completed"]


def test_a_refused_start_is_a_409_with_its_reason_and_changes_nothing(marketer: User) -> None:
    campaign = CampaignFactory(status=CampaignStatus.DRAFT, queue=None)
    client = Client()
    client.force_login(marketer)
    before = _state()

    htmx = client.post(f"/campaigns/{campaign.pk}/status/start/", HTTP_HX_REQUEST="true")
    plain = client.post(f"/campaigns/{campaign.pk}/status/start/", follow=True)

    reason = "A voice campaign needs the queue whose agents work it before it starts."
    assert htmx.status_code == 409
    assert htmx.content.decode() == reason
    assert plain.status_code == 200
    assert reason in plain.content.decode()
    assert _state() == before


def test_an_unknown_action_is_a_404(marketer: User) -> None:
    campaign = make_voice_campaign()
    client = Client()
    client.force_login(marketer)

    response = client.post(f"/campaigns/{campaign.pk}/status/restart/")

    assert response.status_code == 404
    campaign.refresh_from_db()
    assert campaign.status == "active"


def test_the_status_buttons_show_only_to_managers(client_for: Callable[[str | None], Client]) -> None:
    campaign = make_voice_campaign()

    marketer_page = client_for("Marketer").get(f"/campaigns/{campaign.pk}/").content.decode()
    supervisor_page = client_for("Supervisor").get(f"/campaigns/{campaign.pk}/").content.decode()

    assert 'data-action="pause"' in marketer_page
    assert 'data-action="complete"' in marketer_page
    assert 'data-action="' not in supervisor_page


def _attempts(campaign: Campaign, now: dt.datetime) -> None:
    """Today: 4 dialled, 3 answered, 2 connected, 1 abandoned; 29 days ago: 2 answered, 1 abandoned."""
    sale = Disposition.objects.create(code="sale", label="Sale", category=DispositionCategory.SALE)
    busy = Disposition.objects.create(
        code="busy", label="Busy", category=DispositionCategory.BUSY, is_final=False
    )
    agent = make_agent(campaign.queue)
    rows = [
        # (started, answered, connected, status, disposition)
        (now - dt.timedelta(minutes=50), True, True, AttemptStatus.ENDED, sale),
        (now - dt.timedelta(minutes=40), True, True, AttemptStatus.ENDED, sale),
        (now - dt.timedelta(minutes=30), True, False, AttemptStatus.ABANDONED, None),
        (now - dt.timedelta(minutes=20), False, False, AttemptStatus.ENDED, busy),
        (now - dt.timedelta(days=29), True, False, AttemptStatus.ABANDONED, None),
        (now - dt.timedelta(days=29), True, True, AttemptStatus.ENDED, sale),
    ]
    for started, answered, connected, status, disposition in rows:
        lead = LeadFactory(campaign=campaign, attempts=1)
        LeadAttempt.objects.create(
            lead=lead,
            campaign=campaign,
            channel="voice",
            contact=lead.contact,
            status=status,
            disposition=disposition,
            agent=agent if connected else None,
            started_at=started,
            answered_at=started + dt.timedelta(seconds=10) if answered else None,
            connected_at=started + dt.timedelta(seconds=12) if connected else None,
            ended_at=started + dt.timedelta(minutes=6, seconds=12),
        )
    AgentStateChange.objects.create(
        agent=agent, state=AgentState.AVAILABLE, started_at=now - dt.timedelta(hours=1)
    )


def test_the_dashboard_figures_follow_the_attempts(marketer: User) -> None:
    now = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)
    campaign = make_voice_campaign()
    contact_list = attach_list(campaign)
    _attempts(campaign, now)
    LeadFactory(campaign=campaign, contact_list=contact_list)
    LeadFactory(campaign=campaign, contact_list=contact_list, attempts=2)

    dashboard = campaign_dashboard(campaign=campaign, now=now)

    assert (dashboard.today.dialled, dashboard.today.answered, dashboard.today.connected) == (4, 3, 2)
    assert dashboard.today.abandon_percent == 33.3
    assert dashboard.last_30_days.abandon_percent == 40.0  # 2 of 5 answered
    assert dashboard.staffed_hours == 1.0
    assert dashboard.contacts_per_agent_hour == 2.0
    assert dashboard.occupancy_percent == 20.0  # two 6-minute calls in one staffed hour
    assert [(d.label, d.count) for d in dashboard.dispositions] == [("Sale", 2), ("Busy", 1)]
    assert [(p.link.contact_list_id, p.attempted, p.leads) for p in dashboard.penetration] == [
        (contact_list.pk, 1, 2)
    ]
    datasets = {d["key"]: d["data"] for d in dashboard.chart["datasets"]}  # type: ignore[index]
    assert dashboard.chart["labels"][-1] == "12:00"  # type: ignore[index]
    assert datasets["connected"][11] == 2
    assert datasets["abandoned"][11] == 1
    assert datasets["not_reached"][11] == 1
    assert sum(sum(values) for values in datasets.values()) == 4


def test_the_figures_fragment_counts_an_attempt_recorded_by_the_dialer(marketer: User) -> None:
    campaign = make_voice_campaign()
    lead = LeadFactory(campaign=campaign)
    client = Client()
    client.force_login(marketer)
    before = client.get(f"/campaigns/{campaign.pk}/figures/").content.decode()

    attempt = attempt_start(lead=lead, channel="voice")
    attempt_finish(actor=SYSTEM, attempt_id=attempt.pk, status=AttemptStatus.ENDED, outcome="busy")
    after = client.get(f"/campaigns/{campaign.pk}/figures/").content.decode()

    assert '<div class="tile-value" id="fig-dialled">0</div>' in before
    assert '<div class="tile-value" id="fig-dialled">1</div>' in after


def test_the_list_shows_todays_figures_of_ten_campaigns_in_few_queries(
    marketer: User, django_assert_max_num_queries: Any
) -> None:
    now = timezone.now()
    campaigns = [make_voice_campaign(name=f"Campaign {n:02d}") for n in range(10)]
    for campaign in campaigns:
        lead = LeadFactory(campaign=campaign)
        for minutes in (1, 2):
            LeadAttempt.objects.create(
                lead=lead,
                campaign=campaign,
                channel="voice",
                contact=lead.contact,
                started_at=now - dt.timedelta(minutes=minutes),
                answered_at=now,
                status=AttemptStatus.ANSWERED,
            )
    client = Client()
    client.force_login(marketer)

    with django_assert_max_num_queries(8):
        response = client.get("/campaigns/")

    rows = response.context["rows"]
    assert response.status_code == 200
    assert len(rows) == 10
    assert {(row.today.dialled, row.today.answered) for row in rows} == {(2, 2)}


def test_the_dashboard_reads_in_a_fixed_number_of_queries(
    marketer: User, django_assert_max_num_queries: Any
) -> None:
    campaign = make_voice_campaign()
    for _ in range(3):
        contact_list = attach_list(campaign)
        for _ in range(3):
            LeadFactory(campaign=campaign, contact_list=contact_list)
    _attempts(campaign, timezone.now())
    client = Client()
    client.force_login(marketer)

    with django_assert_max_num_queries(14):
        page = client.get(f"/campaigns/{campaign.pk}/")
    with django_assert_max_num_queries(12):
        figures = client.get(f"/campaigns/{campaign.pk}/figures/")

    assert page.status_code == figures.status_code == 200


def test_the_campaigns_list_keeps_the_recent_imports(marketer: User) -> None:
    from apps.customers.models import ImportJob

    ImportJob.objects.create(created_by=marketer, file="imports/a.csv", file_name="lapsed.csv")
    client = Client()
    client.force_login(marketer)

    page = client.get("/campaigns/").content.decode()

    assert "lapsed.csv" in page


def test_a_marketers_home_is_the_campaigns_list(marketer: User) -> None:
    client = Client()
    client.force_login(marketer)

    response = client.get("/", follow=True)

    assert response.redirect_chain[-1][0] == "/campaigns/"
    assert response.resolver_match.view_name == "campaigns:list"
    assert response.resolver_match.func.__name__ == "campaign_list"


def test_the_list_page_of_a_contact_list_shows_its_campaigns(marketer: User) -> None:
    campaign = make_voice_campaign(name="Renewals")
    contact_list = attach_list(campaign, name="Lapsed 2025", priority=2, weight=3)
    client = Client()
    client.force_login(marketer)

    page = client.get(f"/campaigns/lists/{contact_list.pk}/").content.decode()

    assert "List Lapsed 2025" in page
    assert "Renewals" in page


def test_an_upload_with_reminder_hours_but_no_column_is_refused_on_the_field(marketer: User) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = Client()
    client.force_login(marketer)

    response = client.post(
        "/campaigns/lists/upload/",
        {
            "name": "Appointments",
            "file": SimpleUploadedFile("a.csv", b"phone\n+14155550100\n", content_type="text/csv"),
            "default_region": "us",
            "priority": "0",
            "weight": "1",
            "remind_hours_before": "24",
        },
    )

    assert response.status_code == 400
    assert response.context["form"].errors["appointment_field"] == [
        "Name the column that holds the appointment."
    ]
    from apps.campaigns.models import ContactList

    assert ContactList.objects.count() == 0


def test_a_marketer_uploads_a_list_for_a_campaign_matches_its_columns_and_follows_its_import(
    marketer: User,
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from apps.campaigns.models import ContactList

    campaign = make_voice_campaign(name="Renewals")
    client = Client()
    client.force_login(marketer)

    mapping_page = client.post(
        "/campaigns/lists/upload/",
        {
            "name": "Lapsed 2025",
            "file": SimpleUploadedFile(
                "lapsed.csv", b"first_name,Mobile,plan\nAda,+14155550134,gold\n", content_type="text/csv"
            ),
            "default_region": "us",
            "campaign": str(campaign.pk),
            "priority": "2",
            "weight": "3",
        },
    )

    assert mapping_page.status_code == 200
    assert [(c["header"], c["field"]) for c in mapping_page.context["columns"]] == [
        ("first_name", "first_name"),
        ("Mobile", "phone"),
        ("plan", ""),
    ]
    assert ContactList.objects.count() == 0  # nothing exists before the import is started

    response = client.post(
        "/campaigns/lists/upload/",
        {"step": "start", "column_0": "first_name", "column_1": "phone", "column_2": ""},
    )

    contact_list = ContactList.objects.get(name="Lapsed 2025")
    assert response.status_code == 302
    assert response["Location"] == f"/campaigns/lists/{contact_list.pk}/"
    assert list(contact_list.campaign_links.values_list("campaign_id", "priority", "weight")) == [
        (campaign.pk, 2, 3)
    ]
    page = client.get(response["Location"]).content.decode()
    assert 'id="import-progress"' in page
    assert contact_list.import_job is not None
    assert contact_list.import_job.file_name == "lapsed.csv"
    assert contact_list.import_job.mapping == {"first_name": "first_name", "phone": "Mobile"}
    assert SESSION_KEY not in client.session


def _mapping_step(client: Client, content: bytes, **overrides: str) -> None:
    response = client.post("/campaigns/lists/upload/", _upload("a.csv", content, **overrides))
    assert response.status_code == 200
    assert response.context["stage"] == "map"


@pytest.mark.parametrize(
    ("columns", "problems"),
    [
        (
            {"column_0": "", "column_1": ""},
            [
                "Map at least one column to a name, a phone, an email or the external id (the file's "
                "columns: phone, visit)."
            ],
        ),
        ({"column_0": "phone", "column_1": "phone"}, ["phone is chosen for both 'phone' and 'visit'."]),
        (
            {"column_0": "phone", "column_1": "first_name"},
            ["column 'visit' is mapped to a customer field; leave it unmapped so each lead keeps it."],
        ),
    ],
)
def test_columns_the_import_refuses_are_listed_on_the_mapping_step_and_nothing_is_created(
    marketer: User, columns: dict[str, str], problems: list[str]
) -> None:
    from apps.campaigns.models import ContactList
    from apps.customers.models import ImportJob

    campaign = make_voice_campaign()
    client = Client(raise_request_exception=False)
    client.force_login(marketer)
    _mapping_step(
        client,
        b"phone,visit\n+14155550100,2027-01-05 10:00\n",
        campaign=str(campaign.pk),
        appointment_field="visit",
        remind_hours_before="24",
    )

    response = client.post("/campaigns/lists/upload/", {"step": "start", **columns})

    assert response.status_code == 400
    assert response.context["problems"] == problems
    # What was chosen is shown again as chosen
    assert [c["field"] for c in response.context["columns"]] == [columns["column_0"], columns["column_1"]]
    assert ContactList.objects.count() == ImportJob.objects.count() == 0
    assert SESSION_KEY in client.session  # the file waits for a corrected mapping


def test_the_appointment_column_is_left_unmapped_by_the_suggestion(marketer: User) -> None:
    client = Client()
    client.force_login(marketer)

    response = client.post(
        "/campaigns/lists/upload/",
        _upload(
            "a.csv",
            b"phone,email\n+14155550100,a@example.org\n",
            appointment_field="email",
            remind_hours_before="24",
        ),
    )

    assert response.status_code == 200
    assert [(c["header"], c["field"], c["appointment"]) for c in response.context["columns"]] == [
        ("phone", "phone", False),
        ("email", "", True),
    ]


def test_starting_an_import_without_an_upload_sends_back_to_the_first_step(marketer: User) -> None:
    from apps.campaigns.models import ContactList

    client = Client()
    client.force_login(marketer)

    response = client.post("/campaigns/lists/upload/", {"step": "start", "column_0": "phone"}, follow=True)

    assert response.redirect_chain == [("/campaigns/lists/upload/", 302)]
    assert "The uploaded file has expired; upload it again." in response.content.decode()
    assert ContactList.objects.count() == 0


def test_a_campaign_completed_between_the_two_steps_takes_no_list(marketer: User) -> None:
    from apps.campaigns.models import ContactList

    campaign = make_voice_campaign()
    client = Client()
    client.force_login(marketer)
    _mapping_step(client, b"phone\n+14155550100\n", campaign=str(campaign.pk))
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.COMPLETED)

    response = client.post("/campaigns/lists/upload/", {"step": "start", "column_0": "phone"}, follow=True)

    assert response.redirect_chain == [("/campaigns/lists/upload/", 302)]
    assert "The campaign chosen for this list is gone or completed; choose another one." in (
        response.content.decode()
    )
    assert ContactList.objects.count() == 0


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"lines_per_agent": "1e10"},
            "lines_per_agent",
            "Ensure that there are no more than 4 digits in total.",
        ),
        ({"window_start": "25:00"}, "window_start", "Enter a valid time."),
        ({"starts_at": "garbage"}, "starts_at", "Enter a valid date/time."),
        (
            {"queue": "abc"},
            "queue",
            "Select a valid choice. That choice is not one of the available choices.",
        ),
        (
            {"holiday_country": "zz"},
            "holiday_country",
            "No public holiday calendar is known for 'ZZ': give a two-letter country code such as US, "
            "GB or DE, or leave it empty.",
        ),
        (
            {"holiday_country": "US", "holiday_subdivision": "qq"},
            "holiday_subdivision",
            "US has no subdivision 'QQ' in its holiday calendar (for example AK, AL, AR, AS, AZ).",
        ),
        (
            {"holiday_country": "", "holiday_subdivision": "CA"},
            "holiday_subdivision",
            "Give the holiday country this subdivision belongs to.",
        ),
        (
            {"caller_id": "call me"},
            "caller_id",
            "'call me' is not a phone number (it does not look like a phone number). Write it with its "
            "country code, e.g. +14155550100.",
        ),
        ({"recording_url": "javascript:alert(1)"}, "recording_url", "Enter a valid URL."),
        (
            {"starts_at": "2027-01-02T10:00", "ends_at": "2027-01-01T10:00"},
            "ends_at",
            "the campaign must end after it starts.",
        ),
        ({"name": "a\x00b"}, "name", "Null characters are not allowed."),
    ],
)
def test_a_bad_setting_is_a_400_naming_its_field_never_a_500(
    marketer: User, overrides: dict[str, Any], field: str, message: str
) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(marketer)

    response = client.post("/campaigns/new/", _form_data(**overrides))

    assert response.status_code == 400
    assert response.context["form"].errors == {field: [message]}
    assert Campaign.objects.count() == 0


def test_the_caller_id_is_kept_in_e164_and_the_holiday_calendar_in_capitals(marketer: User) -> None:
    client = Client()
    client.force_login(marketer)

    response = client.post(
        "/campaigns/new/",
        _form_data(caller_id="(415) 555-0100", holiday_country="us", holiday_subdivision="ca"),
    )

    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert (campaign.caller_id, campaign.holiday_country, campaign.holiday_subdivision) == (
        "+14155550100",
        "US",
        "CA",
    )


def test_an_attached_list_with_its_priority_and_weight_left_empty_takes_the_defaults(marketer: User) -> None:
    contact_list = ContactListFactory()
    client = Client()
    client.force_login(marketer)

    response = client.post(
        "/campaigns/new/",
        _form_data(
            **{
                f"list_{contact_list.pk}_attach": "on",
                f"list_{contact_list.pk}_priority": "",
                f"list_{contact_list.pk}_weight": "",
            }
        ),
    )

    assert response.status_code == 302
    assert list(CampaignList.objects.values_list("contact_list_id", "priority", "weight")) == [
        (contact_list.pk, 0, 1)
    ]


def _upload(name: str, content: bytes, **overrides: str) -> dict[str, Any]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    data: dict[str, Any] = {
        "name": "Lapsed",
        "file": SimpleUploadedFile(name, content),
        "default_region": "us",
        "priority": "0",
        "weight": "1",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    ("name", "content", "overrides", "field", "message"),
    [
        ("a.csv", b"", {}, "file", "The submitted file is empty."),
        ("a.xlsx", b"not a zip", {}, "file", "The file is not a readable .xlsx workbook (BadZipFile)."),
        ("a.txt", b"phone\n+14155550100\n", {}, "file", "'a.txt' is not a .csv or .xlsx file."),
        (
            "a.csv",
            b"\xff\xfe\x00bad",
            {},
            "file",
            "The file is not readable text (binary content); save it as CSV (UTF-8).",
        ),
        (
            "a.csv",
            b"phone\n+14155550100\n",
            {"default_region": "zz"},
            "default_region",
            "'ZZ' is not a country code for phone numbers (e.g. US, GB, DE).",
        ),
        (
            "a.csv",
            b"phone,when\n+14155550100,tomorrow\n",
            {"appointment_field": "visit", "remind_hours_before": "2"},
            "appointment_field",
            "the file has no column 'visit' (its columns: phone, when).",
        ),
    ],
)
def test_a_file_or_setting_the_import_refuses_is_a_400_on_its_field_and_saves_nothing(
    marketer: User, name: str, content: bytes, overrides: dict[str, str], field: str, message: str
) -> None:
    from apps.campaigns.models import ContactList
    from apps.customers.models import ImportJob

    client = Client(raise_request_exception=False)
    client.force_login(marketer)

    response = client.post("/campaigns/lists/upload/", _upload(name, content, **overrides))

    assert response.status_code == 400
    assert response.context["form"].errors == {field: [message]}
    assert ContactList.objects.count() == ImportJob.objects.count() == 0


def test_a_list_cannot_be_uploaded_for_a_completed_campaign(marketer: User) -> None:
    from apps.campaigns.models import ContactList

    campaign = make_voice_campaign(status=CampaignStatus.COMPLETED)
    client = Client()
    client.force_login(marketer)

    response = client.post(
        "/campaigns/lists/upload/", _upload("a.csv", b"phone\n+14155550100\n", campaign=str(campaign.pk))
    )

    assert response.status_code == 400
    assert response.context["form"].errors == {
        "campaign": ["Select a valid choice. That choice is not one of the available choices."]
    }
    assert ContactList.objects.count() == 0


def test_the_settings_pages_read_many_lists_in_a_fixed_number_of_queries(
    marketer: User, django_assert_max_num_queries: Any
) -> None:
    campaign = make_voice_campaign(status=CampaignStatus.DRAFT)
    for _ in range(12):
        attach_list(campaign)
    ContactListFactory.create_batch(12)
    client = Client()
    client.force_login(marketer)

    with django_assert_max_num_queries(10):
        created = client.get("/campaigns/new/")
    with django_assert_max_num_queries(12):
        edited = client.get(f"/campaigns/{campaign.pk}/edit/")

    assert created.status_code == edited.status_code == 200
    assert len(created.context["form"].list_rows()) == 24
    assert sum(1 for _, attach, _, _ in edited.context["form"].list_rows() if attach.value()) == 12


def test_a_list_page_reads_its_campaigns_in_a_fixed_number_of_queries(
    marketer: User, django_assert_max_num_queries: Any
) -> None:
    contact_list = ContactListFactory()
    for n in range(8):
        CampaignList.objects.create(campaign=make_voice_campaign(name=f"Wave {n}"), contact_list=contact_list)
    client = Client()
    client.force_login(marketer)

    with django_assert_max_num_queries(8):
        page = client.get(f"/campaigns/lists/{contact_list.pk}/")
    with django_assert_max_num_queries(8):
        upload = client.get("/campaigns/lists/upload/")
    with django_assert_max_num_queries(8):
        segment = client.get("/campaigns/lists/segment/")

    assert page.status_code == upload.status_code == segment.status_code == 200
    html = page.content.decode()
    assert [n for n in range(8) if f">Wave {n}</a>" in html] == list(range(8))


def _vip_customers(admin_user: User, *numbers: str) -> None:
    from apps.customers.services.customers import ContactInput, customer_create

    for n, number in enumerate(numbers):
        customer_create(
            actor=admin_user,
            first_name=f"Vip {n}",
            last_name="Customer",
            contacts=[ContactInput(kind="phone", value=number)],
            tags=["vip"],
            lifecycle_stage="customer",
        )


def test_a_marketer_saves_a_segment_for_a_campaign_and_it_gets_its_leads(
    marketer: User, admin_user: User
) -> None:
    from apps.campaigns.models import ContactList, Lead, ListSource

    _vip_customers(admin_user, "+14155550134", "+14155550135")
    campaign = make_voice_campaign(name="Renewals")
    client = Client()
    client.force_login(marketer)

    response = client.post(
        "/campaigns/lists/segment/",
        {
            "name": "VIP customers",
            "tags": " vip, ",
            "lifecycle_stage": ["customer", "prospect"],
            "custom_fields": "",
            "campaign": str(campaign.pk),
            "priority": "3",
            "weight": "2",
        },
        follow=True,
    )

    segment = ContactList.objects.get(name="VIP customers")
    assert response.redirect_chain == [(f"/campaigns/lists/{segment.pk}/", 302)]
    assert "Segment VIP customers saved: 2 leads for Renewals." in response.content.decode()
    assert (segment.source, segment.segment_filters) == (
        ListSource.SEGMENT,
        {"tags": ["vip"], "lifecycle_stage": ["customer", "prospect"]},
    )
    assert sorted(Lead.objects.filter(campaign=campaign).values_list("contact", "priority")) == [
        ("+14155550134", 3),
        ("+14155550135", 3),
    ]


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"tags": "platinum"}, {"tags": ["no tag called 'platinum'."]}),
        (
            {"custom_fields": '{"plan": "gold"}'},
            {"custom_fields": ["plan: not an active custom field (none is defined)."]},
        ),
        (
            {"custom_fields": "{plan: gold}"},
            {
                "custom_fields": [
                    "Not valid JSON (Expecting property name enclosed in double quotes at character 2); write it like "
                    '{"plan": "gold"}.'
                ]
            },
        ),
        (
            {"custom_fields": '["plan"]'},
            {"custom_fields": ['An object of custom field -> value, e.g. {"plan": "gold"}.']},
        ),
        ({}, {"__all__": ["Give at least one filter: a segment of every customer is not a target."]}),
        ({"tags": "vip", "name": " "}, {"name": ["This field is required."]}),
    ],
)
def test_a_segment_the_filters_cannot_make_is_a_400_naming_its_field_and_saves_nothing(
    marketer: User, admin_user: User, data: dict[str, str], errors: dict[str, list[str]]
) -> None:
    from apps.campaigns.models import ContactList

    _vip_customers(admin_user, "+14155550134")
    client = Client(raise_request_exception=False)
    client.force_login(marketer)

    response = client.post(
        "/campaigns/lists/segment/", {"name": "Segment", "priority": "0", "weight": "1", **data}
    )

    assert response.status_code == 400
    assert response.context["form"].errors == errors
    assert ContactList.objects.count() == 0


def test_a_segment_list_page_shows_its_filters(marketer: User) -> None:
    from apps.campaigns.models import ContactList, ListSource

    segment = ContactList.objects.create(
        name="Gold plans", source=ListSource.SEGMENT, segment_filters={"tags": ["vip"]}
    )
    client = Client()
    client.force_login(marketer)

    page = client.get(f"/campaigns/lists/{segment.pk}/").content.decode()

    assert "Selects the customers matching <code>{&quot;tags&quot;: [&quot;vip&quot;]}</code>." in page
