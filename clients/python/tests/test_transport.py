"""The HTTP side of both clients: what goes on the wire, retries, keep-alive
reuse and stale connections, the mapping of every error answer (with a
scripted loopback server for the answers a healthy sessiond never gives),
threads sharing one client, and a Redis outage behind a real sessiond."""

import json
import logging
import threading
from pathlib import Path
from typing import Any, Dict, List, Type

import pytest
from conftest import (
    APP_KEY,
    DROP,
    MakeClient,
    RedisServer,
    Reply,
    ScriptedServer,
    Server,
    Sessiond,
    api_error,
    need_redis,
    new_user,
    random_token,
    server_env,
    session_json,
    wait_until,
)

from sessiondb import (
    Forbidden,
    InternalError,
    InvalidArgument,
    MethodNotAllowed,
    NotFound,
    SessionDBError,
    SessionLimitReached,
    SessionManager,
    StoreMisconfigured,
    TooLarge,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)

SID = "0a3Xq1d9vVb2mWw7tHk"


def unavailable(retry_after: str = "0") -> Reply:
    return Reply(503, api_error("unavailable", "retry"), {"Retry-After": retry_after})


def retries_logged(caplog: pytest.LogCaptureFixture) -> int:
    return sum("retrying" in r.getMessage() for r in caplog.records)


def test_requests_on_the_wire(
    scripted: ScriptedServer, make_client: MakeClient
) -> None:
    tok = random_token()
    m = make_client(scripted.url + "/prefix/", api_key=APP_KEY)
    ok = Reply(200, session_json())
    scripted.add(Reply(201, session_json(tok)), ok, ok, Reply(200, session_json(tok)))
    scripted.add(Reply(204), ok, ok, ok, Reply(204))
    scripted.add(Reply(200, {"sessions": []}), Reply(200, {"invalidated": 2}))
    scripted.add(Reply(200, {"cleaned": 0}), Reply(200, session_json()))
    scripted.add(Reply(200, {"total_sessions": 1, "active_sessions": 1,
                             "expired_sessions": 0}))  # fmt: skip
    scripted.add(Reply(200, {"status": "ok"}))

    m.create_session("team/alice", 60, {"ip": "192.0.2.1"})
    m.get_session(tok)
    m.refresh_session(tok, 30)
    m.rotate_session(tok)
    m.invalidate_session(tok)
    m.update_session_metadata(tok, {"a": "1", "b": None})
    m.update_session_metadata_by_id(SID, {"c": None})
    m.get_session_by_id(SID)
    m.invalidate_session_by_id(SID)
    m.get_user_sessions("..")
    m.invalidate_user_sessions("a b", except_session_id=SID)
    m.cleanup_expired_sessions()
    m.refresh_session(tok)
    m.get_session_stats()
    m.ping()

    want = [
        ("POST", "/v1/sessions", {"user_id": "team/alice", "ttl_seconds": 60,
                                  "metadata": {"ip": "192.0.2.1"}}),
        ("POST", "/v1/sessions/validate", {"token": tok}),
        ("POST", "/v1/sessions/refresh", {"token": tok, "ttl_seconds": 30}),
        ("POST", "/v1/sessions/rotate", {"token": tok}),
        ("POST", "/v1/sessions/invalidate", {"token": tok}),
        ("POST", "/v1/sessions/metadata", {"token": tok,
                                           "metadata": {"a": "1", "b": None}}),
        ("PATCH", "/v1/sessions/" + SID, {"metadata": {"c": None}}),
        ("GET", "/v1/sessions/" + SID, None),
        ("DELETE", "/v1/sessions/" + SID, None),
        ("GET", "/v1/users/%2E%2E/sessions", None),
        ("DELETE", "/v1/users/a%20b/sessions?except=" + SID, None),
        ("POST", "/v1/cleanup", None),
        ("POST", "/v1/sessions/refresh", {"token": tok}),
        ("GET", "/v1/stats", None),
        ("GET", "/readyz", None),
    ]  # fmt: skip
    assert len(scripted.seen) == len(want)
    for seen, (method, path, body) in zip(scripted.seen, want):
        assert (seen.method, seen.path) == (method, "/prefix" + path)
        assert seen.headers["authorization"] == "Bearer " + APP_KEY
        assert seen.headers["accept"] == "application/json"
        assert tok not in seen.path
        if body is None:
            assert seen.body == b""
            assert "content-type" not in seen.headers
        else:
            assert json.loads(seen.body) == body
            assert seen.headers["content-type"] == "application/json"
    assert scripted.connections == 1  # one keep-alive connection throughout


