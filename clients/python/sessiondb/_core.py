"""What SessionManager and AsyncSessionManager share, written once: checks of
the arguments, the request of each call (a Plan), the reading of answers,
the mapping of errors, the retry policy, redaction and logging. No I/O
happens here: each client only moves bytes.
"""

import email.utils
import json
import logging
import math
import os
import random
import re
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import (
    Any,
    Callable,
    Dict,
    Generic,
    List,
    Mapping,
    Optional,
    Tuple,
    Type,
    TypeVar,
    cast,
)

from .errors import (
    Forbidden,
    InternalError,
    InvalidArgument,
    MethodNotAllowed,
    NotFound,
    SessionDBError,
    SessionLimitReached,
    StoreMisconfigured,
    TooLarge,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)
from .models import Session

log = logging.getLogger("sessiondb")

T = TypeVar("T")

#: A token: "sdb_" and 51 base64url characters.
TOKEN_RE = re.compile(r"sdb_[A-Za-z0-9_-]{51}\Z")
#: A public session id: 3 lowercase hex digits (the bucket), then 16
#: base64url characters.
ID_RE = re.compile(r"[0-9a-f]{3}[A-Za-z0-9_-]{16}\Z")
# Anything that may be a token (or a piece of one) in a text: redacted.
_TOKENISH_RE = re.compile(r"sdb_[A-Za-z0-9_-]+")

VERSION = "0.1.0"
USER_AGENT = "sessiondb-python/" + VERSION


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class Endpoint:
    """Where sessiond is: from base_url."""

    scheme: str  # http or https
    host: str
    port: int
    prefix: str  # path before /v1/..., without a trailing slash
    url: str  # base_url as given, without a trailing slash


def parse_base_url(base_url: str) -> Endpoint:
    if not isinstance(base_url, str):
        raise TypeError("base_url must be a str such as 'http://127.0.0.1:8080'")
    try:
        parts: Optional[urllib.parse.SplitResult] = urllib.parse.urlsplit(
            base_url.strip()
        )
        port = parts.port if parts is not None else None
    except ValueError:
        parts = None
    if parts is None:  # raised here, so that the error has no context
        raise ValueError("base_url is not a valid URL; want e.g. http://127.0.0.1:8080")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError("base_url must start with http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "base_url must not hold credentials; pass the API key as api_key="
        )
    if not parts.hostname:
        raise ValueError("base_url has no host; want e.g. http://127.0.0.1:8080")
    if parts.query or parts.fragment:
        raise ValueError("base_url must not have a query or a fragment")
    if port is None:
        port = 443 if scheme == "https" else 80
    prefix = parts.path.rstrip("/")
    url = urllib.parse.urlunsplit((scheme, parts.netloc, prefix, "", ""))
    return Endpoint(scheme, parts.hostname, port, prefix, url)


def check_api_key(api_key: Optional[str]) -> Optional[str]:
    if api_key is None:
        return None
    if not isinstance(api_key, str):
        raise TypeError("api_key must be a str or None")
    if api_key == "" or any(not ("!" <= c <= "~") for c in api_key):
        # Never quote the key: it is a secret.
        raise ValueError(
            "api_key must be non-empty printable ASCII without spaces"
            " (as in SESSIOND_API_KEYS)"
        )
    return api_key


