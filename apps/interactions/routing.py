"""Websocket routes of the contact center (config.asgi serves them)."""

from __future__ import annotations

from django.urls import path

from apps.interactions import consumers

websocket_urlpatterns = [
    path("ws/agent/", consumers.AgentConsumer.as_asgi(), name="ws-agent"),
    path("ws/wallboard/", consumers.WallboardConsumer.as_asgi(), name="ws-wallboard"),
]
