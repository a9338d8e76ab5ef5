"""Load test of the HTTP API (issue 6): N concurrent uploads of a short clip on loopback.

Starts ``fakescope serve`` (127.0.0.1, a free port, a temporary data dir) as a subprocess, then N
client threads each upload the clip (``POST /v1/analyses``), retrying 429s with exponential backoff
and jitter, and poll their job until it is done. Measures the latency upload→done (p50/p95), the
throughput, the 429s, and the server's peak RSS (process tree, sampled every 0.1 s) overall and while
the queue was full. Everything is bounded: N uploads, at most ``--attempts`` tries each, and a
``--max-seconds`` deadline after which clients give up and the server is stopped. Traffic goes to
127.0.0.1 only.

    .venv/bin/python bench/server_load.py [--clients 16] [--frames even:8] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
OUT = ROOT / "bench" / "out" / "server_load.json"
SECTION = "## HTTP API under load (issue 6)"
HOST = "127.0.0.1"  # never anything else


@dataclass
class ClientRun:
    index: int
    ok: bool = False
    status: str = ""
    error: str | None = None
    attempts: int = 0
    n_429: int = 0
    t_start: float = 0.0
    t_accepted: float | None = None
    t_done: float | None = None
    job_id: str | None = None
    verdict: str | None = None
    artifacts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def latency(self) -> float | None:
        return None if self.t_done is None else self.t_done - self.t_start


@dataclass
class Monitor:
    proc: psutil.Process
    base: str
    capacity: int = 0
    peak_rss: int = 0
    peak_rss_full: int = 0
    full_samples: int = 0
    samples: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def rss(self) -> int:
        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=5) as client:
            while not self.stop.is_set():
                try:
                    rss = self.rss()
                    health = client.get("/healthz").json()
                except (psutil.Error, httpx.HTTPError, ValueError):
                    time.sleep(0.1)
                    continue
                self.samples += 1
                self.peak_rss = max(self.peak_rss, rss)
                self.capacity = health["capacity"]
                if health["in_flight"] >= health["capacity"]:
                    self.full_samples += 1
                    self.peak_rss_full = max(self.peak_rss_full, rss)
                time.sleep(0.1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def client_job(run: ClientRun, base: str, clip: Path, data: dict, deadline: float, attempts: int,
               start_barrier: threading.Barrier) -> None:
    payload = clip.read_bytes()
    start_barrier.wait()
    run.t_start = time.monotonic()
    backoff = 0.5
    # idle keep-alive connections are dropped well before uvicorn's 5 s keep-alive timeout, so a
    # request never races the server closing its connection (a reset that is no server failure)
    limits = httpx.Limits(keepalive_expiry=1.0)
    with httpx.Client(base_url=base, timeout=60, limits=limits) as client:
        try:
            while True:
                if time.monotonic() > deadline or run.attempts >= attempts:
                    run.error = f"not accepted after {run.attempts} attempts"
                    return
                run.attempts += 1
                r = client.post("/v1/analyses", files={"file": (clip.name, payload, "video/mp4")}, data=data)
                if r.status_code == 202:
                    run.job_id = r.json()["id"]
                    run.t_accepted = time.monotonic()
                    break
                if r.status_code == 429:
                    run.n_429 += 1
                    time.sleep(min(backoff, 8.0) * random.uniform(0.5, 1.5))
                    backoff *= 2
                    continue
                run.error = f"HTTP {r.status_code}: {r.text[:200]}"
                return
            while time.monotonic() < deadline:
                job = client.get(f"/v1/analyses/{run.job_id}").json()
                if job["status"] in ("done", "failed"):
                    run.t_done = time.monotonic()
                    run.status = job["status"]
                    run.ok = job["status"] == "done"
                    run.error = job["error"]
                    run.verdict = (job.get("result") or {}).get("verdict", {}).get("label")
                    run.artifacts = job.get("artifacts", [])
                    run.warnings = (job.get("result") or {}).get("warnings", [])
                    return
                time.sleep(0.2)
            run.error = "job not finished before the deadline"
        except httpx.HTTPError as e:
            run.error = f"{type(e).__name__}: {e}"


def write_section(body: str) -> None:
    """Insert or replace only our section of bench/RESULTS.md (re-read just before writing)."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    section = f"{SECTION}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text.rstrip("\n") + "\n")


