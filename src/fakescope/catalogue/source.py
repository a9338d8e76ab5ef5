"""The weights catalogue as a source of models: installed weights (``fakescope weights pull/add``)
are models like any other — ``create_model(NAME)``, ``analyze --model NAME``, ``fakescope models``.

The model registry (:mod:`fakescope.models`) knows nothing of the catalogue; the catalogue registers
:data:`SOURCE` into it (:func:`register`), when ``fakescope.catalogue`` is imported and as the
``fakescope.model_sources`` entry point (pyproject.toml).
"""

from __future__ import annotations

from torch import nn

from ..models import ModelInfo, register_model_source
from .store import create_installed_model, installed_model_info, list_installed


class CatalogueSource:
    """Installed weights under ``$FAKESCOPE_HOME/weights`` (:mod:`fakescope.catalogue.store`)."""

    def info(self, name: str) -> ModelInfo | None:
        return installed_model_info(name)

    def names(self) -> list[str]:
        return list_installed()

    def create(self, name: str, weights: str | None = "default", **kwargs) -> nn.Module:
        return create_installed_model(name, weights, **kwargs)

    def __repr__(self) -> str:
        return "CatalogueSource()"


SOURCE = CatalogueSource()


def register() -> None:
    """Make installed weights models (idempotent)."""
    register_model_source(SOURCE)
