"""ASGI entry point: HTTP through Django, websockets through each app's routing.py (listed here)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from apps.campaigns.routing import websocket_urlpatterns as campaigns_ws  # noqa: E402
from apps.core.websocket import SameOriginValidator  # noqa: E402
from apps.interactions.routing import websocket_urlpatterns as interactions_ws  # noqa: E402

websocket_urlpatterns = [*interactions_ws, *campaigns_ws]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Our own pages only: scheme, host and port of the Origin checked (apps.core.websocket).
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
