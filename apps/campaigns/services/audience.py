"""Writes of a campaign's audience (the contact lists attached to it, with priority and weight)
and of its retry rules per disposition category. Same rules as every service: keyword-only, actor
required, authorization inside, the campaign locked, an event after commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F

from apps.campaigns import events
from apps.campaigns.exceptions import InvalidCampaign, InvalidStatusChange
from apps.campaigns.models import Campaign, CampaignList, CampaignStatus, ContactList, RetryRule
from apps.campaigns.services.campaigns import campaign_may_manage
from apps.core.actors import Actor
from apps.core.exceptions import NotAllowed
from apps.interactions.models import DispositionCategory


@dataclass(frozen=True)
class ListLink:
    contact_list_id: int
    priority: int = 0
    weight: int = 1


@dataclass(frozen=True)
class RetrySetting:
    category: str
    delay_minutes: int
    max_attempts: int | None = None


def _locked_campaign(actor: Actor, campaign_id: int) -> Campaign:
    if not campaign_may_manage(actor):
        raise NotAllowed("Only marketers and admins manage campaigns.")
    campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
    if campaign.status == CampaignStatus.COMPLETED:
        raise InvalidStatusChange(f"Campaign {campaign.name} is completed: its settings are history.")
    return campaign


def _announce(campaign: Campaign) -> None:
    Campaign.objects.filter(pk=campaign.pk).update(version=F("version") + 1)
    campaign.refresh_from_db(fields=["version"])
    events.campaign_changed(campaign)


def campaign_lists_set(*, actor: Actor, campaign_id: int, links: Sequence[ListLink]) -> list[CampaignList]:
    """The campaign dials exactly these lists, with these priorities and weights: a new list is
    attached through contact_list_attach (which gives the campaign its leads), a kept one takes
    its new priority and weight (its leads their new priority, leads_set_priority), the others
    are detached (is_active off; their leads and attempts stay for the figures). Locks: the
    campaign, then each list attached."""
    from apps.campaigns.services.leads import leads_set_priority
    from apps.campaigns.services.lists import contact_list_attach

    for link in links:
        if link.priority < 0 or link.weight < 1:
            raise InvalidCampaign(
                f"list_{link.contact_list_id}_weight: priority 0 or more, weight 1 or more."
            )
    with transaction.atomic():
        campaign = _locked_campaign(actor, campaign_id)
        wanted = {link.contact_list_id: link for link in links}
        lists = ContactList.objects.in_bulk(list(wanted))
        missing = sorted(set(wanted) - set(lists))
        if missing:
            raise InvalidCampaign(f"lists: no contact list #{missing[0]}.")
        existing = {link.contact_list_id: link for link in CampaignList.objects.filter(campaign=campaign)}
        changed = bool(
            CampaignList.objects.filter(campaign=campaign, is_active=True)
            .exclude(contact_list_id__in=wanted)
            .update(is_active=False)
        )
        for list_id, choice in wanted.items():
            current = existing.get(list_id)
            if current is None:
                contact_list_attach(
                    actor=actor,
                    contact_list=lists[list_id],
                    campaign=campaign,
                    priority=choice.priority,
                    weight=choice.weight,
                )
                changed = True
            elif (current.priority, current.weight, current.is_active) != (
                choice.priority,
                choice.weight,
                True,
            ):
                if current.priority != choice.priority:
                    leads_set_priority(
                        actor=actor, campaign=campaign, contact_list=lists[list_id], priority=choice.priority
                    )
                current.priority, current.weight, current.is_active = choice.priority, choice.weight, True
                current.save(update_fields=["priority", "weight", "is_active"])
                changed = True
        if changed:
            _announce(campaign)
        return list(
            CampaignList.objects.filter(campaign=campaign, is_active=True).select_related("contact_list")
        )


def campaign_retry_rules_set(
    *, actor: Actor, campaign_id: int, rules: Sequence[RetrySetting]
) -> list[RetryRule]:
    """The campaign's category rules are exactly these (a category left out uses the defaults of
    apps.campaigns.services.attempts); rules for one disposition are left alone. Locks: the campaign."""
    for rule in rules:
        if rule.category not in DispositionCategory.values:
            raise InvalidCampaign(f"retry_rules: {rule.category!r} is not a disposition category.")
        if rule.delay_minutes < 1:
            raise InvalidCampaign(f"retry_{rule.category}_delay: at least 1 minute.")
        if rule.max_attempts is not None and rule.max_attempts < 1:
            raise InvalidCampaign(f"retry_{rule.category}_max: at least 1 attempt, or empty.")
    with transaction.atomic():
        campaign = _locked_campaign(actor, campaign_id)
        wanted = {rule.category: rule for rule in rules}
        category_rules = RetryRule.objects.filter(campaign=campaign, disposition__isnull=True)
        existing = {rule.category: rule for rule in category_rules}
        changed = bool(category_rules.exclude(category__in=wanted).delete()[0])
        for category, setting in wanted.items():
            current = existing.get(category)
            if current is None:
                RetryRule.objects.create(
                    campaign=campaign,
                    category=category,
                    delay_minutes=setting.delay_minutes,
                    max_attempts=setting.max_attempts,
                )
                changed = True
            elif (current.delay_minutes, current.max_attempts) != (
                setting.delay_minutes,
                setting.max_attempts,
            ):
                current.delay_minutes, current.max_attempts = setting.delay_minutes, setting.max_attempts
                current.save(update_fields=["delay_minutes", "max_attempts"])
                changed = True
        if changed:
            _announce(campaign)
        return list(RetryRule.objects.filter(campaign=campaign, disposition__isnull=True))
