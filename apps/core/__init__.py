"""Core: what every domain app shares and no domain owns: the audit log, role-gated page
helpers, API plumbing (pagination, error mapping), the role workspaces and the process launcher.
"""
