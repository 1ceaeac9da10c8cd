"""The marketers' pages (server-rendered, htmx): campaigns and their live dashboard, contact
lists. One module per subject; urls.py imports the views from here."""

from apps.campaigns.views.campaigns import (
    campaign_create_page,
    campaign_dashboard_page,
    campaign_edit_page,
    campaign_figures,
    campaign_list,
    campaign_set_status_page,
    campaign_status,
)
from apps.campaigns.views.compliance import compliance_report_page
from apps.campaigns.views.lists import list_detail, list_upload, segment_create

__all__ = [
    "campaign_create_page",
    "campaign_dashboard_page",
    "campaign_edit_page",
    "campaign_figures",
    "campaign_list",
    "campaign_set_status_page",
    "campaign_status",
    "compliance_report_page",
    "list_detail",
    "list_upload",
    "segment_create",
]
