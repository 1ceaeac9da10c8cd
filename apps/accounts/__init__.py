"""Accounts: the custom User, the four roles (Agent, Supervisor, Marketer, Admin) and login.

Every other app reads it; it imports none of them.
"""
