"""A campaign's settings and status: who may manage it, what holds together, and the audited
transitions between draft, active, paused and completed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.accounts.models import User
from apps.campaigns.exceptions import InvalidCampaign, InvalidStatusChange
from apps.campaigns.models import Campaign, CampaignStatus, CampaignStatusChange
from apps.campaigns.services import campaign_create, campaign_set_status, campaign_update
from apps.core.actors import SystemActor
from apps.core.exceptions import NotAllowed
from tests.interactions.factories import make_queue

pytestmark = pytest.mark.django_db


def _voice(marketer: User, **fields: object) -> Campaign:
    return campaign_create(
        actor=marketer,
        name=str(fields.pop("name", "Renewals")),
        queue=make_queue(channels=["voice"]),
        **fields,
    )


def test_a_marketer_creates_a_draft_and_the_creation_is_audited(marketer: User) -> None:
    campaign = _voice(marketer)

    assert campaign.status == CampaignStatus.DRAFT and campaign.version == 1
    assert campaign.created_by == marketer
    change = CampaignStatusChange.objects.get(campaign=campaign)
    assert (change.from_status, change.to_status, change.actor, change.reason) == (
        "",
        "draft",
        marketer,
        "created",
    )


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_agents_and_supervisors_do_not_manage_campaigns(role: str, request: pytest.FixtureRequest) -> None:
    user = request.getfixturevalue(role)

    with pytest.raises(NotAllowed):
        campaign_create(actor=user, name="Renewals")

    assert not Campaign.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"window_start": dt.time(18, 0), "window_end": dt.time(9, 0)}, "window_end"),
        ({"window_days": ["mon", "someday"]}, "window_days"),
        ({"window_days": []}, "window_days"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"max_attempts_per_lead": 0}, "max_attempts_per_lead"),
        ({"channel": "fax"}, "channel"),
        ({"dial_mode": "telepathic"}, "dial_mode"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_settings_that_do_not_hold_together_are_refused_naming_the_field(
    marketer: User, fields: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidCampaign) as raised:
        _voice(marketer, **fields)

    assert str(raised.value).startswith(field)
    assert not Campaign.objects.exists()


def test_a_window_wider_than_the_law_is_narrowed_to_eight_to_nine_local(marketer: User) -> None:
    campaign = _voice(marketer, window_start=dt.time(6, 0), window_end=dt.time(23, 0))

    assert (campaign.window_start, campaign.window_end) == (dt.time(8, 0), dt.time(21, 0))


def test_two_campaigns_cannot_share_a_name(marketer: User) -> None:
    _voice(marketer)
    other = _voice(marketer, name="Winback")

    with pytest.raises(InvalidCampaign, match="^name"):
        _voice(marketer)
    with pytest.raises(InvalidCampaign, match="^name"):
        campaign_update(actor=marketer, campaign_id=other.pk, name="Renewals")

    assert Campaign.objects.get(pk=other.pk).name == "Winback"


def test_start_pause_resume_complete_are_audited_and_bump_the_version(marketer: User) -> None:
    campaign = _voice(marketer)

    for status in (
        CampaignStatus.ACTIVE,
        CampaignStatus.PAUSED,
        CampaignStatus.ACTIVE,
        CampaignStatus.COMPLETED,
    ):
        campaign = campaign_set_status(
            actor=marketer, campaign_id=campaign.pk, to_status=status, reason="plan"
        )

    assert campaign.version == 5
    assert list(
        CampaignStatusChange.objects.filter(campaign=campaign)
        .order_by("id")
        .values_list("from_status", "to_status")
    ) == [
        ("", "draft"),
        ("draft", "active"),
        ("active", "paused"),
        ("paused", "active"),
        ("active", "completed"),
    ]


def test_a_completed_campaign_never_starts_again_nor_changes(marketer: User) -> None:
    campaign = _voice(marketer)
    campaign_set_status(actor=marketer, campaign_id=campaign.pk, to_status=CampaignStatus.COMPLETED)

    with pytest.raises(InvalidStatusChange):
        campaign_set_status(actor=marketer, campaign_id=campaign.pk, to_status=CampaignStatus.ACTIVE)
    with pytest.raises(InvalidStatusChange):
        campaign_update(actor=marketer, campaign_id=campaign.pk, description="again")

    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED


def test_a_voice_campaign_without_a_queue_or_past_its_end_does_not_start(marketer: User) -> None:
    no_queue = campaign_create(actor=marketer, name="No queue")
    ended = _voice(marketer, ends_at=timezone.now() - dt.timedelta(minutes=1))

    with pytest.raises(InvalidStatusChange, match="queue"):
        campaign_set_status(actor=marketer, campaign_id=no_queue.pk, to_status=CampaignStatus.ACTIVE)
    with pytest.raises(InvalidStatusChange, match="ended"):
        campaign_set_status(actor=marketer, campaign_id=ended.pk, to_status=CampaignStatus.ACTIVE)

    assert set(Campaign.objects.values_list("status", flat=True)) == {CampaignStatus.DRAFT}


def test_an_sms_or_email_campaign_needs_its_message_and_an_email_its_subject(marketer: User) -> None:
    sms = campaign_create(actor=marketer, name="Texts", channel="sms")
    email = campaign_create(actor=marketer, name="Mails", channel="email", message_body="Hello {first_name}")

    with pytest.raises(InvalidStatusChange, match="message"):
        campaign_set_status(actor=marketer, campaign_id=sms.pk, to_status=CampaignStatus.ACTIVE)
    with pytest.raises(InvalidStatusChange, match="subject"):
        campaign_set_status(actor=marketer, campaign_id=email.pk, to_status=CampaignStatus.ACTIVE)


def test_the_system_may_complete_a_campaign_and_is_named_in_the_audit(marketer: User) -> None:
    campaign = _voice(marketer)
    dialer = SystemActor("dialer")

    campaign_set_status(
        actor=dialer, campaign_id=campaign.pk, to_status=CampaignStatus.COMPLETED, reason="ended"
    )

    change = CampaignStatusChange.objects.filter(campaign=campaign).order_by("-id").first()
    assert change is not None and (change.actor, change.actor_name, change.reason) == (
        None,
        "dialer",
        "ended",
    )


def test_an_unknown_status_is_refused(marketer: User) -> None:
    campaign = _voice(marketer)

    with pytest.raises(InvalidStatusChange, match="not a campaign status"):
        campaign_set_status(actor=marketer, campaign_id=campaign.pk, to_status="running")
