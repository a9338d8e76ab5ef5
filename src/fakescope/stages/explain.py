"""The *explain* stage: which faces to explain (kept while the input is read, memory bounded), and the
explanation maps of every configured method on them (fakescope.explainers), each with a cheap
faithfulness check (fakescope.explainers.faithfulness)."""

from __future__ import annotations

import heapq
import logging
import random

import numpy as np
import torch

from ..schema import ExplanationRecord, Face, FrameResult
from .score import Member

log = logging.getLogger(__name__)

RESERVOIR = 32  # faces per identity kept as candidates for the "most typical" explanations


class Candidates:
    """The faces that may be explained, per identity, as they are scored: the ``k`` highest-P(fake) ones
    (a min-heap; ``k`` = 1 when nothing is explained: the thumbnail of the report), and a uniform
    reservoir sample (when explaining) from which the most typical faces are picked."""

    def __init__(self, k: int, explaining: bool) -> None:
        self.k = k if explaining else 1
        self.explaining = explaining
        self.keep: dict[int, list[tuple[float, int, Face, np.ndarray]]] = {}
        self.reservoir: dict[int, tuple[int, list[tuple[int, Face, np.ndarray]]]] = {}
        self.face_frame: dict[int, FrameResult] = {}
        self._rng = random.Random(0)

    def add_frame(self, frame: FrameResult) -> None:
        for face in frame.faces:
            self.face_frame[id(face)] = frame

    def add(self, face: Face, crop: np.ndarray) -> None:
        heap = self.keep.setdefault(face.track_id, [])
        item = (face.p_fake, id(face), face, crop)
        (heapq.heappush if len(heap) < self.k else heapq.heappushpop)(heap, item)
        if not self.explaining:
            return
        seen, sample = self.reservoir.setdefault(face.track_id, (0, []))
        if len(sample) < RESERVOIR:
            sample.append((id(face), face, crop))
        elif (j := self._rng.randrange(seen + 1)) < RESERVOIR:
            sample[j] = (id(face), face, crop)
        self.reservoir[face.track_id] = (seen + 1, sample)

    def choose(self, tracks) -> list[tuple[int, Face, np.ndarray, str]]:
        """Faces to explain per identity: the most fake ones when the identity is fake or uncertain,
        else the ``k`` faces whose P(fake) is closest to the identity's score (the most typical)."""
        out = []
        for t in tracks:
            if t.label in ("fake", "uncertain"):
                out += [(fid, face, crop, "most fake") for _, fid, face, crop in self.keep.get(t.id, [])]
            else:
                target = t.score if t.score is not None else t.mean_p_fake
                sample = sorted(self.reservoir.get(t.id, (0, []))[1], key=lambda it: abs(it[1].p_fake - target))
                out += [(fid, face, crop, "typical") for fid, face, crop in sample[: self.k]]
        return out

    def thumbnails(self) -> list[tuple[int, Face, np.ndarray, str]]:
        return [(fid, face, crop, "thumbnail") for heap in self.keep.values() for _, fid, face, crop in heap]

    def faces(self, chosen) -> list[dict]:
        """The chosen faces ``[(id, face, crop, why)]`` in frame order, as the renderers read them."""
        ff = self.face_frame
        chosen = sorted(chosen, key=lambda it: (ff[it[0]].index, it[1].track_id))
        return [
            {
                "crop": it[2],
                "maps": {},
                "track_id": it[1].track_id,
                "frame_index": ff[it[0]].index,
                "time": ff[it[0]].time,
                "face": ff[it[0]].faces.index(it[1]),
                "p_fake": it[1].p_fake,
                "why": it[3],
                "face_obj": it[1],
            }
            for it in chosen
        ]


