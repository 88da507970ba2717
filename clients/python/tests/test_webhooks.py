"""sessiondb.webhooks against the test vectors the Go package webhook is
held to (webhook/testdata/vectors.json), the Standard Webhooks
specification's own among them."""

import json
import time
from typing import Any, Dict, List

import pytest
from conftest import PYTHON_DIR

from sessiondb import webhooks
from sessiondb.webhooks import WebhookVerificationError

VECTORS: Dict[str, Any] = json.loads(
    (PYTHON_DIR.parents[1] / "webhook" / "testdata" / "vectors.json").read_text(
        encoding="utf-8"
    )
)
SPEC = "standard-webhooks"


def test_vectors_include_the_specification() -> None:
    assert any(v["source"] == SPEC for v in VECTORS["sign"])
    assert sum(v["source"] == SPEC for v in VECTORS["verify"]) >= 8
    assert len(VECTORS["verify"]) >= 20


@pytest.mark.parametrize("vector", VECTORS["sign"], ids=lambda v: str(v["name"]))
def test_sign(vector: Dict[str, Any]) -> None:
    got = webhooks.sign(
        vector["secret"], vector["id"], vector["timestamp"], vector["body"]
    )
    assert got == vector["signature"]


@pytest.mark.parametrize("vector", VECTORS["verify"], ids=lambda v: str(v["name"]))
def test_verify(vector: Dict[str, Any]) -> None:
    secrets: List[str] = vector["secrets"]
    args = (secrets if len(secrets) > 1 else secrets[0], vector["headers"])
    body = vector["body"].encode()
    if not vector["error"]:
        webhooks.verify(*args, body, tolerance=vector["tolerance"], now=vector["now"])
        return
    with pytest.raises(WebhookVerificationError) as info:
        webhooks.verify(*args, body, tolerance=vector["tolerance"], now=vector["now"])
    assert info.value.reason == vector["error"]
    text = str(info.value) + repr(info.value)
    for secret in secrets:
        assert secret[len("whsec_") :] not in text
    assert "g0hM9SsE" not in text


def test_str_body_and_clock() -> None:
    secret = VECTORS["sign"][1]["secret"]
    ts = int(time.time())
    body = '{"id":"1-0-a-1","user_id":"zoë"}'
    headers = {
        "webhook-id": "1-0-a-1",
        "webhook-timestamp": str(ts),
        "webhook-signature": webhooks.sign(secret, "1-0-a-1", ts, body),
    }
    webhooks.verify(secret, headers, body)  # str body, the clock's time
    headers["webhook-timestamp"] = str(ts - 3600)
    with pytest.raises(WebhookVerificationError) as info:
        webhooks.verify(secret, headers, body)
    assert info.value.reason == "timestamp"
    # A stored request, replayed with the time check off.
    headers["webhook-signature"] = webhooks.sign(secret, "1-0-a-1", ts - 3600, body)
    webhooks.verify(secret, headers, body, tolerance=-1)


@pytest.mark.parametrize("secret", ["whsec_", "whsec_not base64!", "", "whsec_%%%"])
def test_bad_secret(secret: str) -> None:
    with pytest.raises(WebhookVerificationError) as info:
        webhooks.verify(secret, {}, b"")
    assert info.value.reason == "secret"


def test_no_secret() -> None:
    with pytest.raises(WebhookVerificationError) as info:
        webhooks.verify([], {}, b"")
    assert info.value.reason == "secret"
