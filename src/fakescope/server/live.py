"""One live WebSocket session (``/v1/live``): frames in, running verdicts out, never falling behind.

The client sends JPEG/PNG frames as binary messages and, as text, ``{"type": "start", ...}`` (settings,
before the first frame), ``{"type": "explain"}`` and ``{"type": "stop"}``. Frames that arrive while one
is being analysed replace each other: only the latest is analysed next, the others are counted as
``dropped``. Analysis runs in a worker thread on an Analyzer of the server's pool, one
:class:`~fakescope.pipeline.StreamSession` per connection. The protocol is in the README.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import time
from contextlib import ExitStack
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..live.driver import identity_summary
from ..media import Frame
from ..pipeline import DEFAULT_MODEL
from .deps import token_ok
from .jobs import AnalysisOptions, options_error

log = logging.getLogger(__name__)

POLICY = 1008  # WebSocket close code: the message broke the protocol's rules (bad setting, token)
BUSY = 1013  # try again later


def _line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Start(BaseModel):
    """The settings a client may send first (all optional)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    type: Literal["start"]
    window: float = Field(10.0, gt=0, le=600, description="seconds of faces each running verdict reads")
    model: str = Field(DEFAULT_MODEL, description="detector model (GET /v1/models)")
    threshold: float = Field(0.5, ge=0.0, le=1.0, description="as in POST /v1/analyses (inside the band in force)")
    token: str | None = Field(None, description="the server's token, for clients that cannot send a header")

    def options(self) -> AnalysisOptions:
        return AnalysisOptions(model=self.model, threshold=self.threshold)


def decode_frame(data: bytes, max_pixels: int) -> np.ndarray:
    """JPEG/PNG bytes → H×W×3 uint8 RGB; ValueError (one line) for anything else or over ``max_pixels``."""
    from PIL import Image

    try:
        img = Image.open(io.BytesIO(data))
    except Exception:
        raise ValueError("not a JPEG or PNG image") from None
    if img.format not in ("JPEG", "PNG"):
        raise ValueError(f"not a JPEG or PNG image ({img.format})")
    w, h = img.size
    if w * h > max_pixels:
        raise ValueError(f"{w}×{h} exceeds the limit of {max_pixels} pixels")
    try:
        return np.asarray(img.convert("RGB"))
    except Exception:
        raise ValueError("the image could not be decoded") from None


def update_message(u, width: int, height: int, latency_ms: float, dropped: int) -> dict[str, Any]:
    """A :class:`~fakescope.pipeline.StreamUpdate` as the ``update`` message."""
    fr = u.frame
    return {
        "type": "update",
        "frame": {"index": fr.index, "time": round(fr.time, 3), "width": width, "height": height,
                  "faces": [{"box": [round(v, 1) for v in f.box], "track_id": f.track_id,
                             "p_fake": round(f.p_fake, 4)} for f in fr.faces]},
        "identities": identities(u.tracks),
        "verdict": {"label": u.verdict.label, "headline": u.verdict.headline or u.verdict.reason},
        "latency_ms": round(latency_ms, 1),
        "analysis_ms": round(u.seconds * 1000, 1),
        "dropped": dropped,
    }


def identities(tracks) -> list[dict[str, Any]]:
    return [identity_summary(t) for t in tracks]


def heatmap_message(ex: dict) -> dict[str, Any]:
    """``StreamSession.explain``'s map drawn on its face as the report draws it, as a PNG."""
    from ..render.annotate import png_bytes
    from ..render.artifacts import to_display
    from ..render.overlay import overlay

    png = png_bytes(overlay(ex["crop"], to_display(ex["map"]), weighted=True))
    return {"type": "heatmap", "track_id": ex["track_id"], "p_fake": round(ex["p_fake"], 4),
            "method": ex["method"], "png_base64": base64.b64encode(png).decode("ascii"),
            "faithfulness": ex["faithfulness"], "flags": ex["flags"]}


def same_origin(ws: WebSocket) -> bool:
    """A browser's page from another site may not drive this server (no Origin: not a browser)."""
    origin = ws.headers.get("origin")
    if not origin:
        return True
    host = origin.split("://", 1)[-1].rstrip("/")
    return host == ws.headers.get("host", "")


