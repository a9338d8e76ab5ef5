"""Benchmark of batch analysis (issue 14): throughput of ``fakescope batch`` (1 and 2 local workers, Ray
with 2 CPUs) against ``fakescope analyze`` on the same inputs, peak memory per worker, the results
store (SQLite vs Parquet), and analysis / bare full decode on the 60-s 1080p clip with planned decoding
off (before) and on (after).

    PYTHONPATH=src .venv/bin/python bench/batch.py [--inputs 16] [--rounds 2] [--skip-decode] [--skip-throughput]

Everything is measured side by side and interleaved (round-robin over the variants, ``--rounds``
rounds; medians reported with every raw number), because the machine is shared: the load average
(``uptime``) is printed before and after and written into the results.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## Batch analysis and decoding less (issue 14)"


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def med(xs) -> float:
    return statistics.median(xs) if xs else float("nan")


def env(**extra) -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + e.get("PYTHONPATH", "")
    e.update({"RAY_AUTH_MODE": "disabled", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "COLUMNS": "200", **extra})
    return e


# --- throughput ----------------------------------------------------------------------------------


def run_measured(cmd: list[str]) -> dict:
    """Run a command; wall time and the peak RSS of each worker process (sampled every 0.2 s)."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peaks: dict[int, tuple[str, int]] = {}
    stop = threading.Event()

    def sample() -> None:
        try:
            parent = psutil.Process(proc.pid)
        except psutil.Error:
            return
        while not stop.is_set():
            try:
                procs = [parent, *parent.children(recursive=True)]
            except psutil.Error:
                break
            for p in procs:
                try:
                    line = " ".join(p.cmdline())
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                role = ("worker" if "multiprocessing.spawn" in line or "AnalyzeActor" in line
                        else "driver" if p.pid == proc.pid else None)  # fmt: skip
                if role and rss > peaks.get(p.pid, ("", 0))[1]:
                    peaks[p.pid] = (role, rss)
            stop.wait(0.2)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    th.join()
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{cmd} failed ({proc.returncode}): {err[-2000:]}")
    rate = re.search(r"([0-9.]+) inputs/s", out)
    workers = [rss for role, rss in peaks.values() if role == "worker"]
    driver = [rss for role, rss in peaks.values() if role == "driver"]
    return {"wall": wall, "phase_rate": float(rate.group(1)) if rate else None,
            "worker_peak_mb": max(workers) / 2**20 if workers else None,
            "driver_peak_mb": max(driver) / 2**20 if driver else None}  # fmt: skip


def throughput(n_inputs: int, rounds: int) -> tuple[str, dict]:
    from test_batch import make_archive

    from fakescope.cli import main  # noqa: F401 - fail early if the package is broken

    samples = ROOT / ".cache" / "samples"
    tmp = Path(tempfile.mkdtemp(prefix="fsbatch"))
    make_archive(samples, ROOT / "tests" / "data" / "mesonet" / "test_images", tmp / "in", n_inputs)
    exe = [sys.executable, "-m", "fakescope.cli"]
    variants = {
        "analyze (1 process)": lambda o: [*exe, "analyze", str(tmp / "in"), "--out", o, "--no-report"],
        "batch --workers 1": lambda o: [*exe, "batch", str(tmp / "in"), "--out", o, "--no-report", "--workers", "1"],
        "batch --workers 2": lambda o: [*exe, "batch", str(tmp / "in"), "--out", o, "--no-report", "--workers", "2"],
        "batch --engine ray (local, 2 CPUs)": lambda o: [*exe, "batch", str(tmp / "in"), "--out", o, "--no-report",
                                                         "--engine", "ray", "--workers", "2"],
    }  # fmt: skip
    raw: dict[str, list[dict]] = {k: [] for k in variants}
    for r in range(rounds):
        names = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in names:
            out = tmp / f"out_{r}_{len(raw[name])}_{abs(hash(name))}"
            m = run_measured(variants[name](str(out)))
            raw[name].append(m)
            print(f"  round {r + 1} {name}: {m['wall']:.1f} s, load {load()}", flush=True)
    rows = ["| variant | wall s (median) | inputs/s, whole command | inputs/s, analysis phase | peak RSS per worker "
            "(MiB) | raw wall s |", "|---|---|---|---|---|---|"]  # fmt: skip
    base = med([m["wall"] for m in raw["analyze (1 process)"]])
    summary = {}
    for name, ms in raw.items():
        w = med([m["wall"] for m in ms])
        pr = [m["phase_rate"] for m in ms if m["phase_rate"]]
        wk = [m["worker_peak_mb"] for m in ms if m["worker_peak_mb"]]
        drv = [m["driver_peak_mb"] for m in ms if m["driver_peak_mb"]]
        summary[name] = {"wall": w, "rate": n_inputs / w, "phase_rate": med(pr) if pr else None}
        mem = f"{max(wk):.0f}" if wk else f"(in-process: driver {max(drv):.0f})" if drv else "-"
        walls = ", ".join(f"{m['wall']:.1f}" for m in ms)
        phase = f"{med(pr):.3f}" if pr else "-"
        rows.append(f"| {name} | {w:.1f} | {n_inputs / w:.3f} ({base / w:.2f}× analyze) | {phase} | {mem} | {walls} |")
    return "\n".join(rows), summary


