"""Customers: the CRM (people, organizations, contact points with consent, tags, custom fields,
notes), its import/export, merge and GDPR services, and the pluggable customer timeline.
"""
