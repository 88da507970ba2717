"""Fixtures: a sessiond built from this tree (go build, once per run) and
started on a free loopback port, on the embedded store and on a real
redis-server that the fixtures start themselves; a scripted loopback HTTP
server for answers a healthy sessiond never gives; and the clients, sync
and async, behind one interface so that every behaviour is checked on both.
"""

import asyncio
import http.server
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Protocol,
    Tuple,
    TypeVar,
    Union,
)

import pytest

PYTHON_DIR = Path(__file__).resolve().parents[1]
REPO = PYTHON_DIR.parents[1]
sys.path.insert(0, str(PYTHON_DIR))

from sessiondb import AsyncSessionManager, Session, SessionManager  # noqa: E402

T = TypeVar("T")

APP_KEY = "app-" + secrets.token_urlsafe(16)
ADMIN_KEY = "admin-" + secrets.token_urlsafe(16)
MAX_SESSIONS = 3  # per user, under the reject policy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.02)


# ------------------------------------------------------------ redis-server


class RedisServer:
    """A redis-server on a free loopback port, without persistence."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = 0
        self.proc: Optional["subprocess.Popen[bytes]"] = None

    @property
    def url(self) -> str:
        return "redis://127.0.0.1:%d" % self.port

    def start(self) -> None:
        for _ in range(5):
            self.port = self.port or free_port()
            log = open(self.workdir / ("redis-%d.log" % self.port), "ab")
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
                + ["--save", "", "--appendonly", "no", "--daemonize", "no"],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
            log.close()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                if self.ping():
                    return
                time.sleep(0.02)
            self.stop()
            self.port = 0  # the port may have been taken: another one
        raise AssertionError("redis-server did not start; see " + str(self.workdir))

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def need_redis() -> None:
    """Fail with how to install redis-server, unless the opt-out is set."""
    if shutil.which("redis-server"):
        return
    if os.environ.get("SESSIONDB_SKIP_REDIS") == "1":
        pytest.skip("redis-server is not installed and SESSIONDB_SKIP_REDIS=1")
    pytest.fail(
        "redis-server is needed by these tests and is not installed. Install it:"
        "  sudo apt-get install -y redis-server   (Debian/Ubuntu),"
        " or set SESSIONDB_SKIP_REDIS=1 to skip the tests that need Redis.",
        pytrace=False,
    )


# ---------------------------------------------------------------- sessiond


@pytest.fixture(scope="session")
def sessiond_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sessiond built from this tree, once per test run."""
    go = shutil.which("go")
    if go is None:
        pytest.fail(
            "go is needed to build sessiond for these tests and is not on PATH;"
            " install Go (https://go.dev/dl/) or add it to PATH.",
            pytrace=False,
        )
    out = tmp_path_factory.mktemp("bin") / "sessiond"
    run = subprocess.run(
        [go, "build", "-o", str(out), "./cmd/sessiond"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        pytest.fail("go build ./cmd/sessiond failed:\n" + run.stderr, pytrace=False)
    return out


class Sessiond:
    """A sessiond process on a free loopback port (it binds port 0 and logs
    the address), in a working directory of its own (so no stray .env)."""

    def __init__(self, binary: Path, workdir: Path, env: Mapping[str, str]) -> None:
        self.binary = binary
        self.workdir = workdir
        self.env = dict(env)
        self.url = ""
        self.proc: Optional["subprocess.Popen[bytes]"] = None
        self.log_path = workdir / "sessiond.log"

    def start(self) -> "Sessiond":
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "SESSIOND_ADDR": "127.0.0.1:0",
            "SESSIOND_LOG_FORMAT": "json",
            "SESSIOND_LOG_LEVEL": "debug",
            "CLEANUP_INTERVAL_SECONDS": "3600",
        }
        env.update(self.env)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(self.binary)],
                env=env,
                cwd=self.workdir,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        wait_until("sessiond to listen", self._listening)
        wait_until("sessiond to be ready", self._ready)
        return self

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _listening(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError("sessiond exited:\n" + self.logs())
        for line in self.logs().splitlines():
            if '"msg":"listening"' in line:
                self.url = json.loads(line)["url"]
                return True
        return False

    def _ready(self) -> bool:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=2, context=ctx):
                return True
        except (OSError, urllib.error.URLError):
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Server:
    """A running sessiond and what the tests need to know about it."""

    kind: str  # "memory" or "redis"
    sessiond: Sessiond
    redis: Optional[RedisServer] = None

    @property
    def url(self) -> str:
        return self.sessiond.url


