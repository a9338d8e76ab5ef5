"""Where published weights live (issue 26): Hugging Face ``resolve/`` redirects, Google Drive's virus-scan
confirmation page, Dropbox ``dl=1`` links, and entries with several origins tried in order — all served by a
local HTTP server (127.0.0.1) that imitates each host. The checkpoint is a GenD-layout ``model.safetensors``
(small random CLIP ViT, see test_convert_clip_vit.py); nothing leaves this machine.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
from safetensors.torch import save
from test_convert_clip_vit import _clip_norm, _x, gend_state_dict
from typer.testing import CliRunner

from fakescope.catalogue.download import confirm_url, direct_url
from fakescope.cli import app
from fakescope.models import create_model

runner = CliRunner()


@functools.cache
def gend_bytes() -> bytes:
    sd, _ = gend_state_dict()
    return save(sd, metadata={"format": "pt"})


DRIVE_PAGE = """<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>
<p>Google Drive can't scan this file for viruses.</p><p>model.safetensors (1.2G) is too large for Google to scan
for viruses. Would you still like to download this file?</p>
<form id="download-form" action="{action}" method="get">
<input type="submit" id="uc-download-link" class="goog-inline-block jfk-button" value="Download anyway"/>
<input type="hidden" name="id" value="1AbC-xyz_9"><input type="hidden" name="export" value="download">
<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="6f1e&amp;x"></form>
</body></html>"""

OLD_DRIVE_PAGE = """<html><body><a id="uc-download-link" href="/uc?export=download&amp;confirm=Xy_Z&amp;id=1AbC">
Download anyway</a></body></html>"""

LOGIN_PAGE = "<!DOCTYPE html><html><body>Sign in to continue to Google Drive</body></html>"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server
        srv.log.append(self.path)
        route = srv.routes.get(self.path) or srv.routes.get(self.path.split("?", 1)[0])
        if route is None:
            self.send_error(404)
            return
        kind, value = route
        if kind == "redirect":
            self.send_response(302)
            self.send_header("Location", value)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if kind in ("html", "html-bytes"):  # a page as text (sent in UTF-8) or as the bytes to send
            body, ctype = (value.encode() if kind == "html" else value), "text/html"
        else:
            body, ctype = value, "application/octet-stream"
        start = 0
        rng = self.headers.get("Range")
        if rng and kind == "file":
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:])


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.routes, srv.log = {}, []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def _entry(tmp_path, monkeypatch, name: str, urls: list[str], sha256: str | None = None) -> None:
    extra = f'\nsha256 = "{sha256}"' if sha256 else ""
    (tmp_path / "extra.toml").write_text(f"""
