"""SessionManager: the synchronous client of sessiond, standard library only."""

import http.client
import queue
import select
import socket
import ssl
import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple, TypeVar, Union

from . import _core
from .errors import SessionDBError
from .models import Session

__all__ = ["SessionManager"]

T = TypeVar("T")

_Connection = Union[http.client.HTTPConnection, http.client.HTTPSConnection]

# Errors of a connection that the server closed while it sat in the pool.
_DROPPED = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
)


class _Failure(Exception):
    """An attempt that got no answer: the Unavailable error to raise and
    whether the call may be tried again."""

    def __init__(self, error: SessionDBError, retryable: bool) -> None:
        super().__init__()
        self.error = error
        self.retryable = retryable


class _Pool:
    """Idle keep-alive connections, most recently used first. A connection
    serves one request at a time; when none is idle a new one is opened, and
    at most ``size`` are kept once done. Connections idle for longer than
    ``idle_timeout``, or that the server has closed (the socket reads as
    ready while no request is out), are dropped instead of reused."""

    def __init__(
        self,
        endpoint: _core.Endpoint,
        timeout: float,
        context: Optional[ssl.SSLContext],
        size: int,
        idle_timeout: float,
    ) -> None:
        self._endpoint = endpoint
        self._timeout = timeout
        self._context = context
        self._idle: "queue.LifoQueue[Tuple[_Connection, float]]" = queue.LifoQueue(
            maxsize=size
        )
        self._idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self.opened = 0  # connections opened so far

    def get(self) -> Tuple[_Connection, bool]:
        """A connection, and whether it served requests before."""
        while True:
            try:
                conn, since = self._idle.get_nowait()
            except queue.Empty:
                break
            if time.monotonic() - since <= self._idle_timeout and _alive(conn):
                return conn, True
            conn.close()
        return self.new(), False

    def new(self) -> _Connection:
        with self._lock:
            self.opened += 1
        ep = self._endpoint
        if ep.scheme == "https":
            return http.client.HTTPSConnection(
                ep.host, ep.port, timeout=self._timeout, context=self._context
            )
        return http.client.HTTPConnection(ep.host, ep.port, timeout=self._timeout)

    def put(self, conn: _Connection) -> None:
        try:
            self._idle.put_nowait((conn, time.monotonic()))
        except queue.Full:
            conn.close()

    def close(self) -> None:
        while True:
            try:
                conn, _ = self._idle.get_nowait()
            except queue.Empty:
                return
            conn.close()