def check_seconds(name: str, value: float, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(name + " must be a number of seconds")
    if math.isnan(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(name + " must be a positive number of seconds")
    return float(value)


def check_count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(name + " must be an int")
    if value < 0:
        raise ValueError(name + " must not be negative")
    return value


def make_ssl_context(
    endpoint: Endpoint,
    ca_file: Optional[str],
    ssl_context: Optional[ssl.SSLContext],
) -> Optional[ssl.SSLContext]:
    """The TLS settings of an https:// base_url: the given context, or the
    system's trusted roots, or only the CA certificates of ca_file."""
    if ca_file is not None and ssl_context is not None:
        raise ValueError("give ca_file or ssl_context, not both")
    if endpoint.scheme != "https":
        if ca_file is not None or ssl_context is not None:
            raise ValueError("ca_file and ssl_context need an https:// base_url")
        return None
    if ssl_context is not None:
        if not isinstance(ssl_context, ssl.SSLContext):
            raise TypeError("ssl_context must be an ssl.SSLContext")
        return ssl_context
    if ca_file is not None:
        path = os.fspath(ca_file)
        if not os.path.isfile(path):
            raise ValueError("ca_file %r is not a file" % (path,))
        try:
            return ssl.create_default_context(cafile=path)
        except ssl.SSLError as exc:
            raise ValueError(
                "ca_file %r holds no PEM CA certificate (%s)" % (path, exc.reason)
            ) from None
    return ssl.create_default_context()


def base_headers(api_key: Optional[str]) -> Dict[str, str]:
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    if api_key is not None:
        headers["Authorization"] = "Bearer " + api_key
    return headers


class Redactor:
    """Removes secrets from texts that come from outside the client (the
    messages in sessiond's error answers): anything shaped like a token, and
    the API key."""

    def __init__(self, api_key: Optional[str]) -> None:
        self._api_key = api_key

    def __call__(self, text: str) -> str:
        text = _TOKENISH_RE.sub("sdb_[redacted]", text)
        if self._api_key:
            text = text.replace(self._api_key, "[redacted]")
        return text


def describe(
    cls_name: str, endpoint: Endpoint, api_key: Optional[str], timeout: float
) -> str:
    """The repr of a manager: never the key itself."""
    key = "None" if api_key is None else "'[redacted]'"
    return "%s(%r, api_key=%s, timeout=%r)" % (cls_name, endpoint.url, key, timeout)


# ----------------------------------------------------------- checks of input


def check_token(call: str, token: Optional[str], other: Optional[str]) -> Optional[str]:
    """The token if it is well formed, None if it cannot name a session (a
    missing or malformed cookie: no request is needed). A session id raises
    ValueError: it is a programming mistake, and ``other`` is the method to
    use instead."""
    if token is None:
        return None
    if not isinstance(token, str):
        raise TypeError("%s() takes a token as a str or None" % call)
    if TOKEN_RE.match(token):
        return token
    if ID_RE.match(token):
        if other is not None:
            raise ValueError(
                "%s() takes a token; for a session id use %s()" % (call, other)
            )
        raise ValueError(
            "%s() takes a token, not a session id: the id cannot be used to"
            " %s a session" % (call, call.split("_")[0])
        )
    return None


def check_id(call: str, session_id: str, other: str) -> Optional[str]:
    """The id if it is well formed, None if it cannot name a session. A token
    raises ValueError, naming ``other``, the method that takes tokens."""
    if not isinstance(session_id, str):
        raise TypeError("%s() takes a session id as a str" % call)
    if ID_RE.match(session_id):
        return session_id
    if TOKEN_RE.match(session_id):
        raise ValueError(
            "%s() takes a session id; for a token use %s()" % (call, other)
        )
    return None


def _check_text(field: str, what: str, value: str) -> None:
    try:
        value.encode("utf-8")
        return
    except UnicodeEncodeError:
        pass
    # Raised here, not in the except clause: the UnicodeEncodeError holds
    # the whole value, which must not ride along as the error's context.
    raise InvalidArgument(
        "%s is not valid Unicode text (it holds a lone surrogate)" % what,
        field=field,
    )


def check_user_id(user_id: str) -> str:
    if not isinstance(user_id, str):
        raise TypeError("user_id must be a str")
    _check_text("user_id", "user_id", user_id)
    return user_id


def check_ttl(ttl_seconds: Optional[int]) -> Optional[int]:
    if ttl_seconds is None:
        return None
    if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int):
        raise TypeError("ttl_seconds must be an int (seconds) or None")
    if ttl_seconds < 1:
        raise InvalidArgument(
            "invalid ttl_seconds: must be a positive whole number of seconds",
            field="ttl_seconds",
        )
    return ttl_seconds


def check_metadata(
    metadata: Optional[Mapping[str, Optional[str]]], deletions: bool
) -> Dict[str, Optional[str]]:
    """A copy of metadata (creation: str values) or of a change (merge patch:
    str values set keys, None deletes them)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypeError("metadata must be a mapping of str to str")
    out: Dict[str, Optional[str]] = {}
    for key, value in metadata.items():
        if not isinstance(key, str):
            raise TypeError("metadata keys must be str")
        if value is None and deletions:
            pass
        elif not isinstance(value, str):
            raise TypeError(
                "metadata value of key %r must be a str%s"
                % (key[:64], " or None (to delete the key)" if deletions else "")
            )
        _check_text("metadata", "a metadata key", key)
        if value is not None:
            _check_text("metadata", "a metadata value", value)
        out[key] = value
    return out


def check_except(except_session_id: Optional[str]) -> Optional[str]:
    if except_session_id is None:
        return None
    if not isinstance(except_session_id, str):
        raise TypeError("except_session_id must be a session id (str) or None")
    if TOKEN_RE.match(except_session_id):
        raise ValueError(
            "invalidate_user_sessions() takes a session id as except_session_id,"
            " not a token: pass the session's session_id"
        )
    if except_session_id == "":
        # "?except=" would mean no exception at all: every session would end.
        raise InvalidArgument(
            "except_session_id is empty; pass None to end every session of the" " user",
            field="except",
        )
    _check_text("except", "except_session_id", except_session_id)
    return except_session_id


def _segment(value: str) -> str:
    """A path segment: percent-encoded, with . and .. encoded too (clients
    that follow RFC 3986 would remove them otherwise)."""
    if value in (".", ".."):
        return value.replace(".", "%2E")
    return urllib.parse.quote(value, safe="")


def _body(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


# --------------------------------------------------------------- the calls


@dataclass(frozen=True)
class Plan(Generic[T]):
    """One call of the API: what to send and how to read the answer."""

    call: str  # the client method, for messages and logs
    method: str
    route: str  # the route pattern: logged instead of the path
    path: str  # path and query, after the base URL's prefix
    body: Optional[bytes]
    idempotent: bool  # may be sent again after a transient failure
    parse: Callable[[Any], T]  # the JSON answer (None when empty) -> result
    if_missing: Optional[Tuple[T]] = None  # result of a 404 not_found
    immediate: Optional[Tuple[T]] = None  # result known without a request
    # A 404 not_found gives the error object's "reason" (why the session
    # ended, or None) instead of if_missing.
    reason_if_missing: bool = False


def _local(call: str, value: T) -> Plan[T]:
    return Plan(call, "", "", "", None, True, _never, immediate=(value,))


def _never(payload: Any) -> Any:
    raise AssertionError("unreachable")


def create_session(
    user_id: str,
    ttl_seconds: Optional[int],
    metadata: Optional[Mapping[str, str]],
) -> Plan[Session]:
    req: Dict[str, Any] = {"user_id": check_user_id(user_id)}
    ttl = check_ttl(ttl_seconds)
    if ttl is not None:
        req["ttl_seconds"] = ttl
    md = check_metadata(metadata, deletions=False)
    if md:
        req["metadata"] = md
    # Never sent twice: a second attempt could create a second session.
    return Plan(
        "create_session",
        "POST",
        "/v1/sessions",
        "/v1/sessions",
        _body(req),
        False,
        _session_with_token,
    )


def get_session(token: Optional[str]) -> Plan[Optional[Session]]:
    tok = check_token("get_session", token, "get_session_by_id")
    if tok is None:
        return _local("get_session", None)
    return Plan(
        "get_session",
        "POST",
        "/v1/sessions/validate",
        "/v1/sessions/validate",
        _body({"token": tok}),
        True,
        _session,
        if_missing=(None,),
    )


def get_session_reason(token: Optional[str]) -> Plan[Optional[str]]:
    tok = check_token("get_session_reason", token, "get_session_by_id")
    if tok is None:
        return _local("get_session_reason", None)
    return Plan(
        "get_session_reason",
        "POST",
        "/v1/sessions/validate",
        "/v1/sessions/validate",
        _body({"token": tok}),
        True,
        _live_no_reason,
        reason_if_missing=True,
    )


def refresh_session(
    token: Optional[str], ttl_seconds: Optional[int]
) -> Plan[Optional[Session]]:
    ttl = check_ttl(ttl_seconds)
    tok = check_token("refresh_session", token, None)
    if tok is None:
        return _local("refresh_session", None)
    req: Dict[str, Any] = {"token": tok}
    if ttl is not None:
        req["ttl_seconds"] = ttl
    return Plan(
        "refresh_session",
        "POST",
        "/v1/sessions/refresh",
        "/v1/sessions/refresh",
        _body(req),
        True,
        _session,
        if_missing=(None,),
    )


def rotate_session(token: Optional[str]) -> Plan[Optional[Session]]:
    tok = check_token("rotate_session", token, None)
    if tok is None:
        return _local("rotate_session", None)
    # Never sent twice: if the first attempt went through, the second would
    # find the old token gone and the new one would be lost.
    return Plan(
        "rotate_session",
        "POST",
        "/v1/sessions/rotate",
        "/v1/sessions/rotate",
        _body({"token": tok}),
        False,
        _session_with_token,
        if_missing=(None,),
    )


def invalidate_session(token: Optional[str]) -> Plan[bool]:
    tok = check_token("invalidate_session", token, "invalidate_session_by_id")
    if tok is None:
        return _local("invalidate_session", False)
    return Plan(
        "invalidate_session",
        "POST",
        "/v1/sessions/invalidate",
        "/v1/sessions/invalidate",
        _body({"token": tok}),
        True,
        _true,
        if_missing=(False,),
    )


def update_session_metadata(
    token: Optional[str], changes: Mapping[str, Optional[str]]
) -> Plan[Optional[Session]]:
    patch = check_metadata(changes, deletions=True)
    tok = check_token("update_session_metadata", token, "update_session_metadata_by_id")
    if tok is None:
        return _local("update_session_metadata", None)
    return Plan(
        "update_session_metadata",
        "POST",
        "/v1/sessions/metadata",
        "/v1/sessions/metadata",
        _body({"token": tok, "metadata": patch}),
        True,  # a merge patch applied twice gives the same metadata
        _session,
        if_missing=(None,),
    )


def get_session_by_id(session_id: str) -> Plan[Optional[Session]]:
    sid = check_id("get_session_by_id", session_id, "get_session")
    if sid is None:
        return _local("get_session_by_id", None)
    return Plan(
        "get_session_by_id",
        "GET",
        "/v1/sessions/{id}",
        "/v1/sessions/" + _segment(sid),
        None,
        True,
        _session,
        if_missing=(None,),
    )


def update_session_metadata_by_id(
    session_id: str, changes: Mapping[str, Optional[str]]
) -> Plan[Optional[Session]]:
    patch = check_metadata(changes, deletions=True)
    sid = check_id(
        "update_session_metadata_by_id", session_id, "update_session_metadata"
    )
    if sid is None:
        return _local("update_session_metadata_by_id", None)
    return Plan(
        "update_session_metadata_by_id",
        "PATCH",
        "/v1/sessions/{id}",
        "/v1/sessions/" + _segment(sid),
        _body({"metadata": patch}),
        True,
        _session,
        if_missing=(None,),
    )


def invalidate_session_by_id(session_id: str) -> Plan[bool]:
    sid = check_id("invalidate_session_by_id", session_id, "invalidate_session")
    if sid is None:
        return _local("invalidate_session_by_id", False)
    return Plan(
        "invalidate_session_by_id",
        "DELETE",
        "/v1/sessions/{id}",
        "/v1/sessions/" + _segment(sid),
        None,
        True,
        _true,
        if_missing=(False,),
    )


def get_user_sessions(user_id: str) -> Plan[List[Session]]:
    uid = check_user_id(user_id)
    return Plan(
        "get_user_sessions",
        "GET",
        "/v1/users/{user_id}/sessions",
        "/v1/users/%s/sessions" % _segment(uid),
        None,
        True,
        _session_list,
    )


def invalidate_user_sessions(
    user_id: str, except_session_id: Optional[str]
) -> Plan[int]:
    uid = check_user_id(user_id)
    exc = check_except(except_session_id)
    path = "/v1/users/%s/sessions" % _segment(uid)
    if exc is not None:
        path += "?except=" + urllib.parse.quote(exc, safe="")
    return Plan(
        "invalidate_user_sessions",
        "DELETE",
        "/v1/users/{user_id}/sessions",
        path,
        None,
        True,
        _count("invalidated"),
    )


def cleanup_expired_sessions() -> Plan[int]:
    return Plan(
        "cleanup_expired_sessions",
        "POST",
        "/v1/cleanup",
        "/v1/cleanup",
        None,
        True,  # a second pass finds nothing more to remove
        _count("cleaned"),
    )


def get_session_stats() -> Plan[Dict[str, Any]]:
    return Plan(
        "get_session_stats",
        "GET",
        "/v1/stats",
        "/v1/stats",
        None,
        True,
        _stats,
    )


def ping() -> Plan[bool]:
    # A probe: tried once, so that it answers quickly.
    return Plan("ping", "GET", "/readyz", "/readyz", None, False, _true)


# ------------------------------------------------------ reading the answers


class _BadAnswer(Exception):
    """An answer that does not have the API's shape."""


def _true(payload: Any) -> bool:
    return True


def _live_no_reason(payload: Any) -> None:
    # The token names a live session: there is no reason to tell.
    _session(payload)
    return None


def _str(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise _BadAnswer("%r is not a string" % key)
    return value


_TIME_RE = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d\d):(\d\d))\Z"
)


