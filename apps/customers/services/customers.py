"""Create and change customers, their contact points, consent, tags and notes.

Every function says who it acts for: a signed-in User, or a SystemActor naming the part of the
product acting on its own (apps.core.actors); None is refused."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.roles import Role, has_role
from apps.core.actors import Actor, require_actor, require_person
from apps.core.exceptions import NotAllowed
from apps.core.services import audit_record
from apps.customers.custom_fields import validate_custom_fields
from apps.customers.erasure import erased_contact_digest, is_erased_contact
from apps.customers.exceptions import ContactErased, ContactPointTaken, InvalidContact
from apps.customers.models import (
    ContactPoint,
    ContactPointKind,
    Customer,
    ErasedContact,
    LifecycleStage,
    Note,
    Organization,
    SocialNetwork,
    Tag,
)
from apps.customers.normalize import normalize_contact, phone_digits, time_zone_from_phones


@dataclass(frozen=True)
class ContactInput:
    kind: str
    value: str
    network: str = ""
    label: str = ""
    is_primary: bool = False


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _check_time_zone(value: str) -> str:
    value = (value or "").strip()
    if value and value not in _time_zones():
        raise ValidationError({"time_zone": f"{value!r} is not a known IANA time zone (e.g. Europe/Paris)."})
    return value


def _organization_for(name: str | None) -> Organization | None:
    name = (name or "").strip()
    if not name:
        return None
    # Names differing only in case can coexist: the exact one wins (the admin picks an
    # organization and passes its name), otherwise any spelling of it.
    matches = list(Organization.objects.filter(name__iexact=name)[:20])
    org = next((o for o in matches if o.name == name), matches[0] if matches else None)
    if org is None:
        org, _ = Organization.objects.get_or_create(name=name)
    return org


def build_search_text(
    *, first_name: str, last_name: str, organization_name: str, contact_values: Iterable[tuple[str, str]]
) -> str:
    """The lower-cased text search matches against: names, organization, emails, handles, phone
    digits. One definition shared by the services and the bulk import's SQL."""
    parts = [first_name, last_name, organization_name]
    for kind, value in contact_values:
        parts.append(phone_digits(value) if kind == ContactPointKind.PHONE else value)
    return " ".join(p.strip().lower() for p in parts if p and p.strip())


def customer_refresh_search_text(*, customer: Customer) -> None:
    text = build_search_text(
        first_name=customer.first_name,
        last_name=customer.last_name,
        organization_name=customer.organization.name if customer.organization_id else "",  # type: ignore[union-attr]
        contact_values=customer.contact_points.values_list("kind", "value"),
    )
    if text != customer.search_text:
        customer.search_text = text
        Customer.objects.filter(pk=customer.pk).update(search_text=text)


def derived_time_zone(*, customer: Customer) -> str:
    """The time zone the customer's stored phones tell (normalize.time_zone_from_phones over them,
    primary first, then oldest); '' when none does."""
    phones = (
        ContactPoint.objects.filter(customer_id=customer.pk, kind=ContactPointKind.PHONE)
        .order_by("-is_primary", "id")
        .values_list("value", flat=True)
    )
    return time_zone_from_phones(phones)


def _derive_time_zone(customer: Customer) -> None:
    """Give a customer without a time zone the one its phones tell (an explicit one is kept)."""
    if customer.time_zone:
        return
    zone = derived_time_zone(customer=customer)
    if zone:
        customer.time_zone = zone
        Customer.objects.filter(pk=customer.pk).update(time_zone=zone)


def _erased_check(*, actor: Actor, kind: str, network: str, value: str, consent_confirmed: bool) -> bool:
    """Refuse a normalized contact point of a person whose data was erased (ContactErased)
    unless `consent_confirmed`, which only a supervisor or an admin may give (NotAllowed
    otherwise: the product itself cannot know that a person agreed). True when the value was
    erased and consent is confirmed: the caller audits it and takes it off the register."""
    if not is_erased_contact(kind, value, network, normalized=True):
        return False
    if not consent_confirmed:
        raise ContactErased(value)
    if not isinstance(actor, User) or not has_role(actor, Role.SUPERVISOR, Role.ADMIN):
        raise NotAllowed(
            "Only a supervisor or an admin can confirm that a person whose data was erased agreed "
            "to be added again."
        )
    return True


