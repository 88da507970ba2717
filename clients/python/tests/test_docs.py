"""The README's Python code, word for word (only the URL of sessiond
changes), and examples/example_usage.py, run against a real sessiond."""

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
from conftest import ADMIN_KEY, APP_KEY, PYTHON_DIR, REPO, Server, Sessiond

DEFAULT_URL = "http://127.0.0.1:8080"


@pytest.fixture(scope="module")
def keyless(
    sessiond_binary: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sessiond]:
    """sessiond as `go run ./cmd/sessiond` starts it: embedded store, no API
    keys, default settings (but the port)."""
    sd = Sessiond(sessiond_binary, tmp_path_factory.mktemp("keyless"), {}).start()
    yield sd
    sd.stop()


def python_blocks(readme: Path) -> List[str]:
    text = readme.read_text()
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.M | re.S)


def test_package_readme(keyless: Sessiond, capsys: pytest.CaptureFixture[str]) -> None:
    blocks = python_blocks(PYTHON_DIR / "README.md")
    assert len(blocks) >= 2
    run_blocks(blocks, keyless.url)
    out = capsys.readouterr().out
    assert "Total sessions: " in out and "Expired sessions: " in out


def test_root_readme(keyless: Sessiond) -> None:
    """The repository README's Python snippets, if it has any."""
    blocks = [b for b in python_blocks(REPO / "README.md") if "sessiondb" in b]
    run_blocks(blocks, keyless.url)


def run_blocks(blocks: List[str], url: str) -> None:
    namespace: Dict[str, object] = {"__name__": "__readme__"}
    for block in blocks:
        if DEFAULT_URL in block:
            block = block.replace(DEFAULT_URL, url)
        exec(compile(block, "README", "exec"), namespace)
    for name, value in namespace.items():
        close = getattr(value, "close", None)
        if name == "session_manager" and callable(close):
            close()


@pytest.mark.parametrize("key", ["admin", "app"])
def test_example_usage(server: Server, tmp_path: Path, key: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["SESSIOND_URL"] = server.url
    env["SESSIOND_API_KEY"] = ADMIN_KEY if key == "admin" else APP_KEY
    run = subprocess.run(
        [sys.executable, str(REPO / "examples" / "example_usage.py")],
        cwd=tmp_path,  # not the repository: the package comes from the fallback
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    for heading in (
        "== Session creation and retrieval",
        "== User session tracking",
        "== Session invalidation",
        "== Statistics and monitoring",
        "== Cleanup operations",
    ):
        assert heading in out
    assert "user123 has 2 active session(s), newest first:" in out
    assert "Invalidated the first session: True" in out
    assert "Its token now gives: None" in out
    assert "Invalidating it again: False" in out
    if key == "admin":
        assert re.search(r"Active sessions: \d+", out)
        assert re.search(r"Cleaned up \d+ expired session\(s\)", out)
    else:
        assert "statistics need an admin API key" in out
    assert "sdb_" not in out + run.stderr  # no token printed


def test_example_usage_without_sessiond(tmp_path: Path) -> None:
    from conftest import free_port

    env = dict(os.environ, SESSIOND_URL="http://127.0.0.1:%d" % free_port())
    run = subprocess.run(
        [sys.executable, str(REPO / "examples" / "example_usage.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert "connection refused" in run.stderr
    assert "go run ./cmd/sessiond" in run.stderr
