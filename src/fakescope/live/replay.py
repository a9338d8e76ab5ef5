"""Serve a video file as a real-time stream on a local address — for demos, tests and ``bench/live.py``.

The packets are copied (no encoding) into MPEG-TS and sent at the pace of their timestamps, so a reader sees
what a camera or a streaming server would send. ``tcp://127.0.0.1:PORT?listen=1`` waits for one reader;
``udp://127.0.0.1:PORT`` sends without one. Written here: FFmpeg's ``-re`` does this in its command-line
tool, which is not installed; PyAV offers the parts but no pacing.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import av.error

log = logging.getLogger(__name__)


def replay(path: str | Path, url: str, *, loops: int = 1, speed: float = 1.0, stop: threading.Event | None = None,
           stall_at: float | None = None, stall_for: float = 0.0, timeout: float = 20.0, delay: float = 0.0) -> int:
    """Send ``path``'s video packets to ``url`` (MPEG-TS) at real-time pace, ``loops`` times over; returns
    the number of packets sent. ``stall_at``/``stall_for`` (seconds): pause the sender once, as a stalled
    network would. ``delay``: wait before sending (a UDP reader must be listening first). ``stop`` ends it
    early."""
    sent = 0
    time.sleep(delay)
    with av.open(str(url), "w", format="mpegts", timeout=timeout) as out:
        with av.open(str(path)) as src:
            ins = src.streams.video[0]
            outs = out.add_stream_from_template(ins)
        t0: float | None = None  # set once the first packet is out: writing it waits for the reader to connect
        offset = 0.0
        stalled = False
        for _ in range(max(1, loops)):
            last = 0.0
            with av.open(str(path)) as src:
                ins = src.streams.video[0]
                for packet in src.demux(ins):
                    if packet.dts is None or packet.size == 0:
                        continue
                    t = float(packet.pts * packet.time_base) if packet.pts is not None else last
                    last = max(last, t)
                    if t0 is not None and stall_at is not None and not stalled and offset + t >= stall_at:
                        stalled = True
                        time.sleep(stall_for)
                        t0 += stall_for
                    wait = 0.0 if t0 is None else t0 + (offset + t) / speed - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    if stop is not None and stop.is_set():
                        return sent
                    shift = round(offset / packet.time_base)
                    packet.pts = None if packet.pts is None else packet.pts + shift
                    packet.dts = packet.dts + shift
                    packet.stream = outs
                    out.mux(packet)
                    if t0 is None:
                        t0 = time.monotonic() - (offset + t) / speed
                    sent += 1
            offset += last + 1.0 / float(ins.average_rate or 25)
    return sent


def replay_process(path: str | Path, url: str, *, loops: int = 1, speed: float = 1.0,
                   stall_at: float | None = None, stall_for: float = 0.0, delay: float = 0.0) -> subprocess.Popen:
    """:func:`replay` in a child process (PyAV holds the GIL while a listening socket waits for its reader,
    so a thread would block the reader in the same process). Stop it with ``.terminate()``."""
    cmd = [sys.executable, "-m", "fakescope.live.replay", str(path), url, "--loops", str(loops), "--speed", str(speed),
           "--delay", str(delay)]
    if stall_at is not None:
        cmd += ["--stall-at", str(stall_at), "--stall-for", str(stall_for)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.readline()  # "ready": about to open the address (a listening socket is ready a moment later)
    time.sleep(0.3)
    return proc


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m fakescope.live.replay", description=__doc__.split("\n")[0])
    ap.add_argument("path")
    ap.add_argument("url", help="e.g. tcp://127.0.0.1:9000?listen=1 or udp://127.0.0.1:9000")
    ap.add_argument("--loops", type=int, default=1)
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--stall-at", type=float, default=None)
    ap.add_argument("--stall-for", type=float, default=0.0)
    ap.add_argument("--delay", type=float, default=0.0)
    a = ap.parse_args(argv)
    print("ready", flush=True)
    try:
        replay(a.path, a.url, loops=a.loops, speed=a.speed, stall_at=a.stall_at, stall_for=a.stall_for, delay=a.delay)
    except (av.error.FFmpegError, OSError) as e:
        print(f"replay: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
