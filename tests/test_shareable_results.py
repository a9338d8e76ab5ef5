"""Shareable results (issue 15): identity thumbnails without --explain, normal file modes, zip and PDF."""

from __future__ import annotations

import os
import shutil
import stat
import zipfile

import pytest

from fakescope.pipeline import Analyzer
from fakescope.render.artifacts import write_artifacts
from fakescope.render.share import write_pdf, write_zip
from fakescope.schema import write_atomic


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_results_get_the_usual_file_mode(tmp_path, umask_022):
    path = write_atomic(tmp_path / "result.json", "{}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    os.umask(0o077)  # a private umask is respected too
    assert stat.S_IMODE(write_atomic(tmp_path / "b.json", "{}").stat().st_mode) == 0o600


def test_report_without_explanations_shows_each_identity(tmp_path, samples, umask_022):
    result = Analyzer(model="meso4").analyze(samples / "multi_face.jpg")
    assert len(result.tracks) >= 2
    write_artifacts(result, tmp_path, annotate=False, report=True)
    html = (tmp_path / "report.html").read_text()
    assert "<h2>Faces</h2>" in html and "Explained faces" not in html
    for t in result.tracks:
        assert f"identity #{t.id} ·" in html
    assert html.count("data:image/png;base64,") >= len(result.tracks)
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o644


def test_zip_and_pdf_of_a_result_folder(tmp_path, umask_022):
    (tmp_path / "heatmaps").mkdir()
    (tmp_path / "heatmaps" / "a.png").write_bytes(b"png")
    (tmp_path / "input.mp4").write_bytes(b"upload")
    (tmp_path / "report.html").write_text("<!doctype html><h1>fakescope report</h1><p>" + "text " * 200)
    z = write_zip(tmp_path, tmp_path / "result.zip", exclude=["input.mp4"])
    assert sorted(zipfile.ZipFile(z).namelist()) == ["heatmaps/a.png", "report.html"]
    assert stat.S_IMODE(z.stat().st_mode) == 0o644
    if shutil.which("chromium") is None:
        pytest.skip("no Chromium: the PDF is optional")
    pdf = write_pdf(tmp_path / "report.html", tmp_path / "report.pdf")
    assert pdf is not None and pdf.read_bytes().startswith(b"%PDF-")


def test_pdf_is_optional_without_chromium(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKESCOPE_CHROMIUM", str(tmp_path / "no-such-browser"))
    (tmp_path / "report.html").write_text("<p>x</p>")
    assert write_pdf(tmp_path / "report.html", tmp_path / "report.pdf") is None
    assert not (tmp_path / "report.pdf").exists()
