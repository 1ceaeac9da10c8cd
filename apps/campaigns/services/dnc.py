"""Do-not-call lists: the internal list (the company's own), per-campaign lists and national
registries loaded in bulk. A number on any list that applies is refused by the compliance gate
at the moment of each contact."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.campaigns.exceptions import InvalidCampaign
from apps.campaigns.models import Campaign, DncEntry, DncList, DncListKind
from apps.campaigns.services.campaigns import campaign_may_manage
from apps.core.actors import Actor, require_actor
from apps.core.exceptions import NotAllowed
from apps.core.services import audit_record
from apps.customers.models import ContactPoint, ContactPointKind, Customer
from apps.customers.normalize import normalize_phone
from apps.customers.services import contact_point_set_consent

INTERNAL_LIST_NAME = "Internal do-not-call list"


def internal_list() -> DncList:
    dnc_list, _ = DncList.objects.get_or_create(
        kind=DncListKind.INTERNAL, name=INTERNAL_LIST_NAME, defaults={"source": "dispositions and requests"}
    )
    return dnc_list


def dnc_add(
    *,
    actor: Actor,
    number: str,
    reason: str,
    dnc_list: DncList | None = None,
    customer: Customer | None = None,
) -> DncEntry:
    """Put `number` (normalized to E.164; InvalidContact otherwise) on `dnc_list` (default: the
    internal list). On the internal list the customer's contact point for that number is marked
    do-not-call too, so the CRM shows it. Adding a number twice keeps the first entry."""
    require_actor(actor)
    value = normalize_phone(number)  # InvalidContact for anything but a phone number
    target = dnc_list or internal_list()
    with transaction.atomic():
        entry, created = DncEntry.objects.get_or_create(
            dnc_list=target, number=value, defaults={"reason": reason[:200]}
        )
        if created:
            DncList.objects.filter(pk=target.pk).update(
                entry_count=F("entry_count") + 1, loaded_at=timezone.now()
            )
        if target.kind == DncListKind.INTERNAL:
            points = ContactPoint.objects.filter(kind=ContactPointKind.PHONE, value=value, do_not_call=False)
            if customer is not None:
                points = points.filter(customer=customer)
            for point in points:
                contact_point_set_consent(
                    actor=actor,
                    contact_point=point,
                    consent="do_not_call",
                    value=True,
                    source=reason or "do-not-call list",
                )
    return entry


def _check_manager(actor: Actor) -> None:
    if not campaign_may_manage(actor):
        raise NotAllowed("Only marketers and admins manage do-not-call lists.")


def dnc_list_create(
    *, actor: Actor, name: str, kind: str, campaign: Campaign | None = None, source: str = ""
) -> DncList:
    """A campaign's own do-not-call list or a national registry's (the internal list is the
    company's one, made by the system). Marketers and admins only (NotAllowed); InvalidCampaign
    names the field that is wrong. Audited. Locks nothing: the unique name decides between two
    managers creating lists alike at the same moment."""
    _check_manager(actor)
    name = name.strip()
    if not name:
        raise InvalidCampaign("name: a do-not-call list needs a name.")
    if kind not in (DncListKind.CAMPAIGN, DncListKind.NATIONAL):
        raise InvalidCampaign("kind: create a campaign or a national list; the internal list exists already.")
    if kind == DncListKind.CAMPAIGN and campaign is None:
        raise InvalidCampaign("campaign: a campaign's do-not-call list names its campaign.")
    if kind == DncListKind.NATIONAL and campaign is not None:
        raise InvalidCampaign("campaign: a national list applies to every campaign; leave campaign empty.")
    if DncList.objects.filter(name=name).exists():
        raise InvalidCampaign(f"name: a do-not-call list called {name!r} exists already.")
    try:
        with transaction.atomic():
            dnc_list = DncList.objects.create(name=name, kind=kind, campaign=campaign, source=source[:200])
            audit_record(
                actor=actor,
                action="campaigns.dnc_list_create",
                obj=dnc_list,
                data={"kind": kind, "campaign": campaign.pk if campaign is not None else None},
            )
    except IntegrityError as exc:  # two managers naming two lists alike at the same moment
        raise InvalidCampaign(f"name: a do-not-call list called {name!r} exists already.") from exc
    return dnc_list


def dnc_entry_add(
    *, actor: Actor, number: str, reason: str = "", dnc_list: DncList | None = None
) -> DncEntry:
    """A marketer or admin puts `number` (any written form; InvalidContact unless it is a phone
    number) on `dnc_list` (default: the internal list) by hand; a wrap-up's do-not-call
    disposition reaches dnc_add directly. A number already on the list keeps its first entry and
    nothing is recorded; a new one is audited. Locks nothing beyond dnc_add's unique entry."""
    _check_manager(actor)
    value = normalize_phone(number)
    target = dnc_list or internal_list()
    with transaction.atomic():
        existing = DncEntry.objects.filter(dnc_list=target, number=value).first()
        if existing is not None:
            return existing
        entry = dnc_add(actor=actor, number=value, reason=reason, dnc_list=target)
        audit_record(
            actor=actor,
            action="campaigns.dnc_entry_add",
            obj=entry,
            data={"dnc_list": target.pk, "number": value, "reason": reason[:200]},
        )
    return entry
