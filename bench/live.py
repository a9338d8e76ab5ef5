"""Benchmark of live analysis (issue 24): sustained analysed frames/s, latency from capture to updated
verdicts (p50/p95), dropped share and memory over a session, for one and three faces at 720p.

Run from the repository root::

    .venv/bin/python bench/live.py                       # 60-s sessions, 1 and 3 faces, fps 5 and max
    .venv/bin/python bench/live.py --seconds 600 --faces 1 --fps 5   # the 10-minute memory run

Method: a 720p clip (cached in ``.cache/bench/``) is served as a real-time MPEG-TS stream on
``tcp://127.0.0.1`` by ``fakescope.live.replay`` in another process (packets copied at the pace of their
timestamps, looped), and read by ``fakescope.live.watch`` with the default analysis (YuNet at 640 px,
MesoInception-4, calibrated rule, window 10 s) — exactly what ``fakescope watch tcp://…`` runs. The
one-face clip is the real sample ``WolfgangLanger_Pexels.mp4`` (640×360) upscaled to 1280×720; the
three-face clip puts three copies of its frames side by side on a 1280×720 canvas. Latency = time from
the moment the reader decoded a frame to the moment its verdicts were updated (it includes any wait in
the one-frame queue). Memory = the process's RSS every 10 s (psutil); growth = last sample − the sample
at 20 % of the session (after warm-up).
"""

from __future__ import annotations

import argparse
import fractions
import json
import os
import platform
import socket
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / ".cache" / "samples" / "WolfgangLanger_Pexels.mp4"
CACHE = ROOT / ".cache" / "bench"
FPS = 30


def build_clip(faces: int) -> Path:
    out_path = CACHE / f"live720_{faces}face.mp4"
    if out_path.exists():
        return out_path
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as out, av.open(str(SAMPLE)) as src:
        stream = out.add_stream("libx264", rate=FPS, options={"preset": "veryfast", "crf": "23", "g": "60"})
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        for n, frame in enumerate(src.decode(video=0)):
            if faces == 1:
                big = frame.reformat(width=1280, height=720, format="yuv420p", interpolation="BILINEAR")
            else:
                rgb = frame.to_ndarray(format="rgb24")  # 360×640
                canvas = np.zeros((720, 1280, 3), np.uint8)
                canvas[:360, :640], canvas[:360, 640:], canvas[360:, 320:960] = rgb, rgb, rgb
                big = av.VideoFrame.from_ndarray(canvas, format="rgb24").reformat(format="yuv420p")
            big.pts, big.time_base = n, fractions.Fraction(1, FPS)
            out.mux(stream.encode(big))
        out.mux(stream.encode(None))
    os.replace(tmp, out_path)
    return out_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session(analyzer, clip: Path, fps: float, seconds: float) -> dict:
    import psutil

    from fakescope.live import LiveSource, watch
    from fakescope.live.replay import replay_process

    port = free_port()
    loops = int(seconds // 15.7) + 2
    sender = replay_process(clip, f"tcp://127.0.0.1:{port}?listen=1", loops=loops)
    proc = psutil.Process()
    rss: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        t0 = time.monotonic()
        while not done.wait(10.0 if seconds > 60 else 2.0):
            rss.append((time.monotonic() - t0, proc.memory_info().rss / 2**20))

    threading.Thread(target=sample, daemon=True).start()
    n_faces = []
    try:
        summary = watch(LiveSource(f"tcp://127.0.0.1:{port}", fps=fps), analyzer, window=10.0, duration=seconds,
                        on_event=lambda e: n_faces.append(len(e["faces"])) if e["event"] == "update" else None)
    finally:
        done.set()
        sender.kill()
    lat = np.array(summary.latencies) * 1000
    after_warm = [m for t, m in rss if t >= 0.2 * seconds] or [m for _, m in rss]
    return {
        "clip": clip.name, "fps_asked": fps, "seconds": round(summary.seconds, 1), "analysed": summary.analysed,
        "analysed_fps": round(summary.analysed / summary.seconds, 2),
        "faces_per_frame": round(float(np.mean(n_faces)), 2) if n_faces else 0,
        "latency_ms_p50": round(float(np.percentile(lat, 50)), 1),
        "latency_ms_p95": round(float(np.percentile(lat, 95)), 1),
        "dropped_share": round(summary.result.timings.get("live_dropped_share", 0.0), 3),
        "rss_mb_first": round(after_warm[0], 1) if after_warm else None,
        "rss_mb_last": round(rss[-1][1], 1) if rss else None,
        "rss_growth_mb": round(rss[-1][1] - after_warm[0], 1) if rss and after_warm else None,
        "verdict": summary.result.verdict.label,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--faces", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--fps", type=float, nargs="+", default=[5.0, 30.0], help="30 ≈ as many as it can take")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from fakescope.pipeline import Analyzer

    analyzer = Analyzer()
    rows = []
    for faces in a.faces:
        clip = build_clip(faces)
        for fps in a.fps:
            row = session(analyzer, clip, fps, a.seconds)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    print("| faces | fps asked | analysed fps | latency p50 / p95 (ms) | dropped | RSS first → last (MB) | verdict |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['faces_per_frame']} | {r['fps_asked']:g} | {r['analysed_fps']} | {r['latency_ms_p50']} / "
              f"{r['latency_ms_p95']} | {r['dropped_share']:.0%} | {r['rss_mb_first']} → {r['rss_mb_last']} | "
              f"{r['verdict']} |")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
