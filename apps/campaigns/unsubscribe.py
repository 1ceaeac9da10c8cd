"""One-click unsubscribe from campaign emails: the signed token in every email, and the public
pages it opens (no sign-in: the token is the proof).

The token is django.core.signing over {lead id, address} with its own salt, so it cannot be
forged or pointed at another address, and it never expires: CAN-SPAM wants an unsubscribe link
to keep working, and one that lapsed would leave the recipient only the spam button.

Routes (apps/campaigns/public_urls.py, mounted at /u/):
- /u/<token>/ is the List-Unsubscribe URL. GET shows a confirmation page with one button
  (a mail scanner that follows links must not unsubscribe anyone); POST with the body
  `List-Unsubscribe=One-Click` is RFC 8058's one-click unsubscribe, which mail clients send
  without cookies, so this route alone is exempt from CSRF (the signed token is what a forged
  request would need, and whoever holds it may unsubscribe its address anyway).
- /u/<token>/confirm/ is the page's button: POST only, CSRF-protected like every form.
A damaged token is a 400 page that says what to do; a second unsubscribe is a 200 "already
unsubscribed".
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from apps.campaigns.models import Lead, LeadStatus
from apps.campaigns.services.sends import UNSUBSCRIBE_LINK, email_unsubscribe, public_base_url, sender_name
from apps.customers.models import ContactPoint, ContactPointKind

SALT = "apps.campaigns.unsubscribe"
ONE_CLICK_FIELD = "List-Unsubscribe"
ONE_CLICK_VALUE = "One-Click"


@dataclass(frozen=True)
class UnsubscribeToken:
    lead_id: int
    contact: str


class BadToken(Exception):
    """The token was altered, cut short or made up."""


def unsubscribe_token(*, lead_id: int, contact: str) -> str:
    return signing.dumps({"l": lead_id, "c": contact}, salt=SALT, compress=True)


def unsubscribe_url(*, lead_id: int, contact: str) -> str:
    """The absolute URL for the email (settings.PUBLIC_BASE_URL + /u/<token>/)."""
    path = reverse("campaigns_public:unsubscribe", args=[unsubscribe_token(lead_id=lead_id, contact=contact)])
    return f"{public_base_url()}{path}"


def token_read(token: str) -> UnsubscribeToken:
    """The lead and address a token names; BadToken when its signature does not hold."""
    try:
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature as exc:
        raise BadToken("The link was changed or cut short.") from exc
    if not isinstance(data, dict):
        raise BadToken("The link does not name an email address.")
    lead_id, contact = data.get("l"), data.get("c")
    if not isinstance(lead_id, int) or not isinstance(contact, str) or not contact:
        raise BadToken("The link does not name an email address.")
    return UnsubscribeToken(lead_id=lead_id, contact=contact)


def masked(address: str) -> str:
    """a***@example.org: enough for its owner to recognise, little for whoever was forwarded it."""
    local, at, domain = address.partition("@")
    if not at:
        return address[:1] + "***"
    return f"{local[:1]}***@{domain}"


def is_unsubscribed(token: UnsubscribeToken) -> bool:
    """The address opted out of email already (or, with no contact point, the lead is
    do-not-contact)."""
    points = list(
        ContactPoint.objects.filter(kind=ContactPointKind.EMAIL, value=token.contact).values_list(
            "email_opt_out", flat=True
        )
    )
    if points:
        return all(points)
    return Lead.objects.filter(pk=token.lead_id, status=LeadStatus.DNC).exists()


def _invalid(request: HttpRequest, reason: str) -> HttpResponse:
    return render(request, "campaigns_public/unsubscribe_invalid.html", {"reason": reason}, status=400)


def _done(request: HttpRequest, token: UnsubscribeToken, *, already: bool) -> HttpResponse:
    context = {"address": masked(token.contact), "already": already, "sender_name": sender_name()}
    return render(request, "campaigns_public/unsubscribed.html", context)


def _unsubscribe(request: HttpRequest, parsed: UnsubscribeToken) -> HttpResponse:
    changed = email_unsubscribe(actor=UNSUBSCRIBE_LINK, lead_id=parsed.lead_id, contact=parsed.contact)
    return _done(request, parsed, already=not changed)


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    """GET: the confirmation page (or "already unsubscribed"). POST: RFC 8058 one-click."""
    try:
        parsed = token_read(token)
    except BadToken as exc:
        return _invalid(request, str(exc))
    if request.method == "POST":
        if request.POST.get(ONE_CLICK_FIELD) != ONE_CLICK_VALUE:
            return _invalid(
                request,
                "A one-click unsubscribe sends List-Unsubscribe=One-Click: use the button on this page.",
            )
        return _unsubscribe(request, parsed)
    if is_unsubscribed(parsed):
        return _done(request, parsed, already=True)
    context = {"token": token, "address": masked(parsed.contact), "sender_name": sender_name()}
    return render(request, "campaigns_public/unsubscribe.html", context)


@require_POST
def unsubscribe_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The confirmation page's button."""
    try:
        parsed = token_read(token)
    except BadToken as exc:
        return _invalid(request, str(exc))
    return _unsubscribe(request, parsed)
