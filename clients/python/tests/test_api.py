"""Every method of both clients against a real sessiond, on the embedded
store and on Redis: results, None/False outcomes, argument mix-ups and the
errors sessiond gives."""

import dataclasses
import json
import logging
import re
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Callable, List, Tuple

import pytest
from conftest import (
    ADMIN_KEY,
    APP_KEY,
    MAX_SESSIONS,
    MakeClient,
    Manager,
    Server,
    new_user,
    random_token,
)

from sessiondb import (
    Forbidden,
    InvalidArgument,
    NotFound,
    Session,
    SessionDBError,
    SessionLimitReached,
    TooLarge,
    Unauthorized,
    Unavailable,
)

TOKEN_RE = re.compile(r"sdb_[A-Za-z0-9_-]{51}\Z")
ID_RE = re.compile(r"[0-9a-f]{3}[A-Za-z0-9_-]{16}\Z")


def requests_logged(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "sessiondb" and "->" in r.getMessage()
    ]


def test_create_and_get(client: Manager) -> None:
    user = new_user()
    md = {"ip": "192.0.2.1", "user_agent": "Mozilla/5.0 (X11; Linux x86_64) é"}
    s = client.create_session(user, ttl_seconds=3600, metadata=md)
    assert s.user_id == user
    assert s.metadata == md
    assert s.token is not None and TOKEN_RE.match(s.token)
    assert ID_RE.match(s.session_id)
    for t in (s.created_at, s.expires_at, s.last_seen_at):
        assert t.tzinfo is not None and t.utcoffset() == timedelta(0)
    assert s.expires_at - s.created_at == timedelta(seconds=3600)
    assert s.token not in repr(s)

    got = client.get_session(s.token)
    assert got is not None
    assert got.token is None  # shown only by create and rotate
    assert (got.session_id, got.user_id, got.metadata, got.created_at) == (
        s.session_id,
        user,
        md,
        s.created_at,
    )
    assert got.expires_at == s.expires_at


def test_create_defaults(client: Manager) -> None:
    s = client.create_session(new_user())
    assert s.metadata == {}
    # sessiond's SESSION_TTL_SECONDS default: one hour.
    assert s.expires_at - s.created_at == timedelta(hours=1)


def test_unknown_and_malformed_tokens(
    client: Manager, caplog: pytest.LogCaptureFixture
) -> None:
    assert client.get_session(random_token()) is None
    assert client.invalidate_session(random_token()) is False
    assert client.refresh_session(random_token()) is None
    assert client.rotate_session(random_token()) is None
    assert client.update_session_metadata(random_token(), {"a": "b"}) is None

    caplog.set_level(logging.DEBUG, logger="sessiondb")
    malformed = [
        None,
        "",
        "null",
        "sdb_",
        "sdb_short",
        random_token()[:-1],
        random_token() + "x",
        "SDB_" + random_token()[4:],
        "sdb_" + "!" * 51,
        "sdb_" + "é" * 51,
        "x" * 100_000,
        "\x00\n\r",
        "0a3Xq1d9vVb2mWw7tH",  # one short of an id
        "0A3Xq1d9vVb2mWw7tHk",  # upper-case hex: not an id
        "\udc80" * 10,
    ]
    for bad in malformed:
        assert client.get_session(bad) is None
        assert client.invalidate_session(bad) is False
        assert client.refresh_session(bad) is None
        assert client.rotate_session(bad) is None
        assert client.update_session_metadata(bad, {"a": "b"}) is None
    for bad_id in ["", "x", random_token()[:19].upper(), "zzz" + "A" * 16]:
        assert client.get_session_by_id(bad_id) is None
        assert client.invalidate_session_by_id(bad_id) is False
        assert client.update_session_metadata_by_id(bad_id, {"a": "b"}) is None
    assert requests_logged(caplog) == []  # answered without a request


