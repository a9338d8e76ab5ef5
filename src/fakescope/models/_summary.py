"""One line on what a model is, for model lists (web app, ``/v1/models``)."""

from __future__ import annotations

from ._registry import get_model_info


def model_summary(name: str) -> str:
    """One line describing the model and its default weights."""
    try:
        info = get_model_info(name)
    except Exception:  # an installed model the registry cannot describe
        return "installed weights"
    wi = info.weights.get(info.default_weights) if info.default_weights else None
    if wi is not None and wi.description:
        return wi.description
    return f"{info.family} architecture, {info.input_size} px" + ("" if wi else " (no shipped weights)")
