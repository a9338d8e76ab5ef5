"""pull / add / remove / verify: catalogue entries (or any file) → checked, converted, installed weights.

Every file goes through the same checks before anything is installed: size and sha256 against
what the project publishes (a sha256 in the file name — ``X-<64 hex>.pth`` — counts as published),
else against what was recorded on the first download of that entry; not an HTML page; readable as
a plain weight file (never unpickled with code execution); converted by the entry's importer. The
converted files and the manifest are written to a temporary folder that is renamed into place only
when all of that passed, so a failed pull leaves nothing installed (and an older install intact).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import FakescopeError, WeightsError
from .download import DownloadError, DownloadInterrupted, fetch, looks_like_html, source_for
from .entries import MAX_NAME, NAME_CHARS, CatalogueEntry, CatalogueFile, get_entry, load_catalogue
from .store import (
    MANIFEST,
    check_name,
    fakescope_home,
    list_installed,
    model_dir,
    read_manifest,
    verify_installed,
    weights_root,
    write_json_atomic,
)

__all__ = [
    "LicenceNotAccepted",
    "add",
    "adhoc_entry",
    "list_rows",
    "pull",
    "recorded_hashes",
    "remove",
    "verify",
]

log = logging.getLogger(__name__)
ENV_MIRROR = "FAKESCOPE_WEIGHTS_MIRROR"
# (file name, done bytes, total bytes or None)
FileProgress = Callable[[str, int, int | None], None]


class LicenceNotAccepted(FakescopeError):
    """The entry's licence restricts use and was not accepted (``--accept-licence``)."""


@dataclass
class Installed:
    name: str
    path: Path
    manifest: dict


# ------------------------------------------------------------------------------------ entries


def _with_overrides(entry, format: str | None, arch: str | None):
    """A catalogue entry with the user's ``--format`` / ``--arch`` in place of its own."""
    if format and format != entry.format:
        entry = replace(entry, format=format)
    if arch:
        entry = replace(entry, architecture=arch)
    return entry


def _confined(root: Path, name: str) -> Path:
    """``root / name``, refused unless it resolves inside ``root`` (every write and delete goes through here)."""
    path = (root / name).resolve()
    if not path.is_relative_to(root.resolve()) or path == root.resolve():
        raise WeightsError(f"{name!r} would leave {root}: refused")
    return path


def adhoc_entry(name: str, file: str, url: str, format: str, arch: str | None = None,
                sha256: str | None = None) -> CatalogueEntry:  # fmt: skip
    """An entry for a file outside the catalogue (``pull --url`` / ``add``): ``url`` is "" for a local file,
    ``format`` "auto" to detect it."""
    from ..models.convert.icpr2020 import sha256_from_file_name

    # the file name comes from outside text (a URL, a path): keep it one plain path component
    file = "".join(c if c in NAME_CHARS else "_" for c in Path(file).name).lstrip(".")[-MAX_NAME:] or "checkpoint.pth"
    from_name = sha256_from_file_name(file)
    return CatalogueEntry(
        name=check_name(name),
        title=f"{file} (not in the catalogue)",
        files=(CatalogueFile(file=file, url=url, sha256=((sha256 or "").lower() or from_name or None),
                             sha256_source="given" if sha256 else ("file name" if from_name else "")),),  # fmt: skip
        format=format,
        architecture=arch,
        licence="unknown (not in the catalogue: check the source's terms)",
        in_catalogue=False,
    )


def check_licence(entry: CatalogueEntry, accepted: bool) -> None:
    if entry.restriction and not accepted:
        raise LicenceNotAccepted(
            f"{entry.name}: licence {entry.licence} restricts use: {entry.restriction} ({entry.licence_url}); "
            "pass --accept-licence to accept it"
        )


# ---------------------------------------------------------------------- recorded-on-first-download


def _recorded_path() -> Path:
    return fakescope_home() / "recorded.json"


