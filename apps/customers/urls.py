from __future__ import annotations

from django.urls import path

from apps.customers.views import customers as pages
from apps.customers.views import imports

app_name = "customers"
urlpatterns = [
    path("", pages.customer_list, name="list"),
    path("new/", pages.customer_create, name="create"),
    path("duplicates/", pages.duplicates, name="duplicates"),
    path("<int:pk>/", pages.customer_detail, name="detail"),
    path("<int:pk>/edit/", pages.customer_edit, name="edit"),
    path("<int:pk>/timeline/", pages.timeline, name="timeline"),
    path("<int:pk>/notes/", pages.note_add, name="note_add"),
    path("<int:pk>/contacts/", pages.contact_add, name="contact_add"),
    path("<int:pk>/contacts/<int:cp_pk>/consent/", pages.contact_consent, name="contact_consent"),
    path("<int:pk>/contacts/<int:cp_pk>/remove/", pages.contact_remove, name="contact_remove"),
    path("<int:pk>/merge/", pages.customer_merge, name="merge"),
    path("<int:pk>/gdpr-export/", pages.gdpr_export, name="gdpr_export"),
    path("<int:pk>/erase/", pages.customer_erase, name="erase"),
    path("export/", imports.export_csv, name="export"),
    path("import/", imports.import_start, name="import"),
    path("import/<int:pk>/", imports.import_detail, name="import_detail"),
    path("import/<int:pk>/progress/", imports.import_progress, name="import_progress"),
    path("import/<int:pk>/errors.csv", imports.import_errors_csv, name="import_errors"),
]
