"""Walk every URL pattern of config.urls (pages, API, admin) as anonymous and as each role, and
compare each answer with an explicit table of who may open what.

A pattern without a row in EXPECTED fails the walk, so every new URL states its rule here; a row
whose pattern is gone fails too, so the table never describes URLs that no longer exist.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from rest_framework.authtoken.models import Token

from apps.accounts.models import User
from apps.campaigns.models import (
    Campaign,
    CampaignStatus,
    ContactList,
    ContactLog,
    DncEntry,
    DncList,
    LeadAttempt,
)
from apps.campaigns.services.dnc import internal_list
from apps.customers.models import (
    ContactPoint,
    Customer,
    CustomFieldDefinition,
    ImportJob,
    ImportRowError,
    MergeRecord,
    Note,
)
from apps.customers.services.customers import ContactInput, customer_create, note_add
from apps.customers.services.merge import customer_merge
from apps.interactions.models import (
    Disposition,
    DispositionSet,
    Interaction,
    NotReadyReason,
    Queue,
    Skill,
)
from apps.interactions.services import agent_profile_for
from tests.campaigns.factories import LeadFactory, attach_list, make_voice_campaign

pytestmark = pytest.mark.django_db

ROLES = ("Agent", "Supervisor", "Marketer", "Admin")
ANONYMOUS = "anonymous"
NO_ROLE = "signed in without a role"
SIGNED_IN = (*ROLES, NO_ROLE)
EVERYONE = frozenset(ROLES)
# API metadata (the router's index, the schema, its docs) tells nothing about customers: any
# signed-in user, even one still waiting for a role, may read it.
ANY_SIGNED_IN = frozenset(SIGNED_IN)
AGENT_SIDE = frozenset({"Agent", "Supervisor", "Admin"})
SUPERVISION = frozenset({"Supervisor", "Admin"})
IMPORTERS = frozenset({"Marketer", "Supervisor", "Admin"})
CAMPAIGNS = frozenset({"Marketer", "Supervisor", "Admin"})
ADMIN_ONLY = frozenset({"Admin"})
CAMPAIGN_MANAGERS = frozenset({"Marketer", "Admin"})

LOGIN = "/login/?next="
ADMIN_LOGIN = "/admin/login/?next="


@dataclass(frozen=True)
class Outcome:
    statuses: frozenset[int]
    location: str | None = None  # the redirect target must start with this

    def describe(self) -> str:
        where = f" -> {self.location}..." if self.location else ""
        return f"{sorted(self.statuses)}{where}"


@dataclass(frozen=True)
class Rule:
    """Who gets what from one URL. `denied` are turned away whatever the method: the walk also
    POSTs as each of them and expects the same answer (or 405). `params` names the test object each path
    parameter takes (default: the parameter's usual object, see _value_for); `query` is appended."""

    outcomes: Mapping[str, Outcome]
    denied: frozenset[str] = frozenset()
    params: Mapping[str, str] = field(default_factory=dict)
    query: str = ""


def _ok(*statuses: int) -> Outcome:
    return Outcome(frozenset(statuses))


def page(allowed: frozenset[str], *ok: int, **kwargs: Any) -> Rule:
    """A server-rendered page: anonymous -> login page, other roles -> 403."""
    outcomes = {ANONYMOUS: Outcome(frozenset({302}), LOGIN)}
    for role in SIGNED_IN:
        outcomes[role] = _ok(*(ok or (200,))) if role in allowed else _ok(403)
    return Rule(outcomes, denied=frozenset({ANONYMOUS, *set(SIGNED_IN) - allowed}), **kwargs)


def api(allowed: frozenset[str], *ok: int, **kwargs: Any) -> Rule:
    """An API endpoint: anonymous -> 401/403, other roles -> 403."""
    outcomes = {ANONYMOUS: _ok(401, 403)}
    for role in SIGNED_IN:
        outcomes[role] = _ok(*(ok or (200,))) if role in allowed else _ok(403)
    return Rule(outcomes, denied=frozenset({ANONYMOUS, *set(SIGNED_IN) - allowed}), **kwargs)


def admin(*ok: int, denied_location: str = ADMIN_LOGIN, **kwargs: Any) -> Rule:
    """The Django admin: only the Admin role (staff) gets in; everybody else goes to its login."""
    redirect = Outcome(frozenset({302}), denied_location)
    outcomes = {ANONYMOUS: redirect, **dict.fromkeys(SIGNED_IN, redirect)}
    outcomes["Admin"] = _ok(*(ok or (200,)))
    return Rule(outcomes, denied=frozenset({ANONYMOUS, *set(SIGNED_IN) - ADMIN_ONLY}), **kwargs)


def public(anonymous: Outcome, signed_in: Outcome, admin_role: Outcome | None = None) -> Rule:
    outcomes = {ANONYMOUS: anonymous, **dict.fromkeys(SIGNED_IN, signed_in)}
    if admin_role is not None:
        outcomes["Admin"] = admin_role
    return Rule(outcomes)


def admin_model(app_label: str, model_name: str, *, add: int = 200, delete: int = 200) -> dict[str, Rule]:
    """The six URLs ModelAdmin.get_urls makes for one model, as the Admin role sees them: `add`
    and `delete` are 403 where the admin refuses them to everyone (read-only history, customers
    that are erased rather than deleted)."""
    name = f"admin:{app_label}_{model_name}"
    return {
        f"{name}_changelist": admin(),
        f"{name}_add": admin(add),
        f"{name}_history": admin(),
        f"{name}_delete": admin(delete),
        f"{name}_change": admin(),
        # Unnamed: /admin/<app>/<model>/<id>/ redirects to the change page.
        f"admin/{app_label}/{model_name}/<path:object_id>/": admin(302),
    }


READ_ONLY = {"add": 403, "delete": 403}

EXPECTED: dict[str, Rule] = {
    # accounts
    "accounts:home": page(EVERYONE, 302),
    "accounts:login": public(anonymous=_ok(200), signed_in=Outcome(frozenset({302}), "/")),
    "accounts:logout": public(anonymous=_ok(405), signed_in=_ok(405)),  # POST only
    # The agent desktop: agents open their own interactions and their queues' (404 for the
    # walk's others, which the walk's interaction is); actions are POST only.
    "interactions:desk": page(AGENT_SIDE),
    "interactions:desk-work": page(AGENT_SIDE),
    "interactions:desk-history": page(AGENT_SIDE),
    "interactions:desk-presence": page(AGENT_SIDE, 405),
    "interactions:desk-interaction": page(AGENT_SIDE, 200, 404, params={"pk": "interaction"}),
    "interactions:desk-conversation": page(AGENT_SIDE, 200, 404, params={"pk": "interaction"}),
    "interactions:desk-reply": page(AGENT_SIDE, 405, params={"pk": "interaction"}),
    "interactions:desk-notes": page(AGENT_SIDE, 405, params={"pk": "interaction"}),
    "interactions:desk-wrap-up": page(AGENT_SIDE, 405, params={"pk": "interaction"}),
    "interactions:desk-transfer": page(AGENT_SIDE, 405, params={"pk": "interaction"}),
    "interactions:desk-conference": page(AGENT_SIDE, 405, params={"pk": "interaction"}),
    "interactions:desk-voice": page(AGENT_SIDE, 405, params={"pk": "interaction"}),
    "interactions:desk-act": page(AGENT_SIDE, 405, params={"pk": "interaction"}),
    "interactions:participant-leave": page(AGENT_SIDE, 405, params={"participant_id": "interaction"}),
    # The wallboard and its actions (POST only).
    "interactions:wallboard": page(SUPERVISION),
    "interactions:wallboard-board": page(SUPERVISION),
    "interactions:wallboard-presence": page(SUPERVISION, 405),
    "interactions:wallboard-transfer": page(SUPERVISION, 405, params={"pk": "interaction"}),
    "interactions:wallboard-monitor": page(SUPERVISION, 405, params={"pk": "interaction"}),
    # The marketers' campaign pages: Marketers and Admins manage; Supervisors read the list, the
    # live dashboard (with its figures and status fragments), a list's page and the compliance
    # report; Agents nothing. The walk's campaign is a draft; set-status is POST only.
    "campaigns:list": page(CAMPAIGNS),
    "campaigns:create": page(CAMPAIGN_MANAGERS),
    "campaigns:dashboard": page(CAMPAIGNS, params={"pk": "campaign"}),
    "campaigns:edit": page(CAMPAIGN_MANAGERS, params={"pk": "campaign"}),
    "campaigns:figures": page(CAMPAIGNS, params={"pk": "campaign"}),
    "campaigns:status": page(CAMPAIGNS, params={"pk": "campaign"}),
    "campaigns:set-status": page(CAMPAIGN_MANAGERS, 405, params={"pk": "campaign"}),
    "campaigns:list-upload": page(CAMPAIGN_MANAGERS),
    "campaigns:segment-create": page(CAMPAIGN_MANAGERS),
    "campaigns:list-detail": page(CAMPAIGNS, params={"pk": "contact_list"}),
    "campaigns:compliance": page(CAMPAIGNS),
    # customer pages
    "customers:list": page(EVERYONE),
    "customers:detail": page(EVERYONE),
    "customers:timeline": page(EVERYONE),
    "customers:create": page(AGENT_SIDE),
    "customers:edit": page(AGENT_SIDE),
    "customers:note_add": page(AGENT_SIDE, 405),  # POST only
    "customers:contact_add": page(AGENT_SIDE, 405),  # POST only
    "customers:contact_consent": page(AGENT_SIDE, 405),  # POST only
    "customers:contact_remove": page(AGENT_SIDE, 405),  # POST only
    "customers:duplicates": page(SUPERVISION),
    "customers:merge": page(SUPERVISION),  # GET: pick the duplicate
    "customers:gdpr_export": page(SUPERVISION),
    "customers:erase": page(SUPERVISION),  # GET: confirm
    "customers:export": page(IMPORTERS),
    "customers:import": page(IMPORTERS),
    # Import jobs: Supervisors and Admins see every job, others only the jobs they started (404
    # for the walk's job, which nobody started); per role in tests/customers/test_import_hostile.py.
    "customers:import_detail": page(IMPORTERS, 200, 404, params={"pk": "import_job"}),
    "customers:import_progress": page(IMPORTERS, 200, 404, params={"pk": "import_job"}),
    "customers:import_errors": page(IMPORTERS, 200, 404, params={"pk": "import_job"}),
    # REST API
    "api:api-root": api(ANY_SIGNED_IN),
    "api:token": public(anonymous=_ok(405), signed_in=_ok(405)),  # POST username/password
    "api:customer-list": api(EVERYONE),
    "api:customer-detail": api(EVERYONE),
    "api:customer-lookup": api(EVERYONE, query="contact=%2B14155550134"),
    "api:customer-merge": api(SUPERVISION, 405),  # POST only
    "api:customer-erase": api(SUPERVISION, 405),  # POST only
    "api:customer-gdpr-export": api(SUPERVISION),
    "api:customer-import": api(IMPORTERS, 405),  # POST only
    "api:contact-point-list": api(EVERYONE),
    "api:contact-point-detail": api(EVERYONE, params={"pk": "contact_point"}),
    "api:note-list": api(EVERYONE),
    "api:note-detail": api(EVERYONE, params={"pk": "note"}),
    "api:import-detail": api(IMPORTERS, 200, 404, params={"pk": "import_job"}),
    "api:import-errors": api(IMPORTERS, 200, 404, params={"pk": "import_job"}),
    # Agents see their own interactions and their queues' (404 for the walk's others).
    "api:interaction-list": api(AGENT_SIDE),
    "api:interaction-detail": api(AGENT_SIDE, 200, 404, params={"pk": "interaction"}),
    "api:interaction-messages": api(AGENT_SIDE, 200, 404, params={"pk": "interaction"}),
    "api:interaction-position": api(AGENT_SIDE, 200, 404, params={"pk": "interaction"}),
    "api:interaction-accept": api(AGENT_SIDE, 405, params={"pk": "interaction"}),  # POST only
    "api:interaction-reject": api(AGENT_SIDE, 405, params={"pk": "interaction"}),
    "api:interaction-end": api(AGENT_SIDE, 405, params={"pk": "interaction"}),
    "api:interaction-wrap-up": api(AGENT_SIDE, 405, params={"pk": "interaction"}),
    "api:interaction-abandon": api(SUPERVISION, 405, params={"pk": "interaction"}),
    # Transfers, notes, call control: the service then decides on whose interaction, in which state.
    "api:interaction-transfer": api(AGENT_SIDE, 405, params={"pk": "interaction"}),  # POST only
    "api:interaction-notes": api(AGENT_SIDE, 405, params={"pk": "interaction"}),
    "api:interaction-voice": api(AGENT_SIDE, 405, params={"pk": "interaction"}),
    "api:interaction-conference": api(AGENT_SIDE, 405, params={"pk": "interaction"}),
    "api:interaction-monitor": api(SUPERVISION, 405, params={"pk": "interaction"}),
    "api:interaction-participants": api(AGENT_SIDE, 200, 404, params={"pk": "interaction"}),
    # Placing a call: agents for themselves only (the service decides); POST only.
    "api:interaction-originate": api(AGENT_SIDE, 405),
    # POST only: the method is refused before any participant is looked up.
    "api:participant-leave": api(AGENT_SIDE, 405, params={"pk": "interaction"}),
    "api:queue-list": api(EVERYONE),
    "api:queue-detail": api(EVERYONE, params={"pk": "queue"}),
    "api:agent-list": api(AGENT_SIDE),
    "api:agent-detail": api(AGENT_SIDE, 200, 404, params={"pk": "agent"}),
    "api:agent-state": api(AGENT_SIDE, 405, params={"pk": "agent"}),
    "api:disposition-list": api(EVERYONE),
    "api:disposition-detail": api(EVERYONE, params={"pk": "disposition"}),
    # Campaigns: every role reads the campaigns it works (an agent only its queues': 404 for the
    # walk's campaign, which no walk agent's queue works); marketers and admins change them and
    # their status (POST only); supervisors, marketers and admins read the figures, lists, leads,
    # do-not-call lists and the dial log. Writes are refused in the service too.
    "api:campaign-list": api(EVERYONE),
    "api:campaign-detail": api(EVERYONE, 200, 404, params={"pk": "campaign"}),
    "api:campaign-dispositions": api(EVERYONE, 200, 404, params={"pk": "campaign"}),
    "api:campaign-stats": api(CAMPAIGNS, params={"pk": "campaign"}),
    "api:campaign-start": api(CAMPAIGN_MANAGERS, 405, params={"pk": "campaign"}),  # POST only
    "api:campaign-pause": api(CAMPAIGN_MANAGERS, 405, params={"pk": "campaign"}),
    "api:campaign-resume": api(CAMPAIGN_MANAGERS, 405, params={"pk": "campaign"}),
    "api:campaign-complete": api(CAMPAIGN_MANAGERS, 405, params={"pk": "campaign"}),
    "api:contact-list-list": api(CAMPAIGNS),
    "api:contact-list-detail": api(CAMPAIGNS, params={"pk": "contact_list"}),
    "api:lead-list": api(CAMPAIGNS),
    "api:lead-detail": api(CAMPAIGNS, params={"pk": "lead"}),
    "api:dnc-list-list": api(CAMPAIGNS),
    "api:dnc-list-detail": api(CAMPAIGNS, params={"pk": "dnc_list"}),
    "api:dnc-entry-list": api(CAMPAIGNS),
    "api:dnc-entry-detail": api(CAMPAIGNS, params={"pk": "dnc_entry"}),
    "api:contact-log-list": api(CAMPAIGNS),
    "api-schema": api(ANY_SIGNED_IN),
    # The embedded mode's event relay (apps.core.views): POST only, admitted by an HMAC signature
    # alone, so everyone, signed in or not, gets 405 (GET) or 403 (POST without a signature).
    "core:event-relay": Rule(
        dict.fromkeys((ANONYMOUS, *SIGNED_IN), _ok(403, 405)), denied=frozenset({ANONYMOUS, *SIGNED_IN})
    ),
    "api-docs": page(ANY_SIGNED_IN),
    # Django admin
    "admin:index": admin(),
    "admin:login": public(
        anonymous=_ok(200), signed_in=_ok(200), admin_role=Outcome(frozenset({302}), "/admin/")
    ),
    # admin_view sends a non-staff visitor of the logout URL to the index rather than to a login
    # that would come back to logout; the logout itself is POST only.
    "admin:logout": admin(405, denied_location="/admin/"),
    "admin:password_change": admin(),
    "admin:password_change_done": admin(),
    "admin:autocomplete": admin(
        query="app_label=customers&model_name=customer&field_name=organization&term=Analytical"
    ),
    "admin:jsi18n": admin(),
    # A customer has no public URL of its own (get_absolute_url), so "view on site" is a 404.
    "admin:view_on_site": admin(404, params={"object_id": "customer"}),
    "admin:app_list": admin(),
    "admin/(?P<url>.*)$": admin(404),  # the admin's catch-all: an unknown admin page
    "admin:auth_user_password_change": admin(),
    **admin_model("auth", "group"),
    **admin_model("authtoken", "tokenproxy"),
    **admin_model("django_celery_beat", "periodictask"),
    **admin_model("django_celery_beat", "clockedschedule"),
    **admin_model("django_celery_beat", "crontabschedule"),
    **admin_model("django_celery_beat", "solarschedule"),
    **admin_model("django_celery_beat", "intervalschedule"),
    **admin_model("core", "auditentry", **READ_ONLY),
    **admin_model("accounts", "user"),
    # Sign-in throttling (django-axes): records only; deleting an access attempt unlocks at once.
    **admin_model("axes", "accessattempt", add=403),
    **admin_model("axes", "accesslog", add=403),
    **admin_model("axes", "accessfailurelog", add=403),
    **admin_model("customers", "customer", delete=403),  # erase (GDPR) instead of deleting
    **admin_model("customers", "organization"),
    **admin_model("customers", "tag"),
    **admin_model("customers", "customfielddefinition"),
    # Contact points are added and removed on their customer's page (inline), through the services.
    **admin_model("customers", "contactpoint", **READ_ONLY),
    **admin_model("customers", "note"),
    **admin_model("customers", "mergerecord", **READ_ONLY),
    **admin_model("customers", "importjob", **READ_ONLY),
    **admin_model("customers", "importrowerror", **READ_ONLY),
    **admin_model("interactions", "queue"),
    **admin_model("interactions", "skill"),
    **admin_model("interactions", "agentprofile"),
    **admin_model("interactions", "notreadyreason"),
    **admin_model("interactions", "disposition"),
    **admin_model("interactions", "dispositionset"),
    # Interactions change only through the services (desktop, wallboard, API); the admin reads.
    **admin_model("interactions", "interaction", **READ_ONLY),
    # Public: the campaign email unsubscribe (signed token, no sign-in). The walk's token is not a
    # valid signature, so everyone gets the 400 page; the confirm button is POST only.
    "campaigns_public:unsubscribe": public(anonymous=_ok(400), signed_in=_ok(400)),
    "campaigns_public:unsubscribe-confirm": public(anonymous=_ok(405), signed_in=_ok(405)),
    # Outbound: the walk's campaign is a draft (only a draft may be deleted).
    **admin_model("campaigns", "campaign"),
    **admin_model("campaigns", "contactlist"),
    # Leads change through the dialer and the bulk actions (services.leads); the admin reads.
    **admin_model("campaigns", "lead", **READ_ONLY),
    **admin_model("campaigns", "leadattempt", **READ_ONLY),
    **admin_model("campaigns", "contactlog", **READ_ONLY),  # the dial log
    **admin_model("campaigns", "dnclist", delete=403),  # the first list is the internal one: never deleted
    **admin_model("campaigns", "dncentry", delete=403),  # added through dnc_add, never changed or deleted
}


# --- walking config.urls ----------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    key: str  # the view name, or the full route for an unnamed pattern
    pieces: tuple[str, ...]  # each include level's pattern text
    callback: Callable[..., Any]

    @property
    def route(self) -> str:
        return "".join(self.pieces)


def walk(
    patterns: list[URLPattern | URLResolver], pieces: tuple[str, ...] = (), namespace: str = ""
) -> Iterator[Found]:
    for entry in patterns:
        here = (*pieces, str(entry.pattern))
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from walk(entry.url_patterns, here, inner)
        else:
            key = f"{namespace}{entry.name}" if entry.name else "".join(here)
            yield Found(key, here, entry.callback)


_ROUTE_PARAM = re.compile(r"<(?:\w+:)?(\w+)>")
_REGEX_PARAM = re.compile(r"\(\?P<(\w+)>[^)]*\)")


def build_url(found: Found, value_for: Callable[[str], str]) -> str:
    """Fill the path parameters of a pattern with real ids; regex pieces (the API router, the
    admin's app list and catch-all) lose their anchors."""
    parts = []
    for piece in found.pieces:
        if piece.startswith("^") or piece.endswith("$"):
            text = _REGEX_PARAM.sub(lambda m: value_for(m.group(1)), piece)
            text = text.removeprefix("^").removesuffix("$").replace("\\.", ".")
        else:
            text = _ROUTE_PARAM.sub(lambda m: value_for(m.group(1)), piece)
        parts.append(text)
    return "/" + "".join(parts)


@pytest.fixture
def objects(make_user: Callable[..., User]) -> dict[str, Any]:
    """One real object of every kind a URL can point to."""
    staff = make_user("Admin")
    customer = customer_create(
        actor=staff,
        first_name="Ada",
        last_name="Lovelace",
        organization_name="Analytical Engines",
        contacts=[
            ContactInput(kind="phone", value="+14155550134"),
            ContactInput(kind="email", value="a@x.org"),
        ],
        tags=["vip"],
    )
    duplicate = customer_create(actor=staff, first_name="Ada", last_name="Lovelace")
    customer_merge(actor=staff, survivor=customer, duplicate=duplicate)
    note = note_add(actor=staff, customer=customer, body="Called about billing")
    job = ImportJob.objects.create(file="imports/people.csv", file_name="people.csv", status="done")
    ImportRowError.objects.create(job=job, line_number=2, reason="bad phone", raw={"phone": "12"})
    CustomFieldDefinition.objects.create(key="contract", label="Contract")
    Token.objects.create(user=staff)
    seen = {"username": "ann", "ip_address": "203.0.113.7", "user_agent": "walk", "path_info": "/login/"}
    AccessAttempt.objects.create(**seen, failures_since_start=5, get_data="", post_data="")
    AccessFailureLog.objects.create(**seen, locked_out=True)
    AccessLog.objects.create(**seen)
    interval = IntervalSchedule.objects.create(every=10, period=IntervalSchedule.SECONDS)
    CrontabSchedule.objects.create()
    SolarSchedule.objects.create(event="sunrise", latitude=0, longitude=0)
    ClockedSchedule.objects.create(clocked_time=timezone.now())
    PeriodicTask.objects.create(name="tick", task="apps.core.tasks.tick", interval=interval)
    queue = Queue.objects.create(name="Support", channels=["chat"])
    Skill.objects.create(name="billing")
    agent = agent_profile_for(user=make_user("Agent"))
    NotReadyReason.objects.create(code="break", label="Break")
    disposition = Disposition.objects.create(code="resolved", label="Resolved", category="resolved")
    DispositionSet.objects.create(name="Support").dispositions.add(disposition)
    interaction = Interaction.objects.create(queue=queue, channel="chat", queued_at=timezone.now())
    campaign = make_voice_campaign(status=CampaignStatus.DRAFT)
    contact_list = attach_list(campaign)
    lead = LeadFactory(campaign=campaign, contact_list=contact_list)
    LeadAttempt.objects.create(
        lead=lead, campaign=campaign, channel="voice", contact=lead.contact, started_at=timezone.now()
    )
    ContactLog.objects.create(
        at=timezone.now(),
        campaign=campaign,
        lead=lead,
        channel="voice",
        contact=lead.contact,
        allowed=True,
        rule="allowed",
    )
    dnc_entry = DncEntry.objects.create(dnc_list=internal_list(), number="+14155550199")
    return {
        "campaign": campaign,
        "contact_list": contact_list,
        "lead": lead,
        "dnc_list": dnc_entry.dnc_list,
        "dnc_entry": dnc_entry,
        "interaction": interaction,
        "agent": agent,
        "queue": queue,
        "disposition": disposition,
        "customer": customer,
        "contact_point": customer.contact_points.get(kind="phone"),
        "note": note,
        "import_job": job,
        "user": staff,
    }


def _admin_object_id(route: str) -> str:
    """object_id of /admin/<app>/<model>/<object_id>/...: the first row of that model. The
    instance's pk, not the column: DRF's TokenProxy answers its user's id there."""
    app_label, model_name = route.split("/")[1:3]
    model = apps.get_model(app_label, model_name)
    instance = model._default_manager.order_by("pk").first()
    assert instance is not None, f"the walk's fixture needs one {model.__name__} for {route}"
    return str(instance.pk)


def _value_for(found: Found, rule: Rule, objects: Mapping[str, Any]) -> Callable[[str], str]:
    def value(param: str) -> str:
        if param in rule.params:
            return str(objects[rule.params[param]].pk)
        if param == "pk":
            return str(objects["customer"].pk)
        if param == "token":  # the unsubscribe link's signed token
            return "not-a-valid-token"
        if param == "agent_id":
            return str(objects["agent"].pk)
        if param == "action":  # the desk's interaction actions and voice controls
            return "hold"
        if param == "mode":  # the wallboard's monitoring modes
            return "listen"
        if param == "cp_pk":
            return str(objects["contact_point"].pk)
        if param == "id":
            return str(objects["user"].pk)
        if param == "object_id":
            return _admin_object_id(found.route)
        if param == "content_type_id":
            return str(ContentType.objects.get_for_model(Customer).pk)
        if param == "app_label":
            return "customers"
        if param == "url":
            return "no-such-page/"
        raise AssertionError(f"{found.key}: no test value for path parameter {param!r}")

    return value


def _clients(make_user: Callable[..., User]) -> dict[str, Client]:
    # A view that crashes is one more wrong answer in the report, not the end of the walk.
    clients = {ANONYMOUS: Client(raise_request_exception=False)}
    for role in ROLES:
        clients[role] = Client(raise_request_exception=False)
        clients[role].force_login(make_user(role))
    clients[NO_ROLE] = Client(raise_request_exception=False)
    clients[NO_ROLE].force_login(make_user(None))
    return clients


def _state() -> dict[str, Any]:
    """What a wrongly allowed request would change: rows and the fields of every customer and
    contact point (GETs of allowed roles only read; every POST in the walk is meant to be denied)."""
    return {
        "customers": list(Customer.objects.order_by("pk").values()),
        "contact_points": list(ContactPoint.objects.order_by("pk").values()),
        "notes": list(Note.objects.order_by("pk").values_list("pk", "body")),
        "merges": MergeRecord.objects.count(),
        "imports": list(ImportJob.objects.order_by("pk").values_list("pk", "status")),
        "import_errors": ImportRowError.objects.count(),
        "custom_fields": CustomFieldDefinition.objects.count(),
        "users": list(User.objects.order_by("pk").values_list("pk", "is_active", "is_staff", "password")),
        "tokens": Token.objects.count(),
        "tasks": PeriodicTask.objects.count(),
        "campaigns": list(Campaign.objects.order_by("pk").values_list("pk", "status", "version")),
        "contact_lists": ContactList.objects.count(),
        "dnc_lists": DncList.objects.count(),
        "dnc_entries": DncEntry.objects.count(),
    }


def _matches(response: Any, outcome: Outcome) -> bool:
    if response.status_code not in outcome.statuses:
        return False
    if outcome.location is not None:
        return str(response.get("Location", "")).startswith(outcome.location)
    return True


# --- the tests --------------------------------------------------------------------------------


def test_every_url_pattern_has_a_rule_and_every_rule_a_pattern() -> None:
    keys = [found.key for found in walk(get_resolver().url_patterns)]

    missing = sorted(set(keys) - set(EXPECTED))
    stale = sorted(set(EXPECTED) - set(keys))

    assert not missing, f"URL patterns without a rule in tests/test_authorization.py EXPECTED: {missing}"
    assert not stale, f"Rules for URL patterns that no longer exist: {stale}"


def test_each_url_answers_each_role_as_the_table_says(
    objects: dict[str, Any], make_user: Callable[..., User]
) -> None:
    clients = _clients(make_user)
    failures: list[str] = []
    walked = 0
    before = _state()

    for found in walk(get_resolver().url_patterns):
        rule = EXPECTED.get(found.key)
        if rule is None:
            continue  # reported by the test above
        url = build_url(found, _value_for(found, rule, objects))
        assert resolve(url).func is found.callback, f"{found.key}: built {url} resolves elsewhere"
        target = f"{url}?{rule.query}" if rule.query else url
        walked += 1
        for who, outcome in rule.outcomes.items():
            methods = ("GET", "POST") if who in rule.denied else ("GET",)
            for method in methods:
                client = clients[who]
                response = client.get(target) if method == "GET" else client.post(target, {})
                # A POST to a GET-only view may also be refused for its method before anybody is
                # asked who they are: nothing runs either way (and _state() proves it).
                refused_method = method == "POST" and response.status_code == 405
                if not (_matches(response, outcome) or refused_method):
                    got = f"{response.status_code} {response.get('Location', '')}".strip()
                    failures.append(
                        f"{found.key} {method} {target} as {who}: expected {outcome.describe()}, got {got}"
                    )

    assert walked == len(EXPECTED)
    assert not failures, "\n".join(failures)
    assert _state() == before, "a request the table says is denied or read-only changed data"
