"""A cheap faithfulness check for every explained face, and the flags a reader must see.

A heatmap can look convincing and still show nothing the model uses. :func:`check_maps` asks the model
itself: the top ``top`` share of the face's patches by the map are replaced by the model's neutral
baseline (:func:`fakescope.explainers.quality.neutral_baseline`), and the drop of the target logit is
compared with the drops when the same share of *randomly chosen* patches is replaced
(``n_random`` draws): ``score = drop(map) − mean drop(random)``, in target-logit units. It costs
``2 + n_random`` forward passes per face (one batch).

Flags (``Faithfulness.flags``):

* ``empty_map`` — the map is constant or not finite: it says nothing;
* ``no_better_than_random`` — removing what the map points at lowers the target score by no more than
  removing random patches does in at least two of the ``n_random`` (8) draws, or by less than 0.01
  logit more than their mean (a random map passes with probability 2/9; a model that does not react
  to the face at all, e.g. one with randomised weights, is always flagged);
* ``failed_sanity_check`` — the method failed the model-randomisation check on this model in the
  shipped measurement (``explainers/quality.json``): its maps barely depend on what the model learned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._base import _device_of, logits_of, make_baseline
from .quality import failed_sanity, neutral_baseline

__all__ = ["FLAGS", "Faithfulness", "check_maps", "map_flags"]

FLAGS = ("empty_map", "no_better_than_random", "failed_sanity_check")
#: smallest score (target-logit units) that counts as better than random
MIN_GAIN = 0.01


@dataclass
class Faithfulness:
    """One face's check: ``score`` = drop(map) − mean drop(random) in target-logit units (> 0: the map
    points at evidence the model uses); ``flags``: see the module docstring."""

    score: float | None
    drop_map: float | None
    drop_random: list[float]
    flags: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """JSON-friendly form (what ``result.json`` stores per explanation)."""
        return {"score": self.score, "drop_map": self.drop_map, "drop_random": self.drop_random, **self.detail}


def map_flags(amap: np.ndarray) -> list[str]:
    """``["empty_map"]`` for a constant or non-finite map, else ``[]``."""
    a = np.asarray(amap)
    if a.size == 0 or not np.isfinite(a).all() or float(a.max() - a.min()) <= 1e-12 * max(1.0, float(np.abs(a).max())):
        return ["empty_map"]
    return []


def _grid(size: int, patch: int) -> int:
    return max(1, size // patch)


@torch.no_grad()
def check_maps(
    model: nn.Module,
    faces: torch.Tensor,
    maps: np.ndarray,
    method: str,
    target: str = "fake",
    top: float = 0.1,
    n_random: int = 8,
    patch: int | None = None,
    baseline: Any = "neutral",
    seed: int = 0,
) -> list[Faithfulness]:
    """Faithfulness of ``maps`` (N×H×W, larger = more evidence for ``target``) on ``faces``
    (N×3×H×W RGB in [0, 1]) for ``model``; ``method`` names the explainer (for the sanity flag)."""
    if len(faces) != len(maps):
        raise ValueError(f"{len(faces)} faces but {len(maps)} maps")
    model.eval()
    dev = _device_of(model)
    x = faces.detach().to(dev, torch.float32)
    n, _, h, w = x.shape
    patch = patch or max(1, min(h, w) // 14)
    gh, gw = _grid(h, patch), _grid(w, patch)
    k = max(1, int(round(top * gh * gw)))
    kind = neutral_baseline(model) if baseline == "neutral" else baseline
    base = make_baseline(x, kind, model=model)
    sign = 1.0 if target == "fake" else -1.0
    sanity_failed = failed_sanity(model, method)
    rng = np.random.default_rng(seed)
    out: list[Faithfulness] = []
    for i in range(n):
        flags = map_flags(maps[i])
        if sanity_failed:
            flags.append("failed_sanity_check")
        detail = {"top": top, "n_random": n_random, "baseline": str(kind), "patch": patch}
        if "empty_map" in flags:
            out.append(Faithfulness(None, None, [], flags, detail))
            continue
        m = torch.from_numpy(np.nan_to_num(np.asarray(maps[i], np.float32), nan=-np.inf)).to(dev)
        cells = F.adaptive_avg_pool2d(m[None, None], (gh, gw)).flatten()  # mean map value per patch
        chosen = [torch.topk(cells, k).indices.cpu().numpy()]
        chosen += [rng.choice(gh * gw, size=k, replace=False) for _ in range(n_random)]
        masks = np.zeros((len(chosen), gh * gw), np.float32)
        for j, idx in enumerate(chosen):
            masks[j, idx] = 1.0
        mk = torch.from_numpy(masks).to(dev).view(-1, 1, gh, gw)
        mk = F.interpolate(mk, size=(h, w), mode="nearest")
        batch = torch.cat([x[i : i + 1], x[i : i + 1] * (1 - mk) + base[i : i + 1] * mk])
        s = sign * logits_of(model(batch), len(batch)).float().cpu().numpy()
        drops = s[0] - s[1:]
        d_map, d_rand = float(drops[0]), [float(v) for v in drops[1:]]
        score = d_map - float(np.mean(d_rand))
        second = sorted(d_rand)[-2] if len(d_rand) > 1 else max(d_rand)
        if d_map <= second or score <= MIN_GAIN:
            flags.append("no_better_than_random")
        out.append(Faithfulness(round(score, 4), round(d_map, 4), [round(v, 4) for v in d_rand], flags, detail))
    return out
