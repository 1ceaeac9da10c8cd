"""Bulk work on leads: reset, recycle by disposition, move, mark do-not-call; who may do it, what
each leaves alone, the audit entry per campaign and the dashboards' refresh after commit."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from apps.accounts.models import User
from apps.campaigns.exceptions import InvalidStatusChange
from apps.campaigns.models import CampaignStatus, DncEntry, Lead, LeadStatus
from apps.campaigns.services.dnc import internal_list
from apps.campaigns.services.leads import (
    InvalidLeadSelection,
    leads_mark_dnc,
    leads_move,
    leads_recycle,
    leads_reset,
    leads_set_priority,
)
from apps.core.actors import SystemActor
from apps.core.exceptions import NotAllowed
from apps.core.models import AuditEntry
from apps.customers.models import ContactPoint
from apps.customers.services.customers import ContactInput, customer_create
from apps.interactions.models import Disposition, DispositionCategory
from tests.campaigns.factories import CampaignFactory, LeadFactory, attach_list, make_voice_campaign
from tests.conftest import require_postgres

pytestmark = pytest.mark.django_db

LATER = timezone.now() + dt.timedelta(days=2)


def _disposition(code: str, category: str) -> Disposition:
    return Disposition.objects.create(code=code, label=code.title(), category=category, is_final=False)


def _state() -> list[tuple[Any, ...]]:
    return list(
        Lead.objects.order_by("pk").values_list("pk", "campaign_id", "status", "attempts", "next_attempt_at")
    )


# --- reset --------------------------------------------------------------------------------------


def test_reset_starts_leads_afresh_and_leaves_dnc_invalid_and_in_call_leads(marketer: User) -> None:
    campaign = make_voice_campaign()
    owner = marketer
    exhausted = LeadFactory(
        campaign=campaign,
        status=LeadStatus.EXHAUSTED,
        attempts=5,
        next_attempt_at=LATER,
        callback_at=LATER,
        callback_owner=owner,
    )
    dnc = LeadFactory(campaign=campaign, status=LeadStatus.DNC, attempts=2)
    invalid = LeadFactory(campaign=campaign, status=LeadStatus.INVALID, attempts=1)
    in_call = LeadFactory(campaign=campaign, status=LeadStatus.IN_PROGRESS, attempts=1)

    count = leads_reset(actor=marketer, leads=Lead.objects.filter(campaign=campaign))

    assert count == 1
    exhausted.refresh_from_db()
    assert (
        exhausted.status,
        exhausted.attempts,
        exhausted.next_attempt_at,
        exhausted.callback_at,
        exhausted.callback_owner,
    ) == (LeadStatus.NEW, 0, None, None, None)
    assert [
        (lead.status, lead.attempts) for lead in Lead.objects.filter(pk__in=[dnc.pk, invalid.pk, in_call.pk])
    ] == [(LeadStatus.DNC, 2), (LeadStatus.INVALID, 1), (LeadStatus.IN_PROGRESS, 1)]
    entry = AuditEntry.objects.get(action="leads.reset")
    assert (entry.actor, entry.object_type, entry.object_id, entry.data) == (
        marketer,
        "campaigns.campaign",
        str(campaign.pk),
        {"leads": 1, "lead_ids": [exhausted.pk]},
    )


@pytest.mark.parametrize("role", ["Agent", "Supervisor"])
def test_only_marketers_admins_and_the_system_work_leads_in_bulk(make_user: Any, role: str) -> None:
    campaign = make_voice_campaign()
    LeadFactory(campaign=campaign, status=LeadStatus.EXHAUSTED, attempts=3)
    before = _state()

    with pytest.raises(NotAllowed):
        leads_reset(actor=make_user(role), leads=Lead.objects.all())
    with pytest.raises(NotAllowed):
        leads_mark_dnc(actor=make_user(role), leads=Lead.objects.all(), reason="asked")

    assert _state() == before
    assert not AuditEntry.objects.filter(action__startswith="leads.").exists()
    assert DncEntry.objects.count() == 0


def test_the_system_may_reset_and_is_named_in_the_audit() -> None:
    lead = LeadFactory(campaign=make_voice_campaign(), status=LeadStatus.EXHAUSTED, attempts=3)

    assert leads_reset(actor=SystemActor("nightly recycle"), leads=Lead.objects.all()) == 1

    assert AuditEntry.objects.get(action="leads.reset").data == {
        "leads": 1,
        "lead_ids": [lead.pk],
        "system": "nightly recycle",
    }


def test_a_bulk_action_refreshes_the_dashboard_of_every_campaign_it_touched(
    marketer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[int] = []
    from apps.campaigns import events

    monkeypatch.setattr(events, "campaign_activity", lambda campaign_id: sent.append(campaign_id))
    one, two = make_voice_campaign(), make_voice_campaign()
    LeadFactory(campaign=one, status=LeadStatus.DONE)
    LeadFactory(campaign=two, status=LeadStatus.DONE)

    leads_reset(actor=marketer, leads=Lead.objects.all())

    assert sorted(sent) == sorted([one.pk, two.pk])


# --- recycle ------------------------------------------------------------------------------------


def test_recycle_makes_leads_with_those_dispositions_due_and_keeps_their_attempts(marketer: User) -> None:
    campaign = make_voice_campaign(max_attempts_per_lead=4)
    busy = _disposition("busy", DispositionCategory.BUSY)
    machine = _disposition("machine", DispositionCategory.VOICEMAIL)
    sale = _disposition("sale", DispositionCategory.SALE)
    retry = LeadFactory(
        campaign=campaign, status=LeadStatus.RETRY, attempts=2, last_disposition=busy, next_attempt_at=LATER
    )
    done = LeadFactory(campaign=campaign, status=LeadStatus.DONE, attempts=1, last_disposition=machine)
    capped = LeadFactory(campaign=campaign, status=LeadStatus.EXHAUSTED, attempts=4, last_disposition=busy)
    sold = LeadFactory(campaign=campaign, status=LeadStatus.DONE, attempts=1, last_disposition=sale)
    callback = LeadFactory(
        campaign=campaign,
        status=LeadStatus.CALLBACK,
        attempts=1,
        last_disposition=busy,
        next_attempt_at=LATER,
    )
    elsewhere = LeadFactory(status=LeadStatus.DONE, attempts=1, last_disposition=busy)
    before = timezone.now()

    count = leads_recycle(
        actor=marketer,
        campaign=campaign,
        disposition_codes=["busy"],
        categories=[DispositionCategory.VOICEMAIL],
    )

    assert count == 2
    for lead in (retry, done):
        lead.refresh_from_db()
        assert lead.status == LeadStatus.RETRY
        assert lead.next_attempt_at is not None and before <= lead.next_attempt_at <= timezone.now()
    assert (Lead.objects.get(pk=retry.pk).attempts, Lead.objects.get(pk=done.pk).attempts) == (2, 1)
    assert Lead.objects.get(pk=capped.pk).status == LeadStatus.EXHAUSTED
    assert Lead.objects.get(pk=sold.pk).status == LeadStatus.DONE
    assert Lead.objects.get(pk=callback.pk).next_attempt_at == LATER
    assert Lead.objects.get(pk=elsewhere.pk).status == LeadStatus.DONE
    entry = AuditEntry.objects.get(action="leads.recycle")
    assert entry.data == {
        "leads": 2,
        "lead_ids": sorted([retry.pk, done.pk]),
        "disposition_codes": ["busy"],
        "categories": ["voicemail"],
    }


def test_recycle_needs_a_disposition_and_names_an_unknown_one(marketer: User) -> None:
    campaign = make_voice_campaign()

    with pytest.raises(InvalidLeadSelection, match="^disposition_codes: choose"):
        leads_recycle(actor=marketer, campaign=campaign)
    with pytest.raises(InvalidLeadSelection, match="no disposition nosuch"):
        leads_recycle(actor=marketer, campaign=campaign, disposition_codes=["nosuch"])


# --- move ---------------------------------------------------------------------------------------


def test_move_skips_contacts_the_target_has_and_leads_in_a_call(marketer: User) -> None:
    source, target = make_voice_campaign(), make_voice_campaign()
    moving = LeadFactory(campaign=source, contact="+14155550101", status=LeadStatus.RETRY, attempts=2)
    duplicate = LeadFactory(campaign=source, contact="+14155550102")
    LeadFactory(campaign=target, contact="+14155550102")
    in_call = LeadFactory(campaign=source, contact="+14155550103", status=LeadStatus.IN_PROGRESS)

    result = leads_move(actor=marketer, leads=Lead.objects.filter(campaign=source), to_campaign=target)

    assert (result.moved, result.skipped) == (1, 2)
    moving.refresh_from_db()
    assert (moving.campaign_id, moving.status, moving.attempts) == (target.pk, LeadStatus.RETRY, 2)
    assert Lead.objects.get(pk=duplicate.pk).campaign_id == source.pk
    assert Lead.objects.get(pk=in_call.pk).campaign_id == source.pk
    assert AuditEntry.objects.get(action="leads.move_out").data == {
        "leads": 1,
        "lead_ids": [moving.pk],
        "to_campaign": target.pk,
    }
    assert AuditEntry.objects.get(action="leads.move_in").object_id == str(target.pk)


def test_two_selected_leads_with_one_contact_move_once(marketer: User) -> None:
    one, two, target = make_voice_campaign(), make_voice_campaign(), make_voice_campaign()
    first = LeadFactory(campaign=one, contact="+14155550111")
    LeadFactory(campaign=two, contact="+14155550111")

    result = leads_move(actor=marketer, leads=Lead.objects.exclude(campaign=target), to_campaign=target)

    assert (result.moved, result.skipped) == (1, 1)
    assert list(Lead.objects.filter(campaign=target).values_list("pk", flat=True)) == [first.pk]


def test_a_completed_campaign_takes_no_leads(marketer: User) -> None:
    target = CampaignFactory(status=CampaignStatus.COMPLETED)
    LeadFactory(campaign=make_voice_campaign())
    before = _state()

    with pytest.raises(InvalidStatusChange, match="^to_campaign: "):
        leads_move(actor=marketer, leads=Lead.objects.all(), to_campaign=target)

    assert _state() == before


# --- do-not-call --------------------------------------------------------------------------------


def test_mark_dnc_puts_each_number_on_the_internal_list_and_marks_the_contact_point(
    marketer: User, agent: User
) -> None:
    customer = customer_create(
        actor=agent, first_name="Ada", contacts=[ContactInput(kind="phone", value="+14155550134")]
    )
    campaign = make_voice_campaign()
    phone = LeadFactory(
        campaign=campaign,
        customer=customer,
        contact="+14155550134",
        status=LeadStatus.RETRY,
        next_attempt_at=LATER,
    )
    email = LeadFactory(campaign=campaign, contact="ada@example.com")
    already = LeadFactory(campaign=campaign, contact="+14155550135", status=LeadStatus.DNC)

    count = leads_mark_dnc(actor=marketer, leads=Lead.objects.all(), reason="asked on the phone")

    assert count == 2
    assert sorted(Lead.objects.values_list("status", flat=True)) == ["dnc", "dnc", "dnc"]
    assert Lead.objects.get(pk=phone.pk).next_attempt_at is None
    entries = DncEntry.objects.filter(dnc_list=internal_list()).order_by("number")
    assert [(e.number, e.reason) for e in entries] == [
        ("+14155550134", "asked on the phone"),
        ("+14155550135", "asked on the phone"),
    ]
    assert internal_list().entry_count == 2
    assert ContactPoint.objects.get(customer=customer, kind="phone").do_not_call is True
    audit = AuditEntry.objects.get(action="leads.mark_dnc")
    assert audit.data == {
        "leads": 2,
        "lead_ids": sorted([phone.pk, email.pk]),
        "reason": "asked on the phone",
        "numbers": 2,
    }
    assert already.pk not in audit.data["lead_ids"]


def test_mark_dnc_needs_a_reason(marketer: User) -> None:
    LeadFactory(campaign=make_voice_campaign())
    before = _state()

    with pytest.raises(InvalidLeadSelection, match="^reason: "):
        leads_mark_dnc(actor=marketer, leads=Lead.objects.all(), reason="  ")

    assert _state() == before


# --- a list's priority --------------------------------------------------------------------------


def test_a_lists_new_priority_reaches_its_leads_in_that_campaign_only(marketer: User) -> None:
    campaign, other = make_voice_campaign(), make_voice_campaign()
    contact_list = attach_list(campaign)
    mine = LeadFactory(campaign=campaign, contact_list=contact_list, priority=0)
    theirs = LeadFactory(campaign=other, contact_list=contact_list, priority=0)

    changed = leads_set_priority(actor=marketer, campaign=campaign, contact_list=contact_list, priority=5)

    assert changed == 1
    assert (Lead.objects.get(pk=mine.pk).priority, Lead.objects.get(pk=theirs.pk).priority) == (5, 0)


# --- concurrency (PostgreSQL row locks) ---------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_moves_of_one_contact_into_one_campaign_at_once_move_it_once(make_user: Any) -> None:
    require_postgres()
    marketer = make_user("Marketer")
    one, two, target = make_voice_campaign(), make_voice_campaign(), make_voice_campaign()
    LeadFactory(campaign=one, contact="+14155550121")
    LeadFactory(campaign=two, contact="+14155550121")
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def move(source_id: int) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(
                leads_move(
                    actor=marketer, leads=Lead.objects.filter(campaign_id=source_id), to_campaign=target
                )
            )
        except Exception as exc:  # noqa: BLE001 - the assertion below shows it
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=move, args=(c.pk,)) for c in (one, two)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted((r.moved, r.skipped) for r in results) == [(0, 1), (1, 0)], results
    assert Lead.objects.filter(campaign=target, contact="+14155550121").count() == 1
