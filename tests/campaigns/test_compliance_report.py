"""The compliance report: each campaign's abandon rate over the window against its cap, every
refusal of the gate by rule, the CSV an auditor downloads, who may read it, a bad window
refused with a message, and a query count that does not grow with the campaigns."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import User
from apps.campaigns.models import AttemptStatus, Campaign, ContactLog, LeadAttempt
from apps.campaigns.selectors.compliance import compliance_report
from tests.campaigns.factories import LeadFactory, make_voice_campaign

pytestmark = pytest.mark.django_db


def _calls(campaign: Campaign, *, answered: int, abandoned: int, days_ago: float = 1) -> None:
    started = timezone.now() - dt.timedelta(days=days_ago)
    for n in range(answered):
        lead = LeadFactory(campaign=campaign, contact=f"+1415{campaign.pk:03d}{days_ago:03.0f}{n:04d}")
        LeadAttempt.objects.create(
            lead=lead,
            campaign=campaign,
            channel="voice",
            contact=lead.contact,
            status=AttemptStatus.ABANDONED if n < abandoned else AttemptStatus.ENDED,
            started_at=started,
            answered_at=started + dt.timedelta(seconds=8),
            ended_at=started + dt.timedelta(seconds=60),
        )


def _decision(campaign: Campaign, rule: str, *, allowed: bool = False, n: int = 1) -> None:
    for index in range(n):
        ContactLog.objects.create(
            at=timezone.now() - dt.timedelta(hours=1),
            campaign=campaign,
            channel="voice",
            contact=f"+1312555{index:04d}",
            allowed=allowed,
            rule=rule,
        )


def test_the_report_gives_each_campaigns_abandon_rate_and_refusals_by_rule() -> None:
    calm = make_voice_campaign(name="Calm", max_abandon_percent=3)
    hasty = make_voice_campaign(name="Hasty", max_abandon_percent=3)
    _calls(calm, answered=100, abandoned=1)
    _calls(hasty, answered=20, abandoned=2)
    _calls(hasty, answered=5, abandoned=5, days_ago=45)  # outside the 30 days
    _decision(calm, "allowed", allowed=True, n=3)
    _decision(calm, "dnc_internal", n=2)
    _decision(hasty, "window", n=4)

    report = compliance_report(now=timezone.now(), days=30)

    rows = {row.campaign.name: row for row in report.rows}
    assert (rows["Calm"].answered, rows["Calm"].abandoned, rows["Calm"].abandon_percent) == (100, 1, 1.0)
    assert (rows["Hasty"].answered, rows["Hasty"].abandoned, rows["Hasty"].abandon_percent) == (20, 2, 10.0)
    assert not rows["Calm"].over_cap and rows["Hasty"].over_cap
    assert rows["Calm"].refusals == {"dnc_internal": 2} and rows["Calm"].allowed == 3
    assert rows["Hasty"].refusals == {"window": 4}
    assert [rule for rule, _ in report.rules] == ["dnc_internal", "window"]


def test_the_page_and_its_csv(make_user: Callable[..., User], django_assert_max_num_queries: object) -> None:
    for n in range(5):
        campaign = make_voice_campaign(name=f"=Campaign {n}" if n == 0 else f"Campaign {n}")
        _calls(campaign, answered=4, abandoned=1)
        _decision(campaign, "frequency_cap", n=n + 1)
    client = Client()
    client.force_login(make_user("Supervisor"))
    url = reverse("campaigns:compliance")

    with django_assert_max_num_queries(8):  # type: ignore[operator]
        page = client.get(url)

    assert page.status_code == 200
    body = page.content.decode()
    assert "Campaign 4" in body and "25.0%" in body and "over the cap" in body
    exported = client.get(url, {"days": "7", "format": "csv"})
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(exported.content.decode())))
    assert table[0][:4] == ["campaign", "status", "answered calls", "abandoned calls"]
    by_name = {line[0]: line for line in table[1:]}
    assert by_name["'=Campaign 0"][2:5] == ["4", "1", "25.00"]  # a formula-like name is defused


def test_a_bad_window_is_a_clear_400(make_user: Callable[..., User]) -> None:
    client = Client()
    client.force_login(make_user("Marketer"))

    refused = client.get(reverse("campaigns:compliance"), {"days": "1000"})

    assert refused.status_code == 400
    assert "days: choose one of 7, 30, 90." in refused.content.decode()


@pytest.mark.parametrize(
    ("role", "status"), [("Agent", 403), ("Marketer", 200), ("Supervisor", 200), ("Admin", 200)]
)
def test_who_reads_the_report(make_user: Callable[..., User], role: str, status: int) -> None:
    client = Client()
    client.force_login(make_user(role))

    assert client.get(reverse("campaigns:compliance")).status_code == status


def test_the_campaigns_list_links_the_report(make_user: Callable[..., User]) -> None:
    client = Client()
    client.force_login(make_user("Supervisor"))

    page = client.get(reverse("campaigns:list")).content.decode()

    assert f'href="{reverse("campaigns:compliance")}"' in page
