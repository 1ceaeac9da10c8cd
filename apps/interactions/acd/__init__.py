"""Automatic call distribution: matching waiting interactions with free agents.

Exact under concurrency, with no sweep. The rules, and why they are enough:

1. **Locks.** An offer changes one interaction (queued -> offered) and one agent (load + 1)
   together, in one transaction that holds both rows FOR UPDATE. The interaction is locked
   first when an interaction looks for an agent, the agent first when an agent looks for work;
   the second lock of either path is taken with SKIP LOCKED, so no path ever waits for a row
   while holding the other kind: no deadlock, and a row somebody else is deciding about is
   skipped instead of offered twice. Loads only change with the agent row locked; the slot is
   taken by a conditional UPDATE (load = load + 1 WHERE load < capacity, _slot_take), which
   rechecks what the candidate query read before it took the lock, and a check constraint
   (load <= capacity) backs the arithmetic. Services acting on an offered or held
   interaction (accept, reject, end, wrap-up, abandon, timeouts) wait for the agent's lock, then
   the interaction's; if the interaction moved to another agent in between, the attempt's
   savepoint is rolled back (releasing its row locks) and the order taken again, so nothing
   waits for an agent while holding an interaction (the 4-process test found that deadlock).
2. **Publish, then look.** Everything that can create a match (an interaction becoming queued;
   an agent becoming available or getting a slot back) commits first and then looks for its
   match in a new transaction. For a waiting interaction I and a free agent A, whichever of the
   two looks last started its look after the other's publish committed, so it sees the other.
   One shortcut, which keeps the rule: a new interaction (services.interaction_enqueue) first
   tries an offer before its row exists (offer_new: nobody else can see or lock it, so only the
   agent is locked, with SKIP LOCKED, never waited for, and the row is inserted already
   offered; on PostgreSQL one statement, its own transaction); only when that takes no agent
   is it inserted queued and the look scheduled after commit. A look that is not needed is one that found nothing to match,
   and the fallback look is exactly the one rule 2 runs.
3. **Contention means retry.** A look that finds its match but cannot lock it (SKIP LOCKED
   skipped a row that a plain read shows eligible) reports CONTENDED and is run again after its
   transaction ends, with a short random back-off. The lock holder is a transaction that is
   about to finish; once it has, the retry sees the row as it is now. Two looks that skip each
   other (I locked by its own look, A by its own) both retry; the jitter breaks the tie.

So an interaction is never offered to two agents (rule 1), an agent never exceeds capacity
(rule 1 and the constraint), and no interaction stays queued beside an idle eligible agent
(rules 2 and 3). tests/interactions/test_routing_concurrency.py checks all three from the event
rows with several processes routing at once on PostgreSQL.

The package, by concern: policy (the rules as querysets: the definition), candidates (the same
candidate queries as SQL on PostgreSQL, locked with SKIP LOCKED), offers (what an offer writes),
fast_path (a new arrival's offer as one PostgreSQL statement), looks (the two looks and their
retries) and sql (the plumbing of routing's own SQL). Callers use the names below.
"""

from apps.interactions.acd.candidates import (
    eligible_agent_claim,
    eligible_agent_exists,
    eligible_agent_lock,
    waiting_exists,
    waiting_lock,
)
from apps.interactions.acd.looks import (
    MAX_PAUSE,
    MAX_TRIES,
    Look,
    LookResult,
    Outcome,
    after_commit,
    agent_look,
    interaction_look,
    offer_new,
    offers_in_one_statement,
    settle,
)
from apps.interactions.acd.offers import agent_refresh_state, event_add, event_build, load_change, offer_to
from apps.interactions.acd.policy import eligible_agents, waiting_for

__all__ = [
    "MAX_PAUSE",
    "MAX_TRIES",
    "Look",
    "LookResult",
    "Outcome",
    "after_commit",
    "agent_look",
    "agent_refresh_state",
    "eligible_agent_claim",
    "eligible_agent_exists",
    "eligible_agent_lock",
    "eligible_agents",
    "event_add",
    "event_build",
    "interaction_look",
    "load_change",
    "offer_new",
    "offer_to",
    "offers_in_one_statement",
    "settle",
    "waiting_exists",
    "waiting_for",
    "waiting_lock",
]
