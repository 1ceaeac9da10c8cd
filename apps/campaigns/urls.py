"""The marketers' pages, under /campaigns/ (config.urls)."""

from __future__ import annotations

from django.urls import path

from apps.campaigns import views

app_name = "campaigns"
urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("new/", views.campaign_create_page, name="create"),
    path("<int:pk>/", views.campaign_dashboard_page, name="dashboard"),
    path("<int:pk>/edit/", views.campaign_edit_page, name="edit"),
    path("<int:pk>/figures/", views.campaign_figures, name="figures"),
    path("<int:pk>/status/", views.campaign_status, name="status"),
    path("<int:pk>/status/<str:action>/", views.campaign_set_status_page, name="set-status"),
    path("lists/upload/", views.list_upload, name="list-upload"),
    path("lists/segment/", views.segment_create, name="segment-create"),
    path("lists/<int:pk>/", views.list_detail, name="list-detail"),
    path("compliance/", views.compliance_report_page, name="compliance"),
]