def parse_time(text: str) -> datetime:
    """An RFC 3339 time as a timezone-aware datetime in UTC (Python 3.9's
    fromisoformat does not read the Z suffix)."""
    m = _TIME_RE.match(text)
    if m is None:
        raise ValueError("not an RFC 3339 time")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    micro = int((m.group(7) or "0").ljust(6, "0")[:6])
    if m.group(8):
        tz = timezone.utc
    else:
        offset = timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
        tz = timezone(offset if m.group(9) == "+" else -offset)
    second = min(second, 59)  # a leap second
    when = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    return when.astimezone(timezone.utc)


def _time(obj: Mapping[str, Any], key: str) -> datetime:
    try:
        return parse_time(_str(obj, key))
    except ValueError:
        raise _BadAnswer("%r is not an RFC 3339 time" % key) from None


def _parse_session(payload: Any, with_token: bool) -> Session:
    if not isinstance(payload, dict):
        raise _BadAnswer("a session is not a JSON object")
    metadata = payload.get("metadata")
    if not isinstance(metadata, dict) or not all(
        isinstance(v, str) for v in metadata.values()
    ):
        raise _BadAnswer("'metadata' is not an object of strings")
    token: Optional[str] = None
    if with_token:
        token = payload.get("token")
        if not isinstance(token, str) or not TOKEN_RE.match(token):
            raise _BadAnswer("'token' is missing or malformed")
    return Session(
        session_id=_str(payload, "id"),
        user_id=_str(payload, "user_id"),
        created_at=_time(payload, "created_at"),
        expires_at=_time(payload, "expires_at"),
        last_seen_at=_time(payload, "last_seen_at"),
        metadata=dict(metadata),
        token=token,
    )


