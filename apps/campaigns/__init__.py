"""Campaigns: outbound work (contact lists, leads, do-not-call lists, the dialer's hopper and
pacing, SMS and email sends) and the one compliance gate every outbound contact passes.
"""
