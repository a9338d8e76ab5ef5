"""68-point facial landmarks with dlib's shape predictor (Kazemi & Sullivan, CVPR 2014).

The predictor file ``shape_predictor_68_face_landmarks.dat`` is not shipped with fakescope; it is
looked up (never downloaded) in this order: ``$FAKESCOPE_SHAPE_PREDICTOR``; the Debian/Ubuntu package
``libdlib-data`` (``/usr/share/dlib/``); an installed ``face_recognition_models`` package (located
with ``importlib.util.find_spec``, not imported); fakescope's ``weights/dlib/``; the unpacked
``face-recognition-models==0.3.0`` sdist under ``.cache/``.

Licence: the file is CC0-1.0 per Debian's ``libdlib-data`` copyright file and the
face_recognition_models package; dlib's author notes that the iBUG 300-W training images it was
learned from are licensed for **non-commercial research** only — check before commercial use.

Install: ``pip install dlib-bin`` (prebuilt dlib) and ``apt-get install libdlib-data`` (or
``pip download --no-deps --no-binary :all: face-recognition-models==0.3.0`` and unpack it).
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["PREDICTOR_FILE", "find_shape_predictor", "landmarks68", "shape_predictor_available"]

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
_ROOT = Path(__file__).resolve().parents[3]  # the repository root in a source checkout


def _candidates() -> list[Path]:
    out = []
    env = os.environ.get("FAKESCOPE_SHAPE_PREDICTOR")
    if env:
        out.append(Path(env))
    out += [Path("/usr/share/dlib") / PREDICTOR_FILE, Path("/usr/local/share/dlib") / PREDICTOR_FILE]
    try:
        spec = importlib.util.find_spec("face_recognition_models")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        out.append(Path(next(iter(spec.submodule_search_locations))) / "models" / PREDICTOR_FILE)
    out.append(Path(__file__).resolve().parent.parent / "weights" / "dlib" / PREDICTOR_FILE)
    out += sorted((_ROOT / ".cache").glob(f"**/face_recognition_models/models/{PREDICTOR_FILE}"))
    return out


def find_shape_predictor() -> Path | None:
    """Path of the 68-landmark predictor file, or None (see the module docstring for where it looks)."""
    for p in _candidates():
        if p.is_file():
            return p
    return None


def shape_predictor_available() -> bool:
    try:
        import dlib  # noqa: F401
    except ImportError:
        return False
    return find_shape_predictor() is not None


@lru_cache(maxsize=1)
def _predictor():
    try:
        import dlib
    except ImportError:
        raise ImportError("68-point landmarks need dlib: pip install dlib-bin") from None
    path = find_shape_predictor()
    if path is None:
        raise FileNotFoundError(
            f"{PREDICTOR_FILE} not found: apt-get install libdlib-data, or set FAKESCOPE_SHAPE_PREDICTOR"
        )
    return dlib, dlib.shape_predictor(str(path))


def landmarks68(rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """68 (x, y) landmarks (float32, 68×2, iBUG 300-W order: jaw 0–16, brows 17–26, nose 27–35,
    eyes 36–47, mouth 48–67) of the face in ``box`` (x1, y1, x2, y2) of an H×W×3 uint8 RGB image."""
    dlib, predictor = _predictor()
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    shape = predictor(np.ascontiguousarray(rgb), dlib.rectangle(x1, y1, x2, y2))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