def _session(payload: Any) -> Session:
    return _parse_session(payload, False)


def _session_with_token(payload: Any) -> Session:
    return _parse_session(payload, True)


def _session_list(payload: Any) -> List[Session]:
    if not isinstance(payload, dict) or not isinstance(payload.get("sessions"), list):
        raise _BadAnswer("no 'sessions' list")
    return [_parse_session(item, False) for item in payload["sessions"]]


def _count(key: str) -> Callable[[Any], int]:
    def parse(payload: Any) -> int:
        if not isinstance(payload, dict):
            raise _BadAnswer("not a JSON object")
        value = payload.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _BadAnswer("%r is not a whole number" % key)
        return value

    return parse


_STATS_KEYS = ("total_sessions", "active_sessions", "expired_sessions")


def _stats(payload: Any) -> Dict[str, Any]:
    if not isinstance(payload, dict):
        raise _BadAnswer("not a JSON object")
    for key in _STATS_KEYS:
        value = payload.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _BadAnswer("%r is not a whole number" % key)
    return dict(payload)


def interpret(
    plan: Plan[T],
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    redact: Redactor,
) -> T:
    """The result of a call from sessiond's answer, or the error to raise.
    ``headers`` has lower-case names."""
    if 200 <= status < 300:
        try:
            payload = json.loads(body) if body.strip() else None
            return plan.parse(payload)
        except (ValueError, _BadAnswer) as exc:
            # Not chained: the answer (a session, its token) stays out of
            # the exception.
            what = str(exc) if isinstance(exc, _BadAnswer) else "not JSON"
            err = SessionDBError(
                "%s: unexpected answer from sessiond (HTTP %d): %s; is base_url"
                " a sessiond?" % (plan.call, status, what),
                status=status,
            )
        raise err
    error = _error_object(body)
    if status == 404 and error is not None and error[0] == "not_found":
        if plan.reason_if_missing:
            return cast(T, _reason(body))
        if plan.if_missing is not None:
            return plan.if_missing[0]
    raise api_error(plan.call, status, headers, error, redact)


