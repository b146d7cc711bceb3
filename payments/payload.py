"""Signed invoice payloads: `<order_id>.<mac>`, so a forged or edited invoice is refused.

The MAC is HMAC-SHA256 over a domain-separated message (`gridshop:invoice:<order_id>`) with
PAYLOAD_SECRET, truncated to 128 bits and base64url-encoded without padding (22 characters).
A payload is at most 19 + 1 + 22 = 42 bytes, inside Telegram's 1-128 byte limit. Verification
re-computes the MAC and compares in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

__all__ = ["MAC_BYTES", "PayloadError", "sign_payload", "verify_payload"]

MAC_BYTES = 16
MAX_PAYLOAD_BYTES = 128
_SHAPE = re.compile(r"([1-9][0-9]{0,18})\.([A-Za-z0-9_-]{22})")


class PayloadError(ValueError):
    """An invoice payload that is malformed or whose signature does not match."""


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    if not key:
        raise ValueError("the payload secret must not be empty")
    return key


def _mac(key: bytes, order_id: int) -> str:
    digest = hmac.new(key, f"gridshop:invoice:{order_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:MAC_BYTES]).rstrip(b"=").decode()


def sign_payload(order_id: int, secret: str | bytes) -> str:
    """The invoice payload for `order_id`."""
    if type(order_id) is not int or not 0 < order_id < 2**63:
        raise ValueError(f"order id must be a positive 64-bit integer, not {order_id!r}")
    return f"{order_id}.{_mac(_key(secret), order_id)}"


def verify_payload(payload: str, secret: str | bytes) -> int:
    """The order id a payload was signed for; raise `PayloadError` if it is not genuine."""
    if not isinstance(payload, str) or len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise PayloadError("payload is not a string of at most 128 bytes")
    match = _SHAPE.fullmatch(payload)
    if match is None:
        raise PayloadError("payload is not <order_id>.<mac>")
    order_id = int(match.group(1))
    if order_id >= 2**63:
        raise PayloadError("order id out of range")
    expected = _mac(_key(secret), order_id)
    if not hmac.compare_digest(expected.encode(), match.group(2).encode()):
        raise PayloadError("payload signature does not match")
    return order_id