def _readded_with_consent(*, actor: Actor, customer: Customer, point: ContactPoint) -> None:
    """The person agreed to come back: their contact point leaves the register (so imports and
    inbound contacts see them again), and who confirmed it is audited, without the value."""
    digest = erased_contact_digest(point.kind, point.value, point.network, normalized=True)
    ErasedContact.objects.filter(digest=digest).delete()
    audit_record(
        actor=actor,
        action="contact_point.consent_confirmed",
        obj=customer,
        data={"contact_point": point.pk, "kind": point.kind},
    )


def _add_contact(
    customer: Customer,
    contact: ContactInput,
    region: str | None,
    *,
    actor: Actor,
    consent_confirmed: bool = False,
) -> ContactPoint:
    kind = contact.kind
    if kind not in ContactPointKind.values:
        raise InvalidContact(f"Unknown contact kind {kind!r}.")
    network = contact.network if kind == ContactPointKind.SOCIAL else ""
    if kind == ContactPointKind.SOCIAL and not network:
        raise InvalidContact("A social handle needs its network (whatsapp, facebook, ...).")
    value = normalize_contact(kind, contact.value, region=region)
    existing = ContactPoint.objects.filter(kind=kind, network=network, value=value).first()
    if existing is not None:
        if existing.customer_id == customer.pk:
            return existing
        raise ContactPointTaken(existing)
    readded = _erased_check(
        actor=actor, kind=kind, network=network, value=value, consent_confirmed=consent_confirmed
    )
    try:
        with transaction.atomic():
            if contact.is_primary:
                customer.contact_points.filter(kind=kind, is_primary=True).update(is_primary=False)
            is_primary = contact.is_primary or not customer.contact_points.filter(kind=kind).exists()
            point = ContactPoint.objects.create(
                customer=customer,
                kind=kind,
                network=network,
                value=value,
                label=contact.label,
                is_primary=is_primary,
            )
    except IntegrityError:
        # Another transaction took the same value between our check and insert.
        raise ContactPointTaken(ContactPoint.objects.get(kind=kind, network=network, value=value)) from None
    if readded:
        _readded_with_consent(actor=actor, customer=customer, point=point)
    return point


@transaction.atomic
def customer_create(
    *,
    actor: Actor,
    first_name: str = "",
    last_name: str = "",
    organization_name: str = "",
    job_title: str = "",
    owner: User | None = None,
    lifecycle_stage: str = LifecycleStage.LEAD,
    time_zone: str = "",
    external_id: str | None = None,
    custom_fields: Mapping[str, Any] | None = None,
    contacts: Sequence[ContactInput] = (),
    tags: Iterable[str] = (),
    region: str | None = None,
    consent_confirmed: bool = False,
) -> Customer:
    """Create a customer with its contact points. Raises InvalidContact, ContactPointTaken (the
    value belongs to someone else: a duplicate), ContactErased (a contact point of a person
    whose data was erased: `consent_confirmed=True` from a supervisor or an admin re-adds it,
    audited as "contact_point.consent_confirmed"), InvalidCustomFields or ValidationError; on any
    error nothing is written. Audited as "customer.create" (its tags are part of it)."""
    require_actor(actor)
    if not (first_name.strip() or last_name.strip() or contacts):
        raise ValidationError({"last_name": "Give at least a name or one contact point."})
    if lifecycle_stage not in LifecycleStage.values:
        raise ValidationError({"lifecycle_stage": f"Unknown lifecycle stage {lifecycle_stage!r}."})
    customer = Customer.objects.create(
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        organization=_organization_for(organization_name),
        job_title=job_title.strip(),
        owner=owner,
        lifecycle_stage=lifecycle_stage,
        time_zone=_check_time_zone(time_zone),
        external_id=(external_id or "").strip() or None,
        custom_fields=validate_custom_fields(custom_fields),
    )
    for contact in contacts:
        _add_contact(customer, contact, region, actor=actor, consent_confirmed=consent_confirmed)
    if tags:
        _apply_tags(customer, tags, replace=False)
    _derive_time_zone(customer)
    customer_refresh_search_text(customer=customer)
    audit_record(actor=actor, action="customer.create", obj=customer)
    return customer


