"""Why a token stopped working: get_session_reason on both clients, against
a real sessiond that records events (on the embedded store and on Redis),
and against scripted answers for the odd ones."""

import time

import pytest
from conftest import (
    ADMIN_KEY,
    APP_KEY,
    MakeClient,
    Manager,
    Reply,
    ScriptedServer,
    Server,
    api_error,
    new_user,
    random_token,
    session_json,
)

from sessiondb import NotFound


@pytest.fixture
def app(events_server: Server, make_client: MakeClient) -> Manager:
    return make_client(events_server.url, api_key=APP_KEY)


def test_reasons(app: Manager) -> None:
    user = new_user("why")
    a = app.create_session(user)
    b = app.create_session(user)  # one session per user: evicts a
    assert a.token is not None and b.token is not None
    # get_session keeps its contract: None for a session that ended.
    assert app.get_session(a.token) is None
    assert app.get_session_reason(a.token) == "evicted"

    r = app.rotate_session(b.token)
    assert r is not None and r.token is not None
    assert app.get_session(b.token) is None
    assert app.get_session_reason(b.token) == "rotated"

    assert app.invalidate_session(r.token) is True
    assert app.get_session_reason(r.token) == "revoked"

    c = app.create_session(new_user("why"))
    assert c.token is not None
    assert app.invalidate_session_by_id(c.session_id) is True
    assert app.get_session_reason(c.token) == "revoked"

    d = app.create_session(new_user("why"))
    e = app.create_session(new_user("why"), metadata={"k": "v"})
    assert d.token is not None and e.token is not None
    assert app.invalidate_user_sessions(d.user_id) == 1
    assert app.get_session_reason(d.token) == "revoked"

    # A live session, an unknown token, a malformed one and None: no reason.
    assert app.get_session_reason(e.token) is None
    assert app.get_session(e.token) is not None
    assert app.get_session_reason(random_token()) is None
    assert app.get_session_reason("not-a-token") is None
    assert app.get_session_reason(None) is None
    with pytest.raises(ValueError, match="get_session_by_id"):
        app.get_session_reason(e.session_id)


def test_reason_expired(events_server: Server, make_client: MakeClient) -> None:
    app = make_client(events_server.url, api_key=APP_KEY)
    admin = make_client(events_server.url, api_key=ADMIN_KEY)
    s = app.create_session(new_user("why-exp"), ttl_seconds=1)
    assert s.token is not None
    # Cleanup finds it once its second is over (bounded wait).
    deadline = time.monotonic() + 20
    while admin.cleanup_expired_sessions() == 0:
        assert time.monotonic() < deadline, "the 1 s session was not cleaned up"
        time.sleep(0.2)
    assert app.get_session(s.token) is None
    assert app.get_session_reason(s.token) == "expired"
    stats = admin.get_session_stats()
    assert stats["revocations"] >= 1 and stats["revocation_memory_bytes"] > 0


def test_no_reason_without_events(server: Server, make_client: MakeClient) -> None:
    # The shared sessiond runs without SESSION_EVENTS: it never says why.
    app = make_client(server.url, api_key=APP_KEY)
    s = app.create_session(new_user("why-off"))
    assert s.token is not None
    assert app.invalidate_session(s.token) is True
    assert app.get_session_reason(s.token) is None


def test_reason_answers(scripted: ScriptedServer, make_client: MakeClient) -> None:
    m = make_client(scripted.url, api_key=APP_KEY)
    tok = random_token()
    scripted.add(
        Reply(404, api_error("not_found", "gone", reason="evicted")),
        Reply(404, api_error("not_found", "gone", reason="logged_out_elsewhere")),
        Reply(404, api_error("not_found", "gone")),
        Reply(404, api_error("not_found", "gone", reason="Not A Word\n")),
        Reply(200, session_json()),
        Reply(404, api_error("no_such_thing", "what")),
    )
    assert m.get_session_reason(tok) == "evicted"
    # A reason newer than this client is passed on as sessiond words it.
    assert m.get_session_reason(tok) == "logged_out_elsewhere"
    assert m.get_session_reason(tok) is None
    assert m.get_session_reason(tok) is None
    assert m.get_session_reason(tok) is None
    # A 404 that is not sessiond's not_found is an error, as everywhere.
    with pytest.raises(Exception) as info:
        m.get_session_reason(tok)
    assert not isinstance(info.value, NotFound)
    assert tok not in str(info.value)
    # Every request was a validation of the token, in the body only.
    assert [(r.method, r.path) for r in scripted.seen] == [
        ("POST", "/v1/sessions/validate")
    ] * 6
    assert all(tok not in r.path for r in scripted.seen)
