"""FaceForensics++ Xception (Rössler et al., ICCV 2019) → fakescope ``xception``.

Source: https://github.com/ondyari/FaceForensics, ``classification/network/models.py``:
``TransferModel`` holds the Cadene/tstandley Xception (``network/xception.py``) as ``model``, its
1000-class ``last_linear`` replaced by ``Linear(2048, 2)`` (or ``Sequential(Dropout, Linear)`` when
built with dropout): keys ``model.conv1.weight``, ``model.block1.rep.0.conv1.weight``,
``model.block1.rep.0.pointwise.weight``, ``model.block1.skip.weight``, ...,
``model.last_linear[.1].weight``. The published models are whole pickled ``TransferModel``
objects (loading them needs ``--trust-pickle``).

* Head: 2 logits, ``detect_from_video.py`` documents "prediction (1 = fake, 0 = real)" →
  fake logit = z₁ − z₀.
* Preprocessing (``dataset/transform.py``): resize to 299×299, RGB, ``Normalize([0.5]*3, [0.5]*3)``
  — fakescope ``xception``'s own defaults.
* Architecture: timm ``legacy_xception`` is the same Cadene port with the same module names; only
  ``last_linear`` is called ``fc``. ImageNet checkpoints of that port stored the pointwise
  convolutions as 2-D matrices; they are reshaped to 1×1 kernels.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ._base import Conversion, Importer, KeyPlan, register_importer, target_shapes

__all__ = ["FaceForensicsImporter", "xception_plan"]


def _pointwise(value: torch.Tensor) -> torch.Tensor:
    return value[:, :, None, None] if value.ndim == 2 else value


def xception_plan(plan: KeyPlan, prefix: str, head: str | None, fake_index: int) -> None:
    """Fill fakescope ``xception`` (every ``backbone.`` tensor) from a Cadene-layout Xception under ``prefix``
    with head ``head`` (None: a trunk without classifier, as inside UCF)."""
    for t in plan.target:
        if not t.startswith("backbone.") or t.startswith("backbone.fc."):
            continue
        name = t.removeprefix("backbone.")
        plan.copy(t, prefix + name, _pointwise if name.endswith("pointwise.weight") else None)
    if head is not None:
        plan.head(("backbone.fc.weight", "backbone.fc.bias"), (head + "weight", head + "bias"), fake_index)


def _head(sd: Mapping[str, torch.Tensor], prefix: str) -> str:
    return f"{prefix}last_linear.1." if f"{prefix}last_linear.1.weight" in sd else f"{prefix}last_linear."


@register_importer
class FaceForensicsImporter(Importer):
    name = "ffpp"
    title = "FaceForensics++ TransferModel('xception') (ondyari/FaceForensics classification/network/models.py)"
    priority = 0
    fake_index = 1

    def detect(self, sd, arch=None) -> bool:
        return "model.block1.rep.0.conv1.weight" in sd and _head(sd, "model.") + "weight" in sd

    def convert(self, sd, arch=None, fake_index=None) -> Conversion:
        arch = self._arch(arch, "xception")
        plan = KeyPlan(sd, target_shapes(arch), self.name, arch)
        xception_plan(plan, "model.", _head(sd, "model."), self._fake_index(fake_index))
        return Conversion(
            arch, plan.result(), self.name, 299, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5),
            notes=["2-logit head (index 1 = fake) → one logit z_fake − z_real", *plan.notes()],
        )  # fmt: skip
