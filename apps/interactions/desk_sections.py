"""Sections a higher app adds to the desk's screen pop (the campaigns app: the lead being called,
its campaign and the row's own fields), without the interactions app importing it.

A section source is `source(interaction, viewer) -> DeskSection | None`: None when it has
nothing to say about this interaction. It runs on every render of the panel, so it makes at
most one query. What it returns is shown as text (escaped), never as markup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apps.interactions.models import Interaction


@dataclass(frozen=True)
class DeskSection:
    title: str
    rows: list[tuple[str, str]] = field(default_factory=list)
    note: str = ""


Source = Callable[[Interaction, Any], "DeskSection | None"]
_SOURCES: dict[str, Source] = {}


def register_section(name: str, source: Source | None) -> None:
    """Add (or, with None, remove) a screen-pop section under a unique name."""
    if source is None:
        _SOURCES.pop(name, None)
    else:
        _SOURCES[name] = source


def sections_for(interaction: Interaction, viewer: Any) -> list[DeskSection]:
    found = []
    for source in list(_SOURCES.values()):
        section = source(interaction, viewer)
        if section is not None:
            found.append(section)
    return found
