"""Interactions: the contact center (interactions on every channel, messages, queues, skills,
agents and their state, dispositions), automatic distribution to agents, and real-time events.
"""
