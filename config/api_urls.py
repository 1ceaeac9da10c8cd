"""/api/v1/: one router; each app registers its viewsets in its api.py. Names live in the "api"
namespace (api:customer-list, api:token)."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import DefaultRouter

from apps.accounts.api import obtain_token
from apps.campaigns.api import register as register_campaigns
from apps.customers.api import register as register_customers
from apps.interactions.api import register as register_interactions

app_name = "api"

router = DefaultRouter()
# JSON only: format-suffixed twins of every route (customers.json) would only double the surface.
router.include_format_suffixes = False
register_customers(router)
register_interactions(router)
register_campaigns(router)

urlpatterns = [
    path("auth/token/", obtain_token, name="token"),  # expiring tokens, throttled sign-in
    *router.urls,
]
