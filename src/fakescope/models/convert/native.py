"""fakescope's own state dicts (``model.state_dict()`` of a registered model, e.g. from training).

Keys and shapes must be exactly those of the named architecture (``--arch``); the head is already
the 1-logit fake head and the preprocessing the model's defaults.
"""

from __future__ import annotations

from ...errors import WeightsError
from .._registry import get_model_info
from ._base import Conversion, Importer, KeyPlan, register_importer, target_shapes

__all__ = ["FakescopeImporter"]


@register_importer
class FakescopeImporter(Importer):
    name = "fakescope"
    title = "a fakescope model's own state dict (keys as model.state_dict())"
    priority = 30
    fake_index = None

    def detect(self, sd, arch=None) -> bool:
        if arch is None:
            return False  # nothing distinguishes it but the exact key set of one architecture
        target = {k for k in target_shapes(arch) if not k.endswith("num_batches_tracked")}
        return target == {k for k in sd if not k.endswith("num_batches_tracked")}

    def convert(self, sd, arch=None, fake_index=None) -> Conversion:
        if arch is None:
            raise WeightsError("a fakescope state dict does not name its architecture: pass --arch")
        plan = KeyPlan(sd, target_shapes(arch), self.name, arch)
        for t in plan.target:
            plan.copy(t, t)
        info = get_model_info(arch)
        return Conversion(arch, plan.result(), self.name, info.input_size, info.mean, info.std, notes=plan.notes())
