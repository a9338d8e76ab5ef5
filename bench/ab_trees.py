"""Side-by-side timing of ``Analyzer().analyze`` in two source trees (e.g. before and after a refactor), on
``bench/pipeline.py``'s 60-s 1080p clip.

    .venv/bin/python bench/ab_trees.py BEFORE_SRC AFTER_SRC [--rounds 3] [--clip PATH]

Each run is a fresh subprocess with ``PYTHONPATH`` set to one tree's ``src``: the analyzer is built and
warmed up on the clip once, then one timed analysis; the trees alternate, first one then the other,
for ``--rounds`` rounds. Reported: each run's wall time, its CPU time and the verdict, and the
median ratio after/before (paired per round).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time, resource
from fakescope.pipeline import Analyzer
clip = sys.argv[1]
a = Analyzer()
a.analyze(clip)  # warm-up: first-call set-up out of the timing
t0, c0 = time.perf_counter(), time.process_time()
r = a.analyze(clip)
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0, "verdict": r.verdict.label,
                  "score": r.verdict.score, "faces": sum(len(f.faces) for f in r.frames),
                  "timings": r.timings, "module": __import__("fakescope").__file__}))
"""


def run(src: Path, clip: Path) -> dict:
    env = {"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"}
    p = subprocess.run([sys.executable, "-c", CHILD, str(clip)], capture_output=True, text=True, env=env, check=True)
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clip", type=Path, default=None)
    a = ap.parse_args()
    if a.clip is None:
        sys.path.insert(0, str(ROOT / "bench"))
        from pipeline import build_clip

        a.clip = build_clip(1800)
    rows = []
    for i in range(a.rounds):
        order = (("before", a.before), ("after", a.after)) if i % 2 == 0 else (("after", a.after), ("before", a.before))
        got = {name: run(src, a.clip) for name, src in order}
        rows.append(got)
        print(json.dumps({k: {x: v[x] for x in ("wall", "cpu", "verdict", "score", "faces", "module")}
                          for k, v in got.items()}), flush=True)
    ratio_wall = statistics.median(r["after"]["wall"] / r["before"]["wall"] for r in rows)
    ratio_cpu = statistics.median(r["after"]["cpu"] / r["before"]["cpu"] for r in rows)
    print(f"after/before, median of {a.rounds} paired rounds: wall {ratio_wall:.3f}, CPU {ratio_cpu:.3f}")
    same = all(r["after"]["verdict"] == r["before"]["verdict"] and r["after"]["score"] == r["before"]["score"]
               for r in rows)
    print(f"same verdict and score in every round: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
