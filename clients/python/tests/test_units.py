"""The shared logic without a server: parsing of times and Retry-After, the
retry policy's bounds, settings checks, exceptions and version metadata."""

import dataclasses
import json
import pickle
import re
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from conftest import PYTHON_DIR, REPO

import sessiondb
from sessiondb import (
    InvalidArgument,
    MethodNotAllowed,
    Session,
    SessionDBError,
    SessionManager,
    Unavailable,
    _core,
)


@pytest.mark.parametrize(
    "text,want",
    [
        ("2026-01-02T03:04:05.678Z", datetime(2026, 1, 2, 3, 4, 5, 678000)),
        ("2026-01-02T03:04:05Z", datetime(2026, 1, 2, 3, 4, 5)),
        ("2026-01-02T03:04:05.123456789Z", datetime(2026, 1, 2, 3, 4, 5, 123456)),
        ("2026-01-02T05:04:05.5+02:00", datetime(2026, 1, 2, 3, 4, 5, 500000)),
        ("2026-01-01T23:04:05-04:00", datetime(2026, 1, 2, 3, 4, 5)),
    ],
)
def test_parse_time(text: str, want: datetime) -> None:
    got = _core.parse_time(text)
    assert got == want.replace(tzinfo=timezone.utc)
    assert got.tzinfo is timezone.utc


@pytest.mark.parametrize("text", ["", "2026-01-02", "2026-01-02T03:04:05", "x" * 30])
def test_parse_time_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        _core.parse_time(text)


def test_parse_retry_after() -> None:
    assert _core.parse_retry_after(None) is None
    assert _core.parse_retry_after("1") == 1.0
    assert _core.parse_retry_after(" 30 ") == 30.0
    assert _core.parse_retry_after("soon") is None
    assert _core.parse_retry_after("-1") is None
    later = datetime.now(timezone.utc) + timedelta(seconds=100)
    got = _core.parse_retry_after(format_datetime(later, usegmt=True))
    assert got is not None and 90 < got <= 100
    assert _core.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def _plan(idempotent: bool) -> "_core.Plan[bool]":
    return _core.Plan("x", "GET", "/", "/", None, idempotent, lambda p: True)


def test_retry_policy() -> None:
    policy = _core.RetryPolicy(4, backoff=0.1, max_backoff=0.4, max_retry_after=5)
    err = Unavailable("u")
    caps = [0.1, 0.2, 0.4, 0.4]
    for failures, cap in enumerate(caps, start=1):
        for _ in range(50):
            wait = policy.delay(_plan(True), failures, err, True)
            assert wait is not None and cap / 2 <= wait <= cap
    assert policy.delay(_plan(True), 5, err, True) is None  # retries spent
    assert policy.delay(_plan(False), 1, err, True) is None  # not idempotent
    assert policy.delay(_plan(True), 1, err, False) is None  # e.g. a read timeout
    assert policy.delay(_plan(True), 1, InvalidArgument("x"), True) is None
    assert policy.delay(_plan(True), 1, SessionDBError("503 unknown"), True) is None
    slow = Unavailable("u", retry_after=2.0)
    wait = policy.delay(_plan(True), 1, slow, True)
    assert wait is not None and 2.0 <= wait <= 2.2
    assert policy.delay(_plan(True), 1, Unavailable("u", retry_after=6.0), True) is None
    assert _core.RetryPolicy(0, 0.1, 1, 1).delay(_plan(True), 1, err, True) is None


