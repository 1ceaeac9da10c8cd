"""The Content-Security-Policy header (settings.CONTENT_SECURITY_POLICY), with what one request
adds to it: its own websocket URL, and the little the API docs need.

django-csp's middleware is extended through the hook its documentation gives for this,
get_policy_parts; the policy itself stays in the settings.
"""

from __future__ import annotations

from csp.middleware import CSPMiddleware, PolicyParts
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.http.response import HttpResponseBase

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
