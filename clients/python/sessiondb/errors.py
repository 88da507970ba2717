"""The exceptions of the sessiondb client: one class per error code of the
sessiond API, under a common base, :class:`SessionDBError`.

Messages name the call and say what went wrong; they never hold a token or
an API key. An answer with a code this client does not know raises the base
class itself, carrying the code and the HTTP status, so that a newer
sessiond never breaks an older client.
"""

from typing import Any, Callable, Dict, Optional, Tuple, Type

__all__ = [
    "SessionDBError",
    "InvalidArgument",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "MethodNotAllowed",
    "SessionLimitReached",
    "TooLarge",
    "UnsupportedMediaType",
    "InternalError",
    "StoreMisconfigured",
    "Unavailable",
]


class SessionDBError(Exception):
    """Base class of every error the client raises about a sessiond call.

    ``status`` is the HTTP status of the answer (``None`` when there was
    none: the call did not reach sessiond) and ``code`` the API's error
    code (for an answer without one, e.g. from a proxy, the code the class
    stands for; ``None`` for the base class).
    """

    #: The API error code this class stands for.
    default_code: Optional[str] = None

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        code: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code if code is not None else self.default_code

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> Tuple[Callable[..., Any], Tuple[Any, ...]]:
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


def _rebuild(
    cls: Type[SessionDBError], message: str, state: Dict[str, Any]
) -> SessionDBError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class InvalidArgument(SessionDBError, ValueError):
    """400 ``invalid_argument``: a request value is wrong (an empty or too
    long user id, a ttl out of range, metadata over its limit...).
    ``field`` names the argument at fault when there is one: ``user_id``,
    ``ttl_seconds``, ``metadata``, ``token`` or ``except``."""

    default_code = "invalid_argument"

    def __init__(
        self,
        message: str,
        *,
        field: Optional[str] = None,
        status: Optional[int] = None,
        code: Optional[str] = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.field = field


class Unauthorized(SessionDBError):
    """401 ``unauthenticated``: no API key, or one sessiond does not know."""

    default_code = "unauthenticated"


class Forbidden(SessionDBError):
    """403 ``permission_denied``: the API key's role may not make this call
    (statistics and cleanup need an ``admin`` key)."""

    default_code = "permission_denied"


class NotFound(SessionDBError):
    """404 ``not_found`` where no session was asked for: most often a
    ``base_url`` that does not point at sessiond. A session that does not
    exist is never an exception: the call returns ``None`` or ``False``."""

    default_code = "not_found"


class MethodNotAllowed(SessionDBError):
    """405 ``method_not_allowed``; ``allow`` holds the Allow header."""

    default_code = "method_not_allowed"

    def __init__(
        self,
        message: str,
        *,
        allow: Optional[str] = None,
        status: Optional[int] = None,
        code: Optional[str] = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.allow = allow


class SessionLimitReached(SessionDBError):
    """409 ``session_limit``: the user holds ``MAX_SESSIONS_PER_USER``
    sessions and sessiond runs the ``reject`` policy."""

    default_code = "session_limit"


class TooLarge(SessionDBError):
    """413 ``too_large``: the request body is over sessiond's limit."""

    default_code = "too_large"


class UnsupportedMediaType(SessionDBError):
    """415 ``unsupported_media_type``."""

    default_code = "unsupported_media_type"


class InternalError(SessionDBError):
    """500 ``internal``: a fault in sessiond, never the caller's mistake."""

    default_code = "internal"


class StoreMisconfigured(SessionDBError):
    """500 ``store_misconfigured``: Redis refuses sessiond's credentials or
    commands (wrong password, unknown ACL user, a missing permission). A
    configuration error on the server side: retrying does not help until an
    operator fixes sessiond's Redis settings or the ACL."""

    default_code = "store_misconfigured"


class Unavailable(SessionDBError):
    """503 ``unavailable`` (the session store is down, slow or full), or
    sessiond could not be reached at all (connection refused, timeout, TLS
    failure: then ``status`` is ``None`` and ``__cause__`` is the socket
    error). Transient: retry later. ``retry_after`` is the wait in seconds
    that sessiond asked for, if it did."""

    default_code = "unavailable"

    def __init__(
        self,
        message: str,
        *,
        retry_after: Optional[float] = None,
        status: Optional[int] = None,
        code: Optional[str] = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after
