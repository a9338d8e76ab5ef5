"""Train/val/test splits: stratified by label, grouped by identity (or clip), seeded, saved as JSON.

Grouping makes sure a person never appears on two sides: with ``group_by="identity"`` the records
are joined into groups by union–find over ``identity`` and ``source_identity`` (a face swap 000_003
ties persons 000 and 003 together, as FaceForensics++'s official pair splits do); with
``group_by="video"`` only frames of one clip (and a fake with its original, through the same ids)
stay together. Groups are assigned with scikit-learn's ``StratifiedGroupKFold`` (shuffled, seeded):
with ratios 0.8/0.1/0.1 the groups are cut into 10 label-stratified folds, one fold is the test set,
one the validation set, eight the training set. With fewer groups than folds a seeded greedy
assignment is used instead. The result is written to a JSON file (clip id → split) that later runs
reuse, so a training and its evaluation see the same split.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from .records import FaceRecord

__all__ = ["SPLITS", "assign_splits", "load_splits", "make_splits", "save_splits", "split_records"]

SPLITS = ("train", "val", "test")


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, a: str) -> str:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _groups(records: list[FaceRecord], group_by: str) -> dict[str, str]:
    """clip id → group key (the smallest member key of its connected component)."""
    if group_by not in ("identity", "video"):
        raise ValueError(f"group_by must be 'identity' or 'video', got {group_by!r}")
    uf = _UnionFind()
    for r in records:
        v = f"v:{r.video or r.path}"
        uf.find(v)
        if group_by == "identity":
            if r.identity:
                uf.union(v, f"i:{r.identity}")
            if r.source_identity:
                uf.union(v, f"i:{r.source_identity}")
    return {r.video or r.path: uf.find(f"v:{r.video or r.path}") for r in records}


def _folds_for(ratios: tuple[float, ...]) -> tuple[int, list[int]] | None:
    for k in range(2, 101):
        parts = [r * k for r in ratios]
        if all(abs(p - round(p)) < 1e-6 for p in parts):
            return k, [round(p) for p in parts]
    return None


def make_splits(
    records: list[FaceRecord],
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    group_by: str = "identity",
    use_official: bool | str = "auto",
) -> dict:
    """Split ``records`` into train/val/test; returns the JSON-able split description.

    ``use_official``: ``"auto"`` uses the dataset's own ``split`` column when every record has one
    (a missing ``val`` is then carved out of ``train`` by groups, with ratio val/(train+val)).
    """
    if not records:
        raise ValueError("no records to split")
    ratios = tuple(float(r) for r in ratios)
    if len(ratios) != 3 or any(r < 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-6:
        raise ValueError(f"ratios must be three non-negative numbers summing to 1, got {ratios}")
    group_of = _groups(records, group_by)
    official = {r.split for r in records}
    use = use_official is True or (use_official == "auto" and None not in official and "test" in official)
    video_split: dict[str, str] = {}
    method = "StratifiedGroupKFold"
    if use:
        method = "official"
        for r in records:
            video_split[r.video or r.path] = {"valid": "val", "validation": "val", "dev": "val"}.get(r.split, r.split)
        if "val" not in video_split.values() and ratios[1] > 0:
            train = [r for r in records if video_split[r.video or r.path] == "train"]
            val_share = ratios[1] / (ratios[0] + ratios[1])
            sub = _assign(train, group_of, (1 - val_share, val_share), seed)
            for v, s in sub.items():
                video_split[v] = ("train", "val")[s]
            method = "official + val from train (StratifiedGroupKFold)"
        _check_official(records, video_split, group_of)
    else:
        assign = _assign(records, group_of, ratios, seed)
        video_split = {v: SPLITS[s] for v, s in assign.items()}
    counts = {s: Counter() for s in SPLITS}
    for r in records:
        counts[video_split[r.video or r.path]][str(r.label)] += 1
    return {
        "version": 1,
        "seed": seed,
        "ratios": list(ratios),
        "group_by": group_by,
        "method": method,
        "counts": {s: {"real": c.get("0", 0), "fake": c.get("1", 0), "groups": len(
            {group_of[r.video or r.path] for r in records if video_split[r.video or r.path] == s})}
            for s, c in counts.items()},
        "videos": dict(sorted(video_split.items())),
    }  # fmt: skip


def _check_official(records, video_split, group_of) -> None:
    by_group: dict[str, set[str]] = defaultdict(set)
    for r in records:
        by_group[group_of[r.video or r.path]].add(video_split[r.video or r.path])
    crossing = sum(len(s) > 1 for s in by_group.values())
    if crossing:
        import logging

        logging.getLogger(__name__).warning(
            "the dataset's official split puts %d identity group(s) on more than one side", crossing
        )


def _assign(
    records: list[FaceRecord], group_of: dict[str, str], ratios: tuple[float, ...], seed: int
) -> dict[str, int]:
    """clip id → split index, stratified by label and grouped (one sample per record, so the split
    sizes follow the ratios in faces, not in clips)."""
    videos = sorted({r.video or r.path for r in records})
    groups = sorted({group_of[v] for v in videos})
    gindex = {k: i for i, k in enumerate(groups)}
    y = np.array([r.label for r in records])
    g = np.array([gindex[group_of[r.video or r.path]] for r in records])
    folds = _folds_for(ratios)
    group_split: dict[int, int] = {}
    if folds is not None and len(groups) >= folds[0] and min(Counter(y).values()) >= 1:
        from sklearn.model_selection import StratifiedGroupKFold

        k, per = folds
        order = [i for i, n in enumerate(per) for _ in range(n)]  # fold → split index
        # test first, then val: fold 0.. go to the last splits so small splits get whole folds
        order = sorted(order, key=lambda s: -s)
        skf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        for fold, (_, idx) in enumerate(skf.split(np.zeros(len(y)), y, g)):
            for gi in set(g[idx].tolist()):
                group_split[gi] = order[fold]
    else:
        group_split = _greedy(g, y, ratios, seed)
    return {v: group_split[gindex[group_of[v]]] for v in videos}


def _greedy(g: np.ndarray, y: np.ndarray, ratios: tuple[float, ...], seed: int) -> dict[int, int]:
    """Few groups: shuffle them (seeded) and give each to the split furthest below its target."""
    rng = random.Random(seed)
    ids = sorted(set(g.tolist()))
    rng.shuffle(ids)
    size = Counter(g.tolist())
    fakes = Counter(g[y == 1].tolist())
    n, nf = len(g), int((y == 1).sum())
    have = [0.0] * len(ratios)
    have_f = [0.0] * len(ratios)
    out: dict[int, int] = {}
    # every split with a positive ratio gets one group first (when there are enough groups)
    wanted = [i for i, r in enumerate(ratios) if r > 0]
    for gi in ids:
        empty = [i for i in wanted if have[i] == 0]
        if empty and len(ids) - len(out) >= len(empty):
            s = sorted(empty, key=lambda i: ratios[i])[0]
        else:
            def deficit(i: int, gi: int = gi) -> float:
                d = ratios[i] * n - have[i]
                if nf:
                    d += (ratios[i] * nf - have_f[i]) * (1 if fakes[gi] else -1) * 0.5
                return d

            s = max(wanted, key=deficit)
        out[gi] = s
        have[s] += size[gi]
        have_f[s] += fakes[gi]
    return out


def save_splits(splits: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_text(json.dumps(splits, indent=1) + "\n")
    tmp.replace(path)
    return path


def load_splits(path: str | Path) -> dict:
    d = json.loads(Path(path).read_text())
    if "videos" not in d:
        raise ValueError(f"{path}: not a fakescope split file (no 'videos')")
    return d


def split_records(records: list[FaceRecord], splits: dict, strict: bool = True) -> dict[str, list[FaceRecord]]:
    """Records per split name according to ``splits`` (from :func:`make_splits` / :func:`load_splits`).

    ``strict``: a record whose clip is not in the split file raises ValueError (else it is dropped).
    """
    table = splits["videos"]
    out: dict[str, list[FaceRecord]] = {s: [] for s in SPLITS}
    unknown = 0
    for r in records:
        s = table.get(r.video or r.path)
        if s is None:
            unknown += 1
            continue
        out.setdefault(s, []).append(r)
    if unknown and strict:
        raise ValueError(f"{unknown} record(s) belong to clips that the split file does not list")
    return out


def assign_splits(
    records: list[FaceRecord],
    path: str | Path | None = None,
    **make_kwargs,
) -> tuple[dict[str, list[FaceRecord]], dict]:
    """Reuse the split file at ``path`` if it exists, else make one (and save it there)."""
    if path is not None and Path(path).is_file():
        splits = load_splits(path)
    else:
        splits = make_splits(records, **make_kwargs)
        if path is not None:
            save_splits(splits, path)
    return split_records(records, splits), splits
