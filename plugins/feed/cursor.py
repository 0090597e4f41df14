"""Signed cursors: `<payload>.<mac>`, both base64url; the payload is compact JSON.

The MAC is HMAC-SHA256 keyed by a key derived from the app's secret
(`ZHONGCAO_SECRET_KEY`), so a client can hand a cursor back but never forge or edit
one: any change answers 400 `invalid-cursor`. A cursor names the viewer it was made
for; another viewer's cursor is refused the same way.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import TYPE_CHECKING, Any

import msgspec

from core.errors import DomainError

if TYPE_CHECKING:
    from core.runtime import Runtime

MAX_CURSOR_CHARS = 512


class InvalidCursor(DomainError):
    status_code = 400
    title = "Invalid cursor"
    type_slug = "invalid-cursor"


class CursorExpired(DomainError):
    status_code = 410
    title = "Feed session expired"
    type_slug = "feed-session-expired"


def _key(runtime: Runtime) -> bytes:
    return hashlib.sha256(f"feed-cursor:{runtime.settings.signing_key}".encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(runtime: Runtime, payload: dict[str, Any]) -> str:
    body = msgspec.json.encode(payload)
    mac = hmac.new(_key(runtime), body, hashlib.sha256).digest()[:16]
    return f"{_b64(body)}.{_b64(mac)}"


def verify(runtime: Runtime, cursor: str, *, kind: str, viewer_id: int | None) -> dict[str, Any]:
    """The payload of a cursor this app signed, for this kind of feed and this viewer."""
    bad = InvalidCursor("the cursor is invalid or has been tampered with: load the feed again without a cursor")
    if not cursor or len(cursor) > MAX_CURSOR_CHARS or cursor.count(".") != 1:
        raise bad
    body_text, mac_text = cursor.split(".")
    try:
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (binascii.Error, ValueError) as exc:
        raise bad from exc
    if not hmac.compare_digest(mac, hmac.new(_key(runtime), body, hashlib.sha256).digest()[:16]):
        raise bad
    try:
        payload = msgspec.json.decode(body, type=dict[str, Any])
    except msgspec.DecodeError as exc:  # signed by us, so this does not happen
        raise bad from exc
    if payload.get("k") != kind:
        raise InvalidCursor(f"this cursor belongs to another feed, not {kind!r}")
    if payload.get("u") != (viewer_id or 0):
        raise InvalidCursor("this cursor was made for another viewer: load the feed again without a cursor")
    return payload
