"""Do-not-call lists and entries made by hand: only marketers and admins create them, the input
is checked field by field, and every new list and entry leaves an audit entry."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from apps.accounts.models import User
from apps.campaigns.exceptions import InvalidCampaign
from apps.campaigns.models import DncEntry, DncList, DncListKind
from apps.campaigns.services.dnc import INTERNAL_LIST_NAME, dnc_entry_add, dnc_list_create
from apps.core.actors import SystemActor
from apps.core.exceptions import NotAllowed
from apps.core.models import AuditEntry
from apps.customers.exceptions import InvalidContact
from apps.customers.services.customers import ContactInput, customer_create
from tests.campaigns.factories import CampaignFactory

pytestmark = pytest.mark.django_db


# --- dnc_list_create ---------------------------------------------------------------------------


def test_a_marketer_creates_a_campaign_list_and_it_is_audited(marketer: User) -> None:
    # Given a campaign
    campaign = CampaignFactory(name="Renewals")

    # When a marketer creates its do-not-call list
    dnc_list = dnc_list_create(
        actor=marketer,
        name="  Renewals DNC ",
        kind=DncListKind.CAMPAIGN,
        campaign=campaign,
        source="opt-outs",
    )

    # Then the list exists, named without the spaces, and the audit says who made it
    assert (dnc_list.name, dnc_list.kind, dnc_list.campaign, dnc_list.source, dnc_list.entry_count) == (
        "Renewals DNC",
        DncListKind.CAMPAIGN,
        campaign,
        "opt-outs",
        0,
    )
    entry = AuditEntry.objects.get(action="campaigns.dnc_list_create")
    assert (entry.actor, entry.object_type, entry.object_id, entry.data) == (
        marketer,
        "campaigns.dnclist",
        str(dnc_list.pk),
        {"kind": "campaign", "campaign": campaign.pk},
    )


def test_an_admin_creates_a_national_list(make_user: Callable[..., User]) -> None:
    admin = make_user("Admin")

    dnc_list = dnc_list_create(actor=admin, name="US registry", kind=DncListKind.NATIONAL)

    assert DncList.objects.get() == dnc_list
    assert (dnc_list.kind, dnc_list.campaign) == (DncListKind.NATIONAL, None)


def test_the_system_may_create_a_list_and_is_named_in_the_audit() -> None:
    dnc_list = dnc_list_create(actor=SystemActor("registry loader"), name="US registry", kind="national")

    entry = AuditEntry.objects.get(action="campaigns.dnc_list_create")
    assert (entry.actor, entry.object_id, entry.data["system"]) == (None, str(dnc_list.pk), "registry loader")


@pytest.mark.parametrize("role", ["Agent", "Supervisor"])
def test_agents_and_supervisors_do_not_create_lists(role: str, make_user: Callable[..., User]) -> None:
    user = make_user(role)

    with pytest.raises(NotAllowed, match="Only marketers and admins manage do-not-call lists"):
        dnc_list_create(actor=user, name="US registry", kind=DncListKind.NATIONAL)

    assert not DncList.objects.exists()
    assert not AuditEntry.objects.exists()


def test_a_list_without_an_actor_is_refused() -> None:
    with pytest.raises(NotAllowed, match="needs the person"):
        dnc_list_create(actor=None, name="US registry", kind=DncListKind.NATIONAL)  # type: ignore[arg-type]

    assert not DncList.objects.exists()


@pytest.mark.parametrize(
    ("name", "kind", "with_campaign", "message"),
    [
        ("   ", "national", False, "name: a do-not-call list needs a name."),
        ("Ours", "internal", False, "kind: create a campaign or a national list"),
        ("Ours", "someday", False, "kind: create a campaign or a national list"),
        ("Ours", "campaign", False, "campaign: a campaign's do-not-call list names its campaign."),
        ("Ours", "national", True, "campaign: a national list applies to every campaign"),
    ],
)
def test_a_list_that_does_not_hold_together_names_the_field(
    marketer: User, name: str, kind: str, with_campaign: bool, message: str
) -> None:
    campaign = CampaignFactory() if with_campaign else None

    with pytest.raises(InvalidCampaign) as raised:
        dnc_list_create(actor=marketer, name=name, kind=kind, campaign=campaign)

    assert str(raised.value).startswith(message)
    assert not DncList.objects.exists()
    assert not AuditEntry.objects.exists()


def test_a_second_list_of_the_same_name_is_refused(marketer: User) -> None:
    dnc_list_create(actor=marketer, name="US registry", kind=DncListKind.NATIONAL)

    with pytest.raises(
        InvalidCampaign, match="name: a do-not-call list called 'US registry' exists already."
    ):
        dnc_list_create(actor=marketer, name="US registry ", kind=DncListKind.NATIONAL)

    assert DncList.objects.count() == 1
    assert AuditEntry.objects.filter(action="campaigns.dnc_list_create").count() == 1


# --- dnc_entry_add -----------------------------------------------------------------------------


def test_a_marketer_adds_a_number_in_any_form_and_it_is_audited(marketer: User) -> None:
    # Given a national list
    dnc_list = DncList.objects.create(name="US registry", kind=DncListKind.NATIONAL)

    # When a marketer puts a number written with spaces on it
    entry = dnc_entry_add(
        actor=marketer, number="+1 415 555 0123", reason="asked by phone", dnc_list=dnc_list
    )

    # Then it is stored as E.164, the list counts it, and the audit records it
    assert (entry.dnc_list, entry.number, entry.reason) == (dnc_list, "+14155550123", "asked by phone")
    dnc_list.refresh_from_db()
    assert dnc_list.entry_count == 1
    audit = AuditEntry.objects.get(action="campaigns.dnc_entry_add")
    assert (audit.actor, audit.object_type, audit.object_id, audit.data) == (
        marketer,
        "campaigns.dncentry",
        str(entry.pk),
        {"dnc_list": dnc_list.pk, "number": "+14155550123", "reason": "asked by phone"},
    )


def test_without_a_list_the_number_goes_on_the_internal_list_and_the_customer_is_marked(
    marketer: User,
) -> None:
    # Given a customer with that phone number
    customer = customer_create(
        actor=marketer, first_name="Ada", contacts=[ContactInput(kind="phone", value="+14155550124")]
    )

    # When a marketer adds the number without naming a list
    entry = dnc_entry_add(actor=marketer, number="(415) 555-0124", reason="complaint")

    # Then it is on the internal list and the customer's phone is do-not-call
    assert (entry.dnc_list.name, entry.dnc_list.kind) == (INTERNAL_LIST_NAME, DncListKind.INTERNAL)
    point = customer.contact_points.get(kind="phone")
    assert point.do_not_call is True


def test_a_number_already_on_the_list_keeps_its_first_entry_and_is_not_audited_again(
    marketer: User,
) -> None:
    dnc_list = DncList.objects.create(name="US registry", kind=DncListKind.NATIONAL)
    first = dnc_entry_add(actor=marketer, number="+14155550125", reason="first", dnc_list=dnc_list)

    again = dnc_entry_add(actor=marketer, number="+1 415-555-0125", reason="second", dnc_list=dnc_list)

    assert again == first
    assert again.reason == "first"
    assert DncEntry.objects.count() == 1
    dnc_list.refresh_from_db()
    assert dnc_list.entry_count == 1
    assert AuditEntry.objects.filter(action="campaigns.dnc_entry_add").count() == 1


@pytest.mark.parametrize("role", ["Agent", "Supervisor"])
def test_agents_and_supervisors_do_not_add_numbers(role: str, make_user: Callable[..., User]) -> None:
    user = make_user(role)

    with pytest.raises(NotAllowed, match="Only marketers and admins manage do-not-call lists"):
        dnc_entry_add(actor=user, number="+14155550126", reason="")

    assert not DncEntry.objects.exists()
    assert not DncList.objects.exists()  # not even the internal list was made on the way
    assert not AuditEntry.objects.exists()


def test_something_that_is_not_a_phone_number_is_refused(marketer: User) -> None:
    with pytest.raises(InvalidContact):
        dnc_entry_add(actor=marketer, number="call me maybe", reason="")

    assert not DncEntry.objects.exists()
    assert not AuditEntry.objects.exists()