#: A reason as sessiond words it: evicted, revoked, rotated, expired, or a
#: newer word of the same kind.
_REASON_RE = re.compile(r"[a-z][a-z_]{0,31}\Z")


def _reason(body: bytes) -> Optional[str]:
    """The "reason" of a not_found error object: why the session ended."""
    try:
        err = json.loads(body).get("error")
        reason = err.get("reason") if isinstance(err, dict) else None
    except (ValueError, AttributeError):
        return None
    if isinstance(reason, str) and _REASON_RE.match(reason):
        return reason
    return None


def _error_object(body: bytes) -> Optional[Tuple[str, str, Optional[str]]]:
    """(code, message, field) of the API's error object, if body is one."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    err = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(err, dict) or not isinstance(err.get("code"), str):
        return None
    message = err.get("message")
    field = err.get("field")
    return (
        err["code"],
        message if isinstance(message, str) else "",
        field if isinstance(field, str) and field else None,
    )


_BY_CODE: Dict[str, Type[SessionDBError]] = {
    "invalid_argument": InvalidArgument,
    "unauthenticated": Unauthorized,
    "permission_denied": Forbidden,
    "not_found": NotFound,
    "method_not_allowed": MethodNotAllowed,
    "session_limit": SessionLimitReached,
    "too_large": TooLarge,
    "unsupported_media_type": UnsupportedMediaType,
    "internal": InternalError,
    "store_misconfigured": StoreMisconfigured,
    "unavailable": Unavailable,
}

# For answers without the API's error object (a proxy, a load balancer).
_BY_STATUS: Dict[int, Type[SessionDBError]] = {
    400: InvalidArgument,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    413: TooLarge,
    415: UnsupportedMediaType,
    500: InternalError,
    502: Unavailable,
    503: Unavailable,
    504: Unavailable,
}

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]+")


def api_error(
    call: str,
    status: int,
    headers: Mapping[str, str],
    error: Optional[Tuple[str, str, Optional[str]]],
    redact: Redactor,
) -> SessionDBError:
    """The exception for an error answer. A code this client does not know
    gives the base class, never a retry."""
    field: Optional[str] = None
    if error is not None:
        code: Optional[str] = error[0]
        cls = _BY_CODE.get(error[0], SessionDBError)
        message = _CONTROL_RE.sub(" ", redact(error[1]))[:300] or "no message"
        field = error[2]
        text = "%s: %s (%s, HTTP %d)" % (call, message, error[0], status)
    else:
        code = None
        cls = _BY_STATUS.get(status, SessionDBError)
        text = "%s: sessiond answered HTTP %d without an API error object%s" % (
            call,
            status,
            "; is base_url a sessiond?" if status < 500 else "",
        )
    if cls is InvalidArgument:
        return InvalidArgument(text, field=field, status=status, code=code)
    if cls is MethodNotAllowed:
        return MethodNotAllowed(
            text, allow=headers.get("allow"), status=status, code=code
        )
    if cls is Unavailable:
        retry_after = parse_retry_after(headers.get("retry-after"))
        if retry_after is not None:
            text += "; retry after %gs" % retry_after
        else:
            text += "; retry later"
        return Unavailable(text, retry_after=retry_after, status=status, code=code)
    return cls(text, status=status, code=code)


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """Retry-After in seconds: a number of seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


