"""Live analysis (issue 24, part 2): the /v1/live WebSocket on real frames, and the Live page in Chromium
with a fake camera fed from a real clip. Writes a screenshot to bench/out/live-1280.png."""

from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

from fakescope.media import Sampling, open_media  # noqa: E402
from fakescope.server.main import create_app  # noqa: E402
from fakescope.server.settings import ServerSettings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
SHOT = ROOT / "bench" / "out" / "live-1280.png"
TOKEN = "t0k3n-for-the-live-tests-0123"


def _jpegs(path: Path, n: int = 6) -> list[bytes]:
    out = []
    for frame in open_media(path, Sampling.parse(f"even:{n}")):
        buf = io.BytesIO()
        Image.fromarray(frame.image).save(buf, "JPEG", quality=85)
        out.append(buf.getvalue())
    return out


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    settings = ServerSettings(data_dir=tmp_path_factory.mktemp("live"), ui=False, max_pixels=2_000_000)
    with TestClient(create_app(settings)) as c:
        yield c


def _until(ws, kind: str, limit: int = 20) -> tuple[dict, list[dict]]:
    """Messages up to and including the first of ``kind``."""
    seen = []
    for _ in range(limit):
        m = json.loads(ws.receive_text())
        seen.append(m)
        if m["type"] == kind:
            return m, seen
    raise AssertionError(f"no {kind!r} message in {seen}")


def test_frames_give_updates_identities_and_a_heatmap(client, samples):
    frames = _jpegs(samples / "single_face.mp4")
    with client.websocket_connect("/v1/live") as ws:
        ws.send_text(json.dumps({"type": "start", "window": 5}))
        ready, _ = _until(ws, "ready")
        assert ready["window"] == 5 and ready["model"]
        updates, events = [], []
        for jpeg in frames:  # one at a time, each answered: nothing dropped
            ws.send_bytes(jpeg)
            u, seen = _until(ws, "update")
            updates.append(u)
            events += [m for m in seen if m["type"].startswith("identity_")]
        assert {"type": "identity_started", "id": 0} in events
        last = updates[-1]
        assert last["frame"]["width"] == 640 and last["frame"]["index"] == len(frames) - 1
        face = last["frame"]["faces"][0]
        x1, y1, x2, y2 = face["box"]
        assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= last["frame"]["height"] and face["track_id"] == 0
        ident = last["identities"][0]
        assert ident["id"] == 0 and ident["label"] in ("fake", "real", "uncertain") and ident["n_faces"] == len(frames)
        assert ident["reason"] and last["verdict"]["label"] and last["verdict"]["headline"]
        assert all(u["dropped"] == 0 and u["latency_ms"] > 0 for u in updates)

        ws.send_text(json.dumps({"type": "explain"}))
        heat, _ = _until(ws, "heatmap")
        png = base64.b64decode(heat["png_base64"])
        assert png.startswith(b"\x89PNG") and Image.open(io.BytesIO(png)).size[0] > 32
        assert heat["track_id"] == 0 and heat["method"] and isinstance(heat["flags"], list)

        ws.send_bytes(b"this is no picture")  # an error reply, and the session goes on
        err, _ = _until(ws, "error")
        assert "not a JPEG or PNG" in err["message"] and "Traceback" not in err["message"]
        big = io.BytesIO()
        Image.new("RGB", (2000, 1001)).save(big, "PNG")
        ws.send_bytes(big.getvalue())
        err, _ = _until(ws, "error")
        assert "exceeds the limit of 2000000 pixels" in err["message"]
        ws.send_bytes(frames[0])
        assert _until(ws, "update")[0]["identities"][0]["id"] == 0

        ws.send_text(json.dumps({"type": "stop"}))
        final, _ = _until(ws, "final")
        assert final["frames"] == len(frames) + 1 and final["verdict"]["label"] and final["identities"]


def test_frames_sent_while_one_is_analysed_replace_each_other(client, samples):
    frames = _jpegs(samples / "single_face.mp4", 8)
    with client.websocket_connect("/v1/live") as ws:
        for jpeg in frames:  # no start message: default settings; all sent at once
            ws.send_bytes(jpeg)
        ws.send_text(json.dumps({"type": "stop"}))
        msgs = [json.loads(ws.receive_text())]
        while msgs[-1]["type"] != "final":
            msgs.append(json.loads(ws.receive_text()))
    updates = [m for m in msgs if m["type"] == "update"]
    assert len(updates) < len(frames) and updates[-1]["frame"]["index"] == len(frames) - 1
    assert len(updates) + sum(u["dropped"] for u in updates) == len(frames)
    assert msgs[-1]["frames"] == len(updates)


@pytest.mark.parametrize("start, why", [
    ({"type": "start", "threshold": 0.9}, "outside the allowed range"),
    ({"type": "start", "window": 0}, "window"),
    ({"type": "start", "model": "no_such_model"}, "unknown model"),
    ({"type": "start", "fps": 30}, "fps"),
])
def test_an_invalid_setting_is_refused_and_the_socket_closed(client, start, why):
    with client.websocket_connect("/v1/live") as ws:
        ws.send_text(json.dumps(start))
        err = json.loads(ws.receive_text())
        assert err["type"] == "error" and why in err["message"] and "Traceback" not in err["message"]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1008