_UPDATABLE = {"first_name", "last_name", "job_title", "owner", "lifecycle_stage", "time_zone", "external_id"}


@transaction.atomic
def customer_update(
    *,
    actor: Actor,
    customer: Customer,
    organization_name: str | None = None,
    custom_fields: Mapping[str, Any] | None = None,
    **changes: Any,
) -> Customer:
    """Change plain fields (first_name, last_name, job_title, owner, lifecycle_stage, time_zone,
    external_id), the organization by name and custom fields (merged key by key; a key set to
    None or "" is removed). Saves only what changed and audits the changed field names. Clearing
    the time zone derives it again from the phones. Locks the customer row."""
    require_actor(actor)
    unknown = set(changes) - _UPDATABLE
    if unknown:
        raise ValidationError(f"Cannot update {', '.join(sorted(unknown))}.")
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    if locked.is_erased:
        # Personal data was erased on request; writing new data would undo that.
        raise ValidationError("This customer's personal data was erased; it cannot be edited.")
    changed: list[str] = []
    if "time_zone" in changes:
        changes["time_zone"] = _check_time_zone(changes["time_zone"])
    if "lifecycle_stage" in changes and changes["lifecycle_stage"] not in LifecycleStage.values:
        raise ValidationError({"lifecycle_stage": f"Unknown lifecycle stage {changes['lifecycle_stage']!r}."})
    if "external_id" in changes:
        changes["external_id"] = (changes["external_id"] or "").strip() or None
    for field, value in changes.items():
        if isinstance(value, str) and field != "external_id":
            value = value.strip()
        if getattr(locked, field) != value:
            setattr(locked, field, value)
            changed.append(field)
    if organization_name is not None:
        org = _organization_for(organization_name)
        if locked.organization_id != (org.pk if org else None):
            locked.organization = org
            changed.append("organization")
    if custom_fields is not None:
        merged = {**locked.custom_fields}
        for key, value in custom_fields.items():
            if value is None or value == "":
                merged.pop(key, None)
            else:
                merged[key] = value
        cleaned = validate_custom_fields(merged)
        if cleaned != locked.custom_fields:
            locked.custom_fields = cleaned
            changed.append("custom_fields")
    if changed:
        locked.save(update_fields=[*changed, "updated_at"])
        customer_refresh_search_text(customer=locked)
        if "time_zone" in changed and not locked.time_zone:
            _derive_time_zone(locked)
        audit_record(actor=actor, action="customer.update", obj=locked, data={"fields": sorted(changed)})
    return locked


@transaction.atomic
def contact_point_add(
    *,
    actor: Actor,
    customer: Customer,
    contact: ContactInput,
    region: str | None = None,
    consent_confirmed: bool = False,
) -> ContactPoint:
    """Add a contact point (normalized). Adding one the customer already has returns it; one that
    belongs to another customer raises ContactPointTaken; one of a person whose data was erased
    raises ContactErased unless a supervisor or an admin passes `consent_confirmed=True`."""
    require_actor(actor)
    point = _add_contact(customer, contact, region, actor=actor, consent_confirmed=consent_confirmed)
    _derive_time_zone(customer)
    customer_refresh_search_text(customer=customer)
    Customer.objects.filter(pk=customer.pk).update(updated_at=timezone.now())
    audit_record(actor=actor, action="contact_point.add", obj=customer, data={"value": point.value})
    return point


_LABEL_MAX = ContactPoint._meta.get_field("label").max_length or 32