def test_ids_and_tokens_mixed_up(client: Manager) -> None:
    s = client.create_session(new_user())
    assert s.token is not None
    tok, sid, user = s.token, s.session_id, s.user_id
    by_id = "%s() takes a token; for a session id use %s()"
    by_token = "%s() takes a session id; for a token use %s()"
    cases: List[Tuple[Callable[[], object], str]] = [
        (lambda: client.get_session(sid), by_id % ("get_session", "get_session_by_id")),
        (
            lambda: client.invalidate_session(sid),
            by_id % ("invalidate_session", "invalidate_session_by_id"),
        ),
        (
            lambda: client.update_session_metadata(sid, {}),
            by_id % ("update_session_metadata", "update_session_metadata_by_id"),
        ),
        (
            lambda: client.refresh_session(sid),
            "refresh_session() takes a token, not a session id",
        ),
        (
            lambda: client.rotate_session(sid),
            "rotate_session() takes a token, not a session id",
        ),
        (
            lambda: client.get_session_by_id(tok),
            by_token % ("get_session_by_id", "get_session"),
        ),
        (
            lambda: client.invalidate_session_by_id(tok),
            by_token % ("invalidate_session_by_id", "invalidate_session"),
        ),
        (
            lambda: client.update_session_metadata_by_id(tok, {}),
            by_token % ("update_session_metadata_by_id", "update_session_metadata"),
        ),
        (
            lambda: client.invalidate_user_sessions(user, except_session_id=tok),
            "invalidate_user_sessions() takes a session id as except_session_id,"
            " not a token",
        ),
    ]
    for call, message in cases:
        with pytest.raises(ValueError) as info:
            call()
        assert str(info.value).startswith(message)
        assert s.token not in str(info.value)
    # Nothing happened to the session.
    assert client.get_session(s.token) is not None


def test_invalidate(client: Manager) -> None:
    s = client.create_session(new_user())
    assert client.invalidate_session(s.token) is True
    assert client.get_session(s.token) is None
    assert client.invalidate_session(s.token) is False


