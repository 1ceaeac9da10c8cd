"""Who a service acts for: a signed-in person (a User) or the product itself (a SystemActor).

Services never take `actor=None`. A service that acts for a person (an agent accepting an
offer, a marketer starting an import) requires that person; the timers, tasks, management
commands and connectors that act on their own pass a SystemActor that names them, so a rule
such as "supervisors may change anyone's state" is never granted to "nobody" by accident, and
the audit log can say which part of the product acted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from apps.core.exceptions import NotAllowed

if TYPE_CHECKING:
    from apps.accounts.models import User


class SystemActor:
    """The product acting on its own behalf, named for the audit log ("offer timer",
    "import worker", "seed_demo"). Not a user: never authenticated, no roles, no permissions;
    services that allow system actions check for it explicitly (is_system)."""

    is_authenticated = False
    is_anonymous = False
    pk = None

    def __init__(self, name: str) -> None:
        if not name.strip():
            raise ValueError("A system actor needs a name.")
        self.name = name.strip()

    def __repr__(self) -> str:
        return f"SystemActor({self.name!r})"

    def __str__(self) -> str:
        return f"system ({self.name})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SystemActor) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("SystemActor", self.name))


SYSTEM = SystemActor("system")
"""The generic system actor, for code that has no more specific name to give."""

Actor: TypeAlias = "User | SystemActor"


def is_system(actor: object) -> bool:
    return isinstance(actor, SystemActor)


def require_actor(actor: object) -> None:
    """Refuse a missing actor: every service call says who it acts for."""
    if actor is None:
        raise NotAllowed("This action needs the person (or the part of the system) it acts for.")


def require_person(actor: object) -> User:
    """The signed-in user a person-only action acts for; a system actor or None is refused."""
    from apps.accounts.models import User

    if not isinstance(actor, User) or not actor.is_authenticated:
        raise NotAllowed("Only a signed-in person can do this.")
    return actor


def actor_label(actor: object) -> str:
    """A short name of who acted, for logs and audit data."""
    if isinstance(actor, SystemActor):
        return str(actor)
    return getattr(actor, "username", "") or "unknown"