# --- store ---------------------------------------------------------------------------------------


def store_bench(n: int = 400) -> str:
    """Per-input cost of recording one finished input durably: SQLite (WAL, one transaction per row)
    vs Parquet (immutable: rewrite the file per row, or one file per row + a final compaction)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fakescope.archive.store import ResultStore
    from fakescope.engine import Outcome

    tmp = Path(tempfile.mkdtemp(prefix="fsstore"))
    summary = {"verdict": "fake", "score": 0.9, "reason": "x" * 80, "n_faces": 30, "n_tracks": 1, "max_p_fake": 0.99,
               "mean_p_fake": 0.8, "kind": "video", "duration": 60.0,
               "timings": {"decode": 1.0, "detect": 1.0, "classify": 0.3}}  # fmt: skip
    store = ResultStore(tmp / "sqlite")
    t0 = time.perf_counter()
    for i in range(n):
        key = f"{i:064x}"
        store.add(key, "s", f"/archive/{i}.mp4", f"{i}.mp4", 1000)
        outcome = Outcome(key, ok=True, summary=summary, seconds=1.0)
        store.record(key, "s", outcome, f"results/{i}/result.json", "process")
    t_sqlite = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    done = {r["sha256"] for r in store.rows(settings="s", status="done")}
    t_sqlite_read = time.perf_counter() - t0
    store.close()
    assert len(done) == n

    rows: list[dict] = []
    path = tmp / "results.parquet"
    t0 = time.perf_counter()
    for i in range(n):
        rows.append({"sha256": f"{i:064x}", "status": "done", **{k: v for k, v in summary.items() if k != "timings"}})
        pq.write_table(pa.Table.from_pylist(rows), path)  # atomicity would add a rename on top
    t_rewrite = (time.perf_counter() - t0) / n
    part = tmp / "parts"
    part.mkdir()
    t0 = time.perf_counter()
    for i, row in enumerate(rows):
        pq.write_table(pa.Table.from_pylist([row]), part / f"{i}.parquet")
    t_part = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    done_pq = set(pq.read_table(part).column("sha256").to_pylist())
    t_part_read = time.perf_counter() - t0
    assert len(done_pq) == n
    return (
        f"| store ({n} inputs recorded one by one) | per input | resume query (what is done) |\n|---|---|---|\n"
        f"| SQLite, WAL, one transaction per input (chosen) | {t_sqlite * 1e3:.2f} ms | "
        f"{t_sqlite_read * 1e3:.1f} ms |\n"
        f"| Parquet, whole file rewritten per input | {t_rewrite * 1e3:.2f} ms (grows with n: O(n²) in total) | - |\n"
        f"| Parquet, one file per input | {t_part * 1e3:.2f} ms | {t_part_read * 1e3:.1f} ms ({n} files) |"
    )


# --- decode floor --------------------------------------------------------------------------------


def child_decode(clip: str, plan: str, sampling: str, rounds: int) -> None:
    """In a fresh process: [bare decode, analyze] pairs; prints JSON."""
    os.environ["FAKESCOPE_DECODE_PLAN"] = plan
    from fakescope.media import Sampling
    from fakescope.pipeline import Analyzer

    an = Analyzer(sampling=Sampling.parse(sampling))
    an.analyze(ROOT / ".cache" / "samples" / "single_face.mp4")  # warm up
    import resource

    def cpu() -> float:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return ru.ru_utime + ru.ru_stime

    out = []
    for _ in range(rounds):
        t0, c0 = time.perf_counter(), cpu()
        with av.open(clip) as c:
            s = c.streams.video[0]
            s.thread_type = "AUTO"
            for _f in c.decode(s):
                pass
        bare, bare_cpu = time.perf_counter() - t0, cpu() - c0
        t0, c0 = time.perf_counter(), cpu()
        r = an.analyze(clip)
        out.append({"bare": bare, "analysis": time.perf_counter() - t0, "bare_cpu": bare_cpu,
                    "analysis_cpu": cpu() - c0, "timings": r.timings, "verdict": r.verdict.label,
                    "faces": r.n_faces})  # fmt: skip
    print(json.dumps(out))


def decode_bench(rounds: int) -> str:
    from pipeline import build_clip

    clip = str(build_clip(1800))
    variants = [("0", "even:32", "before: sequential decode of every frame"),
                ("1", "even:32", "after: planned decode (default)"),
                ("1", "keyframes", "after, `--frames keyframes`")]  # fmt: skip
    raw: dict[str, list[dict]] = {v[2]: [] for v in variants}
    for r in range(rounds):
        for plan, sampling, name in variants if r % 2 == 0 else variants[::-1]:
            p = subprocess.run([sys.executable, __file__, "--child-decode", clip, plan, sampling], env=env(),
                               capture_output=True, text=True, check=True)  # fmt: skip
            res = json.loads(p.stdout.strip().splitlines()[-1])
            raw[name] += res
            print(f"  round {r + 1} {name}: {[(round(x['bare'], 1), round(x['analysis'], 1)) for x in res]} "
                  f"load {load()}", flush=True)  # fmt: skip
    rows = ["| analysis of the 60-s 1080p clip | analysis / bare decode, CPU time (paired, median) | wall-time "
            "ratio (paired, median) | analysis s | bare s | decode / detect / classify s | verdict, faces | raw "
            "CPU ratios |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, ms in raw.items():
        ratios = [m["analysis"] / m["bare"] for m in ms]
        cpu_ratios = [m["analysis_cpu"] / m["bare_cpu"] for m in ms]
        t = {k: med([m["timings"].get(k, 0) for m in ms]) for k in ("decode", "detect", "classify")}
        rows.append(f"| {name} | **{med(cpu_ratios):.2f}** | {med(ratios):.2f} | "
                    f"{med([m['analysis'] for m in ms]):.2f} | "
                    f"{med([m['bare'] for m in ms]):.2f} | {t['decode']:.2f} / {t['detect']:.2f} / "
                    f"{t['classify']:.2f} | {ms[0]['verdict']}, {ms[0]['faces']} | "
                    f"{', '.join(f'{x:.2f}' for x in cpu_ratios)} |")  # fmt: skip
    return "\n".join(rows)


def same_verdicts_on_samples() -> str:
    """Every sample video analysed with planned decoding off and on: same frames, verdicts and scores."""
    from fakescope.pipeline import Analyzer

    an = Analyzer()
    lines = []
    for path in sorted((ROOT / ".cache" / "samples").glob("*.m*")):
        res = {}
        for plan in ("0", "1"):
            os.environ["FAKESCOPE_DECODE_PLAN"] = plan
            r = an.analyze(path)
            res[plan] = (r.verdict.label, r.verdict.score, [f.index for f in r.frames], r.n_faces)
        same = res["0"] == res["1"]
        lines.append(f"{path.name}: {res['1'][0]} (score {res['1'][1]}), {res['1'][3]} faces — "
                     f"{'identical frames, verdict and score' if same else 'DIFFERENT: ' + str(res)}")  # fmt: skip
    os.environ.pop("FAKESCOPE_DECODE_PLAN", None)
    return "\n".join(f"- {ln}" for ln in lines)


def write_section(text: str) -> None:
    old = RESULTS.read_text()
    start = old.find(SECTION)
    if start >= 0:
        end = old.find("\n## ", start + len(SECTION))
        old = old[:start].rstrip() + "\n\n" + (old[end + 1 :] if end >= 0 else "")
    RESULTS.write_text(old.rstrip() + "\n\n" + text.rstrip() + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--skip-decode", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-samples", action="store_true", help="no planned-vs-sequential check on the samples")
    ap.add_argument("--child-decode", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if args.child_decode:
        child_decode(*args.child_decode, rounds=1)
        return
    parts = [SECTION, "", f"`PYTHONPATH=src .venv/bin/python bench/batch.py --inputs {args.inputs} --rounds "
             f"{args.rounds}`; {os.cpu_count()} CPUs; load average (1/5/15 min) at the start {load()}."]  # fmt: skip
    print("store ...", flush=True)
    parts += ["", "### Results store", "", store_bench()]
    if not args.skip_throughput:
        print("throughput ...", flush=True)
        table, _ = throughput(args.inputs, args.rounds)
        parts += ["", f"### Throughput ({args.inputs} inputs: 320-px 2-s clips and small images from the sample "
                  "media, `--no-report`; every variant runs the whole command, start-up included)", "", table]
    if not args.skip_decode:
        print("decode ...", flush=True)
        parts += ["", "### Decoding less (60-s 1080p clip of bench/pipeline.py; each analysis paired with a bare "
                  "decode in the same fresh process)", "", decode_bench(args.rounds)]
        if not args.skip_samples:
            parts += ["", "Planned vs sequential decoding on the sample media (same Analyzer):", "",
                      same_verdicts_on_samples()]  # fmt: skip
    parts += ["", f"Load average at the end: {load()}."]
    text = "\n".join(parts)
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
