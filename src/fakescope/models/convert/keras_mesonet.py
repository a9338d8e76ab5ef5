"""MesoNet Keras weights (Afchar et al., WIFS 2018; DariusAf/MesoNet ``weights/*.h5``) → ``meso4`` /
``mesoinception4``.

The Keras 2 HDF5 files are read by :func:`fakescope.models.mesonet.load_keras_mesonet` (layers
matched in Keras' own saving order, every dataset used exactly once, kernels transposed). The
architecture is ``--arch`` or whichever of the two the file fits. Head: the Keras unit is
sigmoid = P(real); fakescope's MesoNet keeps it and negates it in ``forward`` (the file's tensors
are stored unchanged). Preprocessing: 256×256 RGB in [0, 1], no mean/std (the authors'
``ImageDataGenerator(rescale=1/255)``).
"""

from __future__ import annotations

from pathlib import Path

from ...errors import WeightsError
from .._registry import _MODELS
from ..mesonet import load_keras_mesonet
from ._base import Conversion, Importer, register_importer

__all__ = ["KerasMesoNetImporter"]

_ARCHS = ("meso4", "mesoinception4")


@register_importer
class KerasMesoNetImporter(Importer):
    name = "keras-mesonet"
    title = "MesoNet Keras 2 HDF5 weights (DariusAf/MesoNet weights/*.h5)"
    priority = 5
    fake_index = None  # one P(real) unit

    def detect(self, sd, arch=None) -> bool:
        return False  # an HDF5 file, recognised by its signature before any state dict is read

    def convert(self, sd, arch=None, fake_index=None) -> Conversion:
        raise WeightsError("keras-mesonet weights are Keras HDF5 files (.h5), not PyTorch state dicts")

    def convert_file(self, path: Path, arch: str | None = None) -> Conversion:
        if arch is not None and arch not in _ARCHS:
            raise WeightsError(f"keras-mesonet weights map onto {' or '.join(_ARCHS)}, not {arch!r}")
        errors = []
        for name in (arch,) if arch else _ARCHS:
            model = _MODELS.get(name).builder()
            try:
                load_keras_mesonet(model, path)
            except WeightsError as e:
                errors.append(str(e))
                continue
            sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return Conversion(
                name, sd, self.name, 256, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0),
                notes=["Keras unit = P(real) stored as is; fakescope's MesoNet negates it in forward"],
            )  # fmt: skip
        raise WeightsError(errors[0] if len(errors) == 1 else f"{path}: fits neither meso4 nor mesoinception4 "
                           f"({errors[0].split(': ', 1)[-1]})")  # fmt: skip