def test_session_shape(server: Server, client: Manager) -> None:
    """The client's session is sessiond's session object, field by field.
    cmd/sessionctl's TestOneSessionShape holds sessionctl's --json and the
    Go client to the same object."""
    md = {"ip": "192.0.2.1", "user_agent": "Mozilla/5.0 <x> & y é"}
    s = client.create_session(new_user(), ttl_seconds=3600, metadata=md)
    req = urllib.request.Request(
        server.url + "/v1/sessions/" + s.session_id,
        headers={"Authorization": "Bearer " + APP_KEY},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = json.load(resp)
    got = client.get_session_by_id(s.session_id)
    assert got is not None
    names = {
        "id" if f.name == "session_id" else f.name for f in dataclasses.fields(Session)
    }
    assert set(raw) == names - {"token"}
    assert (got.session_id, got.user_id, got.metadata) == (
        raw["id"],
        raw["user_id"],
        raw["metadata"],
    )
    for name in ("created_at", "expires_at", "last_seen_at"):
        assert getattr(got, name) == datetime.fromisoformat(raw[name]), name


def test_by_id(client: Manager) -> None:
    s = client.create_session(new_user(), metadata={"k": "v"})
    got = client.get_session_by_id(s.session_id)
    assert got is not None and got.session_id == s.session_id and got.token is None
    assert got.metadata == {"k": "v"}
    assert client.invalidate_session_by_id(s.session_id) is True
    assert client.get_session_by_id(s.session_id) is None
    assert client.get_session(s.token) is None
    assert client.invalidate_session_by_id(s.session_id) is False


def test_user_sessions_newest_first(client: Manager) -> None:
    user = new_user()
    made = [client.create_session(user, metadata={"n": str(i)}) for i in range(3)]
    listed = client.get_user_sessions(user)
    assert [s.session_id for s in listed] == [s.session_id for s in reversed(made)]
    assert all(s.token is None and s.user_id == user for s in listed)
    assert client.get_user_sessions(new_user("nobody")) == []


@pytest.mark.parametrize(
    "user",
    ["team/alice", ".", "..", "a b?c#d%e&f", "ü-ser-✓", "x" * 256, "%2E", "a\\b"],
)
def test_user_ids_in_paths(client: Manager, user: str) -> None:
    # A shared server: make the id unique but keep its shape at the ends.
    s = client.create_session(user)
    try:
        listed = client.get_user_sessions(user)
        assert s.session_id in [x.session_id for x in listed]
        assert all(x.user_id == user for x in listed)
    finally:
        assert client.invalidate_user_sessions(user) >= 1
    assert client.get_user_sessions(user) == []


def test_invalidate_user_sessions(client: Manager) -> None:
    user = new_user()
    keep, a, b = (client.create_session(user) for _ in range(3))
    assert client.invalidate_user_sessions(user, except_session_id=keep.session_id) == 2
    assert [s.session_id for s in client.get_user_sessions(user)] == [keep.session_id]
    assert client.get_session(a.token) is None and client.get_session(b.token) is None
    assert client.invalidate_user_sessions(user) == 1
    assert client.get_session(keep.token) is None
    assert client.invalidate_user_sessions(user) == 0
    with pytest.raises(InvalidArgument) as info:
        client.invalidate_user_sessions(user, except_session_id="not-an-id")
    assert info.value.field == "except" and info.value.status == 400
    with pytest.raises(InvalidArgument) as info:
        client.invalidate_user_sessions(user, except_session_id="")
    assert info.value.field == "except"


def test_refresh(client: Manager) -> None:
    s = client.create_session(new_user(), ttl_seconds=3600)
    r = client.refresh_session(s.token, ttl_seconds=60)
    assert r is not None and r.session_id == s.session_id and r.token is None
    assert r.expires_at - r.last_seen_at == timedelta(seconds=60)
    r2 = client.refresh_session(s.token)  # its own lifetime again
    assert r2 is not None and r2.expires_at - r2.last_seen_at == timedelta(hours=1)
    with pytest.raises(InvalidArgument) as info:
        client.refresh_session(s.token, ttl_seconds=10**9)
    assert info.value.field == "ttl_seconds"


def test_rotate(client: Manager) -> None:
    s = client.create_session(new_user(), metadata={"role": "user"})
    r = client.rotate_session(s.token)
    assert r is not None and r.token is not None and TOKEN_RE.match(r.token)
    assert r.token != s.token and r.session_id != s.session_id
    assert (r.user_id, r.metadata, r.created_at) == (
        s.user_id,
        s.metadata,
        s.created_at,
    )
    assert client.get_session(s.token) is None
    got = client.get_session(r.token)
    assert got is not None and got.session_id == r.session_id
    assert client.rotate_session(s.token) is None


def test_update_metadata(client: Manager) -> None:
    s = client.create_session(new_user(), metadata={"a": "1", "b": "2"})
    u = client.update_session_metadata(s.token, {"a": "10", "b": None, "c": "3"})
    assert u is not None and u.metadata == {"a": "10", "c": "3"} and u.token is None
    u = client.update_session_metadata_by_id(s.session_id, {"c": None, "d": "4"})
    assert u is not None and u.metadata == {"a": "10", "d": "4"}
    got = client.get_session(s.token)
    assert got is not None and got.metadata == {"a": "10", "d": "4"}
    # Over the limit of creation: refused, nothing written.
    with pytest.raises(InvalidArgument) as info:
        client.update_session_metadata(s.token, {"big": "x" * 5000})
    assert info.value.field == "metadata"
    got = client.get_session(s.token)
    assert got is not None and got.metadata == {"a": "10", "d": "4"}
    with pytest.raises(TypeError):
        client.update_session_metadata(s.token, {"a": 1})  # type: ignore[dict-item]
    client.invalidate_session(s.token)
    assert client.update_session_metadata(s.token, {"a": "b"}) is None
    assert client.update_session_metadata_by_id(s.session_id, {"a": "b"}) is None


def test_invalid_arguments(client: Manager) -> None:
    cases: List[Tuple[Callable[[], object], str]] = [
        (lambda: client.create_session(""), "user_id"),
        (lambda: client.create_session("x" * 257), "user_id"),
        (lambda: client.create_session("a\nb"), "user_id"),
        (lambda: client.create_session("\udc80"), "user_id"),
        (lambda: client.create_session(new_user(), ttl_seconds=0), "ttl_seconds"),
        (lambda: client.create_session(new_user(), ttl_seconds=-5), "ttl_seconds"),
        (lambda: client.create_session(new_user(), ttl_seconds=10**9), "ttl_seconds"),
        (
            lambda: client.create_session(new_user(), metadata={"k": "v" * 5000}),
            "metadata",
        ),
        (lambda: client.get_user_sessions(""), "user_id"),
        (lambda: client.invalidate_user_sessions(""), "user_id"),
    ]
    for call, field in cases:
        with pytest.raises(InvalidArgument) as info:
            call()
        assert info.value.field == field, str(info.value)
        assert isinstance(info.value, ValueError)
        assert info.value.code == "invalid_argument"
    bad_types: List[Callable[[], object]] = [
        lambda: client.create_session(123),  # type: ignore[arg-type]
        lambda: client.create_session("u", ttl_seconds="60"),  # type: ignore[arg-type]
        lambda: client.create_session("u", ttl_seconds=True),
        lambda: client.create_session("u", metadata=["a"]),  # type: ignore[arg-type]
        lambda: client.create_session(
            "u", metadata={"a": None}  # type: ignore[dict-item]
        ),
        lambda: client.get_session(b"sdb_x"),  # type: ignore[arg-type]
        lambda: client.get_session_by_id(None),  # type: ignore[arg-type]
    ]
    for bad in bad_types:
        with pytest.raises(TypeError):
            bad()


def test_session_limit(client: Manager) -> None:
    user = new_user()
    for _ in range(MAX_SESSIONS):
        client.create_session(user)
    with pytest.raises(SessionLimitReached) as info:
        client.create_session(user)
    assert (info.value.status, info.value.code) == (409, "session_limit")
    assert len(client.get_user_sessions(user)) == MAX_SESSIONS


def test_too_large(client: Manager) -> None:
    with pytest.raises(TooLarge) as info:
        client.create_session(new_user(), metadata={"k": "x" * 20000})
    assert (info.value.status, info.value.code) == (413, "too_large")


def test_keys_and_roles(server: Server, make_client: MakeClient) -> None:
    app = make_client(server.url, api_key=APP_KEY)
    admin = make_client(server.url, api_key=ADMIN_KEY)
    for call in (app.get_session_stats, app.cleanup_expired_sessions):
        with pytest.raises(Forbidden) as forbidden:
            call()
        assert (forbidden.value.status, forbidden.value.code) == (
            403,
            "permission_denied",
        )
    assert admin.get_session(admin.create_session(new_user()).token) is not None
    for key in (None, "not-a-key", APP_KEY + "x"):
        m = make_client(server.url, api_key=key)
        with pytest.raises(Unauthorized) as unauth:
            m.create_session(new_user())
        assert (unauth.value.status, unauth.value.code) == (401, "unauthenticated")
        with pytest.raises(Unauthorized):
            m.get_session(random_token())  # an error, not None
        assert m.ping() is True  # /readyz needs no key


def test_stats_and_cleanup(admin: Manager) -> None:
    stats = admin.get_session_stats()
    for key in (
        "total_sessions",
        "active_sessions",
        "expired_sessions",
        "users",
        "created",
        "invalidated",
        "evicted",
    ):
        assert isinstance(stats[key], int) and stats[key] >= 0, key
    s = admin.create_session(new_user(), ttl_seconds=1)
    assert admin.get_session_stats()["created"] >= stats["created"] + 1
    deadline = time.monotonic() + 10
    while admin.get_session(s.token) is not None:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    before = admin.get_session_stats()
    assert before["expired_sessions"] >= 1
    cleaned = admin.cleanup_expired_sessions()
    assert cleaned >= 1
    after = admin.get_session_stats()
    assert after["expired_sessions"] <= before["expired_sessions"] - 1
    assert admin.cleanup_expired_sessions() >= 0


def test_ping(client: Manager) -> None:
    assert client.ping() is True


def test_not_found_for_a_wrong_base_url(
    server: Server, make_client: MakeClient
) -> None:
    m = make_client(server.url + "/not-sessiond", api_key=APP_KEY)
    calls: List[Callable[[], object]] = [
        lambda: m.create_session(new_user()),
        lambda: m.get_user_sessions("u"),
        lambda: m.invalidate_user_sessions("u"),
    ]
    for call in calls:
        with pytest.raises(NotFound) as info:
            call()
        assert (info.value.status, info.value.code) == (404, "not_found")


def test_unreachable(make_client: MakeClient) -> None:
    from conftest import free_port

    m = make_client("http://127.0.0.1:%d" % free_port(), retries=1, backoff=0.01)
    calls: List[Callable[[], object]] = [
        lambda: m.get_session(random_token()),
        lambda: m.create_session("u"),
        m.ping,
    ]
    for call in calls:
        with pytest.raises(Unavailable) as info:
            call()
        assert info.value.status is None and info.value.code == "unavailable"
        assert "connection refused" in str(info.value)
        assert isinstance(info.value.__cause__, ConnectionRefusedError)


def test_closed_manager(server: Server, make_client: MakeClient) -> None:
    m = make_client(server.url, api_key=APP_KEY)
    assert m.ping()
    m.close()
    with pytest.raises(RuntimeError):
        m.ping()
    assert m.get_session("malformed") is None  # still no request needed


def test_session_value_semantics() -> None:
    now = datetime(2026, 1, 2, tzinfo=timezone.utc)
    s = Session("0a3Xq1d9vVb2mWw7tHk", "u", now, now, now, {"a": "b"}, "sdb_secret")
    t = Session("0a3Xq1d9vVb2mWw7tHk", "u", now, now, now, {"a": "b"})
    assert s == t  # the token is not compared
    assert "sdb_secret" not in repr(s) and "token" not in repr(s)
    assert hash(s) == hash(t)
    with pytest.raises(AttributeError):
        s.user_id = "v"  # type: ignore[misc]


def test_every_error_is_a_session_db_error(client: Manager) -> None:
    with pytest.raises(SessionDBError):
        client.create_session("")
