"""The web process's internal endpoint for events published in other processes (the embedded
mode's relay: apps.core.layers explains the design). Not a page and not in the session auth:
a request is admitted by its signature alone."""

from __future__ import annotations

import json
import logging
import time

from channels.layers import get_channel_layer
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.core.layers import NONCE_HEADER, REPLAY_WINDOW_SECONDS, SIGNATURE_HEADER, TIMESTAMP_HEADER, refusal

logger = logging.getLogger(__name__)

# Nonces admitted within the replay window: the same signed request twice is refused (past the
# window its timestamp is). The view runs on daphne's event loop, so the dict needs no lock.
_admitted: dict[str, float] = {}


def _replayed(nonce: str, now: float) -> bool:
    for seen, at in list(_admitted.items()):
        if now - at > 2 * REPLAY_WINDOW_SECONDS:
            del _admitted[seen]
    if nonce in _admitted:
        return True
    _admitted[nonce] = now
    return False


@csrf_exempt
@require_POST
async def event_relay(request: HttpRequest) -> HttpResponse:
    """group_send a signed {"group", "message"} on this process's channel layer."""
    now = time.time()
    nonce = request.headers.get(NONCE_HEADER, "")
    reason = refusal(
        request.body,
        request.headers.get(TIMESTAMP_HEADER, ""),
        nonce,
        request.headers.get(SIGNATURE_HEADER, ""),
        now=now,
    )
    if reason is None and _replayed(nonce, now):
        reason = "replayed"
    if reason is not None:
        logger.warning("event relay refused: %s", reason)
        return HttpResponseForbidden(reason)
    try:
        data = json.loads(request.body)
        group, message = data["group"], data["message"]
        if (
            not isinstance(group, str)
            or not isinstance(message, dict)
            or not isinstance(message.get("type"), str)
        ):
            raise ValueError("group must be a string and message a dict with a type")
    except (ValueError, KeyError, TypeError) as error:
        return HttpResponseBadRequest(str(error))
    layer = get_channel_layer()
    if layer is not None:
        try:
            await layer.group_send(group, message)
        except TypeError as error:  # an invalid group name
            return HttpResponseBadRequest(str(error))
    return HttpResponse(status=204)
