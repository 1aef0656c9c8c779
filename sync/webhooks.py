"""The REGOS webhook receiver: ``POST /regos/webhook/`` (or ``/regos/webhook/<secret>/``).

REGOS documents no signature for webhooks, so a delivery is accepted only when:

1. the path is right: with ``REGOS_WEBHOOK_SECRET`` set, only ``/regos/webhook/<secret>/`` answers
   (the plain path and any other secret are 404 — the secret is compared in constant time). The
   secret ends up in the handler URL configured in REGOS and in access logs; it is a second factor
   against strangers who learned the key, not a replacement for it;
2. the body is ``application/json`` (else 415) and at most 64 KiB (else 413, checked against
   ``Content-Length`` before reading and against what was actually read);
3. the body is a JSON object matching the REGOS envelope (pydantic ``WebhookEnvelope``; else 400
   with a short reason);
4. ``connected_integration_id`` equals ``REGOS_INTEGRATION_KEY``, compared with
   ``hmac.compare_digest`` (else 403). The key is never echoed, logged or stored (the inbox payload
   drops it).

Nothing is written for a rejected request. An accepted event goes to ``sync.inbox.inbox_record``,
which only stores it and marks a day dirty: no REGOS call happens in the request, so REGOS's 30 s
handler timeout is never at risk. Responses are tiny JSON: ``{"ok": true}`` /
``{"ok": true, "duplicate": true}`` / ``{"ok": false, "error": "<reason>"}``.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
from datetime import UTC, datetime
from typing import Annotated, Any

from django.conf import settings
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, field_validator

from sync.inbox import OCCURRED_MAX, OCCURRED_MIN, inbox_record

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024

ShortStr = Annotated[StrictStr, Field(min_length=1, max_length=64)]


class WebhookData(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    action: ShortStr
    data: dict[str, Any]


class WebhookEnvelope(BaseModel):
    """``{"action", "event_id", "occurred_at", "connected_integration_id", "data": {"action", "data"}}``.

    ``occurred_at`` may be absent or null (some senders omit it; the vendor's schema makes it
    nullable): the receiver then uses the time the webhook arrived.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    action: ShortStr
    event_id: ShortStr
    occurred_at: datetime | None = None
    connected_integration_id: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    data: WebhookData

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _iso_text(cls, value: Any) -> Any:
        # REGOS sends ISO-8601 text; pydantic alone would also take unix numbers (even as text),
        # which REGOS never sends.
        if value is None:
            return None
        if not isinstance(value, str) or len(value) > 64:
            raise ValueError("must be an ISO-8601 string")
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("must be an ISO-8601 string")

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        # REGOS documents occurred_at as UTC; text without an offset is read as UTC.
        if value is None:
            return None
        value = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        if not OCCURRED_MIN <= value <= OCCURRED_MAX:
            # Also keeps day arithmetic (Tashkent date of year 9999-12-31 23:00 UTC) from overflowing.
            raise ValueError("out of range")
        return value

    @field_validator("event_id")
    @classmethod
    def _event_id(cls, value: str) -> str:
        if not value.strip() or not value.isprintable():
            raise ValueError("must be printable text")
        return value


def _error(status: int, reason: str) -> JsonResponse:
    return JsonResponse({"ok": False, "error": reason}, status=status)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


# REGOS's events are a few levels deep; deeper is hostile, and would overflow the recursion of the
# JSON encoder when the payload is stored (issue 15, item 4).
MAX_DEPTH = 32


def _plain_json(data: Any) -> None:
    """Raise ``ValueError`` for nesting deeper than ``MAX_DEPTH`` or text that is not valid Unicode
    (a lone surrogate such as ``"\\ud800"`` parses, but no database can store it). Iterative."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: list[Any] = [*value.keys(), *value.values()]
        elif isinstance(value, list):
            children = value
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("text is not valid Unicode (lone surrogate)") from None
            continue
        else:
            continue
        if depth > MAX_DEPTH:
            raise ValueError("JSON nested too deeply")
        stack.extend((child, depth + 1) for child in children)


def parse_envelope(body: bytes) -> WebhookEnvelope:
    """Raise ``ValueError`` with a short, key-free reason for anything but a valid envelope."""
    try:
        text = body.decode("utf-8")
        data = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except UnicodeDecodeError:
        raise ValueError("body is not UTF-8")
    except RecursionError:
        raise ValueError("JSON nested too deeply")
    except ValueError:
        raise ValueError("body is not valid JSON")
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    _plain_json(data)
    try:
        return WebhookEnvelope.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "body"
        kind = "missing" if first.get("type") == "missing" else "invalid"
        raise ValueError(f"{kind} field: {where}"[:120])
    except RecursionError:
        raise ValueError("JSON nested too deeply")


def _content_type_ok(request: HttpRequest) -> bool:
    return request.content_type.lower() == "application/json"


def _path_allowed(secret: str | None) -> bool:
    configured = settings.REGOS_WEBHOOK_SECRET
    if not configured:
        return secret is None
    return secret is not None and hmac.compare_digest(secret.encode(), configured.encode())


def _key_ok(received: str) -> bool:
    configured = settings.REGOS_INTEGRATION_KEY
    if not configured:
        return False
    return hmac.compare_digest(received.encode("utf-8"), configured.encode("utf-8"))


@csrf_exempt
@never_cache
@require_POST
def webhook_receive(request: HttpRequest, secret: str | None = None) -> JsonResponse:
    if not _path_allowed(secret):
        raise Http404
    if not _content_type_ok(request):
        return _error(415, "content type must be application/json")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _error(400, "bad Content-Length")
    if declared > MAX_BODY_BYTES:
        return _error(413, "body larger than 64 KiB")
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return _error(413, "body larger than 64 KiB")
    try:
        envelope = parse_envelope(body)
    except ValueError as exc:
        return _error(400, str(exc))
    if not _key_ok(envelope.connected_integration_id):
        # The received value may be someone's real key for another account: never log it.
        logger.warning("REGOS webhook rejected: connected_integration_id does not match (event %s)",
                       envelope.event_id[:64])
        return _error(403, "unknown connected_integration_id")

    payload = envelope.model_dump(mode="json", exclude={"connected_integration_id"})
    outcome = inbox_record(
        event_id=envelope.event_id, action=envelope.data.action,
        occurred_at=envelope.occurred_at or datetime.now(UTC),  # no occurred_at: the arrival time
        data=envelope.data.data, source="webhook", payload=payload,
    )
    if outcome.duplicate:
        return JsonResponse({"ok": True, "duplicate": True})
    return JsonResponse({"ok": True})
