"""AsyncSessionManager in its own terms (asyncio.run, no pytest plugin):
the same methods as SessionManager, concurrent coroutines on one manager,
the async context manager, and the sync client without httpx."""

import asyncio
import inspect
import subprocess
import sys

import pytest
from conftest import APP_KEY, PYTHON_DIR, Server, new_user, random_token

from sessiondb import AsyncSessionManager, Session, SessionManager


def public_methods(cls: type) -> dict:  # type: ignore[type-arg]
    return {
        name: inspect.signature(fn)
        for name, fn in vars(cls).items()
        if callable(fn) and not name.startswith("_")
    }


def test_same_methods() -> None:
    sync = public_methods(SessionManager)
    asy = public_methods(AsyncSessionManager)
    sync.pop("close")
    asy.pop("aclose")
    assert sync.keys() == asy.keys()
    for name, sig in sync.items():
        assert inspect.iscoroutinefunction(getattr(AsyncSessionManager, name)), name
        assert str(asy[name]) == str(sig), name
    assert str(inspect.signature(SessionManager.__init__)) == str(
        inspect.signature(AsyncSessionManager.__init__)
    )


def test_concurrent_coroutines(server: Server) -> None:
    async def one(m: AsyncSessionManager, n: int) -> Session:
        user = new_user("task%d" % n)
        s = await m.create_session(user, metadata={"n": str(n)})
        got = await m.get_session(s.token)
        assert got is not None and got.metadata == {"n": str(n)}
        assert [x.session_id for x in await m.get_user_sessions(user)] == [s.session_id]
        assert await m.update_session_metadata_by_id(s.session_id, {"m": "1"})
        assert await m.invalidate_session(s.token) is True
        return s

    async def main() -> None:
        async with AsyncSessionManager(server.url, api_key=APP_KEY) as m:
            made = await asyncio.gather(*(one(m, n) for n in range(50)))
            assert len({s.session_id for s in made}) == 50
            results = await asyncio.gather(*(m.get_session(s.token) for s in made))
            assert results == [None] * 50
            # Malformed and unknown tokens, side by side.
            odd = await asyncio.gather(
                m.get_session("junk"),
                m.get_session(None),
                m.get_session(random_token()),
            )
            assert list(odd) == [None, None, None]
        with pytest.raises(RuntimeError, match="closed"):
            await m.get_session(random_token())

    asyncio.run(main())


def test_sync_client_needs_no_httpx() -> None:
    code = (
        "import sys; sys.modules['httpx'] = None\n"
        "import sessiondb\n"
        "m = sessiondb.SessionManager('http://127.0.0.1:1')\n"
        "print(m.get_session('junk'))\n"
        "try:\n"
        "    sessiondb.AsyncSessionManager\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PYTHON_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "None"
    assert "AsyncSessionManager needs httpx" in lines[1]
    assert "apt-get install python3-httpx" in lines[1]
