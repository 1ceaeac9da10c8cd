"""Internal endpoints of the web process (not pages): the embedded mode's event relay."""

from __future__ import annotations

from django.urls import path

from apps.core import views

app_name = "core"
urlpatterns = [
    path("events/", views.event_relay, name="event-relay"),
]