def render(summary: dict) -> str:
    """The markdown section for bench/RESULTS.md."""
    s = summary
    pictures = (" (the renderers failed: " + "; ".join(s["warnings"]) + ")") if s["warnings"] else ""
    body = f"""
`.venv/bin/python bench/server_load.py --write` — `fakescope serve --no-ui` on {HOST} (subprocess, fresh data dir),
{s['clients']} client threads upload `{s['clip']}` ({s['clip_bytes'] / 1024:.0f} KiB, 2.4 s, 640×360) at once with
`frames={s['frames']}`{f", explain={s['explain']}" if s['explain'] else ""}, then poll until done; a 429 is retried
after an exponential backoff with jitter (0.5 s doubling, ≤ 8 s). Server: workers={s['workers']},
queue_size={s['queue_size']} (capacity {s['workers'] + s['queue_size']} jobs in flight); files written per job:
{', '.join(s['artifacts_per_job']) or '-'}{pictures}.
{s['machine']}; load average at the end {s['load_average_end']} (shared machine: expect noise).

| metric | value |
|---|---:|
| jobs done / failed | {s['done']} / {s['failed']} |
| 429 responses (clients that saw one) | {s['http_429']} ({s['clients_with_429']}) |
| most upload attempts by one client | {s['max_attempts']} |
| latency upload→done p50 / p95 (s) | {s['latency_p50_s']} / {s['latency_p95_s']} |
| latency min / max (s) | {s['latency_min_s']} / {s['latency_max_s']} |
| wait until accepted (202) p50 / max (s) | {s['accept_wait_p50_s']} / {s['accept_wait_max_s']} |
| throughput (jobs/min) · wall time per job (s) | {s['throughput_jobs_per_min']} · {s['service_s_per_job']} |
| wall time, all {s['clients']} jobs (s) | {s['wall_s']} |
| server start-up until /healthz answers (s) | {s['boot_s']} |
| server RSS idle → peak (MiB) | {s['rss_idle_mib']} → {s['rss_peak_mib']} |
| server RSS peak while the queue was full (MiB) | {s['rss_peak_queue_full_mib']} ({s['queue_full_samples']} samples) |

- Every job finished{' without a failure' if not s['failed'] else ' — failures: ' + '; '.join(s['failures'])}.
  429s are the designed back-pressure: the server holds at most workers + queue_size jobs; a client that
  gets 429 (with `Retry-After: 5`) retries later, and the upload is refused before its body is stored.
- Latency is dominated by queueing: jobs run one at a time (workers=1, one model loaded once); the wall
  time per job is the service time of one analysis plus its annotated video, on 2 shared cores.
- Memory: "idle" is measured before the first job, which loads the model and face detector (once: one
  Analyzer per model/weights/detector is shared by the jobs, one at a time); the rise to the peak is that
  load plus decoding/encoding buffers. Waiting jobs hold only their upload on disk, so memory does not grow
  with the queue.
- Clients drop idle keep-alive connections after 1 s: with httpx's default (5 s, the same as uvicorn's
  keep-alive timeout) an earlier run lost one request to a "connection reset" when a request raced the
  server closing the idle connection; that is a client setting, not a server failure.
"""
    return body


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--clip", type=Path, default=ROOT / ".cache" / "samples" / "single_face.mp4")
    ap.add_argument("--frames", default="even:8", help="frame sampling of every job")
    ap.add_argument("--explain", default="", help="explanation methods of every job (comma list)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--queue-size", type=int, default=4)
    ap.add_argument("--attempts", type=int, default=60, help="most upload tries per client")
    ap.add_argument("--max-seconds", type=float, default=900.0, help="deadline for the whole run")
    ap.add_argument("--ui", action="store_true", help="also mount the web app (more memory)")
    ap.add_argument("--write", action="store_true", help="replace our section of bench/RESULTS.md")
    ap.add_argument("--from-json", action="store_true", help=f"no run: write the section from {OUT.name}")
    args = ap.parse_args()
    if args.from_json:
        write_section(render(json.loads(OUT.read_text())))
        print(f"wrote section {SECTION!r} to {RESULTS}")
        return 0
    if not args.clip.is_file():
        subprocess.run([sys.executable, str(ROOT / "scripts" / "fetch_samples.py")], check=True)

    port = _free_port()
    base = f"http://{HOST}:{port}"
    data_dir = Path(tempfile.mkdtemp(prefix="fakescope-load-"))
    env = {
        **os.environ,
        "FAKESCOPE_DATA_DIR": str(data_dir),
        "FAKESCOPE_WORKERS": str(args.workers),
        "FAKESCOPE_QUEUE_SIZE": str(args.queue_size),
        "FAKESCOPE_UI": "true" if args.ui else "false",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    env.pop("FAKESCOPE_TOKEN", None)
    cmd = [sys.executable, "-m", "fakescope.cli", "serve", "--host", HOST, "--port", str(port),
           "--ui" if args.ui else "--no-ui"]
    log_path = data_dir / "server.log"
    t_boot = time.monotonic()
    with open(log_path, "wb") as log:
        server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    hard_deadline = time.monotonic() + args.max_seconds
    try:
        while True:
            if server.poll() is not None:
                print(log_path.read_text()[-3000:], file=sys.stderr)
                raise SystemExit("the server exited during start-up")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > hard_deadline:
                raise SystemExit("the server did not start in time")
            time.sleep(0.2)
        boot_s = time.monotonic() - t_boot
        proc = psutil.Process(server.pid)
        rss_idle = proc.memory_info().rss
        mon = Monitor(proc, base)
        mon_thread = threading.Thread(target=mon.run, daemon=True)
        mon_thread.start()

        data = {"frames": args.frames}
        if args.explain:
            data["explain"] = args.explain
        runs = [ClientRun(i) for i in range(args.clients)]
        barrier = threading.Barrier(args.clients)
        threads = [
            threading.Thread(target=client_job, args=(r, base, args.clip, data, hard_deadline, args.attempts, barrier),
                             daemon=True)
            for r in runs
        ]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, hard_deadline - time.monotonic()) + 5)
        wall = time.monotonic() - t0
        mon.stop.set()
        mon_thread.join(5)
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
        shutil.rmtree(data_dir, ignore_errors=True)

    lat = [r.latency for r in runs if r.ok and r.latency is not None]
    accepted_wait = [r.t_accepted - r.t_start for r in runs if r.t_accepted is not None]
    n_ok = sum(r.ok for r in runs)
    n_429 = sum(r.n_429 for r in runs)
    failures = [f"client {r.index}: {r.status or 'error'}: {r.error}" for r in runs if not r.ok]
    summary = {
        "clients": args.clients,
        "clip": args.clip.name,
        "clip_bytes": args.clip.stat().st_size,
        "frames": args.frames,
        "explain": args.explain,
        "workers": args.workers,
        "queue_size": args.queue_size,
        "ui": args.ui,
        "boot_s": round(boot_s, 2),
        "wall_s": round(wall, 2),
        "done": n_ok,
        "failed": len(failures),
        "failures": failures,
        "http_429": n_429,
        "clients_with_429": sum(r.n_429 > 0 for r in runs),
        "max_attempts": max(r.attempts for r in runs),
        "latency_p50_s": round(_pct(lat, 0.5), 2),
        "latency_p95_s": round(_pct(lat, 0.95), 2),
        "latency_min_s": round(min(lat), 2) if lat else None,
        "latency_max_s": round(max(lat), 2) if lat else None,
        "accept_wait_p50_s": round(_pct(accepted_wait, 0.5), 2),
        "accept_wait_max_s": round(max(accepted_wait), 2) if accepted_wait else None,
        "throughput_jobs_per_min": round(60 * n_ok / wall, 2) if wall else None,
        "service_s_per_job": round(wall / n_ok, 2) if n_ok else None,
        "rss_idle_mib": round(rss_idle / 2**20, 1),
        "rss_peak_mib": round(mon.peak_rss / 2**20, 1),
        "rss_peak_queue_full_mib": round(mon.peak_rss_full / 2**20, 1),
        "queue_full_samples": mon.full_samples,
        "monitor_samples": mon.samples,
        "verdicts": sorted({r.verdict for r in runs if r.verdict}),
        "artifacts_per_job": sorted({a for r in runs for a in r.artifacts if not a.startswith("heatmaps/")}),
        "warnings": sorted({w for r in runs for w in r.warnings}),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU threads, Python {platform.python_version()}",
        "load_average_end": round(os.getloadavg()[0], 1),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))

    body = render(summary)
    if args.write:
        write_section(body)
        print(f"\nwrote section {SECTION!r} to {RESULTS}")
    return 0 if not failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
