"""fakescope: offline-first, explainable deepfake detection.

Public API (everything else is private or lives in sub-packages)::

    import fakescope
    result = fakescope.analyze("clip.mp4")          # AnalysisResult; result.to_json()
    model = fakescope.create_model("mesoinception4", weights="df")

Names are imported lazily, so ``import fakescope`` (and the CLI's start-up) stays cheap.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import TYPE_CHECKING

from ._version import __version__

# torch and yuface each bundle an OpenMP runtime whose idle threads busy-wait; next to PyAV's decode
# threads they starve each other (bench/RESULTS.md, "Analysis pipeline": 2.9× → 1.4× the bare decode
# time). Idle threads that sleep cost nothing measurable. Set before either library loads; a value
# the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

logging.getLogger(__name__).addHandler(logging.NullHandler())

_EXPORTS = {
    "AnalysisResult": "schema",
    "AnalyzeConfig": "pipeline",
    "Analyzer": "pipeline",
    "analyze": "pipeline",
    "FakescopeError": "errors",
    "MediaError": "errors",
    "UnknownNameError": "errors",
    "WeightsError": "errors",
    "Sampling": "media",
    "create_face_detector": "faces",
    "list_face_detectors": "faces",
    "create_model": "models",
    "get_model_info": "models",
    "list_models": "models",
    "list_rules": "rules",
    "read_provenance": "provenance",
}

__all__ = [
    "AnalysisResult",
    "AnalyzeConfig",
    "Analyzer",
    "FakescopeError",
    "MediaError",
    "Sampling",
    "UnknownNameError",
    "WeightsError",
    "__version__",
    "analyze",
    "create_face_detector",
    "create_model",
    "get_model_info",
    "list_face_detectors",
    "list_models",
    "list_rules",
    "read_provenance",
]


def __getattr__(name: str):
    if name in _EXPORTS:
        if _EXPORTS[name] == "models":
            from . import catalogue  # noqa: F401  (installed weights are models: importing it registers them)
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fakescope' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover
    from .errors import FakescopeError, MediaError, UnknownNameError, WeightsError
    from .faces import create_face_detector, list_face_detectors
    from .media import Sampling
    from .models import create_model, get_model_info, list_models
    from .pipeline import AnalyzeConfig, Analyzer, analyze
    from .provenance import read_provenance
    from .rules import list_rules
    from .schema import AnalysisResult
