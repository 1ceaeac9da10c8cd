"""REST API of campaigns: who may read and change what (every endpoint, every role, and a
refused write changes nothing), the status actions, retry rules written with the campaign,
figures and dispositions, leads with their attempts, do-not-call lists and entries, the contact
log; bad input is a 400/404 that names the field, and list query counts do not grow with rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import User
from apps.campaigns.models import (
    AttemptStatus,
    Campaign,
    CampaignList,
    CampaignStatus,
    CampaignStatusChange,
    ContactList,
    ContactLog,
    DncEntry,
    DncList,
    DncListKind,
    Lead,
    LeadAttempt,
    LeadStatus,
    RetryRule,
)
from apps.customers.models import ImportJob
from apps.interactions.models import Disposition, DispositionCategory, DispositionSet, Queue
from tests.campaigns.factories import CampaignFactory, ContactListFactory, LeadFactory, attach_list
from tests.interactions.factories import make_agent, make_queue

pytestmark = pytest.mark.django_db

API = "/api/v1"
ROLES = ("Agent", "Supervisor", "Marketer", "Admin")
ANONYMOUS = "anonymous"
EVERYONE = frozenset(ROLES)
READERS = frozenset({"Supervisor", "Marketer", "Admin"})
MANAGERS = frozenset({"Marketer", "Admin"})


def _client(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


@dataclass
class World:
    queue: Queue
    campaign: Campaign
    lead: Lead
    contact_list: ContactList
    dnc_list: DncList
    entry: DncEntry
    disposition: Disposition
    agent: User


@pytest.fixture
def world() -> World:
    """An active voice campaign worked by a queue with one agent, a list and a lead with one
    attempt, a campaign do-not-call list with a number, and one decision of the gate."""
    queue = make_queue(channels=["voice"])
    agent = make_agent(queue, available=False)
    campaign = CampaignFactory(name="Renewals", queue=queue)
    contact_list = attach_list(campaign, name="October renewals")
    busy = Disposition.objects.create(
        code="busy", label="Busy", category=DispositionCategory.BUSY, is_final=False
    )
    lead = LeadFactory(campaign=campaign, contact_list=contact_list, contact="+14155550100")
    LeadAttempt.objects.create(
        lead=lead,
        campaign=campaign,
        channel="voice",
        contact=lead.contact,
        status=AttemptStatus.ENDED,
        disposition=busy,
        started_at=timezone.now(),
    )
    dnc_list = DncList.objects.create(name="Renewals DNC", kind=DncListKind.CAMPAIGN, campaign=campaign)
    entry = DncEntry.objects.create(dnc_list=dnc_list, number="+14155550199")
    ContactLog.objects.create(
        at=timezone.now(),
        campaign=campaign,
        lead=lead,
        channel="voice",
        contact=lead.contact,
        allowed=True,
        rule="allowed",
    )
    return World(queue, campaign, lead, contact_list, dnc_list, entry, busy, agent.user)


def _user_for(role: str, world: World, make_user: Callable[..., User]) -> User | None:
    if role == ANONYMOUS:
        return None
    if role == "Agent":
        return world.agent  # a member of the campaign's queue: the most an agent may see
    return make_user(role)


def _state() -> dict[str, Any]:
    """Everything a wrongly allowed write would change."""
    return {
        "campaigns": list(Campaign.objects.order_by("pk").values()),
        "status_changes": CampaignStatusChange.objects.count(),
        "retry_rules": list(RetryRule.objects.order_by("pk").values()),
        "campaign_lists": list(CampaignList.objects.order_by("pk").values()),
        "contact_lists": list(ContactList.objects.order_by("pk").values()),
        "leads": list(Lead.objects.order_by("pk").values()),
        "dnc_lists": list(DncList.objects.order_by("pk").values()),
        "dnc_entries": list(DncEntry.objects.order_by("pk").values()),
    }


# --- every endpoint, every role --------------------------------------------------------------

READS: dict[str, tuple[Callable[[World], str], frozenset[str]]] = {
    "campaign-list": (lambda w: f"{API}/campaigns/", EVERYONE),
    "campaign-detail": (lambda w: f"{API}/campaigns/{w.campaign.pk}/", EVERYONE),
    "campaign-dispositions": (lambda w: f"{API}/campaigns/{w.campaign.pk}/dispositions/", EVERYONE),
    "campaign-stats": (lambda w: f"{API}/campaigns/{w.campaign.pk}/stats/", READERS),
    "contact-list-list": (lambda w: f"{API}/contact-lists/", READERS),
    "contact-list-detail": (lambda w: f"{API}/contact-lists/{w.contact_list.pk}/", READERS),
    "lead-list": (lambda w: f"{API}/leads/", READERS),
    "lead-detail": (lambda w: f"{API}/leads/{w.lead.pk}/", READERS),
    "dnc-list-list": (lambda w: f"{API}/dnc-lists/", READERS),
    "dnc-list-detail": (lambda w: f"{API}/dnc-lists/{w.dnc_list.pk}/", READERS),
    "dnc-entry-list": (lambda w: f"{API}/dnc-entries/", READERS),
    "dnc-entry-detail": (lambda w: f"{API}/dnc-entries/{w.entry.pk}/", READERS),
    "contact-log-list": (lambda w: f"{API}/contact-log/", READERS),
}


@pytest.mark.parametrize("role", [ANONYMOUS, *ROLES])
@pytest.mark.parametrize("endpoint", list(READS))
def test_each_read_answers_each_role_as_its_rule_says(
    endpoint: str, role: str, world: World, make_user: Callable[..., User]
) -> None:
    # Given a user of the role (an agent of the campaign's own queue)
    url, allowed = READS[endpoint]
    client = _client(_user_for(role, world, make_user))

    # When they read it
    response = client.get(url(world))

    # Then readers get it, others are refused, anonymous must sign in
    expected = 401 if role == ANONYMOUS else 200 if role in allowed else 403
    assert response.status_code == expected, response.content


@dataclass(frozen=True)
class Write:
    method: str
    url: Callable[[World], str]
    body: Callable[[World], dict[str, Any]]
    ok: int
    format: str = "json"


CSV = b"First,Last,Mobile\nAda,Lovelace,+14155550142\nAlan,Turing,+14155550143\n"


def _upload(**fields: Any) -> dict[str, Any]:
    return {"name": "November renewals", "file": SimpleUploadedFile("leads.csv", CSV, "text/csv"), **fields}


WRITES: dict[str, Write] = {
    "contact-list-create": Write(
        "post",
        lambda w: f"{API}/contact-lists/",
        lambda w: _upload(campaign=w.campaign.pk, mapping='{"first_name": "First", "phone": "Mobile"}'),
        201,
        "multipart",
    ),
    "campaign-create": Write("post", lambda w: f"{API}/campaigns/", lambda w: {"name": "Winback"}, 201),
    "campaign-update": Write(
        "put", lambda w: f"{API}/campaigns/{w.campaign.pk}/", lambda w: {"name": "Renewals Q4"}, 200
    ),
    "campaign-partial-update": Write(
        "patch", lambda w: f"{API}/campaigns/{w.campaign.pk}/", lambda w: {"caller_id": "+14155550111"}, 200
    ),
    "campaign-start": Write("post", lambda w: f"{API}/campaigns/{w.campaign.pk}/start/", lambda w: {}, 200),
    "campaign-pause": Write(
        "post", lambda w: f"{API}/campaigns/{w.campaign.pk}/pause/", lambda w: {"reason": "lunch"}, 200
    ),
    "campaign-resume": Write("post", lambda w: f"{API}/campaigns/{w.campaign.pk}/resume/", lambda w: {}, 200),
    "campaign-complete": Write(
        "post", lambda w: f"{API}/campaigns/{w.campaign.pk}/complete/", lambda w: {}, 200
    ),
    "dnc-list-create": Write(
        "post", lambda w: f"{API}/dnc-lists/", lambda w: {"name": "US registry", "kind": "national"}, 201
    ),
    "dnc-entry-create": Write(
        "post",
        lambda w: f"{API}/dnc-entries/",
        lambda w: {"number": "+1 415 555 0123", "dnc_list": w.dnc_list.pk},
        201,
    ),
}


@pytest.mark.parametrize("role", [ANONYMOUS, *ROLES])
@pytest.mark.parametrize("endpoint", list(WRITES))
def test_each_write_is_for_managers_and_a_refused_one_changes_nothing(
    endpoint: str, role: str, world: World, make_user: Callable[..., User]
) -> None:
    # Given a user of the role and the data as it is
    write = WRITES[endpoint]
    client = _client(_user_for(role, world, make_user))
    before = _state()

    # When they send the write
    response = getattr(client, write.method)(write.url(world), write.body(world), format=write.format)

    # Then marketers and admins succeed; everybody else is refused and nothing changed
    if role in MANAGERS:
        assert response.status_code == write.ok, response.content
        assert _state() != before or endpoint in {"campaign-start", "campaign-resume"}
    else:
        assert response.status_code == (401 if role == ANONYMOUS else 403), response.content
        assert _state() == before


def test_agents_see_only_the_campaigns_their_queues_work(
    world: World, make_user: Callable[..., User]
) -> None:
    # Given a campaign of another queue and an agent of no campaign's queue
    other = CampaignFactory(name="Winback", queue=make_queue(channels=["voice"]))
    outsider = make_agent(make_queue(channels=["voice"]), available=False).user

    # When each agent lists campaigns and opens the other one
    mine = _client(world.agent).get(f"{API}/campaigns/").json()
    theirs = _client(world.agent).get(f"{API}/campaigns/{other.pk}/")
    nothing = _client(outsider).get(f"{API}/campaigns/").json()

    # Then each sees only their queues' campaigns
    assert [row["id"] for row in mine["results"]] == [world.campaign.pk]
    assert theirs.status_code == 404
    assert theirs.json() == {"detail": f"No campaign has id {other.pk}."}
    assert nothing["count"] == 0


# --- campaigns --------------------------------------------------------------------------------


def test_a_marketer_creates_a_draft_with_its_lists_and_retry_rules(
    marketer: User, django_capture_on_commit_callbacks: Any
) -> None:
    # Given a voice queue and two contact lists
    queue = make_queue(channels=["voice"])
    october, november = ContactListFactory(name="October"), ContactListFactory(name="November")

    # When the marketer creates a campaign with both lists and two rules
    response = _client(marketer).post(
        f"{API}/campaigns/",
        {
            "name": "Renewals",
            "queue": queue.pk,
            "dial_mode": "progressive",
            "window_start": "10:00",
            "window_end": "18:30",
            "window_days": ["mon", "wed"],
            "time_zone": "America/Chicago",
            "lists": [
                {"contact_list": october.pk},
                {"contact_list": november.pk, "priority": 5, "weight": 2},
            ],
            "retry_rules": [
                {"category": "no_answer", "delay_minutes": 90},
                {"category": "busy", "delay_minutes": 10, "max_attempts": 2},
            ],
        },
        format="json",
    )

    # Then a draft exists with exactly those settings, lists and rules
    assert response.status_code == 201, response.content
    body = response.json()
    campaign = Campaign.objects.get()
    assert response["Location"] == f"{API}/campaigns/{campaign.pk}/"
    assert (body["status"], body["queue"], body["dial_mode"], body["window_days"]) == (
        "draft",
        queue.pk,
        "progressive",
        ["mon", "wed"],
    )
    assert (body["window_start"], body["window_end"], body["created_by"]) == (
        "10:00",
        "18:30",
        marketer.pk,
    )
    assert sorted(
        RetryRule.objects.filter(campaign=campaign).values_list(
            "category", "disposition_id", "delay_minutes", "max_attempts"
        )
    ) == [("busy", None, 10, 2), ("no_answer", None, 90, None)]
    assert [rule["category"] for rule in body["retry_rules"]] == ["busy", "no_answer"]
    assert body["lists"] == [
        {"contact_list": november.pk, "priority": 5, "weight": 2},
        {"contact_list": october.pk, "priority": 0, "weight": 1},
    ]
    assert sorted(
        CampaignList.objects.filter(campaign=campaign).values_list("contact_list_id", "priority", "weight")
    ) == sorted([(october.pk, 0, 1), (november.pk, 5, 2)])


def test_a_patch_replaces_the_category_rules_and_keeps_disposition_rules_and_other_settings(
    world: World, marketer: User
) -> None:
    # Given a campaign with a category rule and a rule for one disposition (set in the admin)
    RetryRule.objects.create(campaign=world.campaign, category="busy", delay_minutes=5)
    RetryRule.objects.create(
        campaign=world.campaign, category="busy", disposition=world.disposition, delay_minutes=3
    )

    # When the marketer sends only new rules
    response = _client(marketer).patch(
        f"{API}/campaigns/{world.campaign.pk}/",
        {"retry_rules": [{"category": "voicemail", "delay_minutes": 1440}]},
        format="json",
    )

    # Then the category rules are exactly the new ones, the disposition's stays; the name is unchanged
    assert response.status_code == 200, response.content
    assert sorted(RetryRule.objects.values_list("category", "disposition_id", "delay_minutes")) == [
        ("busy", world.disposition.pk, 3),
        ("voicemail", None, 1440),
    ]
    assert response.json()["name"] == "Renewals"
    assert response.json()["version"] == world.campaign.version + 1


def test_a_patch_of_lists_attaches_new_ones_and_detaches_the_others(world: World, marketer: User) -> None:
    # Given a campaign dialling one list, and another list
    other = ContactListFactory(name="Winback")

    # When the marketer gives it only the other list
    response = _client(marketer).patch(
        f"{API}/campaigns/{world.campaign.pk}/",
        {"lists": [{"contact_list": other.pk, "weight": 3}]},
        format="json",
    )

    # Then it dials only that one; the old link stays for the figures, inactive
    assert response.status_code == 200, response.content
    assert response.json()["lists"] == [{"contact_list": other.pk, "priority": 0, "weight": 3}]
    assert sorted(
        CampaignList.objects.filter(campaign=world.campaign).values_list("contact_list_id", "is_active")
    ) == sorted([(world.contact_list.pk, False), (other.pk, True)])
    assert Lead.objects.filter(pk=world.lead.pk).exists()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (
            {"retry_rules": [{"category": "busy", "delay_minutes": 5}] * 2},
            "retry_rules",
            "Category busy has two rules",
        ),
        (
            {"retry_rules": [{"category": "busy", "disposition": "DISPOSITION", "delay_minutes": 5}]},
            "retry_rules",
            "set a rule for one disposition in the admin",
        ),
        ({"retry_rules": [{"category": "busy"}]}, "retry_rules", "delay_minutes"),
        (
            {"retry_rules": [{"category": "busy", "delay_minutes": 0}]},
            "retry_rules",
            "greater than or equal to 1",
        ),
        ({"retry_rules": {"category": "busy"}}, "retry_rules", "Expected a list"),
        ({"lists": [{"contact_list": 999999}]}, "lists", "does not exist"),
        ({"lists": [{"weight": 2}]}, "lists", "contact_list"),
        ({"lists": [{"contact_list": "LIST"}] * 2}, "lists", "is given twice"),
        ({"lists": [{"contact_list": "LIST", "weight": 0}]}, "lists", "greater than or equal to 1"),
        ({"retry_rules": [{"category": "someday", "delay_minutes": 5}]}, "retry_rules", "not a valid choice"),
        ({"window_start": "18:00", "window_end": "09:00"}, "detail", "window_end"),
        ({"window_days": ["mon", "someday"]}, "window_days", "not a valid choice"),
        ({"time_zone": "Mars/Olympus"}, "detail", "time_zone"),
        ({"channel": "fax"}, "channel", "not a valid choice"),
        ({"queue": 2**70}, "queue", "does not exist"),
        ({"queue": 999999}, "queue", "does not exist"),
        ({"disposition_set": "abc"}, "disposition_set", "Incorrect type"),
        ({"max_attempts_per_lead": 0}, "max_attempts_per_lead", "greater than or equal to 1"),
    ],
)
def test_bad_settings_are_a_400_naming_the_field_and_change_nothing(
    world: World, marketer: User, body: dict[str, Any], field: str, message: str
) -> None:
    # Given the campaign as it is
    if (
        isinstance(body.get("retry_rules"), list)
        and body["retry_rules"][0].get("disposition") == "DISPOSITION"
    ):
        body = {"retry_rules": [{**body["retry_rules"][0], "disposition": world.disposition.pk}]}
    if body.get("lists") and body["lists"][0].get("contact_list") == "LIST":
        body = {"lists": [{**link, "contact_list": world.contact_list.pk} for link in body["lists"]]}
    before = _state()

    # When the marketer sends a bad value
    response = _client(marketer).patch(f"{API}/campaigns/{world.campaign.pk}/", body, format="json")

    # Then a 400 names it and nothing changed
    assert response.status_code == 400, response.content
    assert message in str(response.json()[field])
    assert _state() == before


def test_status_actions_move_the_campaign_and_are_audited(marketer: User) -> None:
    # Given a draft voice campaign with its queue
    campaign = CampaignFactory(status=CampaignStatus.DRAFT, queue=make_queue(channels=["voice"]))
    client = _client(marketer)
    url = f"{API}/campaigns/{campaign.pk}"

    # When the marketer starts, pauses, resumes and completes it
    statuses = [
        client.post(f"{url}/{verb}/", {"reason": f"{verb} now"}, format="json").json()["status"]
        for verb in ("start", "pause", "resume", "complete")
    ]

    # Then it went through each status, each change audited with its reason
    assert statuses == ["active", "paused", "active", "completed"]
    assert list(
        CampaignStatusChange.objects.filter(campaign=campaign)
        .order_by("at", "id")
        .values_list("to_status", "reason")
    ) == [
        ("active", "start now"),
        ("paused", "pause now"),
        ("active", "resume now"),
        ("completed", "complete now"),
    ]


def test_a_completed_campaign_neither_starts_nor_changes(marketer: User) -> None:
    # Given a completed campaign
    campaign = CampaignFactory(status=CampaignStatus.COMPLETED, queue=make_queue(channels=["voice"]))
    client = _client(marketer)
    before = _state()

    # When the marketer tries to start it, rename it or give it rules
    started = client.post(f"{API}/campaigns/{campaign.pk}/start/", {}, format="json")
    renamed = client.patch(f"{API}/campaigns/{campaign.pk}/", {"name": "Again"}, format="json")
    ruled = client.patch(
        f"{API}/campaigns/{campaign.pk}/",
        {"retry_rules": [{"category": "busy", "delay_minutes": 5}]},
        format="json",
    )
    listed = client.patch(
        f"{API}/campaigns/{campaign.pk}/",
        {"lists": [{"contact_list": ContactListFactory().pk}]},
        format="json",
    )
    before["contact_lists"] = list(ContactList.objects.order_by("pk").values())

    # Then each is a 409 saying why, and nothing changed
    assert (started.status_code, started.json()["code"]) == (409, "invalid_status_change")
    assert (renamed.status_code, ruled.status_code, listed.status_code) == (409, 409, 409)
    assert "completed" in renamed.json()["detail"]
    assert _state() == before


def test_a_voice_campaign_without_a_queue_does_not_start(marketer: User) -> None:
    campaign = CampaignFactory(status=CampaignStatus.DRAFT, queue=None)

    response = _client(marketer).post(f"{API}/campaigns/{campaign.pk}/start/", {}, format="json")

    assert response.status_code == 409
    assert "queue" in response.json()["detail"]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_campaign_list_filters_and_refuses_unknown_values(marketer: User) -> None:
    # Given a draft SMS campaign and an active voice one
    sms = CampaignFactory(name="Texts", channel="sms", status=CampaignStatus.DRAFT)
    CampaignFactory(name="Calls")
    client = _client(marketer)

    # When the marketer filters, and sends values that are no status or channel
    drafts = client.get(f"{API}/campaigns/?status=draft&channel=sms").json()
    bad_status = client.get(f"{API}/campaigns/?status=running")
    bad_channel = client.get(f"{API}/campaigns/?channel=fax")

    # Then the filter holds, and the bad values are 400s naming the parameter
    assert [row["id"] for row in drafts["results"]] == [sms.pk]
    assert bad_status.status_code == 400 and "status" in bad_status.json()
    assert bad_channel.status_code == 400 and "channel" in bad_channel.json()


@pytest.mark.parametrize("raw", [str(2**70), "1.5", "abc", "0", "-1"])
def test_a_path_id_that_names_no_campaign_is_a_404(marketer: User, raw: str) -> None:
    response = _client(marketer).get(f"{API}/campaigns/{raw}/")

    assert response.status_code == 404
    assert response.json() == {"detail": f"No campaign has id {raw}."}


def test_a_duplicate_campaign_name_is_a_400_naming_the_field(world: World, marketer: User) -> None:
    response = _client(marketer).post(f"{API}/campaigns/", {"name": "Renewals"}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"].startswith("name:")
    assert Campaign.objects.count() == 1


def test_campaign_list_costs_the_same_queries_for_many_campaigns(
    marketer: User, django_assert_max_num_queries: Any
) -> None:
    # Given 25 campaigns with two rules each
    for n in range(25):
        campaign = CampaignFactory(name=f"Campaign {n:02d}")
        RetryRule.objects.create(campaign=campaign, category="busy", delay_minutes=5)
        RetryRule.objects.create(campaign=campaign, category="no_answer", delay_minutes=60)
        attach_list(campaign, name=f"List {n:02d}")
    client = _client(marketer)

    # When the marketer lists them
    with django_assert_max_num_queries(8):
        body = client.get(f"{API}/campaigns/").json()

    # Then every campaign comes with its rules and its list
    assert body["count"] == 25
    assert all(len(row["retry_rules"]) == 2 for row in body["results"])
    assert all(len(row["lists"]) == 1 for row in body["results"])


# --- stats and dispositions -------------------------------------------------------------------


def test_stats_count_leads_by_status_today_and_the_30_day_abandon_rate(
    supervisor: User, django_assert_max_num_queries: Any
) -> None:
    # Given leads in three statuses, and attempts today, last week and two months ago
    campaign = CampaignFactory(time_zone="UTC")
    leads = [LeadFactory(campaign=campaign, status=s) for s in ("new", "new", "retry", "done")]
    now = timezone.now()

    def attempt(started: dt.datetime, status: str, answered: bool = False, connected: bool = False) -> None:
        LeadAttempt.objects.create(
            lead=leads[0],
            campaign=campaign,
            channel="voice",
            contact=leads[0].contact,
            status=status,
            started_at=started,
            answered_at=started if answered else None,
            connected_at=started if connected else None,
        )

    today = max(now - dt.timedelta(minutes=1), now.replace(hour=0, minute=0, second=1))
    attempt(today, AttemptStatus.ENDED, answered=True, connected=True)
    attempt(today, AttemptStatus.ABANDONED, answered=True)
    attempt(today, AttemptStatus.FAILED)
    attempt(now - dt.timedelta(days=7), AttemptStatus.ENDED, answered=True, connected=True)
    attempt(now - dt.timedelta(days=60), AttemptStatus.ABANDONED, answered=True)

    # When a supervisor reads the figures
    client = _client(supervisor)
    with django_assert_max_num_queries(7):
        body = client.get(f"{API}/campaigns/{campaign.pk}/stats/").json()

    # Then they are exact: 1 abandoned of 3 answered in 30 days
    assert body["leads_total"] == 4
    assert body["leads_by_status"] == {**dict.fromkeys(LeadStatus.values, 0), "new": 2, "retry": 1, "done": 1}
    assert (
        body["attempts_today"],
        body["answered_today"],
        body["connected_today"],
        body["abandoned_today"],
    ) == (
        3,
        2,
        1,
        1,
    )
    assert body["abandon_rate_30_days"] == 33.33
    assert body["max_abandon_percent"] == "3.00"


def test_stats_of_a_campaign_without_answers_have_no_abandon_rate(supervisor: User) -> None:
    campaign = CampaignFactory()

    body = _client(supervisor).get(f"{API}/campaigns/{campaign.pk}/stats/").json()

    assert (body["leads_total"], body["attempts_today"], body["abandon_rate_30_days"]) == (0, 0, None)


def test_dispositions_are_the_campaigns_set_else_the_queues_else_the_catalog(world: World) -> None:
    # Given three dispositions, a set of two on the queue and a set of one on a second campaign
    sale = Disposition.objects.create(code="sale", label="Sale", category="sale")
    Disposition.objects.create(code="retired", label="Retired", category="other", is_active=False)
    queue_set = DispositionSet.objects.create(name="Queue outcomes")
    queue_set.dispositions.add(world.disposition, sale)
    campaign_set = DispositionSet.objects.create(name="Campaign outcomes")
    campaign_set.dispositions.add(sale)
    client = _client(world.agent)
    url = f"{API}/campaigns/{world.campaign.pk}/dispositions/"

    # When the agent reads the campaign's dispositions with no set anywhere, with the queue's, with the campaign's
    catalog = [row["code"] for row in client.get(url).json()]
    Queue.objects.filter(pk=world.queue.pk).update(disposition_set=queue_set)
    from_queue = [row["code"] for row in client.get(url).json()]
    Campaign.objects.filter(pk=world.campaign.pk).update(disposition_set=campaign_set)
    from_campaign = [row["code"] for row in client.get(url).json()]

    # Then each time the nearest set wins, and inactive dispositions never show
    assert catalog == ["busy", "sale"]
    assert from_queue == ["busy", "sale"]
    assert from_campaign == ["sale"]


# --- contact lists -----------------------------------------------------------------------------


def test_contact_lists_show_their_import_progress_and_rejected_rows(
    supervisor: User, django_assert_max_num_queries: Any
) -> None:
    # Given 22 lists attached to a campaign, one of them importing
    campaign = CampaignFactory()
    for n in range(21):
        attach_list(campaign, name=f"List {n:02d}", lead_count=n)
    job = ImportJob.objects.create(
        file="imports/leads.csv",
        file_name="leads.csv",
        status="running",
        total_rows=200,
        processed_rows=50,
        rejected_count=3,
    )
    importing = ContactListFactory(name="Importing", import_job=job)
    client = _client(supervisor)

    # When a supervisor lists them and opens the importing one
    with django_assert_max_num_queries(8):
        listed = client.get(f"{API}/contact-lists/").json()
    detail = client.get(f"{API}/contact-lists/{importing.pk}/").json()
    of_campaign = client.get(f"{API}/contact-lists/?campaign={campaign.pk}").json()

    # Then the import's status, progress and rejected rows are shown
    assert listed["count"] == 22
    assert (
        detail["rejected_count"],
        detail["import_job"]["status"],
        detail["import_job"]["progress_percent"],
    ) == (
        3,
        "running",
        25,
    )
    assert detail["campaigns"] == []
    assert of_campaign["count"] == 21
    assert all(row["campaigns"] == [campaign.pk] for row in of_campaign["results"])


def test_a_marketer_uploads_a_list_attached_to_a_campaign_and_its_import_starts(
    world: World, marketer: User, django_capture_on_commit_callbacks: Any
) -> None:
    # When the marketer uploads a file for the campaign, with priority and weight
    response = _client(marketer).post(
        f"{API}/contact-lists/",
        _upload(
            campaign=world.campaign.pk,
            priority=3,
            weight=2,
            mapping='{"first_name": "First", "last_name": "Last", "phone": "Mobile"}',
        ),
        format="multipart",
    )

    # Then the list exists, attached with those settings, its import job pending
    assert response.status_code == 201, response.content
    body = response.json()
    contact_list = ContactList.objects.get(pk=body["id"])
    assert response["Location"] == f"{API}/contact-lists/{contact_list.pk}/"
    assert (body["name"], body["source"], body["campaigns"]) == (
        "November renewals",
        "upload",
        [world.campaign.pk],
    )
    assert body["import_job"]["status"] == "pending"
    assert body["import_job"]["file_name"] == "leads.csv"
    link = contact_list.campaign_links.get()
    assert (link.campaign_id, link.priority, link.weight) == (world.campaign.pk, 3, 2)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"mapping": '{"phone": "Telephone"}'}, "detail"),
        ({"mapping": "[1, 2]"}, "mapping"),
        ({"campaign": 2**70}, "campaign"),
        ({"campaign": "abc"}, "campaign"),
        ({"weight": 0}, "weight"),
        ({"appointment_field": "Mobile"}, "detail"),
        ({"name": ""}, "name"),
    ],
)
def test_a_bad_upload_is_a_400_and_saves_nothing(
    world: World, marketer: User, fields: dict[str, Any], field: str
) -> None:
    before = _state()

    response = _client(marketer).post(f"{API}/contact-lists/", _upload(**fields), format="multipart")

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert _state() == before
    assert ImportJob.objects.count() == 0


def test_a_completed_campaign_takes_no_new_list(world: World, marketer: User) -> None:
    Campaign.objects.filter(pk=world.campaign.pk).update(status=CampaignStatus.COMPLETED)
    before = _state()

    response = _client(marketer).post(
        f"{API}/contact-lists/", _upload(campaign=world.campaign.pk), format="multipart"
    )

    assert response.status_code == 400
    assert response.json()["detail"].startswith("campaign:")
    assert _state() == before


def test_contact_list_filter_refuses_an_id_that_is_none(supervisor: User) -> None:
    response = _client(supervisor).get(f"{API}/contact-lists/?campaign=abc")

    assert response.status_code == 400
    assert "campaign" in response.json()


# --- leads ------------------------------------------------------------------------------------


def test_lead_filters_select_exactly_the_matching_leads(world: World, supervisor: User) -> None:
    # Given leads in several states
    now = timezone.now()
    due = LeadFactory(campaign=world.campaign, status=LeadStatus.RETRY, attempts=2, next_attempt_at=now)
    later = LeadFactory(
        campaign=world.campaign,
        status=LeadStatus.RETRY,
        attempts=3,
        next_attempt_at=now + dt.timedelta(hours=1),
    )
    done = LeadFactory(
        campaign=world.campaign, status=LeadStatus.DONE, attempts=4, last_disposition=world.disposition
    )
    other = LeadFactory(campaign=CampaignFactory(), status=LeadStatus.NEW)
    client = _client(supervisor)

    def ids(query: str) -> list[int]:
        response = client.get(f"{API}/leads/?{query}")
        assert response.status_code == 200, response.content
        return sorted(row["id"] for row in response.json()["results"])

    # When filtering; Then each filter holds
    assert ids(f"campaign={world.campaign.pk}") == sorted([world.lead.pk, due.pk, later.pk, done.pk])
    assert ids(f"contact_list={world.contact_list.pk}") == [world.lead.pk]
    assert ids("status=retry") == sorted([due.pk, later.pk])
    assert ids(f"disposition={world.disposition.pk}") == [done.pk]
    assert ids("attempts_min=3&attempts_max=3") == [later.pk]
    assert ids(f"due=true&campaign={world.campaign.pk}") == sorted([world.lead.pk, due.pk])
    assert ids("due=false") == sorted([later.pk, done.pk])
    assert other.pk in ids("status=new")


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("campaign=abc", "campaign"),
        (f"campaign={2**70}", "campaign"),
        ("contact_list=1.5", "contact_list"),
        ("status=pending", "status"),
        ("disposition=-3", "disposition"),
        ("attempts_min=lots", "attempts_min"),
        ("attempts_max=99999", "attempts_max"),
        ("due=maybe", "due"),
    ],
)
def test_bad_lead_filters_are_a_400_naming_the_filter(supervisor: User, query: str, param: str) -> None:
    response = _client(supervisor).get(f"{API}/leads/?{query}")

    assert response.status_code == 400
    assert list(response.json()) == [param]


def test_a_lead_comes_with_its_attempts_newest_first_in_fixed_queries(
    world: World, supervisor: User, django_assert_max_num_queries: Any
) -> None:
    # Given 20 more attempts on the lead
    for minutes in range(1, 21):
        LeadAttempt.objects.create(
            lead=world.lead,
            campaign=world.campaign,
            channel="voice",
            contact=world.lead.contact,
            status=AttemptStatus.FAILED,
            disposition=world.disposition,
            started_at=timezone.now() - dt.timedelta(minutes=minutes),
        )

    # When a supervisor opens it
    client = _client(supervisor)
    with django_assert_max_num_queries(6):
        body = client.get(f"{API}/leads/{world.lead.pk}/").json()

    # Then its 21 attempts are nested, newest first, with their disposition
    history = body["attempt_history"]
    assert len(history) == 21
    assert history[0]["status"] == "ended"
    assert [row["started_at"] for row in history] == sorted(
        (row["started_at"] for row in history), reverse=True
    )
    assert {row["disposition_code"] for row in history} == {"busy"}


def test_lead_list_costs_the_same_queries_for_many_leads(
    world: World, supervisor: User, django_assert_max_num_queries: Any
) -> None:
    for _ in range(24):
        LeadFactory(campaign=world.campaign, last_disposition=world.disposition)

    client = _client(supervisor)
    with django_assert_max_num_queries(6):
        body = client.get(f"{API}/leads/").json()

    assert body["count"] == 25
    assert {row["last_disposition_code"] for row in body["results"]} == {"busy", None}


# --- do-not-call ------------------------------------------------------------------------------


def test_a_campaign_dnc_list_names_its_campaign_and_a_national_one_none(
    world: World, admin_user: User
) -> None:
    client = _client(admin_user)
    before = _state()

    no_campaign = client.post(f"{API}/dnc-lists/", {"name": "Winback DNC", "kind": "campaign"}, format="json")
    national_with_campaign = client.post(
        f"{API}/dnc-lists/", {"name": "US", "kind": "national", "campaign": world.campaign.pk}, format="json"
    )
    internal = client.post(f"{API}/dnc-lists/", {"name": "Ours", "kind": "internal"}, format="json")
    duplicate = client.post(f"{API}/dnc-lists/", {"name": "Renewals DNC", "kind": "national"}, format="json")
    missing = client.post(
        f"{API}/dnc-lists/", {"name": "X", "kind": "campaign", "campaign": 99999999}, format="json"
    )

    assert [r.status_code for r in (no_campaign, national_with_campaign, internal, duplicate, missing)] == [
        400
    ] * 5
    assert no_campaign.json()["detail"].startswith("campaign:")
    assert national_with_campaign.json()["detail"].startswith("campaign:")
    assert "kind" in internal.json()
    assert duplicate.json()["detail"].startswith("name:")
    assert "campaign" in missing.json()
    assert _state() == before

    created = client.post(
        f"{API}/dnc-lists/",
        {"name": "Winback DNC", "kind": "campaign", "campaign": world.campaign.pk},
        format="json",
    )
    assert created.status_code == 201
    assert DncList.objects.filter(name="Winback DNC", kind="campaign", campaign=world.campaign).exists()


def test_a_number_in_any_form_goes_on_the_list_once_in_e164(world: World, marketer: User) -> None:
    client = _client(marketer)

    first = client.post(
        f"{API}/dnc-entries/",
        {"number": "(415) 555-0123", "dnc_list": world.dnc_list.pk, "reason": "asked"},
        format="json",
    )
    again = client.post(
        f"{API}/dnc-entries/", {"number": "+14155550123", "dnc_list": world.dnc_list.pk}, format="json"
    )
    internal = client.post(f"{API}/dnc-entries/", {"number": "415-555-0124"}, format="json")

    assert (first.status_code, first.json()["number"], first.json()["reason"]) == (
        201,
        "+14155550123",
        "asked",
    )
    assert again.json()["id"] == first.json()["id"]
    assert DncEntry.objects.filter(dnc_list=world.dnc_list, number="+14155550123").count() == 1
    world.dnc_list.refresh_from_db()
    assert world.dnc_list.entry_count == 1
    assert DncEntry.objects.get(number="+14155550124").dnc_list.kind == DncListKind.INTERNAL
    assert internal.status_code == 201


@pytest.mark.parametrize("number", ["not a number", "", "+1 415"])
def test_a_bad_number_is_a_400_naming_the_number_and_adds_nothing(
    world: World, marketer: User, number: str
) -> None:
    before = _state()

    response = _client(marketer).post(f"{API}/dnc-entries/", {"number": number}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["number"]
    assert _state() == before


def test_dnc_entries_are_looked_up_by_number_in_any_form(
    world: World, supervisor: User, django_assert_max_num_queries: Any
) -> None:
    # Given 25 numbers on the list
    for n in range(25):
        DncEntry.objects.create(dnc_list=world.dnc_list, number=f"+1415555{n + 200:04d}")
    client = _client(supervisor)

    with django_assert_max_num_queries(6):
        everything = client.get(f"{API}/dnc-entries/?dnc_list={world.dnc_list.pk}").json()
    found = client.get(f"{API}/dnc-entries/?number=(415) 555-0199").json()
    bad = client.get(f"{API}/dnc-entries/?number=call me")

    assert everything["count"] == 26
    assert [row["id"] for row in found["results"]] == [world.entry.pk]
    assert bad.status_code == 400 and list(bad.json()) == ["number"]


def test_dnc_lists_list_in_fixed_queries(supervisor: User, django_assert_max_num_queries: Any) -> None:
    for n in range(22):
        DncList.objects.create(name=f"Registry {n:02d}", kind=DncListKind.NATIONAL)

    client = _client(supervisor)
    with django_assert_max_num_queries(5):
        body = client.get(f"{API}/dnc-lists/?kind=national").json()

    assert body["count"] == 22


# --- contact log ------------------------------------------------------------------------------


def test_contact_log_filters_by_campaign_outcome_rule_channel_contact_and_time(
    world: World, supervisor: User, django_assert_max_num_queries: Any
) -> None:
    # Given 24 refusals of a do-not-call number an hour ago, and the world's allowed call now
    hour_ago = timezone.now() - dt.timedelta(hours=1)
    ContactLog.objects.bulk_create(
        ContactLog(
            at=hour_ago,
            campaign=world.campaign,
            channel="voice",
            contact="+14155550199",
            allowed=False,
            rule="dnc",
        )
        for _ in range(24)
    )
    client = _client(supervisor)

    def count(query: str) -> int:
        response = client.get(f"{API}/contact-log/?{query}")
        assert response.status_code == 200, response.content
        return int(response.json()["count"])

    with django_assert_max_num_queries(5):
        assert count(f"campaign={world.campaign.pk}") == 25
    assert count("allowed=false&rule=dnc") == 24
    assert count("allowed=true") == 1
    assert count("channel=sms") == 0
    assert count("contact=(415) 555-0199") == 24
    since = (hour_ago + dt.timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    assert count(f"since={since}") == 1
    assert count(f"until={since}") == 24
    # An offset PostgreSQL does not take is read as the same instant in UTC.
    assert count("since=0367-11-19T22:15:45%2B19:41") == 25


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("since=yesterday", "since"),
        ("until=2026-13-01", "until"),
        ("allowed=maybe", "allowed"),
        ("channel=fax", "channel"),
        ("campaign=abc", "campaign"),
        ("since=0001-01-01T00:00%2B01:00", "since"),  # before year 1 in UTC
        ("until=9999-12-31T23:59-05:00", "until"),  # after year 9999 in UTC
        ("rule=dnc%00", "rule"),
        ("contact=%00", "contact"),
    ],
)
def test_bad_contact_log_filters_are_a_400_naming_the_filter(
    supervisor: User, query: str, param: str
) -> None:
    response = _client(supervisor).get(f"{API}/contact-log/?{query}")

    assert response.status_code == 400
    assert list(response.json()) == [param]
