"""Pages for the people campaigns reach (no sign-in): the email unsubscribe. Mounted at /u/."""

from __future__ import annotations

from django.urls import path

from apps.campaigns import unsubscribe

app_name = "campaigns_public"
urlpatterns = [
    path("<str:token>/", unsubscribe.unsubscribe_page, name="unsubscribe"),
    path("<str:token>/confirm/", unsubscribe.unsubscribe_confirm, name="unsubscribe-confirm"),
]