@transaction.atomic
def contact_point_update(
    *,
    actor: Actor,
    contact_point: ContactPoint,
    value: str | None = None,
    network: str | None = None,
    label: str | None = None,
    is_primary: bool | None = None,
    region: str | None = None,
) -> ContactPoint:
    """Change a contact point's value (normalized as on add), a social handle's network, its label,
    or whether it is the primary one of its kind; a part left None stays as it is. Its kind never
    changes (remove it and add one of the other kind), and neither does consent: consent changes
    go through contact_point_set_consent with their time and source, and correcting a typo in a
    number keeps its do-not-call.

    Making it primary demotes the customer's other primary of that kind; un-marking the primary
    hands primary to the oldest other point of the kind, and the only point of its kind stays
    primary (ValidationError on is_primary). Raises InvalidContact for a value that does not
    normalize, ContactPointTaken when the new value belongs to another customer (a duplicate to
    merge), ContactErased when it belongs to a person whose data was erased (re-adding them is
    contact_point_add with consent confirmed), ValidationError on value when the customer
    already has it on another point.

    Locks: every contact point of the customer of that kind (SELECT ... FOR UPDATE, in id order),
    so two primary changes of one customer queue up and never leave two primaries. Audited as
    "contact_point.update" with the changed fields (and the new value, scrubbed on erasure)."""
    require_actor(actor)
    kind = contact_point.kind
    same_kind = {
        p.pk: p
        for p in ContactPoint.objects.select_for_update()
        .filter(customer_id=contact_point.customer_id, kind=kind)
        .order_by("id")
    }
    point = same_kind.pop(contact_point.pk, None)
    if point is None:
        raise ValidationError("This contact point was removed or moved to another customer meanwhile.")
    changed: dict[str, Any] = {}
    new_network = point.network
    if network is not None and kind == ContactPointKind.SOCIAL:
        new_network = network.strip().lower()
        if new_network not in SocialNetwork.values:
            raise ValidationError(
                {"network": f"Unknown network {network!r}: one of {', '.join(SocialNetwork.values)}."}
            )
    new_value = point.value if value is None else normalize_contact(kind, value, region=region)
    if (new_value, new_network) != (point.value, point.network):
        clash = (
            ContactPoint.objects.filter(kind=kind, network=new_network, value=new_value)
            .exclude(pk=point.pk)
            .first()
        )
        if clash is not None and clash.customer_id != point.customer_id:
            raise ContactPointTaken(clash)
        if clash is not None:
            raise ValidationError({"value": f"This customer already has {new_value}."})
        # Changing a value into an erased one is re-adding that person: it goes through
        # contact_point_add with consent confirmed, never through a correction.
        _erased_check(actor=actor, kind=kind, network=new_network, value=new_value, consent_confirmed=False)
        if new_value != point.value:
            changed["value"] = new_value
        if new_network != point.network:
            changed["network"] = new_network
    if label is not None and label.strip() != point.label:
        if len(label.strip()) > _LABEL_MAX:
            raise ValidationError({"label": f"A label is limited to {_LABEL_MAX} characters."})
        changed["label"] = label.strip()
    successor: ContactPoint | None = None
    if is_primary is not None and is_primary != point.is_primary:
        if not is_primary:
            successor = next(iter(same_kind.values()), None)
            if successor is None:
                only = point.get_kind_display().lower()
                raise ValidationError({"is_primary": f"The customer's only {only} is its primary one."})
        changed["is_primary"] = is_primary
    if not changed:
        return point

    if changed.get("is_primary"):
        others = [p.pk for p in same_kind.values() if p.is_primary]
        ContactPoint.objects.filter(pk__in=others).update(is_primary=False)
    elif successor is not None:
        ContactPoint.objects.filter(pk=successor.pk).update(is_primary=True)
    for field, new in changed.items():
        setattr(point, field, new)
    try:
        with transaction.atomic():
            point.save(update_fields=list(changed))
    except IntegrityError:
        # Another transaction took the same value between our check and this update.
        raise ContactPointTaken(
            ContactPoint.objects.get(kind=kind, network=new_network, value=new_value)
        ) from None

    customer = Customer.objects.select_related("organization").get(pk=point.customer_id)
    if "value" in changed or "network" in changed:
        customer_refresh_search_text(customer=customer)
        if kind == ContactPointKind.PHONE:
            _derive_time_zone(customer)
    Customer.objects.filter(pk=customer.pk).update(updated_at=timezone.now())
    data: dict[str, Any] = {"contact_point": point.pk, "kind": kind, "fields": sorted(changed)}
    if "value" in changed:
        data["value"] = new_value
    audit_record(actor=actor, action="contact_point.update", obj=customer, data=data)
    return point