class LiveConnection:
    """The state of one connection; :meth:`run` serves it until the client leaves or stops."""

    def __init__(self, ws: WebSocket, settings, pool) -> None:
        self.ws, self.settings, self.pool = ws, settings, pool
        self.session = None
        self.latest: tuple[bytes, float, int] | None = None  # (bytes, arrival time, index)
        self.dropped = 0
        self.received = 0
        self.t0: float | None = None
        self.explain_request: dict | None = None
        self.wake = asyncio.Event()
        self.closing = False
        self.stopped = False

    async def send(self, message: dict) -> None:
        if self.closing and not self.stopped:
            return
        try:
            await self.ws.send_text(json.dumps(message))
        except (WebSocketDisconnect, RuntimeError, OSError):
            self.closing = True

    async def close(self, code: int, reason: str = "") -> None:
        try:
            await self.ws.close(code, reason=reason)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the client left first

    async def refuse(self, message: str, code: int = POLICY) -> None:
        await self.send({"type": "error", "message": _line(message)})
        await self.close(code, _line(message, 100))

    # -- the session ----------------------------------------------------------------------------

    async def run(self) -> None:
        bearer = self.ws.headers.get("authorization", "")
        authorised = token_ok(self.settings, bearer[7:] if bearer.lower().startswith("bearer ") else None)
        first = await self.next_message()
        if first is None or first["type"] == "websocket.disconnect":
            return
        start = Start(type="start")
        if first.get("text") is not None:
            try:
                start = Start.model_validate_json(first["text"])
            except ValidationError as e:
                return await self.refuse(f"invalid start message: {options_error(e)}")
        if not (authorised or token_ok(self.settings, start.token)):
            return await self.refuse("this server requires its token (Authorization header or start.token)")
        try:
            options = start.options()
        except ValidationError as e:
            return await self.refuse(f"invalid setting: {options_error(e)}")
        with ExitStack() as stack:
            cfg = options.to_config(self.settings.default_frames, self.settings.trust_anchors_path)
            try:
                analyzer = await asyncio.to_thread(stack.enter_context, self.pool.acquire(cfg))
            except Exception as e:  # e.g. weights that cannot load: said, not a traceback
                log.exception("live: the analyzer could not be loaded")
                return await self.refuse(f"the model could not be loaded: {e}", 1011)
            self.session = analyzer.session(window=start.window, name="live",
                                            sampling=f"live: browser frames, running verdicts over {start.window:g} s")
            await self.send({"type": "ready", "model": cfg.model, "window": start.window,
                             "threshold": cfg.threshold, "max_pixels": self.settings.max_pixels})
            if first.get("bytes") is not None:
                self.frame(first["bytes"])
            worker = asyncio.create_task(self.analyse())
            await self.receive()
            self.closing = True
            self.wake.set()
            await worker  # the frame in the worker thread finishes before the session does
            final = await asyncio.to_thread(self.session.finish)
        r = final.result
        log.info("live session: %d frame(s) received, %d analysed, verdict %s", self.received, len(r.frames),
                 r.verdict.label)
        if self.stopped:
            await self.send({"type": "final", "frames": len(r.frames), "identities": identities(r.tracks),
                             "verdict": {"label": r.verdict.label, "headline": r.verdict.headline}})
            await self.close(1000)

    def frame(self, data: bytes) -> None:
        now = time.perf_counter()
        self.t0 = self.t0 if self.t0 is not None else now
        if self.latest is not None:
            self.dropped += 1
        self.latest = (data, now, self.received)
        self.received += 1
        self.wake.set()

    async def next_message(self) -> dict | None:
        """The client's next message; None when it left, or sent nothing for the server's idle timeout (the
        socket is then closed with 1001: an idle connection must not hold one of the few live slots)."""
        idle = self.settings.live_idle_timeout_s
        try:
            return await asyncio.wait_for(self.ws.receive(), idle)
        except (WebSocketDisconnect, RuntimeError):
            return None
        except TimeoutError:
            await self.send({"type": "error", "message": f"nothing received for {idle:g} s: closing"})
            await self.close(1001, "idle")
            self.closing = True
            return None

    async def receive(self) -> None:
        """Read messages until the client leaves, stops or idles; frames wait in ``latest``."""
        while True:
            msg = await self.next_message()
            if msg is None or msg["type"] == "websocket.disconnect":
                return
            if msg.get("bytes") is not None:
                self.frame(msg["bytes"])
                continue
            try:
                data = json.loads(msg.get("text") or "")
                kind = data.get("type") if isinstance(data, dict) else None
            except ValueError:
                kind = None
            if kind == "stop":
                self.stopped = True
                return
            if kind == "explain":
                self.explain_request = data
                self.wake.set()
            else:
                await self.send({"type": "error", "message": "expected a JPEG/PNG frame or a JSON message of type "
                                 "'explain' or 'stop' (settings go in the first message)"})

    async def analyse(self) -> None:
        """The worker: the latest frame (and any explain request) in a thread, one at a time."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            if self.explain_request is not None and not self.closing:
                request, self.explain_request = self.explain_request, None
                await self.send(await asyncio.to_thread(self.explain, request))
            if self.latest is not None and not (self.closing and not self.stopped):
                item, self.latest = self.latest, None
                dropped, self.dropped = self.dropped, 0
                for message in await asyncio.to_thread(self.push, *item, dropped):
                    await self.send(message)
            if self.closing and self.latest is None:
                return

    def push(self, data: bytes, arrived: float, index: int, dropped: int) -> list[dict]:
        try:
            image = decode_frame(data, self.settings.max_pixels)
        except ValueError as e:
            return [{"type": "error", "message": f"frame {index}: {e}"}]
        try:
            u = self.session.push(Frame(index=index, time=arrived - self.t0, image=image))
        except Exception as e:  # never a traceback to the client; the session goes on
            log.exception("live frame %d failed", index)
            return [{"type": "error", "message": _line(f"frame {index} could not be analysed: {e}")}]
        h, w = image.shape[:2]
        latency = (time.perf_counter() - arrived) * 1000
        return ([{"type": "identity_started", "id": i} for i in u.started]
                + [update_message(u, w, h, latency, dropped)]
                + [{"type": "identity_ended", "id": i} for i in u.ended])

    def explain(self, request: dict) -> dict:
        track_id, method = request.get("track_id"), request.get("method")
        if (track_id is not None and not isinstance(track_id, int)) or (method is not None
                                                                         and not isinstance(method, str)):
            return {"type": "error", "message": "explain: track_id must be an integer and method a name"}
        try:
            ex = self.session.explain(track_id=track_id, method=method)
        except Exception as e:
            log.info("live explain failed: %s", e)
            return {"type": "error", "message": _line(f"explain failed: {e}")}
        if ex is None:
            return {"type": "error", "message": "explain: the latest frame holds no such face"}
        return heatmap_message(ex)
