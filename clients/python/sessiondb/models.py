"""The session object of the sessiond API, as a dataclass."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Dict, Optional

__all__ = ["Session"]


@dataclass(frozen=True)
class Session:
    """A session, field by field as sessiond's API has it.

    ``session_id`` is the public id (``id`` on the wire): it names the
    session for administration (:meth:`SessionManager.get_session_by_id`,
    :meth:`SessionManager.invalidate_session_by_id`) and cannot be used to
    validate. ``token`` is the secret the client presents (a cookie or
    a bearer header); sessiond shows it only in the answers of
    :meth:`SessionManager.create_session` and
    :meth:`SessionManager.rotate_session`, so it is ``None`` everywhere
    else. It is left out of ``repr()`` and of comparisons.

    ``expires_at`` is when the session really ends: its absolute expiry, or
    ``last_seen_at`` plus sessiond's idle timeout when that comes first.
    Times are timezone-aware (UTC).
    """

    session_id: str
    user_id: str
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime
    metadata: Dict[str, str] = field(default_factory=dict, hash=False)
    token: Optional[str] = field(default=None, repr=False, compare=False)