def _alive(conn: _Connection) -> bool:
    """Whether an idle connection is still open: with no request out, a
    readable socket means the server closed it (or sent something it
    should not have)."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        if hasattr(select, "poll"):
            p = select.poll()
            p.register(sock, select.POLLIN | select.POLLPRI)
            return not p.poll(0)
        readable, _, _ = select.select([sock], [], [], 0)
        return not readable
    except (OSError, ValueError):
        return False


class SessionManager:
    """A client of sessiond with the original SessionManager's methods.

    ``base_url`` is sessiond's address (``http://127.0.0.1:8080``, or an
    ``https://`` URL, with a path prefix if a proxy adds one); ``api_key`` an
    ``app`` or ``admin`` key of ``SESSIOND_API_KEYS`` (statistics and
    cleanup need ``admin``); ``timeout`` bounds each attempt's connect and
    each read, in seconds.

    Outcomes: token calls (:meth:`get_session`, :meth:`refresh_session`,
    :meth:`rotate_session`, :meth:`update_session_metadata`) return ``None``
    and :meth:`invalidate_session` ``False`` for a token that names no live
    session, and the id calls do the same for an id. A malformed token (a
    cookie value from anywhere) is such a token: answered without a request,
    never an exception. A session id where a token is expected, or a token
    where an id is expected, raises ``ValueError`` naming the right method.
    Every other failure raises a :class:`~sessiondb.SessionDBError`
    subclass.

    Idempotent calls are tried again after a 503 or a refused or lost
    connection, up to ``retries`` times, with exponential backoff and jitter
    (from ``backoff`` seconds, at most ``max_backoff``) and waiting at least
    what Retry-After asks for (unless it asks for more than
    ``max_retry_after``: then the error is raised at once).
    :meth:`create_session` and :meth:`rotate_session` are never sent twice,
    and :meth:`ping` is tried once.

    Safe to share between threads: each request uses a connection of its
    own; up to ``pool_size`` idle keep-alive connections are kept for
    reuse, each for at most ``idle_timeout`` seconds. For https, the CA
    certificates of ``ca_file`` are trusted instead of the system's, or
    ``ssl_context`` is used as given.
    """

    def __init__(
        self,
        base_url: str,
        api_key: Optional[str] = None,
        timeout: float = 5.0,
        *,
        retries: int = 2,
        backoff: float = 0.1,
        max_backoff: float = 2.0,
        max_retry_after: float = 10.0,
        pool_size: int = 4,
        idle_timeout: float = 30.0,
        ca_file: Optional[str] = None,
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        self._endpoint = _core.parse_base_url(base_url)
        self._api_key = _core.check_api_key(api_key)
        self._timeout = _core.check_seconds("timeout", timeout)
        self._policy = _core.RetryPolicy(retries, backoff, max_backoff, max_retry_after)
        self._redact = _core.Redactor(self._api_key)
        self._headers = _core.base_headers(self._api_key)
        self._pool = _Pool(
            self._endpoint,
            self._timeout,
            _core.make_ssl_context(self._endpoint, ca_file, ssl_context),
            _core.check_count("pool_size", pool_size),
            _core.check_seconds("idle_timeout", idle_timeout, allow_zero=True),
        )
        self._closed = False

    def __repr__(self) -> str:
        return _core.describe(
            type(self).__name__, self._endpoint, self._api_key, self._timeout
        )

    @property
    def base_url(self) -> str:
        """sessiond's address, as given (without a trailing slash)."""
        return self._endpoint.url

    # ---------------------------------------------------- the original API

    def create_session(
        self,
        user_id: str,
        ttl_seconds: Optional[int] = None,
        metadata: Optional[Mapping[str, str]] = None,
    ) -> Session:
        """Create a session for ``user_id`` (login) and return it with its
        ``token``, the secret to hand to the client (a cookie), shown only
        here. ``ttl_seconds`` defaults to sessiond's ``SESSION_TTL_SECONDS``;
        ``metadata`` holds string values (ip, user agent...). Raises
        :class:`~sessiondb.InvalidArgument` for a bad value and
        :class:`~sessiondb.SessionLimitReached` when the user is at the
        limit under the reject policy. Never sent twice."""
        return self._send(_core.create_session(user_id, ttl_seconds, metadata))

    def get_session(self, token: Optional[str]) -> Optional[Session]:
        """Validate a token: the live session, or ``None`` when the token
        (possibly ``None``, or any string from a cookie) names no live
        session."""
        return self._send(_core.get_session(token))

    def get_session_reason(self, token: Optional[str]) -> Optional[str]:
        """Why a token names no live session, when sessiond knows:
        ``"evicted"`` (the per-user limit ended it for a newer login),
        ``"revoked"`` (logout, by id, or with the user's other sessions),
        ``"rotated"`` (a rotation replaced the token) or ``"expired"``
        (cleanup found it expired). ``None`` when sessiond does not say:
        the session is live, the token is unknown or malformed, it ended
        longer ago than sessiond's ``SESSION_REVOCATION_MEMORY_SECONDS``, or
        sessiond runs without ``SESSION_EVENTS=true``. Call it after
        :meth:`get_session` returned ``None``; like it, it validates the
        token (a live session's activity is recorded)."""
        return self._send(_core.get_session_reason(token))

    def invalidate_session(self, token: Optional[str]) -> bool:
        """End the session of a token (logout): ``True`` if it ended one,
        ``False`` if there was none. After a retry of a lost connection,
        ``False`` may also mean that the first attempt ended it."""
        return self._send(_core.invalidate_session(token))

    def get_user_sessions(self, user_id: str) -> List[Session]:
        """The user's live sessions, newest first (without tokens); an
        unknown user has none."""
        return self._send(_core.get_user_sessions(user_id))

    def cleanup_expired_sessions(self) -> int:
        """Remove expired sessions from sessiond's indexes now, and return
        how many. Needs an admin key. (sessiond also does it every
        ``CLEANUP_INTERVAL_SECONDS``; expired sessions are never valid
        meanwhile.)"""
        return self._send(_core.cleanup_expired_sessions())

    def get_session_stats(self) -> Dict[str, Any]:
        """sessiond's statistics as it gives them: ``total_sessions``,
        ``active_sessions``, ``expired_sessions``, ``users``, ``created``,
        ``invalidated``, ``evicted``, and any key a newer sessiond adds.
        Needs an admin key."""
        return self._send(_core.get_session_stats())

    # ------------------------------------------------------------- the rest

    def refresh_session(
        self, token: Optional[str], ttl_seconds: Optional[int] = None
    ) -> Optional[Session]:
        """Extend a session to end ``ttl_seconds`` from now (default: its own
        lifetime), never past its absolute maximum; ``None`` if the token
        names no live session."""
        return self._send(_core.refresh_session(token, ttl_seconds))

    def rotate_session(self, token: Optional[str]) -> Optional[Session]:
        """Replace the session's token and id (after a login or a privilege
        change): the returned session carries the new ``token``, and the old
        token stops working at once. ``None`` if the token names no live
        session. Never sent twice."""
        return self._send(_core.rotate_session(token))

    def update_session_metadata(
        self, token: Optional[str], changes: Mapping[str, Optional[str]]
    ) -> Optional[Session]:
        """Change the session's metadata: a str value sets the key, ``None``
        deletes it, other keys stay. Atomic, counted as activity, held to
        the limits of creation. The updated session, or ``None`` if the
        token names no live session."""
        return self._send(_core.update_session_metadata(token, changes))

    def get_session_by_id(self, session_id: str) -> Optional[Session]:
        """A live session by its public id (admin views), or ``None``."""
        return self._send(_core.get_session_by_id(session_id))

    def update_session_metadata_by_id(
        self, session_id: str, changes: Mapping[str, Optional[str]]
    ) -> Optional[Session]:
        """:meth:`update_session_metadata` by public id."""
        return self._send(_core.update_session_metadata_by_id(session_id, changes))

    def invalidate_session_by_id(self, session_id: str) -> bool:
        """End a session by its public id ("log out this device"): ``True``
        if it ended one, ``False`` if there was none."""
        return self._send(_core.invalidate_session_by_id(session_id))

    def invalidate_user_sessions(
        self, user_id: str, except_session_id: Optional[str] = None
    ) -> int:
        """End every session of a user, but the one with id
        ``except_session_id`` if given ("log out other devices"); returns
        how many ended."""
        return self._send(_core.invalidate_user_sessions(user_id, except_session_id))

    def ping(self) -> bool:
        """``True`` when sessiond answers and its store is reachable (its
        ``/readyz``); raises :class:`~sessiondb.Unavailable` otherwise. Does
        not check the API key. Tried once."""
        return self._send(_core.ping())

    # -------------------------------------------------------------- plumbing

    def close(self) -> None:
        """Close the idle connections. The manager cannot be used after."""
        self._closed = True
        self._pool.close()

    def __enter__(self) -> "SessionManager":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _send(self, plan: "_core.Plan[T]") -> T:
        if plan.immediate is not None:
            return plan.immediate[0]
        if self._closed:
            raise RuntimeError("this SessionManager is closed")
        failures = 0
        while True:
            started = time.monotonic()
            try:
                status, headers, body = self._attempt(plan)
            except _Failure as f:
                err, retryable = f.error, f.retryable
            else:
                _core.log_answer(plan, status, failures + 1, started)
                try:
                    return _core.interpret(plan, status, headers, body, self._redact)
                except SessionDBError as e:
                    err, retryable = e, True
            failures += 1
            wait = self._policy.delay(plan, failures, err, retryable)
            if wait is None:
                break
            _core.log_retry(plan, err, failures, wait)
            time.sleep(wait)
        # Raised outside any except clause: no implicit context to carry.
        raise err

    def _attempt(self, plan: "_core.Plan[Any]") -> Tuple[int, Dict[str, str], bytes]:
        headers = dict(self._headers)
        if plan.body is not None:
            headers["Content-Type"] = "application/json"
        target = self._endpoint.prefix + plan.path
        conn, reused = self._pool.get()
        while True:
            try:
                return self._exchange(conn, plan, target, headers)
            except _DROPPED as exc:
                conn.close()
                if reused and plan.idempotent:
                    # A keep-alive connection the server closed while it was
                    # idle: the request did not reach sessiond. Once more on
                    # a new connection.
                    conn, reused = self._pool.new(), False
                    continue
                err, retryable = _core.transport_error(
                    plan.call, self._endpoint, exc, self._timeout
                )
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                err, retryable = _core.transport_error(
                    plan.call, self._endpoint, exc, self._timeout
                )
            raise _Failure(err, retryable)

    def _exchange(
        self,
        conn: _Connection,
        plan: "_core.Plan[Any]",
        target: str,
        headers: Dict[str, str],
    ) -> Tuple[int, Dict[str, str], bytes]:
        if conn.sock is None:
            conn.connect()
        try:
            conn.request(plan.method, target, body=plan.body, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
        except socket.timeout as exc:
            # The request may be in progress at sessiond: waiting again would
            # double the caller's bound, so a read timeout is not retried.
            conn.close()
            err, _ = _core.transport_error(
                plan.call, self._endpoint, exc, self._timeout
            )
            raise _Failure(err, False) from None
        answer_headers = {k.lower(): v for k, v in resp.getheaders()}
        if resp.will_close:
            conn.close()
        else:
            self._pool.put(conn)
        return resp.status, answer_headers, body
