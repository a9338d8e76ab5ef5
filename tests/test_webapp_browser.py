"""The web app in a real browser (issue 6): upload the sample video, see the verdict and the heatmaps.

Needs Debian's Chromium (``apt-get install -y chromium``) and the ``playwright`` Python package; the
browser is never downloaded. Writes a screenshot to bench/out/webapp.png.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
from conftest import CHROMIUM_ARGS, free_port, serving

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parent.parent
SHOT = ROOT / "bench" / "out" / "webapp.png"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() or shutil.which("chromium") is None,
    reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)",
)



@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The full app (API + web app) under uvicorn on 127.0.0.1, in a background thread."""
    from fakescope.server.main import create_app
    from fakescope.server.settings import ServerSettings

    port = free_port()
    settings = ServerSettings(data_dir=tmp_path_factory.mktemp("webapp"), host="127.0.0.1", port=port,
                              default_frames="even:8")
    with serving(create_app(settings), port) as url:
        yield url


def test_upload_video_shows_verdict_video_and_heatmaps(server, samples):
    from playwright.sync_api import sync_playwright

    from fakescope.explainers import list_explainers
    from fakescope.models import list_runnable_models

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
            page.locator("#options").get_by_text("Options").click()
            page.locator("#model input").click()  # only models that can run, each with a description
            page.get_by_role("option").first.wait_for(timeout=10_000)
            offered = [o.strip().split("\n")[-1].strip() for o in page.get_by_role("option").all_inner_texts()]
            names = {o.split(" — ")[0] for o in offered}
            assert {"meso4", "mesoinception4", "sbi_mobilenetv2"} <= names and "xception" not in names, offered
            assert names == set(list_runnable_models()) and all(" — " in o for o in offered), offered
            page.keyboard.press("Escape")
            chosen = page.locator("#explain").inner_text()
            assert "saliency" in chosen and "gradcam" not in chosen, chosen  # the measured default, not gradcam
            box = page.locator("#explain input")  # add a second method to switch to
            box.click()
            page.get_by_role("option").first.wait_for(timeout=10_000)
            methods = [o.strip().split("\n")[-1].strip() for o in page.get_by_role("option").all_inner_texts()]
            assert "gradcam" in methods and "attention_rollout" not in methods, methods  # not for a CNN
            box.fill("gradcam")
            page.get_by_role("option", name="gradcam", exact=True).click()
            page.keyboard.press("Escape")
            page.locator("#advanced").get_by_text("Advanced").click()  # legacy rules are labelled as such
            page.locator("#rule input").click()
            page.locator("#rule").get_by_role("option").first.wait_for(timeout=10_000)
            rules = page.locator("#rule").get_by_role("option").all_inner_texts()
            assert rules[0].strip().endswith("calibrated (default)"), rules
            assert all("legacy" in r for r in rules[1:]) and len(rules) >= 3, rules
            page.keyboard.press("Escape")
            page.locator("#analyse").click()
            verdict = page.locator("#verdict")
            verdict.get_by_text("Verdict:").wait_for(timeout=240_000)
            text = verdict.inner_text()
            assert any(w in text for w in ("REAL", "FAKE", "INCONCLUSIVE", "UNCERTAIN")), text
            assert "single_face.mp4" in text and "What you can do next" in text
            headline = page.locator("#verdict .fs-headline").inner_text()
            assert any(h in headline for h in ("Cannot tell", "Likely manipulated", "No sign", "No face")), headline
            if "REAL" in headline:
                assert "not proof" in page.locator("#caveat").inner_text()
            page.wait_for_function(
                "() => (document.querySelector('#tracks')?.innerText || '').includes('#0')", timeout=10_000
            )
            # each method's maps, or the note that its maps were held back as not evidence
            shown = ("m => { const g = document.querySelector('#heatmaps');"
                     " const src = g?.querySelector('img')?.getAttribute('src') || '';"
                     " return src.includes(m) || (g?.innerText || '').includes('hidden'); }")
            page.wait_for_function(shown, arg="saliency", timeout=30_000)
            method = page.locator("#method input")  # the method switcher refills the gallery
            method.click()
            page.get_by_role("option", name="gradcam", exact=True).click()
            page.wait_for_function(shown, arg="gradcam", timeout=30_000)
            method.click()
            page.get_by_role("option", name="saliency", exact=True).click()
            page.wait_for_function(shown, arg="saliency", timeout=30_000)
            timeline = page.locator("#timeline svg")
            assert "uncertain band" in timeline.inner_html() and "threshold 0.5" in timeline.inner_html()
            cut = page.evaluate("() => [...document.querySelectorAll('#tracks th')]"
                                ".filter(th => th.scrollWidth > th.clientWidth + 1).map(th => th.innerText)")
            assert cut == [], cut  # no header cut off
            video = page.locator("#annotated-video video")
            video.wait_for(timeout=30_000)
            assert "annotated.mp4" in (video.get_attribute("src") or "")
            page.wait_for_function(  # the browser decodes it (H.264): metadata with a frame size
                "() => { const v = document.querySelector('#annotated-video video');"
                " return v && v.readyState >= 1 && v.videoWidth === 640; }",
                timeout=30_000,
            )
            page.wait_for_function(  # gradio shows each file name as stem + extension
                "() => { const t = (document.querySelector('#downloads')?.innerText || '').replace(/\\s+/g, '');"
                " return ['report.html', 'result.json', 'annotated.mp4', 'result.zip', 'report.pdf']"
                ".every(n => t.includes(n)); }",
                timeout=10_000,
            )
            page.wait_for_timeout(1500)  # let the plot and the video poster render
            SHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOT), full_page=True)
            for width in (1280, 390):  # the widths the issue names: headers whole, nothing cut
                page.set_viewport_size({"width": width, "height": 1000})
                page.wait_for_timeout(500)
                page.screenshot(path=str(SHOT.with_name(f"webapp-{width}.png")), full_page=True)
                cut = page.evaluate("() => [...document.querySelectorAll('#tracks th')]"
                                    ".filter(th => th.scrollWidth > th.clientWidth + 1).map(th => th.innerText)")
                assert cut == [], (width, cut)
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


def test_an_analysis_sent_through_the_api_opens_in_the_web_app(server, samples):
    """Job history: a job submitted with the HTTP API is listed in the web app and opens with its verdict."""
    import httpx
    from playwright.sync_api import sync_playwright

    photo = samples / "multi_face.jpg"
    r = httpx.post(f"{server}/v1/analyses", files={"file": ("api_upload.jpg", photo.read_bytes())}, timeout=30)
    assert r.status_code == 202, r.text
    job = r.json()["id"]
    end = time.monotonic() + 240
    while httpx.get(f"{server}/v1/analyses/{job}", timeout=30).json()["status"] != "done":
        assert time.monotonic() < end
        time.sleep(0.3)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(f"{server}/ui/", wait_until="domcontentloaded")
            page.locator("#history").get_by_text("Earlier analyses").click()
            page.locator("#history-refresh").click()
            page.locator("#history-list input").click()
            page.get_by_role("option", name=re.compile(f"api_upload.jpg .* {job[:8]}")).click()
            page.locator("#history-open").click()
            page.locator("#verdict").get_by_text("api_upload.jpg").wait_for(timeout=30_000)
            assert "What you can do next" in page.locator("#verdict").inner_text()
            assert "#0" in page.locator("#tracks").inner_text()
        finally:
            browser.close()
