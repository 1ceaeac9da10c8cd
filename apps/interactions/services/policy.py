"""Who may act on what: the rules the services share.

Every service says who it acts for (apps.core.actors): a signed-in person, or a SystemActor
for the parts of the product that act on their own (beat's timers, a connector reporting a
hang-up, a management command). Nobody (None) is refused, never read as "the system": a
caller that forgot to pass its user must not be granted a supervisor's rights.
"""

from __future__ import annotations

from apps.accounts.models import User
from apps.accounts.roles import Role, has_role
from apps.core.actors import Actor, SystemActor, require_actor
from apps.core.exceptions import NotAllowed
from apps.interactions.models import AgentProfile


def is_supervision(actor: Actor) -> bool:
    """A supervisor, an admin, or the system: may act on anyone's agent and interactions."""
    require_actor(actor)
    if isinstance(actor, SystemActor):
        return True
    return isinstance(actor, User) and actor.is_authenticated and has_role(actor, Role.SUPERVISOR, Role.ADMIN)


def is_own(actor: Actor, agent: AgentProfile | None) -> bool:
    """The actor is the signed-in person behind `agent`."""
    return isinstance(actor, User) and agent is not None and agent.user_id == actor.pk


def check_own(actor: Actor, agent: AgentProfile | None) -> None:
    """The interaction held by `agent` is the actor's own, or the actor may act on anyone's."""
    if is_supervision(actor) or is_own(actor, agent):
        return
    raise NotAllowed("This interaction is not yours.")


def actor_id(actor: Actor) -> int | None:
    """The user id to record on an event row (None for the system: its rows have no actor)."""
    return actor.pk if isinstance(actor, User) else None
