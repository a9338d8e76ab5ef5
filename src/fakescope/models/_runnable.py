"""Which registered models can run as they are (trained weights present), and what each one is."""

from __future__ import annotations

from ._registry import get_model_info, list_models


def is_runnable(name: str) -> bool:
    """True when the model's default weights are installed (it gives meaningful scores without a file)."""
    info = get_model_info(name)
    wi = info.weights.get(info.default_weights) if info.default_weights else None
    return wi is not None and wi.path.is_file()


def list_runnable_models() -> list[str]:
    """Registered models whose default (trained) weights are installed; the others need ``--checkpoint``."""
    return [n for n in list_models() if is_runnable(n)]


def model_summary(name: str) -> str:
    """One line describing the model and its default weights."""
    info = get_model_info(name)
    wi = info.weights.get(info.default_weights) if info.default_weights else None
    if wi is not None and wi.description:
        return wi.description
    return f"{info.family} architecture, {info.input_size} px" + ("" if wi else " (no trained weights)")
