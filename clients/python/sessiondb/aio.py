"""AsyncSessionManager: the asyncio client of sessiond, on httpx (the
``async`` extra: ``pip install 'sessiondb[async]'``, or Debian's
``python3-httpx``)."""

import asyncio
import ssl
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple, TypeVar

try:
    import httpx
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "AsyncSessionManager needs httpx: pip install 'sessiondb[async]',"
        " or on Debian: apt-get install python3-httpx"
    ) from exc

from . import _core
from .errors import SessionDBError
from .models import Session

__all__ = ["AsyncSessionManager"]

T = TypeVar("T")

# Failures after which the request may have reached sessiond, or that
# waiting again would only repeat: not retried.
_NOT_RETRYABLE = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.PoolTimeout,
    httpx.LocalProtocolError,
    httpx.UnsupportedProtocol,
)


class AsyncSessionManager:
    """The asyncio twin of :class:`~sessiondb.SessionManager`: the same
    arguments, methods (as coroutines), results, errors and retries. Create
    it inside the event loop that uses it (e.g. in a FastAPI lifespan
    handler) and close it with ``await manager.aclose()``, or use it as
    ``async with AsyncSessionManager(...) as manager``.

    Connections are httpx's: up to ``pool_size`` idle keep-alive connections
    are kept, each for at most ``idle_timeout`` seconds.
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
        context = _core.make_ssl_context(self._endpoint, ca_file, ssl_context)
        limits = httpx.Limits(
            max_connections=None,
            max_keepalive_connections=_core.check_count("pool_size", pool_size),
            keepalive_expiry=_core.check_seconds(
                "idle_timeout", idle_timeout, allow_zero=True
            ),
        )
        self._client = httpx.AsyncClient(
            # For http:// no TLS is ever set up; False spares loading the
            # system's CA certificates for nothing.
            verify=context if context is not None else False,
            timeout=httpx.Timeout(self._timeout),
            limits=limits,
            headers=_core.base_headers(self._api_key),
            trust_env=False,  # no proxies or .netrc from the environment
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return _core.describe(
            type(self).__name__, self._endpoint, self._api_key, self._timeout
        )

    @property
    def base_url(self) -> str:
        """sessiond's address, as given (without a trailing slash)."""
        return self._endpoint.url

    async def create_session(
        self,
        user_id: str,
        ttl_seconds: Optional[int] = None,
        metadata: Optional[Mapping[str, str]] = None,
    ) -> Session:
        """See :meth:`SessionManager.create_session`."""
        return await self._send(_core.create_session(user_id, ttl_seconds, metadata))

    async def get_session(self, token: Optional[str]) -> Optional[Session]:
        """See :meth:`SessionManager.get_session`."""
        return await self._send(_core.get_session(token))

    async def get_session_reason(self, token: Optional[str]) -> Optional[str]:
        """See :meth:`SessionManager.get_session_reason`."""
        return await self._send(_core.get_session_reason(token))

    async def invalidate_session(self, token: Optional[str]) -> bool:
        """See :meth:`SessionManager.invalidate_session`."""
        return await self._send(_core.invalidate_session(token))

    async def get_user_sessions(self, user_id: str) -> List[Session]:
        """See :meth:`SessionManager.get_user_sessions`."""
        return await self._send(_core.get_user_sessions(user_id))

    async def cleanup_expired_sessions(self) -> int:
        """See :meth:`SessionManager.cleanup_expired_sessions`."""
        return await self._send(_core.cleanup_expired_sessions())

    async def get_session_stats(self) -> Dict[str, Any]:
        """See :meth:`SessionManager.get_session_stats`."""
        return await self._send(_core.get_session_stats())

    async def refresh_session(
        self, token: Optional[str], ttl_seconds: Optional[int] = None
    ) -> Optional[Session]:
        """See :meth:`SessionManager.refresh_session`."""
        return await self._send(_core.refresh_session(token, ttl_seconds))

    async def rotate_session(self, token: Optional[str]) -> Optional[Session]:
        """See :meth:`SessionManager.rotate_session`."""
        return await self._send(_core.rotate_session(token))

    async def update_session_metadata(
        self, token: Optional[str], changes: Mapping[str, Optional[str]]
    ) -> Optional[Session]:
        """See :meth:`SessionManager.update_session_metadata`."""
        return await self._send(_core.update_session_metadata(token, changes))

    async def get_session_by_id(self, session_id: str) -> Optional[Session]:
        """See :meth:`SessionManager.get_session_by_id`."""
        return await self._send(_core.get_session_by_id(session_id))

    async def update_session_metadata_by_id(
        self, session_id: str, changes: Mapping[str, Optional[str]]
    ) -> Optional[Session]:
        """See :meth:`SessionManager.update_session_metadata_by_id`."""
        return await self._send(
            _core.update_session_metadata_by_id(session_id, changes)
        )

    async def invalidate_session_by_id(self, session_id: str) -> bool:
        """See :meth:`SessionManager.invalidate_session_by_id`."""
        return await self._send(_core.invalidate_session_by_id(session_id))

    async def invalidate_user_sessions(
        self, user_id: str, except_session_id: Optional[str] = None
    ) -> int:
        """See :meth:`SessionManager.invalidate_user_sessions`."""
        return await self._send(
            _core.invalidate_user_sessions(user_id, except_session_id)
        )

    async def ping(self) -> bool:
        """See :meth:`SessionManager.ping`."""
        return await self._send(_core.ping())

    async def aclose(self) -> None:
        """Close the connections. The manager cannot be used after."""
        await self._client.aclose()

    async def __aenter__(self) -> "AsyncSessionManager":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    async def _send(self, plan: "_core.Plan[T]") -> T:
        if plan.immediate is not None:
            return plan.immediate[0]
        if self._client.is_closed:
            raise RuntimeError("this AsyncSessionManager is closed")
        failures = 0
        while True:
            started = time.monotonic()
            answer, err, retryable = await self._attempt(plan)
            if answer is not None:
                status, headers, body = answer
                _core.log_answer(plan, status, failures + 1, started)
                try:
                    return _core.interpret(plan, status, headers, body, self._redact)
                except SessionDBError as e:
                    err, retryable = e, True
            assert err is not None
            failures += 1
            wait = self._policy.delay(plan, failures, err, retryable)
            if wait is None:
                break
            _core.log_retry(plan, err, failures, wait)
            await asyncio.sleep(wait)
        # Raised outside any except clause: httpx's exceptions hold the
        # request (its headers and body) and must not ride along as context.
        raise err

    async def _attempt(
        self, plan: "_core.Plan[Any]"
    ) -> Tuple[
        Optional[Tuple[int, Dict[str, str], bytes]], Optional[SessionDBError], bool
    ]:
        headers = (
            {"Content-Type": "application/json"} if plan.body is not None else None
        )
        try:
            resp = await self._client.request(
                plan.method,
                self._endpoint.url + plan.path,
                content=plan.body,
                headers=headers,
            )
        except (httpx.TransportError, OSError) as exc:
            # (httpx lets some TLS errors through unwrapped)
            err, retryable = _core.transport_error(
                plan.call, self._endpoint, exc, self._timeout
            )
            return None, err, retryable and not isinstance(exc, _NOT_RETRYABLE)
        answer_headers = {k.lower(): v for k, v in resp.headers.items()}
        return (resp.status_code, answer_headers, resp.content), None, False
