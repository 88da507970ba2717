"""Tokens and API keys never show: not in logs (every logger at DEBUG), not
in exception texts, reprs, args or tracebacks (the whole __cause__ and
__context__ chain), not in the repr of a session or a manager, not even
when sessiond (or something posing as it) echoes them back."""

import logging
import secrets
from typing import Callable, List

import pytest
from conftest import (
    ADMIN_KEY,
    APP_KEY,
    MakeClient,
    Reply,
    ScriptedServer,
    Server,
    api_error,
    error_texts,
    free_port,
    new_user,
)

from sessiondb import SessionDBError


def test_canaries_never_show(
    server: Server,
    scripted: ScriptedServer,
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: ours, httpx's, asyncio's
    wrong_key = "canary-key-" + secrets.token_hex(16)
    texts: List[str] = []
    tokens: List[str] = []

    def failing(call: Callable[[], object]) -> None:
        with pytest.raises((SessionDBError, ValueError, TypeError)) as info:
            call()
        texts.append(error_texts(info.value))

    m = make_client(server.url, api_key=ADMIN_KEY)
    texts += [repr(m), str(m)]
    s = m.create_session(new_user(), metadata={"ip": "192.0.2.1"})
    assert s.token is not None
    tokens.append(s.token)
    texts += [repr(s), str(s), repr(m.get_session(s.token))]
    texts.append(repr(m.refresh_session(s.token, 60)))
    texts.append(repr(m.update_session_metadata(s.token, {"k": "v"})))
    r = m.rotate_session(s.token)
    assert r is not None and r.token is not None
    rt = r.token
    tokens.append(rt)
    texts += [repr(r), repr(m.get_user_sessions(r.user_id))]
    texts.append(repr(m.get_session(s.token)))  # the old token: 404

    failing(lambda: m.refresh_session(rt, 10**9))  # 400 from sessiond
    failing(lambda: m.get_session_by_id(rt))  # ValueError
    failing(lambda: m.update_session_metadata(rt, {"a": 1}))  # type: ignore
    failing(lambda: make_client(server.url, api_key=wrong_key).get_session(rt))
    failing(lambda: make_client(server.url, api_key=APP_KEY).get_session_stats())
    down = make_client("http://127.0.0.1:%d" % free_port(), api_key=ADMIN_KEY,
                       retries=1, backoff=0.01)  # fmt: skip
    failing(lambda: down.get_session(rt))
    failing(lambda: down.create_session("u"))

    # An answer that echoes the secrets back: redacted.
    echo = "token %s key %s" % (rt, ADMIN_KEY)
    fake = make_client(scripted.url, api_key=ADMIN_KEY, retries=0)
    scripted.add(Reply(500, api_error("internal", echo)))
    scripted.add(Reply(400, api_error("invalid_argument", echo, field="token")))
    scripted.add(Reply(503, api_error("store_misconfigured", echo)))
    scripted.add(Reply(200, echo.encode(), {"Content-Type": "text/plain"}))
    scripted.add(Reply(200, {"id": rt, "token": rt}))
    scripted.add(Reply(502, echo.encode(), {"Content-Type": "text/plain"}))
    for _ in range(3):
        failing(lambda: fake.get_session(rt))
    failing(lambda: fake.rotate_session(rt))
    failing(lambda: fake.create_session("u"))
    failing(lambda: fake.get_session(rt))
    assert "sdb_[redacted]" in texts[-6] and "key [redacted]" in texts[-6]

    assert m.invalidate_session(rt) is True
    log_texts = [caplog.text] + [
        repr(rec.args) + repr(rec.__dict__) for rec in caplog.records
    ]
    assert any("create_session" in t for t in log_texts)  # the log was captured
    everything = "\n".join(texts + log_texts + [server.sessiond.logs()])
    for canary in tokens + [ADMIN_KEY, APP_KEY, wrong_key]:
        assert canary not in everything
        assert canary[4:20] not in everything  # nor a piece of it