def test_idle_connections_are_closed_and_free_their_slot(tmp_path):
    """A client that connects and sends nothing must not hold one of the few live slots for ever."""
    settings = ServerSettings(data_dir=tmp_path, ui=False, live_sessions=1, live_idle_timeout_s=1.0)
    with TestClient(create_app(settings)) as c:
        with c.websocket_connect("/v1/live") as ws:  # silent from the start
            err = json.loads(ws.receive_text())
            assert err == {"type": "error", "message": "nothing received for 1 s: closing"}
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == 1001
        with c.websocket_connect("/v1/live") as ws:  # the slot is free again; silent after its start
            ws.send_text(json.dumps({"type": "start"}))
            assert json.loads(ws.receive_text())["type"] == "ready"
            with c.websocket_connect("/v1/live") as other:  # the only slot is taken
                assert "busy: 1 live sessions already" in json.loads(other.receive_text())["message"]
            assert json.loads(ws.receive_text())["message"] == "nothing received for 1 s: closing"


def test_token_and_origin_are_checked(tmp_path, samples):
    settings = ServerSettings(data_dir=tmp_path, ui=False, token=TOKEN)
    with TestClient(create_app(settings)) as c:
        with c.websocket_connect("/v1/live") as ws:
            ws.send_text(json.dumps({"type": "start"}))
            assert "token" in json.loads(ws.receive_text())["message"]
            with pytest.raises(WebSocketDisconnect):
                ws.receive_text()
        with c.websocket_connect("/v1/live") as ws:  # a browser page sends it in the start message
            ws.send_text(json.dumps({"type": "start", "token": TOKEN}))
            assert json.loads(ws.receive_text())["type"] == "ready"
        with c.websocket_connect("/v1/live", headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
            ws.send_text(json.dumps({"type": "start"}))
            assert json.loads(ws.receive_text())["type"] == "ready"
        with pytest.raises(WebSocketDisconnect) as refused:  # another site's page may not use it
            with c.websocket_connect("/v1/live", headers={"Origin": "http://evil.example"}):
                pass
        assert refused.value.code == 1008
        page = c.get("/live")
        assert page.status_code == 200 and 'data-token="yes"' in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "getUserMedia" in c.get("/live/live.js").text


# ------------------------------------------------------------------ the Live tab in a real browser


def _y4m(clip: Path, out: Path, max_frames: int = 60) -> Path:
    """The clip as a .y4m file (Chromium's fake camera plays it in a loop)."""
    import av

    with av.open(str(clip)) as src, av.open(str(out), "w", format="yuv4mpegpipe") as dst:
        vin = src.streams.video[0]
        stream = dst.add_stream("rawvideo", rate=round(float(vin.average_rate or 25)))
        stream.pix_fmt = "yuv420p"
        stream.width, stream.height = vin.codec_context.width, vin.codec_context.height
        for i, frame in enumerate(src.decode(vin)):
            if i >= max_frames:
                break
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The full app (API + web app) under uvicorn on 127.0.0.1, in a background thread."""
    from conftest import free_port, serving

    port = free_port()
    settings = ServerSettings(data_dir=tmp_path_factory.mktemp("live-web"), host="127.0.0.1", port=port)
    with serving(create_app(settings), port) as url:
        yield url


@pytest.mark.skipif(not CHROMIUM.exists() or shutil.which("chromium") is None,
                    reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)")
def test_live_tab_boxes_the_camera_face_with_a_verdict(server, samples, tmp_path):
    from conftest import CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    clip = _y4m(samples / "single_face.mp4", tmp_path / "clip.y4m")
    camera = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
              f"--use-file-for-fake-video-capture={clip}"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS + camera)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{server}/ui/", wait_until="domcontentloaded")
            page.get_by_role("tab", name="Live").click()
            page.frame_locator("#live iframe").locator("#camera").click()
            live = next(f for f in page.frames if f.url.endswith("/live"))
            live.wait_for_function("() => window.liveStats.firstVerdictMs !== null", timeout=120_000)
            stats = live.evaluate("() => window.liveStats")
            assert stats["firstVerdictMs"] < 2000, stats  # from the first frame sent to a boxed verdict
            assert not stats["errors"], stats
            row = live.locator("#identities tbody tr").first
            assert row.locator("td").first.inner_text() == "#0"
            assert row.locator(".badge").inner_text() in ("fake", "real", "uncertain")
            painted = live.evaluate("() => { const c = document.getElementById('overlay');"
                                    " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                                    " let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n; }")
            assert painted > 100  # the box and its label are drawn over the video
            live.locator("#explain").click()
            live.locator("#heatmap-box:not([hidden])").wait_for(timeout=60_000)
            assert live.evaluate("() => document.getElementById('heatmap').naturalWidth") > 32
            live.wait_for_timeout(1000)  # a few more frames: latency and dropped shown
            assert live.locator("#latency").inner_text() != "–"
            SHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOT), full_page=True)
            print(f"first verdict {stats['firstVerdictMs']:.0f} ms after the first frame was sent")
            assert not errors, errors
        finally:
            browser.close()
