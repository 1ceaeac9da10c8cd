"""Websocket routes of the campaigns (config.asgi serves them)."""

from __future__ import annotations

from django.urls import path

from apps.campaigns import consumers

websocket_urlpatterns = [
    path("ws/campaigns/<int:campaign_id>/", consumers.CampaignConsumer.as_asgi(), name="ws-campaign"),
]
