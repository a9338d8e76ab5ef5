"""Link face detections across sampled frames into identity tracks.

Written here (no maintained library fits sparse-sample face linking without an appearance model):
greedy matching on a cost that combines box overlap and centre distance, so that faces still link
when samples are far apart in time, with a grace period of ``max_gap`` samples when a face is lost.
Matching is global per frame (all pairs scored, best first), so the order in which a detector lists
faces never changes which identity a face joins. Two boxes whose sizes (longer sides) differ by more
than 2× never link, however close: a face does not double in size between samples, while a small face
passing in front of a large one does (tested at exactly 2× and just above in tests/test_boundaries.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _similarity(a: tuple[float, ...], b: tuple[float, ...], max_dist: float) -> float:
    """Similarity in [0, 2): IoU plus closeness of centres (0 when not linkable)."""
    wa, ha, wb, hb = a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1]
    size_a, size_b = max(wa, ha), max(wb, hb)
    if min(size_a, size_b) <= 0 or max(size_a, size_b) / min(size_a, size_b) > 2.0:
        return 0.0
    dist = np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2)
    closeness = 1.0 - dist / (max_dist * (size_a + size_b) / 2)
    overlap = iou(a, b)
    if closeness <= 0 and overlap <= 0:
        return 0.0
    return overlap + max(closeness, 0.0)


@dataclass
class _Track:
    id: int
    box: tuple[float, float, float, float]
    last_sample: int
    members: list[int] = field(default_factory=list)


class IouTracker:
    """Online tracker. Call :meth:`update` once per sampled frame, in order.

    ``max_dist``: the largest centre displacement, in face sizes, that still links two boxes;
    ``max_gap``: how many consecutive samples a track may miss before it is closed.
    """

    def __init__(self, max_dist: float = 1.5, max_gap: int = 3) -> None:
        self.max_dist = max_dist
        self.max_gap = max_gap
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._sample = -1

    def update(self, boxes: list[tuple[float, float, float, float]]) -> list[int]:
        """Assign a track id to each box of the next sampled frame; returns ids in input order."""
        self._sample += 1
        live = [t for t in self._tracks if self._sample - t.last_sample <= self.max_gap + 1]
        pairs = []
        for ti, t in enumerate(live):
            for bi, b in enumerate(boxes):
                s = _similarity(t.box, b, self.max_dist)
                if s > 0:
                    # prefer recent tracks on ties: a tiny penalty per missed sample
                    pairs.append((s - 1e-3 * (self._sample - t.last_sample), ti, bi))
        pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
        ids: list[int | None] = [None] * len(boxes)
        used_t: set[int] = set()
        for _, ti, bi in pairs:
            if ti in used_t or ids[bi] is not None:
                continue
            used_t.add(ti)
            t = live[ti]
            t.box, t.last_sample = boxes[bi], self._sample
            ids[bi] = t.id
        # new tracks are numbered left to right so ids do not depend on detector output order
        for bi in sorted((i for i, v in enumerate(ids) if v is None), key=lambda i: (boxes[i][0], boxes[i][1])):
            t = _Track(self._next_id, boxes[bi], self._sample)
            self._next_id += 1
            self._tracks.append(t)
            ids[bi] = t.id
        return [int(i) for i in ids]  # type: ignore[arg-type]

    def live_ids(self) -> set[int]:
        """Ids of the tracks the next sample can still extend (missed at most ``max_gap`` samples so far)."""
        return {t.id for t in self._tracks if self._sample - t.last_sample <= self.max_gap}