[[weights]]
name = "{name}"
title = "GenD layout, synthetic weights"
format = "gend"
architecture = "clip_vit_large_patch14"
licence = "MIT"
[[weights.files]]
file = "model.safetensors"
url = {json.dumps(urls)}{extra}
""")
    monkeypatch.setenv("FAKESCOPE_WEIGHTS_CATALOGUE", str(tmp_path / "extra.toml"))


def _pull(*args):
    return runner.invoke(app, ["weights", "pull", *map(str, args)])


def _same_logits(name: str) -> None:
    _, ref = gend_state_dict()
    x = _x(2).double()
    with torch.no_grad():
        z = ref.double()(_clip_norm(x))
        got = create_model(name).double()(x)
    assert (got - (z[:, 1] - z[:, 0])).abs().max().item() < 1e-4


def test_hugging_face_resolve_redirect_to_a_cdn(server, home, tmp_path, monkeypatch):
    data = gend_bytes()
    cdn = "/cdn-lfs/repos/ab/cd/d76f0bdf?response-content-disposition=attachment&X-Amz-Signature=0f"
    server.routes["/yermandy/GenD_CLIP_L_14/resolve/9413725/model.safetensors"] = ("redirect", server.url + cdn)
    server.routes[cdn.split("?")[0]] = ("file", data)
    _entry(tmp_path, monkeypatch, "t-hf", [server.url + "/yermandy/GenD_CLIP_L_14/resolve/9413725/model.safetensors"],
           sha256=hashlib.sha256(data).hexdigest())  # fmt: skip
    r = _pull("t-hf")
    assert r.exit_code == 0, r.output
    assert [p.split("?")[0] for p in server.log] == ["/yermandy/GenD_CLIP_L_14/resolve/9413725/model.safetensors",
                                                     "/cdn-lfs/repos/ab/cd/d76f0bdf"]  # fmt: skip
    manifest = json.loads((home / "weights" / "t-hf" / "manifest.json").read_text())
    assert manifest["architecture"] == "clip_vit_large_patch14" and manifest["members"][0]["source_format"] == "gend"
    _same_logits("t-hf")


@pytest.mark.parametrize("page", ["form", "link", "latin-1 relative form", "redirected relative form"])
def test_google_drive_virus_scan_page_is_confirmed(server, home, tmp_path, monkeypatch, page):
    data = gend_bytes()
    if page == "form":  # today's page: a form posting to drive.usercontent.google.com/download
        server.routes["/uc"] = ("html", DRIVE_PAGE.format(action=server.url + "/download"))
        server.routes["/download"] = ("file", data)
        want = "/download?id=1AbC-xyz_9&export=download&confirm=t&uuid=6f1e%26x"
    elif page == "redirected relative form":  # the page sits where a redirect led: its action is relative to that
        server.routes["/uc"] = ("redirect", server.url + "/drive/uc")
        server.routes["/drive/uc"] = ("html", DRIVE_PAGE.format(action="download"))
        server.routes["/drive/download"] = ("file", data)
        want = "/drive/download?id=1AbC-xyz_9&export=download&confirm=t&uuid=6f1e%26x"
    elif page == "latin-1 relative form":  # a page not in UTF-8 (a file name "modèle"), its action relative
        server.routes["/uc"] = ("html-bytes", DRIVE_PAGE.replace("model.safetensors (1.2G)", "modèle (1.2G)")
                                .format(action="download").encode("latin-1"))
        server.routes["/download"] = ("file", data)
        want = "/download?id=1AbC-xyz_9&export=download&confirm=t&uuid=6f1e%26x"
    else:  # the older page: a link carrying confirm=
        server.routes["/uc?export=download&id=1AbC"] = ("html", OLD_DRIVE_PAGE)
        server.routes["/uc?export=download&confirm=Xy_Z&id=1AbC"] = ("file", data)
        want = "/uc?export=download&confirm=Xy_Z&id=1AbC"
    _entry(tmp_path, monkeypatch, "t-drive", [server.url + "/uc?export=download&id=1AbC"])
    r = _pull("t-drive")
    assert r.exit_code == 0, r.output
    assert server.log == ["/uc?export=download&id=1AbC", *(["/drive/uc"] if "redirected" in page else []), want]
    _same_logits("t-drive")


def test_html_without_a_confirmation_is_still_refused(server, home, tmp_path, monkeypatch):
    server.routes["/uc"] = ("html", LOGIN_PAGE)
    _entry(tmp_path, monkeypatch, "t-login", [server.url + "/uc?export=download&id=1AbC"])
    r = _pull("t-login")
    assert r.exit_code == 1 and "HTML page" in r.output, r.output
    text = " ".join(r.output.split())  # what to do instead, and the page's address
    assert "download it in a browser and use `fakescope weights add FILE --name NAME`" in text
    assert "/uc?export=download&id=1AbC" in text
    assert not (home / "weights" / "t-login").exists()


def test_dropbox_dl1_link(server, home, tmp_path, monkeypatch):
    data = gend_bytes()
    server.routes["/s/k3y/model.safetensors"] = ("redirect", "/dl/content/model.safetensors")
    server.routes["/dl/content/model.safetensors"] = ("file", data)
    r = _pull("--url", server.url + "/s/k3y/model.safetensors?dl=1", "--name", "t-dropbox")
    assert r.exit_code == 0, r.output
    assert server.log == ["/s/k3y/model.safetensors?dl=1", "/dl/content/model.safetensors"]
    _same_logits("t-dropbox")


def test_several_origins_are_tried_in_order(server, home, tmp_path, monkeypatch):
    data = gend_bytes()
    server.routes["/quota.html"] = ("html", LOGIN_PAGE)
    server.routes["/mirror/model.safetensors"] = ("file", data)
    urls = [server.url + p for p in ("/gone/model.safetensors", "/quota.html", "/mirror/model.safetensors")]
    _entry(tmp_path, monkeypatch, "t-multi", urls)
    r = _pull("t-multi")
    assert r.exit_code == 0, r.output
    assert server.log == ["/gone/model.safetensors", "/quota.html", "/mirror/model.safetensors"]
    manifest = json.loads((home / "weights" / "t-multi" / "manifest.json").read_text())
    assert manifest["members"][0]["source_url"] == urls[2]
    assert manifest["entry"]["files"][0]["fallbacks"] == urls[1:]
    # every origin failing: one error naming each reason, nothing installed
    _entry(tmp_path, monkeypatch, "t-none", urls[:2])
    r = _pull("t-none")
    assert r.exit_code == 1 and "all 2 origins failed" in r.output and "404" in r.output and "HTML" in r.output
    assert not (home / "weights" / "t-none").exists() and "Traceback" not in r.output


def test_direct_urls_of_the_hosts():
    assert direct_url("https://drive.google.com/uc?export=download&id=12sLyqBp0VFwdpA-oZLdIOkOTkz_ZnIhV") == (
        "https://drive.usercontent.google.com/download?id=12sLyqBp0VFwdpA-oZLdIOkOTkz_ZnIhV&export=download&confirm=t")
    assert direct_url("https://drive.google.com/file/d/1X0-NYT8K/view?usp=sharing") == (
        "https://drive.usercontent.google.com/download?id=1X0-NYT8K&export=download&confirm=t")
    assert direct_url("https://www.dropbox.com/s/abc/w.pth?dl=0") == "https://www.dropbox.com/s/abc/w.pth?dl=1"
    assert direct_url("https://www.dropbox.com/scl/fi/x/w.pth?rlkey=k") == "https://www.dropbox.com/scl/fi/x/w.pth?rlkey=k&dl=1"
    assert direct_url("https://huggingface.co/u/r/blob/main/model.safetensors") == (
        "https://huggingface.co/u/r/resolve/main/model.safetensors")
    plain = "https://github.com/SCLBD/DeepfakeBench/releases/download/v1.0.1/ucf_best.pth"
    assert direct_url(plain) == plain
    assert direct_url("https://hf.co/u/r/blob/main/m.safetensors") == "https://hf.co/u/r/resolve/main/m.safetensors"
    assert direct_url("https://HuggingFace.co/u/r/blob/main/m.safetensors") == (
        "https://HuggingFace.co/u/r/resolve/main/m.safetensors")
    assert confirm_url(LOGIN_PAGE, "https://drive.google.com/uc") is None


def test_shipped_catalogue_uses_direct_download_forms():
    """Issue 26's catalogue audit: no Drive `uc?export=download` (an HTML page for large files), https only,
    and every entry with a source that publishes no checksum says so."""
    from fakescope.catalogue import load_catalogue

    for entry in load_catalogue().values():
        for f in entry.files:
            for u in f.urls:
                assert "drive.google.com/uc?" not in u, (entry.name, u)
                # plain HTTP only where the project publishes nothing else, and the entry says so
                assert u.startswith("https://") or "plain HTTP" in entry.notes, (entry.name, u)
    gend = load_catalogue()["gend-clip-l14"]
    assert gend.files[0].sha256 and gend.files[0].size == 1215928160
    assert gend.format == "gend" and gend.restriction


@pytest.mark.parametrize(("form", "want"), [
    # Drive's page: hidden fields in order (an input with no type counts as hidden, an empty value is kept;
    # buttons, text boxes and nameless inputs are not sent), the relative action joined to the page's URL
    ('<form id="download-form" action="/download" method="get"><input type="submit" name="go" value="Download">'
     '<input type="hidden" name="id" value="1AbC"><input name="export" value="download">'
     '<input type="text" name="q" value="typed"><input type="hidden" value="nameless">'
     '<INPUT TYPE="HIDDEN" NAME="confirm" VALUE="t"><input type="hidden" name="uuid"></form>',
     "https://drive.google.com/download?id=1AbC&export=download&confirm=t&uuid="),
    # an action that already has a query: the fields are appended with '&'
    ('<form id="download-form" action="https://drive.usercontent.google.com/download?authuser=0">'
     '<input type="hidden" name="id" value="1AbC"></form>',
     "https://drive.usercontent.google.com/download?authuser=0&id=1AbC"),
    # a form without hidden fields, or without an action, is not a download form; a confirm link is used instead
    ('<form id="download-form" action="/download"><input type="submit" name="go" value="x"></form>'
     '<a href="/uc?export=download&amp;confirm=Xy&amp;id=1AbC">Download anyway</a>',
     "https://drive.google.com/uc?export=download&confirm=Xy&id=1AbC"),
    ('<form id="download-form"><input type="hidden" name="id" value="1AbC"></form>', None),
])  # fmt: skip
def test_the_download_behind_a_confirmation_page(form, want):
    """What `weights pull` fetches after Google Drive's "can't scan for viruses" page: exactly the form's
    submission a browser would make (or the page's confirm link); None (refused) when there is neither."""
    assert confirm_url(f"<html><body>{form}</body></html>", "https://drive.google.com/uc?id=1AbC") == want


def test_pull_of_a_catalogue_entry_with_another_format(server, home, tmp_path, monkeypatch):
    """`weights pull NAME --format F` converts with F, not the entry's own format."""
    data = gend_bytes()
    server.routes["/m.safetensors"] = ("file", data)
    _entry(tmp_path, monkeypatch, "t-fmt", [server.url + "/m.safetensors"])
    r = _pull("t-fmt", "--format", "gend-linear")
    assert r.exit_code == 0, r.output
    manifest = json.loads((home / "weights" / "t-fmt" / "manifest.json").read_text())
    assert manifest["members"][0]["source_format"] == "gend-linear"
    assert manifest["model_kwargs"]["l2_normalize"] is False
