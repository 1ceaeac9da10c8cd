"""Every write of the contact center: enqueue, offers, accept/reject, wrap-up, abandon, transfer,
agent presence. Each runs in one transaction with the rows it changes locked, writes an event
row per interaction state change, publishes after commit, and then lets routing look for new
matches (see apps.interactions.acd for why looks run after commit).

The package, by use case: agents (profile, presence, heartbeats), lifecycle (arrival to
wrap-up, messages, notes), timers (beat's offer, wrap-up and overflow timers), transfers, calls
(voice and video call control, monitoring), outbound (placing calls, their progress, the
consent check of every outbound contact); locking, policy and transitions hold what they share.
Callers import from here: `from apps.interactions import services`."""

from apps.interactions.services.agents import (
    DEFAULT_CAPACITY,
    NO_ANSWER_REASON,
    PRESENCE_TIMEOUT,
    agent_profile_for,
    agent_seen,
    agent_set_presence,
    agents_presence_timeout,
    interaction_offer_seen,
)
from apps.interactions.services.calls import (
    CALL_STATE_FIELDS,
    VOICE_ACTIONS,
    interaction_conference_add,
    interaction_monitor,
    interaction_participant_leave,
    interaction_voice_control,
)
from apps.interactions.services.lifecycle import (
    interaction_abandon,
    interaction_accept,
    interaction_end,
    interaction_enqueue,
    interaction_note_set,
    interaction_reject,
    interaction_wrap_up,
    message_add,
)
from apps.interactions.services.outbound import (
    dials_expire_due,
    interaction_call_progress,
    interaction_originate,
    outbound_consent_check,
)
from apps.interactions.services.preview import (
    awaits_dial,
    interaction_preview_dial,
    interaction_preview_skip,
    interaction_preview_withdraw,
    register_dial_check,
)
from apps.interactions.services.timers import (
    interaction_offer_expire,
    interaction_wrap_up_expire,
    offers_expire_due,
    queues_overflow_due,
    wrap_ups_expire_due,
)
from apps.interactions.services.transfers import interaction_transfer

__all__ = [
    "awaits_dial",
    "interaction_preview_dial",
    "interaction_preview_skip",
    "interaction_preview_withdraw",
    "register_dial_check",
    "CALL_STATE_FIELDS",
    "DEFAULT_CAPACITY",
    "NO_ANSWER_REASON",
    "PRESENCE_TIMEOUT",
    "VOICE_ACTIONS",
    "agent_profile_for",
    "agent_seen",
    "agent_set_presence",
    "agents_presence_timeout",
    "dials_expire_due",
    "interaction_abandon",
    "interaction_accept",
    "interaction_call_progress",
    "interaction_conference_add",
    "interaction_end",
    "interaction_enqueue",
    "interaction_monitor",
    "interaction_note_set",
    "interaction_offer_expire",
    "interaction_offer_seen",
    "interaction_originate",
    "interaction_participant_leave",
    "interaction_reject",
    "interaction_transfer",
    "interaction_voice_control",
    "interaction_wrap_up",
    "interaction_wrap_up_expire",
    "message_add",
    "offers_expire_due",
    "outbound_consent_check",
    "queues_overflow_due",
    "wrap_ups_expire_due",
]
