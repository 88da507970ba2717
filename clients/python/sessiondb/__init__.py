"""sessiondb: a Python client of sessiond, sessiondb's HTTP session service.

    from sessiondb import SessionManager

    session_manager = SessionManager("http://127.0.0.1:8080", api_key=KEY)
    session = session_manager.create_session("user123", ttl_seconds=3600)
    session_manager.get_session(session.token)   # the Session, or None

:class:`SessionManager` needs only the standard library;
:class:`AsyncSessionManager`, its asyncio twin, needs httpx (the ``async``
extra) and is imported on first use.
"""

from typing import TYPE_CHECKING, Any

from ._core import VERSION as __version__
from .client import SessionManager
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

if TYPE_CHECKING:
    from .aio import AsyncSessionManager

__all__ = [
    "__version__",
    "AsyncSessionManager",
    "Forbidden",
    "InternalError",
    "StoreMisconfigured",
    "InvalidArgument",
    "MethodNotAllowed",
    "NotFound",
    "Session",
    "SessionDBError",
    "SessionLimitReached",
    "SessionManager",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
]


def __getattr__(name: str) -> Any:
    # AsyncSessionManager needs httpx: import it only when asked for.
    if name == "AsyncSessionManager":
        from .aio import AsyncSessionManager

        return AsyncSessionManager
    raise AttributeError("module 'sessiondb' has no attribute %r" % name)