# ------------------------------------------------------- transport failures


def transport_error(
    call: str, endpoint: Endpoint, exc: BaseException, timeout: float
) -> Tuple[Unavailable, bool]:
    """The Unavailable error for a failure to reach sessiond or to read its
    answer, and whether the call may be tried again. ``exc`` may be a socket
    error or an HTTP library's exception: its first OSError (which holds no
    request data) becomes the error's __cause__."""
    cause = _first_os_error(exc)
    where = "%s:%d" % (endpoint.host, endpoint.port)
    retryable = True
    if isinstance(cause, ssl.SSLCertVerificationError):
        what = "TLS certificate verification failed (%s); check ca_file" % (
            cause.verify_message or cause.reason
        )
        retryable = False
    elif isinstance(cause, ssl.SSLError):
        what = "TLS failed (%s)" % (cause.reason or type(cause).__name__)
        retryable = False
    elif isinstance(cause, ConnectionRefusedError):
        what = "connection refused"
    elif isinstance(cause, TimeoutError) or "timeout" in type(exc).__name__.lower():
        what = "no answer within %gs" % timeout
    elif isinstance(cause, OSError):
        what = cause.strerror or type(cause).__name__
    else:
        what = "the connection failed (%s)" % type(exc).__name__
    err = Unavailable(
        "%s: cannot reach sessiond at %s: %s; retry later" % (call, where, what)
    )
    err.__cause__ = cause
    err.__suppress_context__ = True
    return err, retryable