def test_retries_then_success(
    scripted: ScriptedServer,
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="sessiondb")
    m = make_client(scripted.url, backoff=0.01)
    scripted.add(unavailable(), unavailable(), Reply(200, session_json()))
    s = m.get_session(random_token())
    assert s is not None and s.session_id == SID
    assert len(scripted.seen) == 3
    assert retries_logged(caplog) == 2


def test_retries_are_bounded(scripted: ScriptedServer, make_client: MakeClient) -> None:
    m = make_client(scripted.url, retries=3, backoff=0.01)
    scripted.add(*[unavailable() for _ in range(6)])
    with pytest.raises(Unavailable) as info:
        m.get_user_sessions("u")
    assert len(scripted.seen) == 4  # the first attempt and 3 retries
    assert (info.value.status, info.value.code, info.value.retry_after) == (
        503,
        "unavailable",
        0.0,
    )


def test_proxy_errors_are_retried(
    scripted: ScriptedServer, make_client: MakeClient
) -> None:
    m = make_client(scripted.url, backoff=0.01)
    scripted.add(Reply(502, b"<html>bad gateway</html>", {"Content-Type": "text/html"}))
    scripted.add(Reply(504, b"", {}), Reply(200, {"invalidated": 1}))
    assert m.invalidate_user_sessions("u") == 1
    assert len(scripted.seen) == 3


@pytest.mark.parametrize("call", ["create_session", "rotate_session", "ping"])
def test_never_sent_twice(
    scripted: ScriptedServer, make_client: MakeClient, call: str
) -> None:
    m = make_client(scripted.url, backoff=0.01)
    scripted.add(unavailable(), unavailable(), Reply(200, session_json()))
    args = {"create_session": ("u",), "rotate_session": (random_token(),)}
    with pytest.raises(Unavailable):
        getattr(m, call)(*args.get(call, ()))
    assert len(scripted.seen) == 1


def test_long_retry_after_is_not_waited(
    scripted: ScriptedServer, make_client: MakeClient
) -> None:
    m = make_client(scripted.url, max_retry_after=5)
    scripted.add(unavailable("120"), Reply(200, session_json()))
    with pytest.raises(Unavailable) as info:
        m.get_session(random_token())
    assert info.value.retry_after == 120.0
    assert "retry after 120s" in str(info.value)
    assert len(scripted.seen) == 1


def test_unknown_codes_raise_the_base_class(
    scripted: ScriptedServer, make_client: MakeClient
) -> None:
    m = make_client(scripted.url, backoff=0.01)
    scripted.add(Reply(503, api_error("newer_code", "WRONGPASS"), {"Retry-After": "1"}))
    with pytest.raises(SessionDBError) as info:
        m.get_session(random_token())
    assert type(info.value) is SessionDBError
    assert (info.value.status, info.value.code) == (503, "newer_code")
    assert "WRONGPASS" in str(info.value)
    assert len(scripted.seen) == 1  # not Unavailable: not retried