def recorded_hashes() -> dict:
    """{entry name: {file: {"size": int, "sha256": str}}} recorded on first download."""
    import json

    try:
        return json.loads(_recorded_path().read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise WeightsError(f"{_recorded_path()}: damaged ({e})") from None


def _record(entry: CatalogueEntry, files: dict[str, tuple[int, str]]) -> None:
    data = recorded_hashes()
    slot = data.setdefault(entry.name, {})
    changed = False
    for f in entry.files:
        if f.sha256 is None and f.file not in slot:
            size, digest = files[f.file]
            slot[f.file] = {"size": size, "sha256": digest, "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                    time.gmtime())}  # fmt: skip
            changed = True
    if changed:
        write_json_atomic(_recorded_path(), data)


# ------------------------------------------------------------------------------------- checks


def _check_file(entry: CatalogueEntry, spec: CatalogueFile, path: Path) -> tuple[int, str]:
    """Size, sha256 and content checks of one file; returns (size, sha256)."""
    from ..models import sha256_file
    from ..models.convert.icpr2020 import sha256_from_file_name

    size = path.stat().st_size
    if size == 0:
        raise WeightsError(f"{spec.file}: empty file")
    with open(path, "rb") as f:
        if looks_like_html(f.read(512)):
            raise WeightsError(f"{spec.file}: an HTML page, not a checkpoint (a login, download-quota or "
                               "virus-scan page?)")  # fmt: skip
    recorded = recorded_hashes().get(entry.name, {}).get(spec.file)
    want_size = spec.size if spec.size is not None else (recorded or {}).get("size")
    if want_size is not None and size != want_size:
        what = "published" if spec.size is not None else "recorded on first download"
        kind = "truncated" if size < want_size else "too large"
        raise WeightsError(f"{spec.file}: {kind}: {size} bytes, {want_size} {what}")
    digest = sha256_file(path)
    want = spec.sha256 or sha256_from_file_name(spec.file) or (recorded or {}).get("sha256")
    if want is not None and digest != want:
        if sha256_from_file_name(spec.file) == want:
            what = "sha256 in the file name"
        elif spec.sha256:
            what = "given" if spec.sha256_source == "given" else "published"
        else:
            what = "recorded on first download"
        raise WeightsError(f"{spec.file}: sha256 {digest[:16]}… does not match the {what} {want[:16]}… "
                           "(corrupt, truncated or a different file)")  # fmt: skip
    return size, digest


def _convert(entry: CatalogueEntry, spec: CatalogueFile, path: Path):
    from ..models.convert import convert_file

    try:
        conv = convert_file(path, entry.format or "auto", entry.architecture, trust_pickle=False)
    except WeightsError as e:
        msg = str(e).replace(str(path), spec.file)
        if "--trust-pickle" in msg:
            msg = (f"{spec.file}: refused: a pickled Python object that needs code execution to load; "
                   "fakescope weights never unpickles code")  # fmt: skip
        raise WeightsError(msg) from None
    conv.source_file = spec.file
    return conv


# ------------------------------------------------------------------------------------ install


def _install(entry: CatalogueEntry, sources: Sequence[tuple[CatalogueFile, Path, str]]) -> Installed:
    """Check and convert every (spec, local file, origin), then install atomically."""
    from .._version import __version__
    from ..models.convert import save_converted

    checked = {spec.file: _check_file(entry, spec, path) for spec, path, _ in sources}
    convs = [_convert(entry, spec, path) for spec, path, _ in sources]
    archs = {c.arch for c in convs}
    sizes = {(c.input_size, tuple(c.mean), tuple(c.std)) for c in convs}
    if len(convs) > 1 and (len(archs) > 1 or len({c.input_size for c in convs}) > 1):
        raise WeightsError(f"{entry.name}: the files convert onto different architectures or input sizes "
                           f"({', '.join(sorted(archs))}); an ensemble needs one")  # fmt: skip
    root = weights_root()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=f".staging-{entry.name}-"))
    try:
        from ..models import sha256_file

        members = []
        for i, ((spec, _, origin), conv) in enumerate(zip(sources, convs, strict=True)):
            out = save_converted(conv, staging / f"member-{i}.safetensors")
            size, digest = checked[spec.file]
            members.append({
                "file": out.name, "sha256": sha256_file(out), "source_file": spec.file, "source_url": origin,
                "source_size": size, "source_sha256": digest, "source_format": conv.source_format,
                "notes": conv.notes,
            })  # fmt: skip
        input_size, mean, std = next(iter(sizes))
        manifest = {
            "schema": 1,
            "name": entry.name,
            "architecture": convs[0].arch,
            "model_kwargs": convs[0].model_kwargs,
            "input_size": input_size,
            "mean": list(mean),
            "std": list(std),
            "crop_align": convs[0].crop_align,
            "combine": entry.combine if len(convs) > 1 else None,
            "members": members,
            "entry": entry.card(),
            "in_catalogue": entry.in_catalogue,
            "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "fakescope_version": __version__,
        }
        write_json_atomic(staging / MANIFEST, manifest)
        target = model_dir(entry.name)
        old = None
        if target.exists():
            old = root / f".old-{entry.name}-{os.getpid()}-{time.monotonic_ns()}"
            os.replace(target, old)
        os.replace(staging, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _record(entry, checked)
    return Installed(entry.name, target, manifest)


def pull(
    name: str,
    *,
    url: str | None = None,
    format: str | None = None,
    arch: str | None = None,
    sha256: str | None = None,
    accept_licence: bool = False,
    mirror: str | None = None,
    progress: FileProgress | None = None,
    retries: int = 3,
) -> Installed:
    """Download, check, convert and install catalogue entry ``name`` (or, with ``url`` and a name
    not in the catalogue, that one file). ``mirror`` (default ``$FAKESCOPE_WEIGHTS_MIRROR``) replaces
    every origin; ``url`` replaces the origin of a one-file entry."""
    catalogue = load_catalogue()
    if name in catalogue:
        entry = _with_overrides(catalogue[name], format, arch)
        if url and len(entry.files) > 1:
            raise WeightsError(f"{name} has {len(entry.files)} files; --url pulls one (use a mirror)")
    elif url:
        file = Path(url.split("?", 1)[0].rstrip("/")).name or "checkpoint.pth"
        entry = adhoc_entry(name, file, url, format or "auto", arch, sha256)
    else:
        get_entry(name)  # raises with a suggestion
        raise AssertionError  # pragma: no cover
    check_licence(entry, accept_licence)
    with _entry_lock(entry.name):  # a second pull of the same entry waits, then installs atomically too
        return _pull_locked(entry, url, mirror, progress, retries)


@contextmanager
def _entry_lock(name: str):
    """Exclusive lock of one entry's downloads (``FAKESCOPE_HOME/downloads/NAME.lock``, ``fcntl.flock``)."""
    import fcntl

    root = fakescope_home() / "downloads"
    root.mkdir(parents=True, exist_ok=True)
    path = _confined(root, name + ".lock")
    with open(path, "a+b") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            log.warning("another pull of %s is running: waiting for it", name)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _pull_locked(entry: CatalogueEntry, url: str | None, mirror: str | None, progress: FileProgress | None,
                 retries: int) -> Installed:  # fmt: skip
    mirror = os.environ.get(ENV_MIRROR) if mirror is None else mirror
    downloads = _confined(fakescope_home() / "downloads", entry.name)
    sources = []
    for spec in entry.files:
        if url and entry.in_catalogue:
            origins: tuple[str, ...] = (url,)
        elif mirror and not url:  # a mirror replaces every origin
            origins = (source_for(spec.file, spec.url, mirror),)
        else:
            origins = spec.urls
        if not origins:
            raise WeightsError(f"{entry.name}: no URL for {spec.file}; pass --url or set {ENV_MIRROR}")
        part = _confined(downloads, spec.file + ".part")

        def report(done, total, _file=spec.file):
            if progress:
                progress(_file, done, total)

        origin = _fetch_first(origins, part, report, retries, spec.size, downloads)
        sources.append((spec, part, origin))
    try:
        installed = _install(entry, sources)
    except FakescopeError:
        # the content is wrong (not the connection): do not resume it next time
        shutil.rmtree(downloads, ignore_errors=True)
        raise
    shutil.rmtree(downloads, ignore_errors=True)
    return installed


def _fetch_first(origins: Sequence[str], part: Path, report, retries: int, size: int | None, downloads: Path) -> str:
    """Fetch from the first origin that works, in order; returns it. A failure for good (HTTP error, an
    HTML page, no connection) moves on to the next; an interrupted download is kept for resuming. All
    failed: one DownloadError naming each origin's reason."""
    failures = []
    for origin in origins:
        try:
            # capped by the published size when there is one, else by $FAKESCOPE_MAX_DOWNLOAD
            fetch(origin, part, progress=report, retries=retries, max_bytes=size or None)
            return origin
        except DownloadInterrupted:
            raise
        except DownloadError as e:
            part.unlink(missing_ok=True)
            failures.append(str(e))
            if len(origins) > 1:
                log.warning("%s", e)
    if downloads.is_dir() and not any(downloads.iterdir()):
        downloads.rmdir()
    if len(failures) == 1:
        raise DownloadError(failures[0])
    raise DownloadError(f"all {len(failures)} origins failed: " + " | ".join(failures))


def add(
    files: Sequence[str | Path],
    name: str,
    *,
    format: str | None = None,
    arch: str | None = None,
    accept_licence: bool = False,
) -> Installed:
    """Install local file(s) obtained any other way, under ``name`` (a catalogue entry's checks apply
    when ``name`` is in the catalogue; its files are matched by name when it has several)."""
    paths = [Path(f) for f in files]
    for p in paths:
        if not p.is_file():
            raise WeightsError(f"{p}: file not found")
    catalogue = load_catalogue()
    if name in catalogue:
        entry = _with_overrides(catalogue[name], format, arch)
        if len(entry.files) == 1:
            if len(paths) != 1:
                raise WeightsError(f"{name} is one file ({entry.files[0].file}); got {len(paths)}")
            pairs = [(entry.files[0], paths[0])]
        else:
            by_name = {p.name: p for p in paths}
            missing = [f.file for f in entry.files if f.file not in by_name]
            if missing or len(paths) != len(entry.files):
                raise WeightsError(f"{name} needs its {len(entry.files)} files under their published names; "
                                   f"missing: {', '.join(missing) or '-'}")  # fmt: skip
            pairs = [(f, by_name[f.file]) for f in entry.files]
    else:
        if len(paths) != 1:
            raise WeightsError(f"{name} is not in the catalogue: add one file at a time")
        entry = adhoc_entry(name, paths[0].name, "", format or "auto", arch)
        pairs = [(entry.files[0], paths[0])]
    check_licence(entry, accept_licence)
    return _install(entry, [(spec, path, str(path.resolve())) for spec, path in pairs])


def remove(name: str) -> Path:
    """Uninstall ``name`` (its folder under ``$FAKESCOPE_HOME/weights``)."""
    target = model_dir(name)
    if read_manifest(name) is None:
        raise WeightsError(f"{name} is not installed (installed: {', '.join(list_installed()) or 'none'})")
    trash = weights_root() / f".removing-{name}-{os.getpid()}"
    os.replace(target, trash)
    shutil.rmtree(trash, ignore_errors=True)
    shutil.rmtree(fakescope_home() / "downloads" / name, ignore_errors=True)
    return target


def verify(names: Sequence[str] | None = None) -> dict[str, list[str]]:
    """{name: problems} for the installed models (all, or ``names``); empty lists when intact."""
    return {n: verify_installed(n) for n in (names or list_installed())}


def list_rows() -> list[dict]:
    """One row per catalogue entry and per installed model outside the catalogue."""
    catalogue = load_catalogue()
    recorded = recorded_hashes()
    installed = set(list_installed())
    rows = []
    for name, e in catalogue.items():
        size = e.published_size
        rec = recorded.get(name, {})
        if size is not None:
            size_text = _size(size)
        elif rec and all(f.file in rec for f in e.files):
            size_text = f"{_size(sum(rec[f.file]['size'] for f in e.files))} (measured at first download)"
        else:
            size_text = "not published (measured at first download)"
        published = [f for f in e.files if f.sha256]
        sha_text = ("published" + (" (in the file name)" if any("file name" in f.sha256_source for f in published)
                                   else "")
                    if len(published) == len(e.files) else
                    ("recorded on first download" if rec else "recorded on first download (pending)"))  # fmt: skip
        rows.append({"name": name, "title": e.title, "architecture": e.architecture, "files": len(e.files),
                     "installed": name in installed, "licence": e.licence, "restricted": bool(e.restriction),
                     "size": size_text, "sha256": sha_text, "accuracy": _accuracy(e.benchmarks)})  # fmt: skip
    for name in sorted(installed - set(catalogue)):
        m = read_manifest(name) or {}
        size = sum(x.get("source_size", 0) for x in m.get("members", []))
        rows.append({"name": name, "title": m.get("entry", {}).get("title", ""), "architecture": m.get("architecture"),
                     "files": len(m.get("members", [])), "installed": True,
                     "licence": m.get("entry", {}).get("licence", "unknown"), "restricted": False,
                     "size": f"{_size(size)} (at install)", "sha256": "recorded at install",
                     "accuracy": "unknown (not in the catalogue)"})  # fmt: skip
    return rows


def _size(n: int) -> str:
    """Bytes in words (MB with one decimal above 1 MB)."""
    return f"{n / 1e6:.1f} MB" if n >= 1_000_000 else f"{n / 1e3:.0f} kB" if n >= 1000 else f"{n} B"


def _accuracy(benchmarks) -> str:
    """One published number, with its data set: the best one outside FaceForensics++ (the usual training set,
    whose own test split flatters every detector), else the first. Non-numeric values (a competition rank)
    are shown as published. The authors' numbers, not measured here."""
    if not benchmarks:
        return "none published"

    def num(b) -> float | None:
        v = b.get("value")
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    cross = [b for b in benchmarks if num(b) is not None
             and not str(b.get("dataset", "")).upper().startswith(("FF", "FACEFORENSICS"))]  # fmt: skip
    b = max(cross, key=num) if cross else benchmarks[0]
    value = f"{num(b):.2f}" if num(b) is not None else str(b.get("value", "?"))
    return f"{b.get('metric', '?')} {value} on {b.get('dataset', '?')} (authors')"
