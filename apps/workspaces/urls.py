from __future__ import annotations

from django.urls import path

from apps.workspaces import views

app_name = "workspaces"
urlpatterns = [
    path("campaigns/", views.campaigns, name="campaigns"),
]
