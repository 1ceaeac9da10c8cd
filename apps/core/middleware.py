"""Our own middleware.

ContentSecurityPolicyMiddleware: the Content-Security-Policy header (settings.CONTENT_SECURITY_POLICY),
with what one request adds to it: its own websocket URL, and the little the API docs need.
django-csp's middleware is extended through the hook its documentation gives for this,
get_policy_parts; the policy itself stays in the settings.

DatabaseBusyMiddleware: a 503 with Retry-After when the database connection pool had no free
connection in time (below, with why).
"""

from __future__ import annotations

import logging

from csp.middleware import CSPMiddleware, PolicyParts
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.utils.deprecation import MiddlewareMixin
from psycopg_pool import PoolTimeout

logger = logging.getLogger(__name__)

# Swagger UI (drf-spectacular-sidecar) draws its icons from data: URIs in its stylesheet. Its
# scripts are files (the split view in config.urls) and our template override
# (templates/drf_spectacular/swagger_ui.html) drops the page's inline <style>, so images are
# the one thing it needs beyond the policy, and only on its own page.
API_DOCS_PREFIX = "/api/docs/"
API_DOCS_ADDITIONS: dict[str, list[str]] = {"img-src": ["data:"]}


def websocket_origin(request: HttpRequest) -> str | None:
    """ws(s)://<this host>: 'self' covers websockets only in browsers that implement CSP 3's
    rule for it, so the page's own socket is named explicitly. None when the Host header is not
    an allowed host (that request gets a 400 and no page to protect)."""
    try:
        host = request.get_host()
    except DisallowedHost:
        return None
    return f"{'wss' if request.is_secure() else 'ws'}://{host}"


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        additions: dict[str, list[str]] = {}
        socket = websocket_origin(request)
        if socket is not None:
            additions["connect-src"] = [socket]
        if request.path_info.startswith(API_DOCS_PREFIX):
            additions.update(API_DOCS_ADDITIONS)
        # A view's own csp_update() comes on top of ours, directive by directive.
        update = dict(additions)
        for directive, values in (parts.update or {}).items():
            update[directive] = [*update.get(directive, []), *values]
        parts.update = update
        return parts


# -- a database that is busy -----------------------------------------------------------------------
# Each process has a bounded pool of PostgreSQL connections (settings.DATABASES, "pool"). When every
# connection is in use for longer than the pool's timeout, the request that waited gets no
# connection and so has written nothing: that is a moment of overload the client can retry, not a
# bug, so it is a 503 with Retry-After instead of a 500.
DATABASE_BUSY_RETRY_AFTER_SECONDS = 5
DATABASE_BUSY_MESSAGE = (
    "The service is busy right now and could not take this request; nothing was changed. "
    f"Please try again in {DATABASE_BUSY_RETRY_AFTER_SECONDS} seconds."
)


def is_database_pool_timeout(exception: BaseException) -> bool:
    """True for a wait for a pooled connection that ran out of time. Django wraps the pool's
    PoolTimeout in its own OperationalError, so the cause chain is searched."""
    seen: BaseException | None = exception
    for _ in range(10):  # a chain is short; the bound only guards against a cycle
        if seen is None:
            return False
        if isinstance(seen, PoolTimeout):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def database_busy_response(request: HttpRequest) -> HttpResponse:
    wants_json = request.path_info.startswith("/api/") or "application/json" in request.headers.get(
        "Accept", ""
    )
    if wants_json:
        response: HttpResponse = JsonResponse(
            {"detail": DATABASE_BUSY_MESSAGE, "code": "database_busy"}, status=503
        )
    else:
        response = HttpResponse(DATABASE_BUSY_MESSAGE, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(DATABASE_BUSY_RETRY_AFTER_SECONDS)
    return response


class DatabaseBusyMiddleware(MiddlewareMixin):
    """Turns a timed-out wait for a pooled database connection, in a view or DRF's
    authentication, into a 503 the client can act on."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if is_database_pool_timeout(exception):
            logger.warning("database pool exhausted: %s %s answered 503", request.method, request.path)
            return database_busy_response(request)
        return None
