"""The web app in a real browser (issue 6): upload the sample video, see the verdict and the heatmaps.

Needs Debian's Chromium (``apt-get install -y chromium``) and the ``playwright`` Python package; the
browser is never downloaded. Writes a screenshot to bench/out/webapp.png.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import CHROMIUM_ARGS

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parent.parent
SHOT = ROOT / "bench" / "out" / "webapp.png"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() or shutil.which("chromium") is None,
    reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)",
)



def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The full app (API + web app) under uvicorn on 127.0.0.1, in a background thread."""
    import uvicorn

    from fakescope.server.main import create_app
    from fakescope.server.settings import ServerSettings

    port = _free_port()
    settings = ServerSettings(data_dir=tmp_path_factory.mktemp("webapp"), host="127.0.0.1", port=port,
                              default_frames="even:8")
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    end = time.monotonic() + 60
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < end, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(15)


def test_upload_video_shows_verdict_video_and_heatmaps(server, samples):
    from playwright.sync_api import sync_playwright

    from fakescope.explainers import list_explainers

    assert {"gradcam", "saliency"} <= set(list_explainers())
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{server}/", wait_until="domcontentloaded")  # "/" redirects to the web app
            assert page.url.rstrip("/").endswith("/ui")
            page.locator("#media input[type=file]").set_input_files(str(samples / "single_face.mp4"))
            page.locator("#options").get_by_text("Options").click()  # add a second method to switch to
            box = page.locator("#explain input")
            box.click()
            box.fill("saliency")
            page.get_by_role("option", name="saliency", exact=True).click()
            page.keyboard.press("Escape")
            page.locator("#analyse").click()
            verdict = page.locator("#verdict")
            verdict.get_by_text("Verdict:").wait_for(timeout=240_000)
            text = verdict.inner_text()
            assert any(w in text for w in ("REAL", "FAKE", "INCONCLUSIVE")), text
            assert "single_face.mp4" in text
            page.wait_for_function(
                "() => (document.querySelector('#tracks')?.innerText || '').includes('#0')", timeout=10_000
            )
            page.locator("#heatmaps img").first.wait_for(timeout=30_000)
            assert page.locator("#heatmaps img").count() >= 1
            assert "gradcam" in (page.locator("#heatmaps img").first.get_attribute("src") or "")
            method = page.locator("#method input")  # the method switcher refills the gallery
            method.click()
            page.get_by_role("option", name="saliency", exact=True).click()
            page.wait_for_function(
                "() => (document.querySelector('#heatmaps img')?.getAttribute('src') || '').includes('saliency')",
                timeout=30_000,
            )
            method.click()
            page.get_by_role("option", name="gradcam", exact=True).click()
            page.wait_for_function(
                "() => (document.querySelector('#heatmaps img')?.getAttribute('src') || '').includes('gradcam')",
                timeout=30_000,
            )
            video = page.locator("#annotated-video video")
            video.wait_for(timeout=30_000)
            assert "annotated.mp4" in (video.get_attribute("src") or "")
            page.wait_for_function(  # the browser decodes it (H.264): metadata with a frame size
                "() => { const v = document.querySelector('#annotated-video video');"
                " return v && v.readyState >= 1 && v.videoWidth === 640; }",
                timeout=30_000,
            )
            page.locator("#downloads").get_by_text("report.html").wait_for(timeout=10_000)
            page.locator("#downloads").get_by_text("result.json").wait_for(timeout=10_000)
            page.wait_for_timeout(1500)  # let the plot and the video poster render
            SHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOT), full_page=True)
            assert not errors, errors
        finally:
            browser.close()


def test_api_docs_render_with_the_network_blocked(server):
    """/docs (Swagger UI) and /redoc load their scripts and styles from the server itself: no CDN."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            outside: list[str] = []

            def block(route):
                url = route.request.url
                if url.startswith(server) or url.startswith("data:") or url.startswith("blob:"):
                    return route.continue_()
                if route.request.resource_type != "image":  # ReDoc's "powered by" logo is a CDN image
                    outside.append(url)
                return route.abort()

            context.route("**/*", block)
            page = context.new_page()
            page.goto(f"{server}/docs", wait_until="domcontentloaded")
            page.locator(".swagger-ui .opblock-summary-path", has_text="/v1/analyses").first.wait_for(timeout=30_000)
            page.goto(f"{server}/redoc", wait_until="domcontentloaded")
            page.wait_for_function(
                "() => (document.body.innerText || '').includes('/v1/analyses')", timeout=30_000
            )
            assert not outside, outside
        finally:
            browser.close()
