"""Verification of the webhooks sessiond sends (docs/webhooks.md), in the
format of the Standard Webhooks specification, with the standard library
only.

    from sessiondb import webhooks

    def handle(headers, body):          # body: the bytes exactly as received
        try:
            webhooks.verify(SECRET, headers, body)
        except webhooks.WebhookVerificationError:
            return 401
        event = json.loads(body)        # headers["webhook-id"] == event["id"]

A webhook carries ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and
``webhook-signature``: space-separated ``v1,<base64>`` signatures, each the
HMAC-SHA256 of ``"<id>.<timestamp>.<body>"`` under a secret written
``whsec_<base64>``. :func:`verify` accepts a request when one of its v1
signatures matches one of the secrets, compared in constant time, and its
timestamp is within ``tolerance`` seconds of the clock.
"""

import base64
import binascii
import hashlib
import hmac
import time
from typing import Iterable, List, Mapping, Optional, Union

__all__ = [
    "DEFAULT_TOLERANCE",
    "WebhookVerificationError",
    "sign",
    "verify",
]

#: How far, in seconds, a webhook's timestamp may be from the clock.
DEFAULT_TOLERANCE = 300

SECRET_PREFIX = "whsec_"


class WebhookVerificationError(ValueError):
    """A webhook that does not verify. ``reason`` says why:
    ``missing_header``, ``timestamp``, ``signature`` or ``secret`` (a
    secret that is not ``whsec_`` and base64). The message never holds a
    secret or a signature."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _key(secret: str) -> bytes:
    text = secret.strip()
    if text.startswith(SECRET_PREFIX):
        text = text[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise WebhookVerificationError(
            "secret", "invalid webhook secret: want whsec_ followed by base64"
        ) from None
    return key


def _mac(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign(secret: str, msg_id: str, timestamp: int, body: Union[bytes, str]) -> str:
    """Return the ``webhook-signature`` value ``v1,<base64>`` of a message
    (for tests of a receiver)."""
    if isinstance(body, str):
        body = body.encode()
    digest = _mac(_key(secret), msg_id, str(int(timestamp)), body)
    return "v1," + base64.b64encode(digest).decode()


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:
        # A plain dict with keys in another case (Webhook-Id).
        for key, val in headers.items():
            if key.lower() == name:
                value = val
                break
    return value or ""


def verify(
    secret: Union[str, Iterable[str]],
    headers: Mapping[str, str],
    body: Union[bytes, str],
    tolerance: int = DEFAULT_TOLERANCE,
    now: Optional[float] = None,
) -> None:
    """Check a webhook; return ``None`` when it verifies, raise
    :class:`WebhookVerificationError` otherwise.

    ``secret`` is the endpoint's secret (``whsec_...``) or several (while
    rotating); ``headers`` the request's headers (any mapping; names in any
    case); ``body`` the body exactly as received (a str is UTF-8 encoded);
    ``tolerance`` how far in seconds the timestamp may be from ``now``
    (default: the clock); a negative tolerance checks no time (replaying
    stored requests in tests only).
    """
    secrets: List[str] = [secret] if isinstance(secret, str) else list(secret)
    if not secrets:
        raise WebhookVerificationError("secret", "no webhook secret given")
    keys = [_key(s) for s in secrets]
    if isinstance(body, str):
        body = body.encode()
    msg_id = _header(headers, "webhook-id")
    timestamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    for name, value in (
        ("webhook-id", msg_id),
        ("webhook-timestamp", timestamp),
        ("webhook-signature", signatures),
    ):
        if not value:
            raise WebhookVerificationError("missing_header", "missing header " + name)
    try:
        sent = int(timestamp)
    except ValueError:
        raise WebhookVerificationError(
            "timestamp", "webhook-timestamp is not a whole number of seconds"
        ) from None
    if tolerance >= 0:
        clock = time.time() if now is None else now
        if clock - sent > tolerance:
            raise WebhookVerificationError(
                "timestamp", "webhook too old: sent %ds ago" % (clock - sent)
            )
        if sent - clock > tolerance:
            raise WebhookVerificationError(
                "timestamp", "webhook too new: sent %ds ahead" % (sent - clock)
            )
    wanted = [_mac(key, msg_id, timestamp, body) for key in keys]
    matched = False
    for field in signatures.split():
        version, _, b64 = field.partition(",")
        if version != "v1":
            continue  # another scheme (v1a: asymmetric), or not a signature
        try:
            got = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            continue
        for want in wanted:
            # Every comparison runs: the time taken does not tell which matched.
            matched = hmac.compare_digest(got, want) or matched
    if not matched:
        raise WebhookVerificationError("signature", "no matching webhook signature")
