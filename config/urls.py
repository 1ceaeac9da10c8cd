"""URL wiring only: each app owns its urls.py (pages) and api.py (REST)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import IsAuthenticated

urlpatterns = [
    path("", include("apps.accounts.urls")),
    path("campaigns/", include("apps.campaigns.urls")),
    path("", include("apps.interactions.urls")),
    path("customers/", include("apps.customers.urls")),
    path("u/", include("apps.campaigns.public_urls")),  # email unsubscribe: signed token, no sign-in
    path("api/v1/", include("config.api_urls")),
    # Any signed-in user may read the API description; the docs are a page, so they redirect to login.
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]), name="api-schema"),
    # The split view serves Swagger UI's init script as a file (?script): no inline script for the CSP.
    path(
        "api/docs/",
        login_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path("admin/", admin.site.urls),
    path("internal/", include("apps.core.urls")),  # the embedded mode's event relay (signed, no session)
]
