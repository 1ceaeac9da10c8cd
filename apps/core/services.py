"""Writes shared by every app: the audit log."""

from __future__ import annotations

from typing import Any

from apps.core.actors import SystemActor
from apps.core.models import AuditEntry


def audit_record(
    *,
    actor: Any,
    action: str,
    obj: Any = None,
    object_type: str = "",
    object_id: object = "",
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one audit entry. Call inside the transaction of the change it records, so the
    entry exists exactly when the change does. A system actor is recorded by name in the data
    (data["system"]); the actor column holds people only."""
    if isinstance(actor, SystemActor):
        data = {**(data or {}), "system": actor.name}
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
    return AuditEntry.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        data=data or {},
    )
