"""Workspaces: the page each role lands on after login (agent desk, supervisor wallboard,
marketer campaigns). Later apps take these pages over; this app only reads lower apps.
"""
