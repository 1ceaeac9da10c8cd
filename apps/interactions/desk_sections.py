"""Sections a higher app adds to the desk, without the interactions app importing it:
- on the screen pop of one interaction (the campaigns app: the lead being called, its campaign
  and the row's own fields): `source(interaction, viewer) -> DeskSection | None`, None when it
  has nothing to say about this interaction; it runs on every render of the panel;
- beside the agent's work (the campaigns app: the agent's own callbacks):
  `panel(viewer) -> DeskSection | None`, None when it has nothing for this agent; it runs on
  every render of the desk page.
Each makes at most one query. What it returns is shown as text (escaped), never as markup.
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
Panel = Callable[[Any], "DeskSection | None"]
_SOURCES: dict[str, Source] = {}
_PANELS: dict[str, Panel] = {}


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


def register_side_panel(name: str, panel: Panel | None) -> None:
    """Add (or, with None, remove) a panel beside the agent's work under a unique name."""
    if panel is None:
        _PANELS.pop(name, None)
    else:
        _PANELS[name] = panel


def side_panels_for(viewer: Any) -> list[DeskSection]:
    found = []
    for panel in list(_PANELS.values()):
        section = panel(viewer)
        if section is not None:
            found.append(section)
    return found