def server_env(redis: Optional[RedisServer]) -> Dict[str, str]:
    env = {
        "SESSIOND_API_KEYS": "app:%s,admin:%s" % (APP_KEY, ADMIN_KEY),
        "MAX_SESSIONS_PER_USER": str(MAX_SESSIONS),
        "SESSION_LIMIT_POLICY": "reject",
    }
    if redis is not None:
        env["REDIS_URL"] = redis.url
    return env


@pytest.fixture(scope="session", params=["memory", "redis"])
def server(
    request: pytest.FixtureRequest,
    sessiond_binary: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """sessiond with app and admin keys and a limit of 3 sessions per user
    (reject policy), on the embedded store and on a real redis-server."""
    kind: str = request.param
    workdir = tmp_path_factory.mktemp("sessiond-" + kind)
    redis = None
    if kind == "redis":
        need_redis()
        redis = RedisServer(workdir)
        redis.start()
    sd = Sessiond(sessiond_binary, workdir, server_env(redis)).start()
    try:
        yield Server(kind, sd, redis)
    finally:
        sd.stop()
        if redis is not None:
            redis.stop()


@pytest.fixture(scope="session", params=["memory", "redis"])
def events_server(
    request: pytest.FixtureRequest,
    sessiond_binary: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """sessiond recording events (SESSION_EVENTS=true), so that it tells why
    a session ended, with one session per user (evict-oldest), on the
    embedded store and on a real redis-server."""
    kind: str = request.param
    workdir = tmp_path_factory.mktemp("sessiond-events-" + kind)
    redis = None
    env = {
        "SESSIOND_API_KEYS": "app:%s,admin:%s" % (APP_KEY, ADMIN_KEY),
        "SESSION_EVENTS": "true",
        "MAX_SESSIONS_PER_USER": "1",
    }
    if kind == "redis":
        need_redis()
        redis = RedisServer(workdir)
        redis.start()
        env["REDIS_URL"] = redis.url
    sd = Sessiond(sessiond_binary, workdir, env).start()
    try:
        yield Server(kind, sd, redis)
    finally:
        sd.stop()
        if redis is not None:
            redis.stop()


# ----------------------------------------------------------------- clients


class Manager(Protocol):
    """What both clients offer, called the blocking way."""

    def create_session(
        self,
        user_id: str,
        ttl_seconds: Optional[int] = None,
        metadata: Optional[Mapping[str, str]] = None,
    ) -> Session:
        ...

    def get_session(self, token: Optional[str]) -> Optional[Session]:
        ...

    def get_session_reason(self, token: Optional[str]) -> Optional[str]:
        ...

    def invalidate_session(self, token: Optional[str]) -> bool:
        ...

    def get_user_sessions(self, user_id: str) -> List[Session]:
        ...

    def cleanup_expired_sessions(self) -> int:
        ...

    def get_session_stats(self) -> Dict[str, Any]:
        ...

    def refresh_session(
        self, token: Optional[str], ttl_seconds: Optional[int] = None
    ) -> Optional[Session]:
        ...

    def rotate_session(self, token: Optional[str]) -> Optional[Session]:
        ...

    def update_session_metadata(
        self, token: Optional[str], changes: Mapping[str, Optional[str]]
    ) -> Optional[Session]:
        ...

    def get_session_by_id(self, session_id: str) -> Optional[Session]:
        ...

    def update_session_metadata_by_id(
        self, session_id: str, changes: Mapping[str, Optional[str]]
    ) -> Optional[Session]:
        ...

    def invalidate_session_by_id(self, session_id: str) -> bool:
        ...

    def invalidate_user_sessions(
        self, user_id: str, except_session_id: Optional[str] = None
    ) -> int:
        ...

    def ping(self) -> bool:
        ...

    def close(self) -> None:
        ...


class BlockingAsync:
    """An AsyncSessionManager driven from blocking code on an event loop of
    its own: each call runs the coroutine to completion, as asyncio.run
    would, on one loop so that connections are reused."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.manager = self.run(self._make(*args, **kwargs))

    @staticmethod
    async def _make(*args: Any, **kwargs: Any) -> AsyncSessionManager:
        return AsyncSessionManager(*args, **kwargs)

    def run(self, coro: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coro)

    def __repr__(self) -> str:
        return repr(self.manager)

    def create_session(
        self,
        user_id: str,
        ttl_seconds: Optional[int] = None,
        metadata: Optional[Mapping[str, str]] = None,
    ) -> Session:
        return self.run(self.manager.create_session(user_id, ttl_seconds, metadata))

    def get_session(self, token: Optional[str]) -> Optional[Session]:
        return self.run(self.manager.get_session(token))

    def get_session_reason(self, token: Optional[str]) -> Optional[str]:
        return self.run(self.manager.get_session_reason(token))

    def invalidate_session(self, token: Optional[str]) -> bool:
        return self.run(self.manager.invalidate_session(token))

    def get_user_sessions(self, user_id: str) -> List[Session]:
        return self.run(self.manager.get_user_sessions(user_id))

    def cleanup_expired_sessions(self) -> int:
        return self.run(self.manager.cleanup_expired_sessions())

    def get_session_stats(self) -> Dict[str, Any]:
        return self.run(self.manager.get_session_stats())

    def refresh_session(
        self, token: Optional[str], ttl_seconds: Optional[int] = None
    ) -> Optional[Session]:
        return self.run(self.manager.refresh_session(token, ttl_seconds))

    def rotate_session(self, token: Optional[str]) -> Optional[Session]:
        return self.run(self.manager.rotate_session(token))

    def update_session_metadata(
        self, token: Optional[str], changes: Mapping[str, Optional[str]]
    ) -> Optional[Session]:
        return self.run(self.manager.update_session_metadata(token, changes))

    def get_session_by_id(self, session_id: str) -> Optional[Session]:
        return self.run(self.manager.get_session_by_id(session_id))

    def update_session_metadata_by_id(
        self, session_id: str, changes: Mapping[str, Optional[str]]
    ) -> Optional[Session]:
        return self.run(self.manager.update_session_metadata_by_id(session_id, changes))

    def invalidate_session_by_id(self, session_id: str) -> bool:
        return self.run(self.manager.invalidate_session_by_id(session_id))

    def invalidate_user_sessions(
        self, user_id: str, except_session_id: Optional[str] = None
    ) -> int:
        return self.run(
            self.manager.invalidate_user_sessions(user_id, except_session_id)
        )

    def ping(self) -> bool:
        return self.run(self.manager.ping())

    def close(self) -> None:
        self.run(self.manager.aclose())

    def dispose(self) -> None:
        if not self.loop.is_closed():
            self.close()
            self.loop.close()


MakeClient = Callable[..., Manager]


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    """Which client: SessionManager or AsyncSessionManager."""
    value: str = request.param
    return value


@pytest.fixture
def make_client(kind: str) -> Iterator[MakeClient]:
    """Makes clients of the test's kind, closed when the test ends."""
    made: List[Manager] = []

    def make(*args: Any, **kwargs: Any) -> Manager:
        m: Manager
        if kind == "sync":
            m = SessionManager(*args, **kwargs)
        else:
            m = BlockingAsync(*args, **kwargs)
        made.append(m)
        return m

    yield make
    for m in made:
        if isinstance(m, BlockingAsync):
            m.dispose()
        else:
            m.close()


@pytest.fixture
def client(server: Server, make_client: MakeClient) -> Manager:
    """A client with the app key."""
    return make_client(server.url, api_key=APP_KEY)


@pytest.fixture
def admin(server: Server, make_client: MakeClient) -> Manager:
    """A client with the admin key."""
    return make_client(server.url, api_key=ADMIN_KEY)


def new_user(prefix: str = "user") -> str:
    """A user id no other test uses: the servers are shared."""
    return "%s-%s" % (prefix, secrets.token_hex(6))


# --------------------------------------------- a scripted loopback server


DROP = "drop"  # close the connection without answering


@dataclass
class Reply:
    status: int = 200
    body: Union[bytes, Dict[str, Any]] = b""
    headers: Dict[str, str] = field(default_factory=dict)
    close_after: bool = False  # close the connection after answering, silently


@dataclass
class Seen:
    method: str
    path: str
    headers: Dict[str, str]
    body: bytes
    connection: int


class ScriptedServer:
    """A loopback HTTP/1.1 server (keep-alive) that answers requests in order
    from a script of Replies (or DROP), and records what it received."""

    def __init__(self) -> None:
        self.script: List[Union[Reply, str]] = []
        self.seen: List[Seen] = []
        self.connections = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                with outer.lock:
                    outer.connections += 1
                    self.conn_no = outer.connections

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def handle_any(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with outer.lock:
                    outer.seen.append(
                        Seen(
                            self.command,
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            self.conn_no,
                        )
                    )
                    step = outer.script.pop(0) if outer.script else DROP
                if step == DROP or not isinstance(step, Reply):
                    self.close_connection = True
                    return
                data = step.body
                if isinstance(data, dict):
                    data = json.dumps(data).encode()
                self.send_response(step.status)
                headers = {"Content-Type": "application/json"}
                headers.update(step.headers)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
                if step.close_after:
                    self.close_connection = True

            do_GET = do_POST = do_PATCH = do_DELETE = handle_any

        class HTTPServer(http.server.ThreadingHTTPServer):
            def shutdown_request(self, request: Any) -> None:
                super().shutdown_request(request)
                with outer.lock:
                    outer.closed += 1

        self.closed = 0  # connections the server has closed
        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.02,), daemon=True
        )
        self.thread.start()

    def add(self, *steps: Union[Reply, str]) -> None:
        with self.lock:
            self.script.extend(steps)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    s = ScriptedServer()
    yield s
    s.close()


def session_json(token: Optional[str] = None, **over: Any) -> Dict[str, Any]:
    """A session object as sessiond sends it."""
    obj: Dict[str, Any] = {
        "id": "0a3Xq1d9vVb2mWw7tHk",
        "user_id": "user123",
        "created_at": "2026-01-02T03:04:05.678Z",
        "expires_at": "2026-01-02T04:04:05.678Z",
        "last_seen_at": "2026-01-02T03:04:05.678Z",
        "metadata": {},
    }
    if token is not None:
        obj["token"] = token
    obj.update(over)
    return obj


def api_error(code: str, message: str = "m", **extra: str) -> Dict[str, Any]:
    err: Dict[str, Any] = {"code": code, "message": message}
    err.update(extra)
    return {"error": err}


def random_token() -> str:
    """A well-formed token that names no session."""
    return "sdb_A" + secrets.token_urlsafe(64)[:50]


def error_texts(exc: BaseException) -> str:
    """Every text an exception shows: str, repr, args, the formatted
    traceback, and the same for its whole __cause__ / __context__ chain."""
    import traceback

    parts: List[str] = []
    seen: List[BaseException] = []
    todo: List[Optional[BaseException]] = [exc]
    while todo:
        e = todo.pop()
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        parts += [str(e), repr(e), repr(e.args), repr(vars(e)) if vars(e) else ""]
        todo += [e.__cause__, e.__context__]
    parts += traceback.format_exception(type(exc), exc, exc.__traceback__)
    return "\n".join(parts)


def tls_files(workdir: Path) -> Tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it, made with
    openssl: (ca.pem, server.pem, server.key)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail(
            "openssl is needed to make the test certificates and is not"
            " installed: sudo apt-get install -y openssl",
            pytrace=False,
        )
    ca, ca_key = workdir / "ca.pem", workdir / "ca.key"
    cert, key = workdir / "server.pem", workdir / "server.key"
    csr, ext = workdir / "server.csr", workdir / "server.ext"
    ext.write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "extendedKeyUsage=serverAuth\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for cmd in (
        ["req", "-x509"]
        + ec
        + ["-keyout", ca_key, "-out", ca, "-days", "2"]
        + ["-subj", "/CN=sessiondb test CA"],
        ["req"] + ec + ["-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key]
        + ["-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext],
    ):
        run = subprocess.run(
            [openssl] + [str(c) for c in cmd], capture_output=True, text=True
        )
        if run.returncode != 0:
            pytest.fail("openssl failed: " + run.stderr, pytrace=False)
    return ca, cert, key
