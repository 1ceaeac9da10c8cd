from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person who signs in: agent, supervisor, marketer or admin (see roles.py)."""

    time_zone = models.CharField(
        max_length=64, default="UTC", help_text="IANA time zone the user's pages show times in."
    )

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.get_full_name() or self.username
