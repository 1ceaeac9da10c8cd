from __future__ import annotations

from django.apps import AppConfig

_READ = [
    "customers.view_customer",
    "customers.view_contactpoint",
    "customers.view_organization",
    "customers.view_note",
    "customers.view_tag",
    "customers.view_customfielddefinition",
]
_WORK = [
    "customers.add_customer",
    "customers.change_customer",
    "customers.add_contactpoint",
    "customers.change_contactpoint",
    "customers.delete_contactpoint",
    "customers.add_note",
    "customers.add_organization",
    "customers.change_organization",
]


class CustomersConfig(AppConfig):
    name = "apps.customers"
    label = "customers"
    verbose_name = "Customers"
    role_permissions = {
        "Agent": _READ + _WORK,
        "Supervisor": _READ
        + _WORK
        + [
            "customers.merge_customer",
            "customers.export_customer",
            "customers.erase_customer",
            "customers.view_importjob",
            "customers.view_mergerecord",
        ],
        "Marketer": _READ
        + [
            "customers.import_customers",
            "customers.export_customer",
            "customers.add_importjob",
            "customers.view_importjob",
            "customers.add_tag",
            "customers.change_tag",
        ],
    }

    def ready(self) -> None:
        from apps.customers import timeline

        timeline.register_builtin_sources()
