"""Small, exact speed levers shared by the pipeline and the explainers."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["to_channels_last"]


def to_channels_last(model: nn.Module) -> nn.Module:
    """Switch ``model``'s 4-d weights to channels-last memory format, in place (values unchanged).

    oneDNN runs convolutions on NHWC tensors without the layout reorders it needs for NCHW; on this
    project's CPU that makes a Xception forward + backward pass 1.3–2× faster with the same numbers
    (bench/RESULTS.md, "Explainers"). Used by the torch back end of ``analyze`` and by every
    explainer; cheap when the weights are channels-last already. Tensors that are not 4-d are untouched.
    """
    cl = torch.channels_last
    if all(p.is_contiguous(memory_format=cl) for p in model.parameters() if p.dim() == 4):
        return model  # already converted (the common case): skip the module walk
    return model.to(memory_format=cl)
