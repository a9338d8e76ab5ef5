"""``/v1/models``, ``/v1/explainers``, ``/v1/detectors``, ``/v1/rules`` and ``/healthz``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from ...deps import StoreDep

router = APIRouter(tags=["meta"])
health_router = APIRouter(tags=["meta"])


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if (doc or "").strip() else ""


@router.get("/models")
def models(all: bool = False) -> list[dict[str, Any]]:
    """Deepfake detectors with usable weights (shipped or installed with ``fakescope weights``; ``?all=true``:
    every architecture): input size, normalisation, weight tags, licence, source; ``runnable``: usable weights
    are there; ``summary``: one line on the model and its weights."""
    from ....models import (
        get_model_info,
        has_usable_weights,
        list_installed_models,
        list_models,
        list_runnable_models,
        model_summary,
    )

    names = list_models() + list_installed_models() if all else list_runnable_models()
    return [
        {**get_model_info(n).to_dict(), "runnable": has_usable_weights(n), "summary": model_summary(n)} for n in names
    ]


@router.get("/explainers")
def explainers() -> list[dict[str, Any]]:
    """Registered explanation methods (for the ``explain`` option)."""
    try:
        from ....explainers import explainer_class, list_explainers
    except ImportError:
        return []
    out = []
    for name in list_explainers():
        cls = explainer_class(name)
        out.append(
            {
                "name": name,
                "family": getattr(cls, "family", ""),
                "description": _first_line(cls.__doc__),
                "paper": getattr(cls, "paper", ""),
                "sign": getattr(cls, "sign", ""),
                "value_range": getattr(cls, "value_range", ""),
            }
        )
    return out


@router.get("/detectors")
def detectors() -> list[dict[str, Any]]:
    """Registered face detectors."""
    from ....faces import DEFAULT_FACE_DETECTOR, get_face_detector_info, list_face_detectors

    out = []
    for name in list_face_detectors():
        info = get_face_detector_info(name)
        out.append(
            {
                "name": name,
                "default": name == DEFAULT_FACE_DETECTOR,
                "landmarks": info.landmarks,
                "licence": info.licence,
                "description": info.description,
                "source": info.source,
            }
        )
    return out


@router.get("/rules")
def rules() -> list[dict[str, str]]:
    """Verdict rules (for the ``rule`` option)."""
    from ....rules import get_rule, list_rules

    return [{"name": n, "description": _first_line(get_rule(n).__doc__)} for n in list_rules()]


class Health(BaseModel):
    status: str
    version: str
    workers: int
    capacity: int
    in_flight: int
    uploading: int = 0


@health_router.get("/healthz", response_model=Health)
def healthz(store: StoreDep) -> Health:
    """Liveness and load: no token needed, reveals no job."""
    from ...._version import __version__

    return Health(
        status="ok", version=__version__, workers=store.settings.workers, capacity=store.capacity,
        in_flight=store.in_flight, uploading=store.uploading,
    )
