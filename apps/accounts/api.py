"""The API's sign-in (/api/v1/auth/token/): username and password in, an expiring token out.

DRF's obtain_auth_token, with two things it lacks. Expiry: it hands out the current token while
it is valid and a new one once it has expired (apps.accounts.authentication). Throttling:
django-axes counts the failures of this endpoint as of the login page (authenticate() goes
through its backend), but it marks the lockout on DRF's Request, which wraps the HttpRequest
its middleware looks at, so the middleware never sees it and the client would get a plain "wrong
password" 400. This view reads the mark itself and answers 429 with when to try again.
"""

from __future__ import annotations

from typing import Any

from axes.helpers import get_client_ip_address
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.authentication import token_expires_at
from apps.accounts.services import sign_in_failures_reset, token_issue
from apps.accounts.views import lockout_message, lockout_seconds


class TokenSerializer(serializers.Serializer[Any]):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`.")
    expires = serializers.DateTimeField(help_text="After this the API refuses it; ask for a new one here.")


_LOCKED_OUT = inline_serializer(
    "SignInLockedOut", fields={"detail": serializers.CharField(), "code": serializers.CharField()}
)


class TokenRequestSerializer(AuthTokenSerializer):
    """Username and password, bounded: the sign-in throttle records each failed username, so one
    longer than any account's (150 characters) is refused as a field error before it is tried."""

    username = serializers.CharField(label="Username", max_length=150, write_only=True)
    password = serializers.CharField(
        label="Password",
        style={"input_type": "password"},
        trim_whitespace=False,
        max_length=4096,
        write_only=True,
    )


class TokenView(ObtainAuthToken):
    # Username and password are the credentials here: an old token sent along (a client that
    # sets the header on every call) must not turn the request for a new one into a 401.
    authentication_classes = ()
    serializer_class = TokenRequestSerializer

    @extend_schema(
        summary="Get an API token for a username and password",
        request=TokenRequestSerializer,
        responses={
            200: TokenSerializer,
            400: OpenApiResponse(description="Wrong username or password, or a field missing"),
            429: OpenApiResponse(_LOCKED_OUT, description="Too many failed sign-ins: see Retry-After"),
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            if getattr(request, "axes_locked_out", False):
                return Response(
                    {"detail": lockout_message(), "code": "locked_out"},
                    status=429,
                    headers={"Retry-After": str(lockout_seconds())},
                )
            raise ValidationError(serializer.errors)
        user = serializer.validated_data["user"]
        sign_in_failures_reset(username=user.get_username(), ip_address=get_client_ip_address(request))
        token = token_issue(user=user)
        return Response(TokenSerializer({"token": token.key, "expires": token_expires_at(token)}).data)


obtain_token = TokenView.as_view()
