"""/api/v1/: one router; each app registers its viewsets in its api.py."""

from __future__ import annotations

from django.urls import path
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from apps.customers.api import register as register_customers

router = DefaultRouter()
register_customers(router)

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    *router.urls,
]
