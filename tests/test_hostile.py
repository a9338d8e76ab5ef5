"""Hostile-input suite for what wave 2 added (issue 21): misbehaving download servers (slow, stalled,
silent, endless, lying, redirecting), racing and killed processes, damaged stores and files.

Every case must end with a clear one-line error or a correct result: no traceback, no hang, no loss, no
write outside its target. The server runs on 127.0.0.1 in this process; each path names a misbehaviour.
The earlier cases of the same kind live in test_weights.py (names that climb out of the cache, endless
bodies, concurrent pulls, damaged manifests) and test_batch.py / test_store.py (batch lock, damaged store).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_weights import meso_file
from typer.testing import CliRunner

from fakescope.catalogue.download import DownloadError, DownloadInterrupted, fetch, looks_like_html, max_download
from fakescope.cli import app

runner = CliRunner()
BODY = bytes(range(256)) * 4096  # 1 MiB, not HTML
SHA = hashlib.sha256(BODY).hexdigest()


class _Hostile(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/octet-stream", length: int | None = None,
              extra: dict | None = None) -> None:  # fmt: skip
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: C901 - one branch per misbehaviour
        srv = self.server
        path = self.path.split("?", 1)[0]
        rng = self.headers.get("Range")
        srv.log.append((path, rng))
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        data = srv.data
        if path == "/ok.pth":
            if rng:
                return self._send(206, data[start:], extra={"Content-Range": srv.content_range(start)})
            return self._send(200, data)
        if path == "/stall.pth":  # half the body, then silence past the client's timeout
            if srv.stall_once and not rng:
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                time.sleep(2.0)
                self.close_connection = True
                return
            return self._send(206, data[start:], extra={"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})
        if path.startswith("/nolength-"):  # n bytes, no Content-Length: the end is the connection's end
            n = int(path.rsplit("-", 1)[1])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            self.wfile.write(data[:n])
            self.close_connection = True
            return
        if path == "/silent.pth":  # never answers
            time.sleep(2.0)
            self.close_connection = True
            return
        if path == "/short.pth":  # announces the whole file, sends a third, hangs up
            body = data[start:]
            self.send_response(206 if rng else 200)
            if rng:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body if rng else body[: len(body) // 3])
            self.close_connection = True
            return
        if path == "/huge-claim.pth":  # claims 1 TB
            self.send_response(200)
            self.send_header("Content-Length", str(10**12))
            self.end_headers()
            self.wfile.write(data[:1000])
            self.close_connection = True
            return
        if path == "/wrong-range.pth":  # a resume answered with another part of the file
            if rng:
                return self._send(206, data, extra={"Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"})
            return self._send(200, data)
        if path == "/no-range.pth":  # ignores Range: the whole file with 200
            return self._send(200, data)
        if path == "/expiring.pth":  # a signed URL that expires: half the body, then 403 for the resume
            if rng:
                return self._send(403, b"Request has expired")
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        if path == "/416.pth":
            if rng:
                return self._send(416, b"", extra={"Content-Range": f"bytes */{len(data)}"})
            return self._send(200, data)
        if path == "/redirect-1":
            return self._send(302, b"", extra={"Location": "/redirect-2"})
        if path == "/redirect-2":
            return self._send(301, b"", extra={"Location": srv.url + "ok.pth"})
        if path == "/loop":
            return self._send(302, b"", extra={"Location": "/loop"})
        if path == "/to-file":
            return self._send(302, b"", extra={"Location": "file:///etc/passwd"})
        if path == "/html-as-binary.pth":
            return self._send(200, b"<!DOCTYPE html><html><body>Virus scan warning</body></html>" + b" " * 5000)
        if path == "/html.pth":
            return self._send(200, b"<html>quota exceeded</html>", ctype="text/html; charset=utf-8")
        if path == "/quota.pth":  # an HTML page only its Content-Type tells apart (no tag at its start)
            return self._send(200, b"Too many users have viewed or downloaded this file recently.",
                              ctype="Text/HTML; charset=UTF-8")
        if path == "/no-python.pth":  # hosts that turn away Python's default User-Agent (bots)
            if self.headers.get("User-Agent", "").startswith("Python-urllib"):
                return self._send(403, b"bots not welcome")
            return self._send(200, data)
        if path == "/error500":
            return self._send(500, b"boom")
        if path == "/markup-reason":
            self.send_response(403, "Forbidden [/x] [link=http://evil.example]click[/link]")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path == "/slow.pth":  # the whole file in 16 pieces over ~3 s (for a kill in the middle)
            body = data[start:]
            self.send_response(206 if rng else 200)
            if rng:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            step = max(1, len(body) // 16)
            try:
                for i in range(0, len(body), step):
                    self.wfile.write(body[i : i + step])
                    self.wfile.flush()
                    time.sleep(0.2 if not rng else 0)
            except OSError:
                pass
            return
        self._send(404, b"not found")


@pytest.fixture
def hostile():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    srv.daemon_threads = True
    srv.log, srv.data, srv.stall_once = [], BODY, True
    srv.content_range = lambda start: f"bytes {start}-{len(srv.data) - 1}/{len(srv.data)}"
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/"
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _one_line_error(r) -> str:
    out = r.output
    assert r.exit_code != 0, out
    assert "Traceback" not in out and (r.exception is None or isinstance(r.exception, SystemExit)), out
    errors = [ln for ln in out.splitlines() if ln.startswith("error")]
    assert len(errors) == 1, out
    return errors[0]


# ----------------------------------------------------------------------------- download (library)


def test_a_stalled_body_is_resumed_where_it_stopped(hostile, tmp_path, caplog):
    part = tmp_path / "x.part"
    t0 = time.monotonic()
    with caplog.at_level("INFO", logger="fakescope"):
        fetch(hostile.url + "stall.pth", part, timeout=0.5, retries=2)
    assert _sha(part) == SHA and time.monotonic() - t0 < 30
    assert hostile.log[1] == ("/stall.pth", f"bytes={len(BODY) // 2}-")  # asked for the rest only
    # what `fakescope -v weights pull` shows of it
    assert [r.getMessage() for r in caplog.records if "interrupted" in r.getMessage()] == [
        f"{hostile.url}stall.pth: interrupted (timed out); resuming (attempt 2 of 3)"]


def test_a_stall_past_every_retry_keeps_the_part_for_the_next_pull(hostile, tmp_path):
    part = tmp_path / "x.part"
    hostile.stall_once = True
    with pytest.raises(DownloadInterrupted, match=r"interrupted after 524288 bytes .*run the same pull again"):
        fetch(hostile.url + "stall.pth", part, timeout=0.5, retries=0)
    assert part.stat().st_size == len(BODY) // 2 and part.read_bytes() == BODY[: len(BODY) // 2]
    fetch(hostile.url + "stall.pth", part, timeout=5, retries=0)
    assert _sha(part) == SHA


def test_a_host_that_turns_away_python_gets_fakescope_s_name(hostile, tmp_path):
    part = tmp_path / "x.part"
    fetch(hostile.url + "no-python.pth", part, timeout=5)
    assert _sha(part) == SHA


def test_a_silent_server_times_out_instead_of_hanging(hostile, tmp_path):
    part = tmp_path / "x.part"
    with pytest.raises(DownloadError, match=r"silent\.pth: download interrupted after 0 bytes "
                                            r"\(timed out\); run the same pull again to resume$"):
        fetch(hostile.url + "silent.pth", part, timeout=0.3, retries=1)
    assert not part.exists() or part.stat().st_size == 0


def test_a_body_shorter_than_announced_is_resumed(hostile, tmp_path):
    part = tmp_path / "x.part"
    fetch(hostile.url + "short.pth", part, timeout=5, retries=2)
    assert _sha(part) == SHA and hostile.log[1][1] == f"bytes={len(BODY) // 3}-"


def test_a_body_cut_short_past_every_retry_says_so_and_keeps_the_part(hostile, tmp_path):
    part = tmp_path / "x.part"
    with pytest.raises(DownloadInterrupted, match=rf"short\.pth: download interrupted after {len(BODY) // 3} bytes "
                                                  r"\(connection closed before the end of the file\); run the same "
                                                  r"pull again to resume$"):
        fetch(hostile.url + "short.pth", part, timeout=5, retries=0)
    assert part.read_bytes() == BODY[: len(BODY) // 3]


def test_a_refused_resume_is_an_error_not_a_restart(hostile, tmp_path):
    """The origin answers the resume with 403 (its signed URL expired): the user is told, instead of the
    download starting over and over."""
    part = tmp_path / "x.part"
    with pytest.raises(DownloadError, match=r"expiring\.pth: HTTP 403 Forbidden$"):
        fetch(hostile.url + "expiring.pth", part, timeout=5, retries=3)
    assert [r for _, r in hostile.log] == [None, f"bytes={len(BODY) // 2}-"]


def test_a_stale_part_past_the_end_and_no_retry_left_names_the_416(hostile, tmp_path):
    part = tmp_path / "x.part"
    part.write_bytes(b"\xff" * (len(BODY) + 10))
    with pytest.raises(DownloadInterrupted, match=r"after 0 bytes \(HTTP Error 416: Requested Range Not Satisfiable\)"):
        fetch(hostile.url + "416.pth", part, timeout=5, retries=0)
    assert not part.exists()  # the stale part is gone: the next pull starts afresh


def test_a_closed_port_says_cannot_connect_and_why(tmp_path):
    from conftest import free_port

    port = free_port()
    with pytest.raises(DownloadError, match=rf"^http://127\.0\.0\.1:{port}/w\.pth: cannot connect "
                                            r"\(\[Errno 111\] Connection refused\)$"):
        fetch(f"http://127.0.0.1:{port}/w.pth", tmp_path / "x.part", timeout=5, retries=0)


def test_an_http_download_reports_its_progress(hostile, tmp_path):
    seen = []
    fetch(hostile.url + "ok.pth", tmp_path / "x.part", timeout=5, progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1] == (len(BODY), len(BODY)) and all(t == len(BODY) for _, t in seen)


def test_an_announced_size_past_the_cap_is_refused_before_reading(hostile, tmp_path):
    part = tmp_path / "x.part"
    with pytest.raises(DownloadError, match="larger than 4294967296 bytes"):
        fetch(hostile.url + "huge-claim.pth", part, timeout=5)
    assert not part.exists() and max_download() == 4 << 30
    with pytest.raises(DownloadError, match="larger than 1000 bytes"):
        fetch(hostile.url + "ok.pth", part, timeout=5, max_bytes=1000)  # the published size, when there is one
    assert not part.exists()
    fetch(hostile.url + "ok.pth", part, timeout=5, max_bytes=len(BODY))  # exactly the size: fine
    assert _sha(part) == SHA


def test_a_body_without_length_is_capped_to_the_byte(hostile, tmp_path):
    part = tmp_path / "x.part"
    fetch(hostile.url + "nolength-1000", part, timeout=5, retries=0, max_bytes=1000)  # exactly the cap: fine
    assert part.read_bytes() == BODY[:1000]
    part.unlink()
    with pytest.raises(DownloadError, match=r"/nolength-1001: larger than 1000 bytes \(the published size, or "
                                            r"FAKESCOPE_MAX_DOWNLOAD\): refused$"):
        fetch(hostile.url + "nolength-1001", part, timeout=5, retries=0, max_bytes=1000)
    assert not part.exists()


@pytest.mark.parametrize("path", ["wrong-range.pth", "no-range.pth", "416.pth"])
def test_a_resume_answered_with_the_wrong_bytes_starts_again(hostile, tmp_path, path):
    part = tmp_path / "x.part"
    part.write_bytes(b"\xff" * 1000 if path != "416.pth" else b"\xff" * (len(BODY) + 10))  # stale partial file
    fetch(hostile.url + path, part, timeout=5, retries=2)
    assert _sha(part) == SHA


def test_redirects_are_followed_but_not_into_loops_or_local_files(hostile, tmp_path):
    part = tmp_path / "x.part"
    fetch(hostile.url + "redirect-1", part, timeout=5)
    assert _sha(part) == SHA
    part.unlink()
    with pytest.raises(DownloadError, match=r"HTTP 30\d"):
        fetch(hostile.url + "loop", part, timeout=5)
    with pytest.raises(DownloadError, match=r"HTTP 302"):
        fetch(hostile.url + "to-file", part, timeout=5)
    assert not part.exists()


@pytest.mark.parametrize("path", ["html.pth", "html-as-binary.pth", "quota.pth"])
def test_html_pages_are_refused_whatever_their_content_type(hostile, tmp_path, path):
    part = tmp_path / "x.part"
    with pytest.raises(DownloadError, match=r"sent an HTML page, not a checkpoint \(a login, download-quota or "
                                            r"virus-scan page\?\); download it in a browser and use `fakescope "
                                            r"weights add FILE --name NAME`$"):
        fetch(hostile.url + path, part, timeout=5)
    assert not part.exists()
    assert looks_like_html(b"  \n<!DOCTYPE HTML>") and not looks_like_html(b"PK\x03\x04<html>")
    for start in (b"<html lang=en>", b"<HEAD>", b"<!-- sign-in -->", b'<meta charset="utf-8">', b"<Body>"):
        assert looks_like_html(start), start


def test_server_errors_are_final_not_retried(hostile, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 500"):
        fetch(hostile.url + "error500", tmp_path / "x.part", timeout=5, retries=3)
    assert [p for p, _ in hostile.log] == ["/error500"]
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(hostile.url + "nothing-here", tmp_path / "x.part", timeout=5)


def test_a_closed_port_says_cannot_connect(tmp_path):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(DownloadError, match="cannot connect"):
        fetch(f"http://127.0.0.1:{port}/x.pth", tmp_path / "x.part", timeout=2, retries=0)


# ----------------------------------------------------------------------------- download (CLI)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("huge-claim.pth", "larger than"),
        ("html-as-binary.pth", "HTML page"),
        ("loop", "HTTP 30"),
        ("to-file", "HTTP 302"),
        ("error500", "HTTP 500"),
        ("markup-reason", "[/x] [link=http://evil.example]click[/link]"),
    ],
)
def test_pull_from_a_hostile_server_gives_one_line_and_leaves_nothing(hostile, home, path, expected):
    r = runner.invoke(app, ["weights", "pull", "--url", hostile.url + path, "--name", "hostile", "--format",
                            "deepfakebench"])  # fmt: skip
    line = _one_line_error(r)
    assert expected in line, line
    assert r.exit_code == 1
    left = [p for p in home.rglob("*") if p.is_file() and p.suffix != ".lock"]
    assert left == [], left


def test_a_pull_killed_mid_download_resumes_and_installs_intact(hostile, home):
    """SIGKILL a pull in the middle of a slow body; the next pull asks for the rest (Range) and installs a
    verified file."""
    hostile.data = meso_file()
    exe = Path(sys.executable).with_name("fakescope")
    cmd = [str(exe), "weights", "pull", "--url", hostile.url + "slow.pth", "--name", "killed", "--format",
           "deepfakebench"]  # fmt: skip
    env = {**os.environ, "FAKESCOPE_HOME": str(home)}
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    parts: list[Path] = []
    while time.monotonic() < deadline and p.poll() is None:
        parts = [q for q in home.rglob("*.part") if q.stat().st_size > 0]
        if parts:
            break
        time.sleep(0.05)
    assert parts, "the pull never started writing"
    p.send_signal(signal.SIGKILL)
    p.wait(30)
    r = runner.invoke(app, cmd[1:])
    assert r.exit_code == 0, r.output
    assert any(path == "/slow.pth" and rng for path, rng in hostile.log[1:]), hostile.log
    assert runner.invoke(app, ["weights", "verify", "killed"]).exit_code == 0
    assert not list(home.rglob("*.part"))


# ----------------------------------------------------------------------------- damaged files


def _install(hostile, home) -> Path:
    hostile.data = meso_file()
    r = runner.invoke(app, ["weights", "pull", "--url", hostile.url + "ok.pth", "--name", "inst", "--format",
                            "deepfakebench"])  # fmt: skip
    assert r.exit_code == 0, r.output
    files = [p for p in (home / "weights" / "inst").iterdir() if p.name != "manifest.json"]
    assert files
    return files[0]


def test_an_altered_installed_file_is_reported_and_refused(hostile, home, tmp_path, samples):
    f = _install(hostile, home)
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    r = runner.invoke(app, ["weights", "verify", "inst"])
    assert r.exit_code == 1 and "FAILED inst" in r.output and "Traceback" not in r.output, r.output
    r = runner.invoke(app, ["analyze", str(samples / "multi_face.jpg"), "--model", "inst", "--out",
                            str(tmp_path / "o")])  # fmt: skip
    assert r.exit_code != 0 and "sha256 differs" in r.output and "Traceback" not in r.output, r.output
    assert not (tmp_path / "o" / "result.json").exists()
    f.unlink()
    r = runner.invoke(app, ["weights", "verify", "inst"])
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    r = runner.invoke(app, ["weights", "pull", "--url", hostile.url + "ok.pth", "--name", "inst", "--format",
                            "deepfakebench"])  # fmt: skip
    assert r.exit_code == 0 and runner.invoke(app, ["weights", "verify", "inst"]).exit_code == 0


@pytest.mark.parametrize(
    "text",
    ["[[weights]\nname = 'x'", "[[weights]]\nname = 3\n", "[[weights]]\nname = 'x'\nfiles = 'nope'\n",
     "\x00\x01binary", "[[weights]]\n" + "title = 'a'\n" * 2],
)
def test_a_damaged_catalogue_file_gives_one_line(home, tmp_path, monkeypatch, text):
    cat = tmp_path / "cat.toml"
    cat.write_text(text)
    monkeypatch.setenv("FAKESCOPE_WEIGHTS_CATALOGUE", str(cat))
    r = runner.invoke(app, ["weights", "list"])
    line = _one_line_error(r)
    assert "cat.toml" in line, line


def test_a_missing_catalogue_file_gives_one_line(home, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKESCOPE_WEIGHTS_CATALOGUE", str(tmp_path / "nope.toml"))
    line = _one_line_error(runner.invoke(app, ["weights", "list"]))
    assert "nope.toml" in line


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty-table"])
def test_batch_report_on_a_damaged_store_gives_one_line(tmp_path, damage):
    from fakescope.archive.store import DB_NAME, ResultStore

    out = tmp_path / "b"
    with ResultStore(out) as s:
        s.register_settings(__import__("fakescope.pipeline", fromlist=["AnalyzeConfig"]).AnalyzeConfig())
    db = out / DB_NAME
    for extra in out.glob(DB_NAME + "-*"):
        extra.unlink()
    if damage == "garbage":
        db.write_bytes(os.urandom(8192))
    elif damage == "truncated":
        db.write_bytes(db.read_bytes()[:1500])
    else:
        import sqlite3

        con = sqlite3.connect(db)
        con.execute("DROP TABLE results")
        con.execute("CREATE TABLE results (x INTEGER)")
        con.commit()
        con.close()
    r = runner.invoke(app, ["batch-report", str(out)])
    line = _one_line_error(r)
    assert str(out) in line or DB_NAME in line, line


@pytest.mark.parametrize("content", ["{not json", '{"kind": "platt"}', "[]", '{"a": 1, "b": "x", "temperature": -1}'])
def test_a_damaged_calibration_file_gives_one_line(tmp_path, samples, content):
    cal = tmp_path / "cal.json"
    cal.write_text(content)
    r = runner.invoke(app, ["analyze", str(samples / "multi_face.jpg"), "--model", "mesoinception4", "--calibration",
                            str(cal), "--out",
                            str(tmp_path / "o")])  # fmt: skip
    assert r.exit_code != 0 and "Traceback" not in r.output and "cal.json" in r.output, r.output
    assert not (tmp_path / "o" / "result.json").exists()


def test_a_symlink_planted_in_the_cache_cannot_redirect_writes(hostile, home, tmp_path):
    """Every write and delete is checked after resolving: a download folder that is a symlink to somewhere
    else is refused, and nothing is written there."""
    from fakescope.catalogue.install import _confined
    from fakescope.errors import WeightsError

    outside = tmp_path / "outside"
    outside.mkdir()
    (home / "downloads").mkdir(parents=True)
    (home / "downloads" / "planted").symlink_to(outside, target_is_directory=True)
    hostile.data = meso_file()
    r = runner.invoke(app, ["weights", "pull", "--url", hostile.url + "ok.pth", "--name", "planted", "--format",
                            "deepfakebench"])  # fmt: skip
    line = _one_line_error(r)
    assert "would leave" in line, line
    assert list(outside.iterdir()) == []
    root = tmp_path / "root"
    root.mkdir()
    for bad in ("../x", "a/../../x", "", "."):
        with pytest.raises(WeightsError, match="would leave"):
            _confined(root, bad)
    (root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(WeightsError, match="would leave"):
        _confined(root, "link/file.part")
    assert _confined(root, "ok.part") == root.resolve() / "ok.part"
