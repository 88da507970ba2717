"""The README's install commands, offline, as on a fresh Debian machine: a
virtual environment with the system's site packages, and pip with no
package index and no build isolation."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PYTHON_DIR


def test_offline_install(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(
        PYTHON_DIR,
        repo / "clients" / "python",
        ignore=shutil.ignore_patterns(
            "tests", "build", "*.egg-info", ".venv", "__pycache__", ".*_cache"
        ),
    )
    # No pip settings from this machine (find-links, indexes): a fresh one.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull

    def run(*cmd: str, cwd: Path = repo) -> str:
        done = subprocess.run(
            list(cmd), cwd=cwd, env=env, capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            hint = ""
            if "ensurepip" in done.stdout + done.stderr:
                hint = "\nInstall it: sudo apt-get install -y python3-venv"
            elif "bdist_wheel" in done.stdout + done.stderr:
                hint = "\nInstall it: sudo apt-get install -y python3-wheel"
            pytest.fail(
                "%s failed:\n%s%s%s" % (" ".join(cmd), done.stdout, done.stderr, hint),
                pytrace=False,
            )
        return done.stdout

    # The README's commands, with this Python as python3.
    run(sys.executable, "-m", "venv", "--system-site-packages", ".venv")
    run(
        ".venv/bin/pip",
        "install",
        "--no-build-isolation",
        "--no-index",
        "./clients/python",
    )
    out = run(
        str(repo / ".venv" / "bin" / "python"),
        "-c",
        "import importlib.metadata as md, os, sessiondb, sessiondb.aio\n"
        "d = os.path.dirname(sessiondb.__file__)\n"
        "print(d)\n"
        "print(os.path.exists(os.path.join(d, 'py.typed')))\n"
        "print(sessiondb.__version__ == md.version('sessiondb'))\n"
        "print(md.metadata('sessiondb').get_all('Provides-Extra'))\n"
        "print(sessiondb.AsyncSessionManager.__name__)\n",
        cwd=tmp_path,  # not the source tree
    )
    where, typed, same_version, extras, async_name = out.splitlines()
    assert where.startswith(str(repo / ".venv" / "lib"))
    assert (typed, same_version, async_name) == ("True", "True", "AsyncSessionManager")
    assert "async" in extras
