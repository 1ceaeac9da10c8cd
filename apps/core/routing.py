"""Websocket URL routing: every app's routing.py contributes its patterns here."""

from __future__ import annotations

from django.urls import URLPattern

# The contact-center issue adds /ws/agent/ and /ws/wallboard/ here.
websocket_urlpatterns: list[URLPattern] = []
