"""Shareable forms of a result folder: one zip of everything, and a PDF of the report.

The PDF is printed by a headless Chromium (``chromium --headless --print-to-pdf``), the same browser
the web app's tests drive; it is optional: without a Chromium on the machine no PDF is written.
Set ``FAKESCOPE_CHROMIUM`` to the browser's path to choose one.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

from ..schema import current_umask, write_atomic

log = logging.getLogger(__name__)

_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
# offline and quiet: no sandbox (root in containers), no background traffic, no first-run UI
_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
          "--no-pdf-header-footer", "--hide-scrollbars"]


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable, or None."""
    env = os.environ.get("FAKESCOPE_CHROMIUM")
    if env:
        return env if Path(env).is_file() else None
    for name in _BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def write_pdf(html_path: str | Path, pdf_path: str | Path, timeout: float = 90.0) -> Path | None:
    """Print ``html_path`` to ``pdf_path`` with headless Chromium; None when no browser is installed
    or printing fails (logged: the PDF is a convenience, never a reason to fail an analysis)."""
    browser = find_chromium()
    if browser is None:
        log.info("no Chromium found: no PDF of the report")
        return None
    html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path)
    with tempfile.TemporaryDirectory(prefix="fakescope-pdf-") as tmp:
        out = Path(tmp) / "report.pdf"
        cmd = [browser, *_FLAGS, f"--user-data-dir={tmp}/profile", f"--print-to-pdf={out}", html_path.as_uri()]
        try:
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            log.warning("could not print the report to PDF: %s", e)
            return None
        if not out.is_file() or not out.read_bytes()[:5] == b"%PDF-":
            log.warning("could not print the report to PDF (%s wrote no PDF)", Path(browser).name)
            return None
        return write_atomic(pdf_path, out.read_bytes())


def write_zip(folder: str | Path, zip_path: str | Path, exclude: Iterable[str] = ()) -> Path:
    """Zip every file under ``folder`` (relative names; ``exclude``: top-level names to leave out, e.g.
    the upload) into ``zip_path``, written atomically. Symlinks are not followed."""
    folder, zip_path = Path(folder), Path(zip_path)
    skip = {*exclude, zip_path.name}
    tmp = zip_path.with_name(f".{zip_path.name}.part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            rel = p.relative_to(folder)
            if rel.parts[0] in skip or rel.name.startswith(".") or p.is_symlink() or not p.is_file():
                continue
            # PNG, MP4 and PDF are compressed already
            kind = zipfile.ZIP_STORED if p.suffix in (".png", ".mp4", ".pdf", ".zip") else zipfile.ZIP_DEFLATED
            zf.write(p, rel.as_posix(), compress_type=kind)
    os.chmod(tmp, 0o666 & ~current_umask())
    tmp.replace(zip_path)
    return zip_path