@pytest.mark.parametrize(
    "url,message",
    [
        ("127.0.0.1:8080", "http:// or https://"),
        ("ftp://h", "http:// or https://"),
        ("http://user:pw@h:1", "must not hold credentials"),
        ("http://h/?x=1", "query"),
        ("http://h/#f", "fragment"),
        ("http://:80", "no host"),
        ("http://h:99999", "not a valid URL"),
    ],
)
def test_base_url_checks(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        SessionManager(url)


def test_base_url_forms() -> None:
    e = _core.parse_base_url("HTTPS://Example.org/prefix/")
    assert (e.scheme, e.host, e.port, e.prefix) == (
        "https",
        "example.org",
        443,
        "/prefix",
    )
    e = _core.parse_base_url("http://[::1]:8080")
    assert (e.host, e.port, e.prefix, e.url) == ("::1", 8080, "", "http://[::1]:8080")


def test_settings_checks() -> None:
    secret = "se cret-key"
    with pytest.raises(ValueError) as info:
        SessionManager("http://h", api_key=secret)
    assert secret not in str(info.value) and "printable ASCII" in str(info.value)
    with pytest.raises(ValueError):
        SessionManager("http://h", api_key="")
    with pytest.raises(ValueError):
        SessionManager("http://h", api_key="key\n")
    with pytest.raises(ValueError):
        SessionManager("http://h", timeout=0)
    with pytest.raises(TypeError):
        SessionManager("http://h", retries=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SessionManager("http://h", retries=-1)


def test_manager_repr() -> None:
    m = SessionManager("http://127.0.0.1:8080/", api_key="k-secret")
    assert repr(m) == (
        "SessionManager('http://127.0.0.1:8080', api_key='[redacted]', timeout=5.0)"
    )
    assert m.base_url == "http://127.0.0.1:8080"


def test_session_fields() -> None:
    names = [f.name for f in dataclasses.fields(Session)]
    assert names == [
        "session_id",
        "user_id",
        "created_at",
        "expires_at",
        "last_seen_at",
        "metadata",
        "token",
    ]


# The session object as sessiond writes it; the Go tests of sessiond,
# sessionctl and the Go client read the same file.
GOLDEN_SESSION = REPO / "internal/wire/wiretest/testdata/session.json"


def test_session_matches_golden() -> None:
    payload = json.loads(GOLDEN_SESSION.read_text(encoding="utf-8"))
    # One attribute per wire field (id is session_id here), and token, which
    # only create and rotate return.
    wire_names = {
        "id" if f.name == "session_id" else f.name for f in dataclasses.fields(Session)
    }
    assert wire_names - {"token"} == set(payload)
    session = _core._session(payload)
    assert session.session_id == payload["id"]
    assert session.user_id == payload["user_id"]
    for name in ("created_at", "expires_at", "last_seen_at"):
        assert getattr(session, name) == _core.parse_time(payload[name])
        assert getattr(session, name).tzinfo is timezone.utc
    assert session.metadata == payload["metadata"]
    assert session.token is None


def test_exceptions_pickle() -> None:
    for err in (
        InvalidArgument("bad", field="user_id", status=400),
        MethodNotAllowed("no", allow="GET", status=405),
        Unavailable("later", retry_after=1.0, status=503),
        SessionDBError("new", status=503, code="store_misconfigured"),
    ):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err)
        assert vars(back) == vars(err)


def test_error_hierarchy() -> None:
    for name in sessiondb.errors.__all__:
        cls = getattr(sessiondb, name)
        assert issubclass(cls, SessionDBError)
    assert issubclass(InvalidArgument, ValueError)


def test_version() -> None:
    pyproject = (PYTHON_DIR / "pyproject.toml").read_text()
    m = re.search(r'^version = "([^"]+)"', pyproject, flags=re.M)
    assert m is not None and m.group(1) == sessiondb.__version__
    assert _core.USER_AGENT == "sessiondb-python/" + sessiondb.__version__


def test_token_and_id_forms() -> None:
    tok = "sdb_" + "A" * 51
    sid = "0a3" + "Xq1d9vVb2mWw7tHk"
    assert _core.check_token("get_session", tok, "get_session_by_id") == tok
    assert _core.check_id("get_session_by_id", sid, "get_session") == sid
    assert _core.check_token("get_session", tok + "\n", None) is None
    assert _core.check_id("get_session_by_id", sid + "\n", "get_session") is None
