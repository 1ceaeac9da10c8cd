"""The Origin check of every websocket (config.asgi): a socket opens only from our own pages.

Websockets carry the session cookie but no CSRF token, so the Origin header is what tells our
page from another site's script riding on the user's session. Channels' AllowedHostsOriginValidator
compares the host alone; this compares the whole origin, scheme, host and port, as a browser does:

- same origin: the Origin equals the origin of the socket's own URL, i.e. the Host header with
  http for ws:// and https for wss:// (default ports filled in), and that host is in
  ALLOWED_HOSTS. The scheme is the connection's, or https when the proxy says so in
  SECURE_PROXY_SSL_HEADER, the very header Django trusts to call an HTTP request secure
  (daphne's websocket scope has no scheme of its own behind a proxy that terminates TLS);
- or the Origin is one of CSRF_TRUSTED_ORIGINS (with their "https://*.example.com" subdomain
  wildcards), the origins Django already trusts to POST forms to us.

A handshake without an Origin is refused too, DEBUG or not: browsers always send one on a
websocket handshake (RFC 6455, section 4.1), so only a non-browser client omits it, and our
sockets serve our pages only (scripts have the REST API). Nothing in a developer run needs it,
so the rule is the same everywhere. A refused handshake is answered with HTTP 403 before the
socket opens, as Channels' own validator does.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

DEFAULT_PORTS = {"http": 80, "https": 443}
HTTP_SCHEME_OF = {"ws": "http", "wss": "https"}

Origin = tuple[str, str, int]  # (scheme, host, port), lower case, the port always filled in


def parse_origin(value: str) -> Origin | None:
    """An http(s) origin as (scheme, host, port); None for "null", another scheme, a path or junk."""
    try:
        parts = urlsplit(value.strip().lower())
        port = parts.port
    except ValueError:  # a port that is not a number, a broken IPv6 literal
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    if parts.query or parts.fragment or parts.username is not None:
        return None
    return parts.scheme, parts.hostname, port if port is not None else DEFAULT_PORTS[parts.scheme]


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _scheme(scope: dict[str, Any]) -> str:
    """http or https: the socket's own scheme, or what the proxy says (SECURE_PROXY_SSL_HEADER)."""
    scheme = HTTP_SCHEME_OF.get(str(scope.get("scheme", "ws")), "http")
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        meta_name, secure_value = proxy_header
        name = meta_name.removeprefix("HTTP_").replace("_", "-").lower().encode("latin-1")
        forwarded = _header(scope, name)
        if forwarded is not None:
            # As Django's HttpRequest.is_secure: the first value when a proxy chain sent several.
            return "https" if forwarded.split(",", 1)[0].strip() == secure_value else "http"
    return scheme


def own_origin(scope: dict[str, Any]) -> Origin | None:
    """The origin of the socket's own URL, or None when its Host is missing or not allowed."""
    host = _header(scope, b"host")
    if not host:
        return None
    domain, port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    scheme = _scheme(scope)
    try:
        number = int(port) if port else DEFAULT_PORTS[scheme]
    except ValueError:
        return None
    # An IPv6 literal keeps its brackets in a Host header but not in a parsed Origin.
    return scheme, domain.removeprefix("[").removesuffix("]"), number


def is_trusted(origin: Origin) -> bool:
    """One of CSRF_TRUSTED_ORIGINS, whose "*." prefix stands for any subdomain (as in Django)."""
    scheme, host, port = origin
    for entry in settings.CSRF_TRUSTED_ORIGINS:
        wildcard = "://*." in entry
        trusted = parse_origin(entry.replace("://*.", "://", 1) if wildcard else entry)
        if trusted is None or trusted[0] != scheme or trusted[2] != port:
            continue
        if host == trusted[1] or (wildcard and is_same_domain(host, "." + trusted[1])):
            return True
    return False


def origin_allowed(scope: dict[str, Any]) -> bool:
    raw = _header(scope, b"origin")
    if raw is None:
        return False
    origin = parse_origin(raw)
    if origin is None:
        return False
    return origin == own_origin(scope) or is_trusted(origin)


class SameOriginValidator:
    """ASGI middleware for the websocket router: passes the socket on, or refuses its handshake."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            raise ValueError("SameOriginValidator guards websockets only.")
        if origin_allowed(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier.as_asgi()(scope, receive, send)
