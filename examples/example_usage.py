#!/usr/bin/env python3
"""The original example's walk-through, against sessiond: session creation
and retrieval, a user's sessions, invalidation, statistics and cleanup.

    go run ./cmd/sessiond &                 # http://127.0.0.1:8080, no API keys
    python3 examples/example_usage.py

SESSIOND_URL says where sessiond is (default http://127.0.0.1:8080) and
SESSIOND_API_KEY which key to send, if sessiond has keys: statistics and
cleanup need an admin key. The sessiondb package is used from
clients/python when it is not installed.
"""

import os
import sys
from pathlib import Path

try:
    import sessiondb
except ImportError:  # not installed: the copy in this repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients" / "python"))
    import sessiondb

from sessiondb import Forbidden, SessionManager, Unauthorized, Unavailable


def main() -> int:
    url = os.environ.get("SESSIOND_URL") or "http://127.0.0.1:8080"
    api_key = os.environ.get("SESSIOND_API_KEY") or None
    try:
        with SessionManager(url, api_key=api_key) as session_manager:
            walk_through(session_manager)
    except Unavailable as exc:
        print("sessiond is not reachable at %s: %s" % (url, exc), file=sys.stderr)
        print("Start it with: go run ./cmd/sessiond", file=sys.stderr)
        return 1
    except Unauthorized:
        print("sessiond wants an API key: set SESSIOND_API_KEY", file=sys.stderr)
        return 1
    return 0


def walk_through(session_manager: SessionManager) -> None:
    print("== Session creation and retrieval")
    session = session_manager.create_session(
        user_id="user123",
        ttl_seconds=3600,
        metadata={"ip": "192.168.1.1", "user_agent": "Mozilla/5.0..."},
    )
    print("Created session %s for %s" % (session.session_id, session.user_id))
    print("  expires at %s" % session.expires_at.isoformat())
    print("  the token (give it to the client, e.g. in a cookie) is shown only now")

    session_data = session_manager.get_session(session.token)
    assert session_data is not None
    print("Retrieved session of %s: %s" % (session_data.user_id, session_data.metadata))

    print("== User session tracking")
    phone = session_manager.create_session(
        "user123", metadata={"ip": "192.168.1.2", "user_agent": "Phone"}
    )
    user_sessions = session_manager.get_user_sessions("user123")
    print("user123 has %d active session(s), newest first:" % len(user_sessions))
    for s in user_sessions:
        print(
            "  %s  created %s  ip %s"
            % (s.session_id, s.created_at.strftime("%H:%M:%S"), s.metadata.get("ip"))
        )

    print("== Session invalidation")
    ended = session_manager.invalidate_session(session.token)
    print("Invalidated the first session: %s" % ended)
    print("Its token now gives: %s" % session_manager.get_session(session.token))
    print(
        "Invalidating it again: %s" % session_manager.invalidate_session(session.token)
    )

    print("== Statistics and monitoring")
    try:
        stats = session_manager.get_session_stats()
        print("Total sessions: %d" % stats["total_sessions"])
        print("Active sessions: %d" % stats["active_sessions"])
        print("Expired sessions: %d" % stats["expired_sessions"])
    except Forbidden:
        print("(statistics need an admin API key in SESSIOND_API_KEY)")

    print("== Cleanup operations")
    try:
        cleaned_count = session_manager.cleanup_expired_sessions()
        print("Cleaned up %d expired session(s)" % cleaned_count)
    except Forbidden:
        print("(cleanup needs an admin API key in SESSIOND_API_KEY)")

    session_manager.invalidate_session(phone.token)
    print(
        "Done: sessiondb %s, sessiond at %s"
        % (sessiondb.__version__, session_manager.base_url)
    )


if __name__ == "__main__":
    sys.exit(main())
