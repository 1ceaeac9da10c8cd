"""Reads of the campaigns app that pages, API, admin and tasks share, by subject: stats (the
live figures of campaigns), compliance (refusals by reason, abandon rates)."""
