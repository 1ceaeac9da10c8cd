"""The outbound admin: every page renders for the Admin role and nobody else gets in; campaign
settings and status go through the services; lead bulk actions call services.leads; the
campaign's figures are exact; the dial log and the attempts are read only."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from apps.accounts.models import User
from apps.campaigns.admin import campaign_figures
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
)
from apps.campaigns.services.campaigns import campaign_create
from apps.campaigns.services.dnc import internal_list
from apps.core.models import AuditEntry
from apps.customers.models import ImportJob
from apps.interactions.models import Disposition, DispositionCategory, DispositionSet
from tests.campaigns.factories import CampaignFactory, LeadFactory, attach_list, make_voice_campaign
from tests.interactions.factories import make_queue

pytestmark = pytest.mark.django_db

NOW = timezone.now()


@pytest.fixture
def staff(client: Client, admin_user: User) -> Client:
    client.force_login(admin_user)
    return client


def _url(model: str, view: str, *args: object) -> str:
    return reverse(f"admin:campaigns_{model}_{view}", args=args)


def _action(client: Client, model: str, action: str, ids: list[int], **extra: Any) -> Any:
    data = {"action": action, "_selected_action": [str(i) for i in ids], **extra}
    return client.post(_url(model, "changelist"), data)


def _messages(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def _leads() -> list[tuple[Any, ...]]:
    return list(Lead.objects.order_by("pk").values_list("pk", "campaign_id", "status", "attempts"))


def _attempt(lead: Lead, status: str, started_at: dt.datetime, answered: bool = False) -> LeadAttempt:
    return LeadAttempt.objects.create(
        lead=lead,
        campaign_id=lead.campaign_id,
        channel="voice",
        contact=lead.contact,
        status=status,
        started_at=started_at,
        answered_at=started_at if answered else None,
    )


@pytest.fixture
def one_of_each(admin_user: User) -> dict[str, Any]:
    campaign = make_voice_campaign(status=CampaignStatus.DRAFT)
    job = ImportJob.objects.create(
        file="imports/leads.csv", file_name="leads.csv", status="done", total_rows=3, processed_rows=3
    )
    contact_list = attach_list(campaign, import_job=job)
    lead = LeadFactory(campaign=campaign, contact_list=contact_list)
    attempt = _attempt(lead, AttemptStatus.ENDED, NOW)
    log = ContactLog.objects.create(
        at=NOW,
        campaign=campaign,
        lead=lead,
        channel="voice",
        contact=lead.contact,
        allowed=True,
        rule="allowed",
    )
    dnc_list = internal_list()
    entry = DncEntry.objects.create(dnc_list=dnc_list, number="+14155550199", reason="asked")
    return {
        "campaign": campaign,
        "contactlist": contact_list,
        "lead": lead,
        "leadattempt": attempt,
        "contactlog": log,
        "dnclist": dnc_list,
        "dncentry": entry,
    }


# --- every page --------------------------------------------------------------------------------


# model -> (add page status, change page status)
PAGES = {
    "campaign": (200, 200),
    "contactlist": (200, 200),
    "lead": (403, 200),
    "leadattempt": (403, 200),
    "contactlog": (403, 200),
    "dnclist": (200, 200),
    "dncentry": (200, 200),
}


@pytest.mark.parametrize("model", sorted(PAGES))
def test_every_page_renders_for_an_admin(staff: Client, one_of_each: dict[str, Any], model: str) -> None:
    obj = one_of_each[model]
    add, change = PAGES[model]

    listing = staff.get(_url(model, "changelist"))
    adding = staff.get(_url(model, "add"))
    changing = staff.get(_url(model, "change", obj.pk))
    history = staff.get(_url(model, "history", obj.pk))

    assert (listing.status_code, adding.status_code, changing.status_code, history.status_code) == (
        200,
        add,
        change,
        200,
    )
    assert len(listing.context["cl"].result_list) == 1


@pytest.mark.parametrize("role", ["Agent", "Supervisor", "Marketer", None])
def test_nobody_but_the_admin_role_opens_the_outbound_admin(
    client_for: Any, one_of_each: dict[str, Any], role: str | None
) -> None:
    client = client_for(role)

    for model in PAGES:
        response = client.get(_url(model, "changelist"))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


# --- campaigns ---------------------------------------------------------------------------------


def _campaign_form(**overrides: Any) -> dict[str, Any]:
    data = {
        "name": "Renewals",
        "description": "",
        "channel": "voice",
        "dial_mode": "preview",
        "queue": str(make_queue(channels=["voice"]).pk),
        "caller_id": "+14155550100",
        "lines_per_agent": "2",
        "max_abandon_percent": "3",
        "window_start": "09:00",
        "window_end": "20:00",
        "window_days": '["mon", "tue"]',
        "time_zone": "America/Chicago",
        "max_attempts_per_lead": "5",
        "max_attempts_per_number": "3",
        "sends_per_minute": "60",
        "broadcast_action": "press_one",
        "broadcast_lines": "10",
    }
    for prefix in ("list_links", "retry_rules", "status_changes"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    data.update(overrides)
    return data


def test_adding_a_campaign_creates_a_draft_through_the_service(staff: Client, admin_user: User) -> None:
    response = staff.post(_url("campaign", "add"), _campaign_form())

    assert response.status_code == 302
    campaign = Campaign.objects.get(name="Renewals")
    assert (campaign.status, campaign.version, campaign.created_by, campaign.window_days) == (
        CampaignStatus.DRAFT,
        1,
        admin_user,
        ["mon", "tue"],
    )
    assert CampaignStatusChange.objects.get(campaign=campaign).to_status == CampaignStatus.DRAFT


def test_a_window_that_ends_before_it_starts_is_shown_on_its_field_and_nothing_is_saved(
    staff: Client,
) -> None:
    response = staff.post(_url("campaign", "add"), _campaign_form(window_start="18:00", window_end="10:00"))

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors["window_end"] == ["window_end: the calling window must end after it starts."]
    assert not Campaign.objects.exists()


def test_a_bad_time_zone_is_refused_on_its_field(staff: Client) -> None:
    response = staff.post(_url("campaign", "add"), _campaign_form(time_zone="Mars/Olympus"))

    assert response.context["adminform"].form.errors["time_zone"] == [
        "time_zone: 'Mars/Olympus' is not an IANA time zone."
    ]
    assert not Campaign.objects.exists()


def test_editing_a_campaign_goes_through_campaign_update_with_inlines(
    staff: Client, admin_user: User
) -> None:
    campaign = campaign_create(actor=admin_user, name="Winback", queue=make_queue(channels=["voice"]))
    contact_list = ContactList.objects.create(name="Lapsed")
    lead = LeadFactory(campaign=campaign, contact_list=contact_list, priority=0)
    data = _campaign_form(name="Winback", queue=str(campaign.queue_id), max_attempts_per_lead="7")
    data.update(
        {
            "list_links-TOTAL_FORMS": "1",
            "list_links-0-contact_list": str(contact_list.pk),
            "list_links-0-priority": "4",
            "list_links-0-weight": "2",
            "list_links-0-is_active": "on",
            "retry_rules-TOTAL_FORMS": "1",
            "retry_rules-0-category": "busy",
            "retry_rules-0-delay_minutes": "10",
        }
    )

    response = staff.post(_url("campaign", "change", campaign.pk), data)

    assert response.status_code == 302
    campaign.refresh_from_db()
    assert (campaign.max_attempts_per_lead, campaign.version) == (7, 2)
    link = CampaignList.objects.get(campaign=campaign)
    assert (link.contact_list_id, link.priority, link.weight) == (contact_list.pk, 4, 2)
    assert list(campaign.retry_rules.values_list("category", "delay_minutes")) == [("busy", 10)]
    assert Lead.objects.get(pk=lead.pk).priority == 4


def test_a_completed_campaign_is_shown_read_only(staff: Client) -> None:
    campaign = CampaignFactory(status=CampaignStatus.COMPLETED)

    page = staff.get(_url("campaign", "change", campaign.pk))
    refused = staff.post(_url("campaign", "change", campaign.pk), _campaign_form(name="Renamed"))

    assert page.status_code == 200 and page.context["has_change_permission"] is False
    assert refused.status_code == 403
    assert Campaign.objects.get(pk=campaign.pk).name == campaign.name


def test_status_actions_start_pause_resume_and_complete(staff: Client, admin_user: User) -> None:
    campaign = campaign_create(actor=admin_user, name="Renewals", queue=make_queue(channels=["voice"]))

    steps = []
    for action in ("start_campaigns", "pause_campaigns", "resume_campaigns", "complete_campaigns"):
        _action(staff, "campaign", action, [campaign.pk])
        campaign.refresh_from_db()
        steps.append(campaign.status)

    assert steps == ["active", "paused", "active", "completed"]
    changes = CampaignStatusChange.objects.filter(campaign=campaign).order_by("at", "id")
    assert [(c.from_status, c.to_status, c.actor, c.reason) for c in changes][1:] == [
        ("draft", "active", admin_user, "started in the admin"),
        ("active", "paused", admin_user, "paused in the admin"),
        ("paused", "active", admin_user, "resumed in the admin"),
        ("active", "completed", admin_user, "completed in the admin"),
    ]


def test_an_invalid_transition_is_a_message_not_an_error_page(staff: Client) -> None:
    done = CampaignFactory(name="Spring", status=CampaignStatus.COMPLETED)
    no_queue = CampaignFactory(name="Orphan", status=CampaignStatus.DRAFT)

    response = _action(staff, "campaign", "start_campaigns", [done.pk, no_queue.pk])
    followed = staff.get(response["Location"])

    assert response.status_code == 302
    assert _messages(followed) == [
        "Campaign Spring is completed: it cannot become active.",
        "A voice campaign needs the queue whose agents work it before it starts.",
    ]
    assert sorted(Campaign.objects.values_list("status", flat=True)) == ["completed", "draft"]
    assert not CampaignStatusChange.objects.exists()


def test_the_change_page_shows_exact_figures(staff: Client) -> None:
    campaign = make_voice_campaign(time_zone="UTC")
    new, retry, done = (
        LeadFactory(campaign=campaign),
        LeadFactory(campaign=campaign, status=LeadStatus.RETRY),
        LeadFactory(campaign=campaign, status=LeadStatus.DONE),
    )
    LeadFactory(campaign=campaign, status=LeadStatus.DONE)
    LeadFactory(status=LeadStatus.DONE)  # another campaign's
    midnight = dt.datetime.combine(NOW.date(), dt.time(0), tzinfo=dt.UTC)
    _attempt(new, AttemptStatus.ENDED, NOW, answered=True)
    _attempt(retry, AttemptStatus.ABANDONED, NOW, answered=True)
    _attempt(retry, AttemptStatus.FAILED, NOW)
    _attempt(done, AttemptStatus.ENDED, midnight - dt.timedelta(days=2), answered=True)
    _attempt(done, AttemptStatus.ENDED, midnight - dt.timedelta(days=3), answered=True)
    _attempt(done, AttemptStatus.ABANDONED, NOW - dt.timedelta(days=31), answered=True)

    figures = campaign_figures(campaign, now=NOW)
    page = staff.get(_url("campaign", "change", campaign.pk))

    assert figures["leads_by_status"] == {
        LeadStatus.NEW: 1,
        LeadStatus.RETRY: 1,
        LeadStatus.CALLBACK: 0,
        LeadStatus.IN_PROGRESS: 0,
        LeadStatus.DONE: 2,
        LeadStatus.EXHAUSTED: 0,
        LeadStatus.DNC: 0,
        LeadStatus.INVALID: 0,
    }
    assert (
        figures["leads_total"],
        figures["attempts_today"],
        figures["answered_today"],
        figures["answered_30d"],
        figures["abandoned_30d"],
        figures["abandon_rate_30d"],
    ) == (4, 3, 2, 4, 1, 25.0)
    html = page.content.decode()
    assert "<tr><td>abandon rate, last 30 days</td><td>25.00%</td></tr>" in html
    assert "<tr><td>attempts today</td><td>3</td></tr>" in html


def test_the_change_page_links_its_disposition_set(staff: Client) -> None:
    wrap_up = DispositionSet.objects.create(name="Sales outcomes")
    campaign = make_voice_campaign(disposition_set=wrap_up)

    page = staff.get(_url("campaign", "change", campaign.pk))

    assert reverse("admin:interactions_dispositionset_change", args=[wrap_up.pk]) in page.content.decode()


def test_the_campaign_list_links_the_dialer_schedule(staff: Client) -> None:
    from django.contrib import admin

    assert admin.site.is_registered(PeriodicTask)

    listing = staff.get(_url("campaign", "changelist"))

    assert reverse("admin:django_celery_beat_periodictask_changelist") in listing.content.decode()
    assert "Dialer schedule" in listing.content.decode()


def test_a_draft_may_be_deleted_a_started_campaign_may_not(staff: Client) -> None:
    draft = CampaignFactory(status=CampaignStatus.DRAFT)
    active = CampaignFactory(status=CampaignStatus.ACTIVE)

    assert staff.get(_url("campaign", "delete", draft.pk)).status_code == 200
    assert staff.post(_url("campaign", "delete", active.pk), {"post": "yes"}).status_code == 403
    assert Campaign.objects.filter(pk=active.pk).exists()


# --- contact lists -----------------------------------------------------------------------------


def test_the_list_shows_its_import_progress_and_links_the_error_report(staff: Client) -> None:
    job = ImportJob.objects.create(
        file="imports/x.csv",
        file_name="x.csv",
        status="running",
        total_rows=200,
        processed_rows=120,
        rejected_count=7,
    )
    contact_list = ContactList.objects.create(name="Spring", import_job=job, lead_count=113)
    CampaignList.objects.create(
        campaign=make_voice_campaign(name="Renewals"), contact_list=contact_list, priority=2
    )

    listing = staff.get(_url("contactlist", "changelist"))

    html = listing.content.decode()
    assert "Running: 120 of 200 rows, 7 rejected" in html
    assert reverse("customers:import_errors", args=[job.pk]) in html
    assert "Renewals (priority 2, weight 1)" in html


# --- leads -------------------------------------------------------------------------------------


def test_the_lead_list_query_count_is_bounded(staff: Client, django_assert_max_num_queries: Any) -> None:
    owner = User.objects.create_user(username="owner")
    busy = Disposition.objects.create(code="busy", label="Busy", category="busy", is_final=False)
    for n in range(30):
        campaign = make_voice_campaign()
        LeadFactory(
            campaign=campaign,
            contact_list=attach_list(campaign),
            last_disposition=busy,
            callback_owner=owner,
            contact=f"+1415555{n:04d}",
        )

    with django_assert_max_num_queries(12):
        response = staff.get(_url("lead", "changelist"))

    assert response.status_code == 200 and len(response.context["cl"].result_list) == 30


def test_the_other_lists_query_counts_are_bounded(staff: Client, django_assert_max_num_queries: Any) -> None:
    for _ in range(30):
        campaign = make_voice_campaign()
        lead = LeadFactory(campaign=campaign, contact_list=attach_list(campaign))
        _attempt(lead, AttemptStatus.ENDED, NOW)
        ContactLog.objects.create(
            at=NOW,
            campaign=campaign,
            lead=lead,
            channel="voice",
            contact=lead.contact,
            allowed=False,
            rule="dnc",
        )

    for model in ("campaign", "contactlist", "leadattempt", "contactlog"):
        with django_assert_max_num_queries(14):
            assert staff.get(_url(model, "changelist")).status_code == 200


LEAD_FILTERS = [
    ({"attempts": "0"}, ["fresh"]),
    ({"attempts": "1-2"}, ["twice"]),
    ({"attempts": "3+"}, ["spent"]),
    ({"due": "now"}, ["fresh"]),
    ({"due": "later"}, ["twice"]),
    ({"status__exact": "exhausted"}, ["spent"]),
    ({"q": "(415) 555-0102"}, ["twice"]),
]


@pytest.mark.parametrize(("query", "expected"), LEAD_FILTERS)
def test_lead_filters(staff: Client, query: dict[str, str], expected: list[str]) -> None:
    campaign = make_voice_campaign()
    LeadFactory(campaign=campaign, contact="+14155550101", attempts=0, fields={"name": "fresh"})
    LeadFactory(
        campaign=campaign,
        contact="+14155550102",
        attempts=2,
        status=LeadStatus.RETRY,
        next_attempt_at=NOW + dt.timedelta(hours=2),
        fields={"name": "twice"},
    )
    LeadFactory(
        campaign=campaign,
        contact="+14155550103",
        attempts=3,
        status=LeadStatus.EXHAUSTED,
        fields={"name": "spent"},
    )

    response = staff.get(_url("lead", "changelist"), query)

    assert [lead.fields["name"] for lead in response.context["cl"].result_list] == expected


def test_lead_filter_by_campaign_and_last_disposition(staff: Client) -> None:
    busy = Disposition.objects.create(code="busy", label="Busy", category="busy", is_final=False)
    one, two = make_voice_campaign(), make_voice_campaign()
    mine = LeadFactory(campaign=one, last_disposition=busy)
    LeadFactory(campaign=one)
    LeadFactory(campaign=two, last_disposition=busy)

    response = staff.get(
        _url("lead", "changelist"), {"campaign__id__exact": one.pk, "last_disposition__id__exact": busy.pk}
    )

    assert [lead.pk for lead in response.context["cl"].result_list] == [mine.pk]


def test_reset_action_calls_the_service(staff: Client, admin_user: User) -> None:
    campaign = make_voice_campaign()
    spent = LeadFactory(campaign=campaign, status=LeadStatus.EXHAUSTED, attempts=5)
    dnc = LeadFactory(campaign=campaign, status=LeadStatus.DNC, attempts=1)

    response = _action(staff, "lead", "reset_leads", [spent.pk, dnc.pk])

    assert response.status_code == 302
    assert _leads() == [(spent.pk, campaign.pk, "new", 0), (dnc.pk, campaign.pk, "dnc", 1)]
    assert AuditEntry.objects.get(action="leads.reset").actor == admin_user


def test_recycle_asks_which_dispositions_then_recycles(staff: Client) -> None:
    campaign = make_voice_campaign()
    busy = Disposition.objects.create(code="busy", label="Busy", category="busy", is_final=False)
    lead = LeadFactory(campaign=campaign, status=LeadStatus.EXHAUSTED, attempts=2, last_disposition=busy)

    form = _action(staff, "lead", "recycle_leads", [lead.pk], index="0")
    done = _action(
        staff,
        "lead",
        "recycle_leads",
        [lead.pk],
        apply="1",
        campaign=str(campaign.pk),
        dispositions=[str(busy.pk)],
    )

    assert form.status_code == 200
    assert form.context["form"].initial == {"campaign": campaign.pk, "dispositions": [busy.pk]}
    assert done.status_code == 302
    lead.refresh_from_db()
    assert (lead.status, lead.attempts) == (LeadStatus.RETRY, 2)


def test_recycle_without_a_disposition_asks_again(staff: Client) -> None:
    campaign = make_voice_campaign()
    lead = LeadFactory(campaign=campaign, status=LeadStatus.DONE)

    response = _action(staff, "lead", "recycle_leads", [lead.pk], apply="1", campaign=str(campaign.pk))

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == ["Choose at least one disposition or category."]
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.DONE


def test_move_asks_for_the_campaign_then_moves_and_says_what_it_skipped(staff: Client) -> None:
    source, target = make_voice_campaign(), make_voice_campaign(name="Winback")
    moving = LeadFactory(campaign=source, contact="+14155550101")
    taken = LeadFactory(campaign=source, contact="+14155550102")
    LeadFactory(campaign=target, contact="+14155550102")

    form = _action(staff, "lead", "move_leads", [moving.pk, taken.pk], index="0")
    done = _action(staff, "lead", "move_leads", [moving.pk, taken.pk], apply="1", to_campaign=str(target.pk))

    assert form.status_code == 200 and b'name="to_campaign"' in form.content
    assert Lead.objects.get(pk=moving.pk).campaign_id == target.pk
    assert Lead.objects.get(pk=taken.pk).campaign_id == source.pk
    assert _messages(staff.get(done["Location"])) == [
        "1 leads moved to Winback; 1 skipped (already in that campaign, or in a call)."
    ]


def test_mark_dnc_asks_for_the_reason_then_lists_the_numbers(staff: Client) -> None:
    lead = LeadFactory(campaign=make_voice_campaign(), contact="+14155550134")

    form = _action(staff, "lead", "mark_leads_dnc", [lead.pk], index="0")
    _action(staff, "lead", "mark_leads_dnc", [lead.pk], apply="1", reason="asked on the phone")

    assert form.status_code == 200 and b'name="reason"' in form.content
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.DNC
    assert list(DncEntry.objects.values_list("number", "reason", "dnc_list__kind")) == [
        ("+14155550134", "asked on the phone", DncListKind.INTERNAL)
    ]


@pytest.mark.parametrize("role", ["Marketer", "Supervisor", "Agent"])
@pytest.mark.parametrize("action", ["reset_leads", "move_leads", "mark_leads_dnc", "recycle_leads"])
def test_nobody_but_an_admin_runs_a_lead_action(client_for: Any, role: str, action: str) -> None:
    campaign, target = make_voice_campaign(), make_voice_campaign()
    busy = Disposition.objects.create(code="busy", label="Busy", category="busy", is_final=False)
    lead = LeadFactory(campaign=campaign, status=LeadStatus.EXHAUSTED, attempts=3, last_disposition=busy)
    before = _leads()

    response = _action(
        client_for(role),
        "lead",
        action,
        [lead.pk],
        apply="1",
        to_campaign=str(target.pk),
        reason="asked",
        campaign=str(campaign.pk),
        dispositions=[str(busy.pk)],
    )

    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    assert _leads() == before
    assert DncEntry.objects.count() == 0
    assert not AuditEntry.objects.filter(action__startswith="leads.").exists()


def test_a_lead_is_read_only_in_the_admin(staff: Client) -> None:
    lead = LeadFactory(campaign=make_voice_campaign(), attempts=1)

    page = staff.get(_url("lead", "change", lead.pk))
    refused = staff.post(_url("lead", "change", lead.pk), {"attempts": "0", "status": "done"})
    deleted = staff.post(_url("lead", "delete", lead.pk), {"post": "yes"})

    assert page.status_code == 200 and page.context["has_change_permission"] is False
    assert (refused.status_code, deleted.status_code) == (403, 403)
    assert Lead.objects.filter(pk=lead.pk, attempts=1, status="new").exists()


# --- the dial log and attempts -----------------------------------------------------------------


@pytest.mark.parametrize("model", ["contactlog", "leadattempt"])
def test_the_dial_log_and_attempts_refuse_add_change_and_delete(
    staff: Client, one_of_each: dict[str, Any], model: str
) -> None:
    obj = one_of_each[model]
    before = list(type(obj).objects.values())

    added = staff.post(_url(model, "add"), {"contact": "+14155550000"})
    changed = staff.post(_url(model, "change", obj.pk), {"contact": "+14155550000"})
    deleted = staff.post(_url(model, "delete", obj.pk), {"post": "yes"})
    bulk = _action(staff, model, "delete_selected", [obj.pk], post="yes")

    assert (added.status_code, changed.status_code, deleted.status_code) == (403, 403, 403)
    assert bulk.status_code == 200  # the admin offers no delete action: the list again
    assert list(type(obj).objects.values()) == before


def test_dial_log_filters(staff: Client) -> None:
    one, two = make_voice_campaign(), make_voice_campaign()
    keep = ContactLog.objects.create(
        at=NOW, campaign=one, channel="sms", contact="+14155550101", allowed=False, rule="dnc"
    )
    ContactLog.objects.create(
        at=NOW, campaign=one, channel="voice", contact="+14155550102", allowed=False, rule="dnc"
    )
    ContactLog.objects.create(
        at=NOW, campaign=one, channel="sms", contact="+14155550103", allowed=True, rule="allowed"
    )
    ContactLog.objects.create(
        at=NOW, campaign=two, channel="sms", contact="+14155550104", allowed=False, rule="dnc"
    )
    ContactLog.objects.create(
        at=NOW - dt.timedelta(days=40),
        campaign=one,
        channel="sms",
        contact="+14155550105",
        allowed=False,
        rule="dnc",
    )

    response = staff.get(
        _url("contactlog", "changelist"),
        {
            "campaign__id__exact": one.pk,
            "allowed__exact": "0",
            "rule": "dnc",
            "channel": "sms",
            "at__gte": (NOW - dt.timedelta(days=7)).isoformat(),
        },
    )
    by_contact = staff.get(_url("contactlog", "changelist"), {"q": "415-555-0101"})

    assert [log.pk for log in response.context["cl"].result_list] == [keep.pk]
    assert [log.pk for log in by_contact.context["cl"].result_list] == [keep.pk]


# --- do-not-call -------------------------------------------------------------------------------


def test_adding_a_number_goes_through_dnc_add(staff: Client) -> None:
    campaign = make_voice_campaign()
    own = DncList.objects.create(name="Renewals opt-outs", kind=DncListKind.CAMPAIGN, campaign=campaign)

    response = staff.post(
        _url("dncentry", "add"), {"dnc_list": str(own.pk), "number": "(415) 555-0177", "reason": "asked"}
    )

    assert response.status_code == 302
    assert list(DncEntry.objects.values_list("number", "reason")) == [("+14155550177", "asked")]
    own.refresh_from_db()
    assert own.entry_count == 1


def test_a_bad_number_or_a_national_list_is_refused_on_the_form(staff: Client) -> None:
    national = DncList.objects.create(name="National registry", kind=DncListKind.NATIONAL)
    internal = internal_list()

    bad_number = staff.post(
        _url("dncentry", "add"), {"dnc_list": str(internal.pk), "number": "12", "reason": "x"}
    )
    bad_list = staff.post(
        _url("dncentry", "add"), {"dnc_list": str(national.pk), "number": "+14155550177", "reason": "x"}
    )

    assert bad_number.status_code == 200 and "number" in bad_number.context["adminform"].form.errors
    assert bad_list.status_code == 200 and "dnc_list" in bad_list.context["adminform"].form.errors
    assert DncEntry.objects.count() == 0


def test_dnc_entries_are_searched_by_number_and_lists_show_their_count(staff: Client) -> None:
    internal = internal_list()
    DncEntry.objects.create(dnc_list=internal, number="+14155550177")
    DncEntry.objects.create(dnc_list=internal, number="+14155550178")
    DncList.objects.filter(pk=internal.pk).update(entry_count=2)

    found = staff.get(_url("dncentry", "changelist"), {"q": "+1 415 555 0177"})
    lists = staff.get(_url("dnclist", "changelist"))
    refused_delete = staff.post(_url("dnclist", "delete", internal.pk), {"post": "yes"})

    assert [e.number for e in found.context["cl"].result_list] == ["+14155550177"]
    assert "2 numbers" in lists.content.decode()
    assert refused_delete.status_code == 403 and DncList.objects.filter(pk=internal.pk).exists()


def test_recycle_categories_from_the_intermediate_page(staff: Client) -> None:
    campaign = make_voice_campaign()
    machine = Disposition.objects.create(
        code="machine", label="Machine", category=DispositionCategory.VOICEMAIL, is_final=False
    )
    lead = LeadFactory(campaign=campaign, status=LeadStatus.DONE, attempts=1, last_disposition=machine)

    _action(
        staff,
        "lead",
        "recycle_leads",
        [lead.pk],
        apply="1",
        campaign=str(campaign.pk),
        categories=["voicemail"],
    )

    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.RETRY


def test_a_campaign_list_without_its_campaign_is_refused_on_the_form(staff: Client) -> None:
    response = staff.post(
        _url("dnclist", "add"), {"name": "Renewals opt-outs", "kind": "campaign", "source": ""}
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert not DncList.objects.filter(name="Renewals opt-outs").exists()