@transaction.atomic
def contact_point_remove(*, actor: Actor, contact_point: ContactPoint) -> None:
    """Delete a contact point; when it was the primary of its kind, the oldest other one of that
    kind becomes primary."""
    require_actor(actor)
    customer = contact_point.customer
    was_primary, kind = contact_point.is_primary, contact_point.kind
    contact_point.delete()
    if was_primary:
        successor = customer.contact_points.filter(kind=kind).order_by("id").first()
        if successor is not None:
            successor.is_primary = True
            successor.save(update_fields=["is_primary"])
    customer_refresh_search_text(customer=customer)
    audit_record(actor=actor, action="contact_point.remove", obj=customer, data={"kind": kind})


_CONSENTS = {"do_not_call", "email_opt_out", "sms_opt_in"}


@transaction.atomic
def contact_point_set_consent(
    *, actor: Actor, contact_point: ContactPoint, consent: str, value: bool, source: str
) -> ContactPoint:
    """Set one consent flag (do_not_call, email_opt_out, sms_opt_in) with its time and source.
    Setting the value it already has changes nothing (the original time and source stay)."""
    require_actor(actor)
    if consent not in _CONSENTS:
        raise ValidationError(f"Unknown consent {consent!r}.")
    if not source.strip():
        raise ValidationError({"source": "Say where the consent came from (e.g. 'agent call', 'web form')."})
    point = ContactPoint.objects.select_for_update().get(pk=contact_point.pk)
    if getattr(point, consent) == value:
        return point
    setattr(point, consent, value)
    setattr(point, f"{consent}_at", timezone.now())
    setattr(point, f"{consent}_source", source.strip()[:100])
    point.save(update_fields=[consent, f"{consent}_at", f"{consent}_source"])
    audit_record(
        actor=actor,
        action=f"consent.{consent}",
        obj=point.customer,
        data={"contact_point": point.pk, "value": value, "source": source.strip()[:100]},
    )
    return point


def _apply_tags(
    customer: Customer, names: Iterable[str], *, replace: bool
) -> tuple[list[Tag], list[str], list[str]]:
    """Give the customer the named tags (created when missing); with replace=True exactly them.
    Returns the tags and the names added and removed."""
    wanted = sorted({n.strip() for n in names if n and n.strip()})
    for name in wanted:
        if len(name) > 64:
            raise ValidationError({"tags": f"Tag {name[:20]!r}... is longer than 64 characters."})
    existing = {t.name.lower(): t for t in Tag.objects.filter(name__in=wanted)}
    tags = []
    for name in wanted:
        tag = existing.get(name.lower())
        if tag is None:
            tag, _ = Tag.objects.get_or_create(name=name)
        tags.append(tag)
    held = {tag.pk: tag.name for tag in customer.tags.all()}
    added = sorted(tag.name for tag in tags if tag.pk not in held)
    kept = {tag.pk for tag in tags}
    removed = sorted(name for pk, name in held.items() if pk not in kept) if replace else []
    if replace:
        customer.tags.set(tags)
    else:
        customer.tags.add(*tags)
    return tags, added, removed


@transaction.atomic
def customer_set_tags(
    *, actor: Actor, customer: Customer, names: Iterable[str], replace: bool = False
) -> list[Tag]:
    """Add the named tags (created when missing); with replace=True the customer has exactly them.
    Raises ValidationError on "tags" for a name longer than 64 characters. Audited as
    "customer.tag" with the names added and removed, when anything changed. Locks the customer
    row, so two tag changes of one customer record what each of them did."""
    require_actor(actor)
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    tags, added, removed = _apply_tags(locked, names, replace=replace)
    if added or removed:
        Customer.objects.filter(pk=locked.pk).update(updated_at=timezone.now())
        audit_record(
            actor=actor, action="customer.tag", obj=locked, data={"added": added, "removed": removed}
        )
    return tags


@transaction.atomic
def note_add(*, actor: User, customer: Customer, body: str) -> Note:
    """Add a note written by `actor`, a signed-in person (NotAllowed otherwise: notes are what
    people wrote). Notes never change afterwards. Refused for an erased customer."""
    author = require_person(actor)
    if customer.is_erased:
        raise ValidationError("This customer's personal data was erased; notes cannot be added.")
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": "A note cannot be empty."})
    if len(body) > 20000:
        raise ValidationError({"body": "A note is limited to 20,000 characters."})
    note = Note.objects.create(customer=customer, author=author, body=body)
    Customer.objects.filter(pk=customer.pk).update(updated_at=timezone.now())
    return note
