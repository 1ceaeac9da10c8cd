"""API tokens that expire: DRF's token authentication, refusing a token older than
settings.API_TOKEN_TTL.

A token is a password-equivalent that scripts keep in files and environment variables; one that
never expires stays valid long after the script, or the person who ran it, has gone. The age is
the token's creation time (Token.created), so `Token.objects.create(user=...)` still makes a
valid token; the token endpoint (apps.accounts.api) replaces an expired one with a fresh one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed


def token_expires_at(token: Token) -> datetime:
    return token.created + settings.API_TOKEN_TTL


def token_is_expired(token: Token, *, now: datetime | None = None) -> bool:
    return (now or timezone.now()) >= token_expires_at(token)


def ttl_in_words() -> str:
    hours = int(settings.API_TOKEN_TTL.total_seconds() // 3600)
    return "1 hour" if hours == 1 else f"{hours} hours"


class ExpiringTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`, valid for API_TOKEN_TTL after the token was issued."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        user, token = super().authenticate_credentials(key)
        if token_is_expired(token):
            raise AuthenticationFailed(
                f"The API token has expired (tokens are valid for {ttl_in_words()}). Get a new one by "
                f"POSTing your username and password to {reverse('api:token')}."
            )
        return user, token