def explained_member(members: list[Member], tracks, verdict) -> Member:
    """The ensemble member whose maps explain the verdict: for a fake or uncertain verdict, the one that
    scored the deciding identity highest; else (and when that member needs crops of another size than
    the first's, which the kept faces are) the first."""
    first = members[0]
    if len(members) == 1 or verdict.label not in ("fake", "uncertain"):
        return first
    ids = verdict.fake_tracks or [t.id for t in sorted(tracks, key=lambda t: -(t.score or 0.0))
                                  if t.label == "uncertain"][:1]  # fmt: skip
    deciding = next((t for t in tracks if ids and t.id == ids[0]), None)
    if deciding is None or not deciding.model_scores:
        return first
    best = max(members, key=lambda m: deciding.model_scores.get(m.key, float("-inf")))
    return best if best.crop_key == first.crop_key else first


class ExplainStage:
    def __init__(self, cfg) -> None:
        self.cfg = cfg  # an AnalyzeConfig: explain, explain_target, explain_options, batch_size, faithfulness

    def __call__(self, explained: list[dict], member: Member, progress=None) -> list[ExplanationRecord]:
        """Run every configured explainer on the ``explained`` faces (:meth:`Candidates.faces`), batched
        per method, on ``member``'s model; the maps go into each face's ``maps``."""
        from ..explainers import explain

        cfg = self.cfg
        faces = [e["face_obj"] for e in explained]
        x = torch.from_numpy(np.stack([e["crop"] for e in explained])).permute(0, 3, 1, 2).float().div_(255.0)
        records = []
        done_maps, total_maps = 0, len(x) * len(cfg.explain)
        if progress:
            progress(0, total_maps, "explain")
        for e, face in zip(explained, faces, strict=True):  # an aligned crop's frame → crop affine, once per face
            e["transform"] = self._transform(member, face)
        for method in cfg.explain:
            maps = []
            for start in range(0, len(x), cfg.batch_size):
                ex = explain(member.model, x[start : start + cfg.batch_size], method=method,
                             target=cfg.explain_target, **cfg.explain_options.get(method, {}))
                maps.append(ex.maps)
                done_maps += len(ex.maps)
                if progress:
                    progress(done_maps, total_maps, "explain")
            all_maps = np.concatenate(maps)
            checks = self.faithfulness(x, all_maps, method, member.model)
            for e, face, m, chk in zip(explained, faces, all_maps, checks, strict=True):
                e["maps"][method] = m
                tr = e["transform"]
                records.append(
                    ExplanationRecord(
                        frame_index=e["frame_index"],
                        time=e["time"],
                        track_id=face.track_id,
                        face=e["face"],
                        p_fake=face.p_fake,
                        method=method,
                        target=ex.target,
                        model=member.key,
                        why=e["why"],
                        layer=ex.layer,
                        sign=ex.sign,
                        value_range=ex.value_range,
                        params=ex.metadata()["params"],
                        faithfulness=None if chk is None else chk.score,
                        faithfulness_detail={} if chk is None else chk.record(),
                        flags=[] if chk is None else chk.flags,
                        crop_transform=None if tr is None else np.round(tr, 6).tolist(),
                    )
                )
        return records

    @staticmethod
    def _transform(member: Member, face: Face):
        """Frame → crop affine of an aligned crop (None: the square crop, also when alignment fell back)."""
        size, _, _, align = member.crop_key
        if align == "none":
            return None
        from ..faces.align import crop_matrix

        return crop_matrix(face.landmarks, align, size)

    def faithfulness(self, x, maps, method, model):
        """Per face: :func:`fakescope.explainers.faithfulness.check_maps` (None when switched off or
        when the check itself fails: the explanation is kept, without a score)."""
        if not self.cfg.explain_faithfulness:
            return [None] * len(maps)
        from ..explainers.faithfulness import check_maps

        try:
            return check_maps(model, x, maps, method, target=self.cfg.explain_target)
        except Exception as e:  # noqa: BLE001 - a failed check never loses the explanation
            log.warning("faithfulness check of %s failed: %s", method, e)
            return [None] * len(maps)