def _first_os_error(exc: Optional[BaseException]) -> Optional[OSError]:
    """The most telling OSError of an exception chain: the first with an
    errno or of a specific subclass (asyncio wraps "connection refused" in
    a plain "All connection attempts failed"), else the first one."""
    found: List[OSError] = []
    for _ in range(10):
        if exc is None:
            break
        if isinstance(exc, OSError):
            if type(exc) is not OSError or exc.errno is not None:
                return exc
            found.append(exc)
        exc = exc.__cause__ or exc.__context__
    return found[0] if found else None


# --------------------------------------------------------------- retries


class RetryPolicy:
    """Bounded retries with exponential backoff and jitter, for idempotent
    calls that failed with Unavailable (a 503, a refused or lost
    connection). A Retry-After longer than max_retry_after is not waited
    for: the error is raised at once."""

    def __init__(
        self, retries: int, backoff: float, max_backoff: float, max_retry_after: float
    ) -> None:
        self.retries = check_count("retries", retries)
        self.backoff = check_seconds("backoff", backoff, allow_zero=True)
        self.max_backoff = check_seconds("max_backoff", max_backoff, allow_zero=True)
        self.max_retry_after = check_seconds(
            "max_retry_after", max_retry_after, allow_zero=True
        )

    def delay(
        self, plan: Plan[Any], failures: int, err: SessionDBError, retryable: bool
    ) -> Optional[float]:
        """Seconds to wait before the next attempt, or None to raise err.
        ``failures`` counts the failed attempts, this one included."""
        if not (plan.idempotent and retryable and isinstance(err, Unavailable)):
            return None
        if failures > self.retries:
            return None
        cap = min(self.max_backoff, self.backoff * 2.0 ** (failures - 1))
        wait = cap / 2 + random.uniform(0, cap / 2)
        if err.retry_after is not None:
            if err.retry_after > self.max_retry_after:
                return None
            wait = max(wait, err.retry_after * random.uniform(1.0, 1.1))
        return wait


def log_answer(plan: Plan[Any], status: int, attempt: int, started: float) -> None:
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "%s: %s %s -> %d in %.1f ms (attempt %d)",
            plan.call,
            plan.method,
            plan.route,
            status,
            (time.monotonic() - started) * 1000,
            attempt,
        )


def log_retry(plan: Plan[Any], err: SessionDBError, attempt: int, wait: float) -> None:
    log.info(
        "%s: attempt %d failed (%s); retrying in %.2fs",
        plan.call,
        attempt,
        err.code if err.status is not None else "no answer",
        wait,
    )
