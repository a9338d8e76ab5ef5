"""Which explanation methods can explain which model (without running them)."""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=64)
def unsupported_methods(model: str) -> dict[str, str]:
    """``{method: reason}`` for every registered method that cannot explain ``model`` (e.g. attention
    methods on a CNN, LRP on SiLU layers). Builds the architecture once (no weights) and asks each
    method's ``unsupported`` check; cached per model name."""
    from ..models import create_model
    from . import explainer_class, list_explainers

    net = create_model(model, weights=None)
    out = {}
    for name in list_explainers():
        reason = explainer_class(name).unsupported(net, None)
        if reason:
            out[name] = str(reason)
    return out


def supported_methods(model: str) -> list[str]:
    """The registered methods that can explain ``model``."""
    from . import list_explainers

    bad = unsupported_methods(model)
    return [m for m in list_explainers() if m not in bad]
