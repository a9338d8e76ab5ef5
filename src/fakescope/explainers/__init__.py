"""Explanation methods for fakescope's deepfake detectors: one API, one registry.

::

    from fakescope.explainers import explain, list_explainers, create_explainer
    ex = explain(model, faces, method="gradcam", target="fake")   # faces: N×3×H×W RGB in [0, 1]
    ex.maps        # float32 N×H×W; ex.sign / ex.value_range say how to read them

Families (a base class each owns hooks, targets, batching and upsampling; a method is one file):
CAM (``_cam.py``, pytorch-grad-cam), gradient (``_gradient.py``, captum), perturbation
(``_perturbation.py``, captum over SLIC superpixels), LRP (``_lrp.py``, zennit) and attention
(``_attention.py``, transformers only).
"""

# registration: importing a method module registers it
from . import (  # noqa: E402,F401
    attention_relevancy,
    attention_rollout,
    deeplift,
    eigencam,
    gradcam,
    gradcam_plusplus,
    gradientshap,
    hirescam,
    integrated_gradients,
    kernelshap,
    layercam,
    layercam_fusion,
    lime,
    lrp,
    occlusion,
    saliency,
    scorecam,
    smoothgrad,
)
from ._base import (
    TARGETS,
    BinaryLogitTarget,
    Explainer,
    ExplainerError,
    Explanation,
    SignedLogit,
    UnsupportedModelError,
    auto_batch,
    create_explainer,
    explain,
    explainer_class,
    list_explainers,
    make_baseline,
    parse_options,
    register_explainer,
    to_channels_last,
)

__all__ = [
    "TARGETS",
    "BinaryLogitTarget",
    "Explainer",
    "ExplainerError",
    "Explanation",
    "SignedLogit",
    "UnsupportedModelError",
    "auto_batch",
    "create_explainer",
    "explain",
    "explainer_class",
    "list_explainers",
    "make_baseline",
    "parse_options",
    "register_explainer",
    "to_channels_last",
]