ERROR_CASES: List[Any] = [
    # (status, body, headers, class, attribute checks)
    (400, api_error("invalid_argument", "bad", field="user_id"), {}, InvalidArgument,
     {"field": "user_id", "code": "invalid_argument"}),
    (401, api_error("unauthenticated"), {}, Unauthorized, {"code": "unauthenticated"}),
    (403, api_error("permission_denied"), {}, Forbidden, {"code": "permission_denied"}),
    (404, api_error("not_found", "no such route"), {}, NotFound, {"code": "not_found"}),
    (405, api_error("method_not_allowed"), {"Allow": "GET, HEAD"}, MethodNotAllowed,
     {"allow": "GET, HEAD"}),
    (409, api_error("session_limit"), {}, SessionLimitReached,
     {"code": "session_limit"}),
    (413, api_error("too_large"), {}, TooLarge, {"code": "too_large"}),
    (415, api_error("unsupported_media_type"), {}, UnsupportedMediaType,
     {"code": "unsupported_media_type"}),
    (500, api_error("internal"), {}, InternalError, {"code": "internal"}),
    (500, api_error("store_misconfigured"), {}, StoreMisconfigured,
     {"code": "store_misconfigured"}),
    (503, api_error("unavailable"), {"Retry-After": "1"}, Unavailable,
     {"retry_after": 1.0}),
    (418, api_error("teapot"), {}, SessionDBError, {"code": "teapot"}),
    # Answers without the API's error object: a proxy, a wrong base_url.
    (404, b"<h1>Not Found</h1>", {"Content-Type": "text/html"}, NotFound,
     {"code": "not_found"}),
    (401, b"", {}, Unauthorized, {}),
    (405, b"nope", {"Allow": "POST"}, MethodNotAllowed, {"allow": "POST"}),
    (500, b"oops", {}, InternalError, {}),
    (503, b"", {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, Unavailable,
     {"retry_after": 0.0}),
    (429, b"slow down", {}, SessionDBError, {"code": None}),
    (302, b"", {"Location": "/elsewhere"}, SessionDBError, {"code": None}),
    (200, b"not json", {}, SessionDBError, {"code": None}),
    (200, {"id": 1}, {}, SessionDBError, {"code": None}),
]  # fmt: skip


@pytest.mark.parametrize("status,body,headers,cls,attrs", ERROR_CASES)
def test_error_classes(
    scripted: ScriptedServer,
    make_client: MakeClient,
    status: int,
    body: Any,
    headers: Dict[str, str],
    cls: Type[SessionDBError],
    attrs: Dict[str, Any],
) -> None:
    m = make_client(scripted.url, retries=0)
    scripted.add(Reply(status, body, headers))
    with pytest.raises(SessionDBError) as info:
        m.get_user_sessions("u")
    assert type(info.value) is cls
    assert info.value.status == status
    for name, value in attrs.items():
        assert getattr(info.value, name) == value
    assert str(info.value).startswith("get_user_sessions: ")


def test_not_found_answers(scripted: ScriptedServer, make_client: MakeClient) -> None:
    m = make_client(scripted.url)
    nf = Reply(404, api_error("not_found", "session not found"))
    scripted.add(nf, nf, nf, nf, nf, nf, nf, nf)
    assert m.get_session(random_token()) is None
    assert m.refresh_session(random_token()) is None
    assert m.rotate_session(random_token()) is None
    assert m.update_session_metadata(random_token(), {}) is None
    assert m.invalidate_session(random_token()) is False
    assert m.get_session_by_id(SID) is None
    assert m.update_session_metadata_by_id(SID, {}) is None
    assert m.invalidate_session_by_id(SID) is False
    scripted.add(nf)
    with pytest.raises(NotFound):
        m.create_session("u")
    # A 404 that is not sessiond's (a proxy, a wrong base_url) is no answer
    # about the session: an error, not None.
    scripted.add(Reply(404, b"<h1>Not Found</h1>", {"Content-Type": "text/html"}))
    with pytest.raises(NotFound):
        m.get_session(random_token())


def test_keep_alive_reuse(scripted: ScriptedServer, make_client: MakeClient) -> None:
    m = make_client(scripted.url)
    scripted.add(*[Reply(200, session_json()) for _ in range(20)])
    for _ in range(20):
        assert m.get_session(random_token()) is not None
    assert scripted.connections == 1


def test_connection_closed_while_idle(
    scripted: ScriptedServer, make_client: MakeClient
) -> None:
    m = make_client(scripted.url, retries=0)
    scripted.add(Reply(201, session_json(random_token()), close_after=True))
    scripted.add(Reply(201, session_json(random_token())))
    m.create_session("u")
    wait_until("the server to close the connection", lambda: scripted.closed == 1)
    # The pooled connection is seen to be closed and not used: even a call
    # that is never retried goes through.
    m.create_session("u")
    assert scripted.connections == 2 and len(scripted.seen) == 2


def test_connection_dropped_on_reuse(
    scripted: ScriptedServer, make_client: MakeClient
) -> None:
    m = make_client(scripted.url, backoff=0.01)
    # The server reads the second request on the kept-alive connection and
    # closes it without an answer, as one that timed it out at that moment.
    scripted.add(Reply(200, session_json()), DROP, Reply(200, session_json()))
    assert m.get_session(random_token()) is not None
    assert m.get_session(random_token()) is not None  # sent again, on a new one
    assert len(scripted.seen) == 3 and scripted.connections == 2

    scripted.add(DROP)
    with pytest.raises(Unavailable) as info:
        m.create_session("u")  # never sent twice
    assert info.value.status is None
    assert len(scripted.seen) == 4


def test_read_timeout_is_not_retried(make_client: MakeClient) -> None:
    import socket

    with socket.socket() as srv:  # accepts, reads, never answers
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        m = make_client(
            "http://127.0.0.1:%d" % srv.getsockname()[1], timeout=0.3, retries=3
        )
        with pytest.raises(Unavailable) as info:
            m.get_session(random_token())
        assert "no answer within 0.3s" in str(info.value)
        assert info.value.status is None
        conns = []
        srv.settimeout(0)
        while True:
            try:
                conns.append(srv.accept()[0])
            except OSError:
                break
        for c in conns:
            c.close()
        assert len(conns) == 1  # one attempt


def test_threads_share_one_client(server: Server) -> None:
    threads, rounds = 8, 25
    m = SessionManager(server.url, api_key=APP_KEY, pool_size=threads)
    shared = m.create_session(new_user())
    errors: List[BaseException] = []

    def work(n: int) -> None:
        try:
            user = new_user("thread%d" % n)
            for i in range(rounds):
                s = m.create_session(user, metadata={"n": str(n), "i": str(i)})
                got = m.get_session(s.token)
                assert got is not None and got.user_id == user
                assert got.metadata == {"n": str(n), "i": str(i)}
                assert m.update_session_metadata(shared.token, {"k%d" % n: str(i)})
                assert m.invalidate_session(s.token) is True
                assert m.get_session(s.token) is None
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert errors == []
    final = m.get_session(shared.token)
    assert final is not None
    # Concurrent updates of different keys all survive.
    assert final.metadata == {"k%d" % n: str(rounds - 1) for n in range(threads)}
    # Keep-alive: never more connections than threads at once.
    assert m._pool.opened <= threads
    m.close()


@pytest.fixture
def own_redis_server(
    sessiond_binary: Path, tmp_path: Path
) -> Any:  # a (RedisServer, Sessiond) pair no other test shares
    need_redis()
    redis = RedisServer(tmp_path)
    redis.start()
    env = server_env(redis)
    env["REDIS_TIMEOUT_MS"] = "500"
    sd = Sessiond(sessiond_binary, tmp_path, env).start()
    yield redis, sd
    sd.stop()
    redis.stop()


def test_redis_outage_and_recovery(
    own_redis_server: Any,
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    redis, sd = own_redis_server
    caplog.set_level(logging.INFO, logger="sessiondb")
    m = make_client(sd.url, api_key=APP_KEY, retries=0)
    user = new_user()
    s = m.create_session(user)
    redis.stop()
    with pytest.raises(Unavailable) as info:
        m.get_session(s.token)
    assert (info.value.status, info.value.code, info.value.retry_after) == (
        503,
        "unavailable",
        1.0,
    )
    with pytest.raises(Unavailable):
        m.create_session(user)
    assert m.get_session("malformed") is None  # still no request, no error

    # Redis comes back while a patient client retries (sessiond asks for
    # Retry-After: 1). The restarted Redis is empty: the user has no session.
    patient = make_client(sd.url, api_key=APP_KEY, retries=20, max_backoff=0.2)
    restart = threading.Timer(0.3, redis.start)
    restart.start()
    try:
        assert patient.get_user_sessions(user) == []
    finally:
        restart.join()
    assert retries_logged(caplog) >= 1
    assert m.get_session(m.create_session(user).token) is not None
