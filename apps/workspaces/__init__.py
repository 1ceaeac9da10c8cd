"""Workspaces: the marketers' landing page until the campaigns app takes it over (the agent
desk and the wallboard now live in apps.interactions). Reads lower apps only.
"""
