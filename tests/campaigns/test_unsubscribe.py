"""The unsubscribe link: a confirmation page with one button, RFC 8058's one-click POST without
CSRF, the opt-out written through the customers' consent service, and the gate refusing the
address from then on; a damaged token is a 400 page, a second unsubscribe a 200."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import NoReverseMatch, include, path, reverse

from apps.campaigns.models import Campaign, CampaignChannel, Lead, LeadAttempt, LeadStatus
from apps.campaigns.services.sends import campaign_send_tick
from apps.campaigns.unsubscribe import token_read, unsubscribe_token, unsubscribe_url
from apps.core.models import AuditEntry
from apps.customers.models import ContactPoint
from config import urls as config_urls
from tests.campaigns.factories import CampaignFactory, LeadFactory
from tests.customers.factories import CustomerFactory, EmailFactory


def _public_urls_mounted() -> bool:
    try:
        reverse("campaigns_public:unsubscribe", args=["x"], urlconf="config.urls")
    except NoReverseMatch:
        return False
    return True


# The project's URLs, with the public unsubscribe pages mounted at /u/ as config.urls does.
urlpatterns = list(config_urls.urlpatterns) + (
    [] if _public_urls_mounted() else [path("u/", include("apps.campaigns.public_urls"))]
)

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

NOW = dt.datetime(2026, 12, 3, 20, 0, tzinfo=dt.UTC)  # noon in Los Angeles
ONE_CLICK = "List-Unsubscribe=One-Click"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(autouse=True)
def fresh_buckets() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def _campaign(name: str = "Winter renewals") -> Campaign:
    return CampaignFactory(
        name=name,
        channel=CampaignChannel.EMAIL,
        message_subject="News",
        message_body="Hello {first_name}",
        sends_per_minute=600,
    )


def _lead(campaign: Campaign, address: str = "ada@example.org") -> Lead:
    customer = CustomerFactory(first_name="Ada")
    EmailFactory(customer=customer, value=address)
    return LeadFactory(
        campaign=campaign, customer=customer, contact=address, time_zones=["America/Los_Angeles"]
    )


def _page(lead: Lead) -> str:
    return reverse(
        "campaigns_public:unsubscribe", args=[unsubscribe_token(lead_id=lead.pk, contact=lead.contact)]
    )


def _confirm(lead: Lead) -> str:
    token = unsubscribe_token(lead_id=lead.pk, contact=lead.contact)
    return reverse("campaigns_public:unsubscribe-confirm", args=[token])


def _consent(address: str = "ada@example.org") -> tuple[bool, str]:
    point = ContactPoint.objects.get(value=address)
    return point.email_opt_out, point.email_opt_out_source


def test_the_token_names_the_lead_and_address_and_the_url_is_absolute(settings: Any) -> None:
    settings.PUBLIC_BASE_URL = "https://crm.example.com/"
    lead = _lead(_campaign())

    url = unsubscribe_url(lead_id=lead.pk, contact=lead.contact)

    token = unsubscribe_token(lead_id=lead.pk, contact=lead.contact)
    assert url == f"https://crm.example.com/u/{token}/"
    parsed = token_read(token)
    assert (parsed.lead_id, parsed.contact) == (lead.pk, "ada@example.org")


def test_the_page_asks_before_it_unsubscribes(django_assert_max_num_queries: Any) -> None:
    lead = _lead(_campaign())
    token = unsubscribe_token(lead_id=lead.pk, contact=lead.contact)  # signed with the time: made once

    with django_assert_max_num_queries(2):
        response = Client().get(reverse("campaigns_public:unsubscribe", args=[token]))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Stop receiving marketing emails" in body and "a***@example.org" in body
    assert body.count('type="submit"') == 1
    assert f'action="{reverse("campaigns_public:unsubscribe-confirm", args=[token])}"' in body
    assert _consent() == (False, "")
    lead.refresh_from_db()
    assert lead.status == LeadStatus.NEW


def test_the_button_unsubscribes_with_its_csrf_token() -> None:
    campaign = _campaign()
    lead = _lead(campaign)
    client = Client(enforce_csrf_checks=True)
    client.get(_page(lead))

    response = client.post(_confirm(lead), {"csrfmiddlewaretoken": client.cookies["csrftoken"].value})

    assert response.status_code == 200
    assert "You are unsubscribed" in response.content.decode()
    assert _consent() == (True, "unsubscribe link (Winter renewals)")
    lead.refresh_from_db()
    assert (lead.status, lead.next_attempt_at) == (LeadStatus.DNC, None)
    assert AuditEntry.objects.filter(action="consent.email_opt_out").count() == 1


def test_the_button_without_its_csrf_token_is_refused_and_changes_nothing() -> None:
    lead = _lead(_campaign())

    response = Client(enforce_csrf_checks=True).post(_confirm(lead), {})

    assert response.status_code == 403
    assert _consent() == (False, "")
    lead.refresh_from_db()
    assert lead.status == LeadStatus.NEW


def test_one_click_unsubscribes_without_csrf_and_the_gate_refuses_the_address_after() -> None:
    # given the address is a lead of two email campaigns
    first, second = _campaign("Winter renewals"), _campaign("Spring offers")
    lead = _lead(first)
    other = LeadFactory(
        campaign=second, customer=lead.customer, contact=lead.contact, time_zones=["America/Los_Angeles"]
    )

    # when the mail client posts RFC 8058's one-click body (no cookie, no CSRF token)
    response = Client(enforce_csrf_checks=True).post(_page(lead), ONE_CLICK, content_type=FORM)

    # then the address is opted out and this lead is do-not-contact
    assert response.status_code == 200
    assert _consent() == (True, "unsubscribe link (Winter renewals)")
    lead.refresh_from_db()
    assert lead.status == LeadStatus.DNC
    # and the other campaign's next tick is refused by the gate's consent rule: nothing is sent
    result = campaign_send_tick(campaign_id=second.pk, now=NOW)
    assert (result.queued, result.refusals) == (0, {"consent": 1})
    assert mail.outbox == []
    assert not LeadAttempt.objects.exists()
    other.refresh_from_db()
    assert other.status == LeadStatus.DNC


def test_a_post_to_the_one_click_url_without_its_body_changes_nothing() -> None:
    lead = _lead(_campaign())

    response = Client().post(_page(lead), "List-Unsubscribe=Yes", content_type=FORM)

    assert response.status_code == 400
    assert "List-Unsubscribe=One-Click" in response.content.decode()
    assert _consent() == (False, "")


@pytest.mark.parametrize("method", ["get", "one_click", "confirm"])
def test_a_tampered_token_is_a_clear_400_and_changes_nothing(method: str) -> None:
    lead = _lead(_campaign())
    token = unsubscribe_token(lead_id=lead.pk, contact=lead.contact)
    tampered = ("A" if token[0] != "A" else "B") + token[1:]
    client = Client()

    if method == "get":
        response = client.get(reverse("campaigns_public:unsubscribe", args=[tampered]))
    elif method == "one_click":
        response = client.post(
            reverse("campaigns_public:unsubscribe", args=[tampered]), ONE_CLICK, content_type=FORM
        )
    else:
        response = client.post(reverse("campaigns_public:unsubscribe-confirm", args=[tampered]), {})

    assert response.status_code == 400
    body = response.content.decode()
    assert "This unsubscribe link is not valid" in body and "The link was changed or cut short." in body
    assert _consent() == (False, "")
    lead.refresh_from_db()
    assert lead.status == LeadStatus.NEW


@pytest.mark.parametrize("garbled", ["not-a-token", "x:y:z", "%20"])
def test_a_garbled_token_is_a_400(garbled: str) -> None:
    response = Client().get(f"/u/{garbled}/")

    assert response.status_code == 400
    assert "This unsubscribe link is not valid" in response.content.decode()


def test_a_token_signed_for_something_else_is_refused() -> None:
    from django.core import signing

    token = signing.dumps({"l": 1, "c": "ada@example.org"}, salt="another.purpose")

    response = Client().get(reverse("campaigns_public:unsubscribe", args=[token]))

    assert response.status_code == 400


def test_unsubscribing_twice_says_already_unsubscribed() -> None:
    lead = _lead(_campaign())
    Client().post(_page(lead), ONE_CLICK, content_type=FORM)
    opted_at = ContactPoint.objects.get(value=lead.contact).email_opt_out_at

    again = Client().post(_page(lead), ONE_CLICK, content_type=FORM)
    page = Client().get(_page(lead))

    for response in (again, page):
        assert response.status_code == 200
        assert "Already unsubscribed" in response.content.decode()
    assert ContactPoint.objects.get(value=lead.contact).email_opt_out_at == opted_at
    assert AuditEntry.objects.filter(action="consent.email_opt_out").count() == 1


def test_a_lead_deleted_since_the_email_still_opts_the_address_out() -> None:
    lead = _lead(_campaign())
    url = _page(lead)
    Lead.objects.filter(pk=lead.pk).delete()

    response = Client().post(url, ONE_CLICK, content_type=FORM)

    assert response.status_code == 200
    assert _consent() == (True, "unsubscribe link")


def test_a_lead_without_a_customer_becomes_do_not_contact() -> None:
    lead = LeadFactory(campaign=_campaign(), customer=None, contact="nobody@example.org")

    first = Client().post(_page(lead), ONE_CLICK, content_type=FORM)
    second = Client().get(_page(lead))

    assert "You are unsubscribed" in first.content.decode()
    assert "Already unsubscribed" in second.content.decode()
    lead.refresh_from_db()
    assert lead.status == LeadStatus.DNC


def test_the_confirm_url_answers_only_post() -> None:
    lead = _lead(_campaign())

    response = Client().get(_confirm(lead))

    assert response.status_code == 405
    assert _consent() == (False, "")
