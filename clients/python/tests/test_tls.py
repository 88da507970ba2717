"""https:// with a custom CA: sessiond serving TLS with a certificate from a
CA made for the test, trusted through ca_file or an ssl.SSLContext."""

import logging
import ssl
from pathlib import Path
from typing import Iterator, Tuple

import pytest
from conftest import APP_KEY, MakeClient, Sessiond, new_user, server_env, tls_files

from sessiondb import InvalidArgument, SessionManager, Unavailable


@pytest.fixture(scope="module")
def tls_server(
    sessiond_binary: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tuple[str, Path]]:
    """(https URL of a sessiond, its CA file)."""
    workdir = tmp_path_factory.mktemp("tls")
    ca, cert, key = tls_files(workdir)
    env = server_env(None)
    env["SESSIOND_TLS_CERT_FILE"] = str(cert)
    env["SESSIOND_TLS_KEY_FILE"] = str(key)
    sd = Sessiond(sessiond_binary, workdir, env).start()
    assert sd.url.startswith("https://127.0.0.1:")
    yield sd.url, ca
    sd.stop()


def test_ca_file(tls_server: Tuple[str, Path], make_client: MakeClient) -> None:
    url, ca = tls_server
    m = make_client(url, api_key=APP_KEY, ca_file=str(ca))
    s = m.create_session(new_user())
    got = m.get_session(s.token)
    assert got is not None and got.session_id == s.session_id
    assert m.ping()
    if isinstance(m, SessionManager):
        assert m._pool.opened == 1  # TLS connections are kept alive too


def test_ssl_context(tls_server: Tuple[str, Path], make_client: MakeClient) -> None:
    url, ca = tls_server
    ctx = ssl.create_default_context(cafile=str(ca))
    m = make_client(url, api_key=APP_KEY, ssl_context=ctx)
    assert m.get_session(m.create_session(new_user()).token) is not None


def test_untrusted_certificate(
    tls_server: Tuple[str, Path],
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, _ = tls_server
    caplog.set_level(logging.INFO, logger="sessiondb")
    m = make_client(url, api_key=APP_KEY, backoff=0.01)  # the system's CAs
    with pytest.raises(Unavailable) as info:
        m.get_user_sessions("u")
    assert info.value.status is None
    assert "TLS certificate verification failed" in str(info.value)
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
    assert not any("retrying" in r.getMessage() for r in caplog.records)


def test_plain_http_to_the_tls_port(
    tls_server: Tuple[str, Path], make_client: MakeClient
) -> None:
    url, _ = tls_server
    m = make_client(url.replace("https://", "http://"), api_key=APP_KEY)
    with pytest.raises(InvalidArgument) as info:
        m.get_user_sessions("u")
    assert info.value.status == 400
    assert "is base_url a sessiond?" in str(info.value)


def test_tls_settings_are_checked(tmp_path: Path) -> None:
    ca, _, _ = tls_files(tmp_path)
    with pytest.raises(ValueError, match="need an https:// base_url"):
        SessionManager("http://127.0.0.1:1", ca_file=str(ca))
    with pytest.raises(ValueError, match="not both"):
        SessionManager(
            "https://127.0.0.1:1",
            ca_file=str(ca),
            ssl_context=ssl.create_default_context(),
        )
    with pytest.raises(ValueError, match="is not a file"):
        SessionManager("https://127.0.0.1:1", ca_file=str(tmp_path / "missing.pem"))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ValueError, match="no PEM CA certificate"):
        SessionManager("https://127.0.0.1:1", ca_file=str(junk))
