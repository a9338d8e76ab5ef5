"""The weights catalogue: published detector checkpoints described as data (``catalogue.toml``).

One :class:`CatalogueEntry` per published checkpoint (or ensemble of checkpoints): where it comes
from, the file name its project publishes, size and sha256 where published, the importer and
fakescope architecture it converts onto, the source's preprocessing, its licence and the published
benchmark numbers for its model card. ``$FAKESCOPE_WEIGHTS_CATALOGUE`` names extra TOML files
(``os.pathsep``-separated) in the same layout whose entries are added (or replace shipped ones of
the same name) — how an organisation lists its own checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FakescopeError, UnknownNameError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = ["CatalogueEntry", "CatalogueFile", "get_entry", "load_catalogue"]

CATALOGUE_PATH = Path(__file__).resolve().parent / "catalogue.toml"
ENV_EXTRA = "FAKESCOPE_WEIGHTS_CATALOGUE"
COMBINE_RULES = ("mean-probability",)


@dataclass(frozen=True)
class CatalogueFile:
    """One published file: its name, origins, and the size / sha256 its project publishes (or None).

    ``url`` is the first origin; ``fallbacks`` are tried in order when it fails (HTTP error, an HTML page,
    no connection) — mirrors the project itself names, or the same file on another host.
    """

    file: str
    url: str = ""
    size: int | None = None
    sha256: str | None = None
    sha256_source: str = ""
    fallbacks: tuple[str, ...] = ()

    @property
    def urls(self) -> tuple[str, ...]:
        """Every origin, in the order tried (no duplicates, no empty ones)."""
        return tuple(u for u in dict.fromkeys((self.url, *self.fallbacks)) if u)


@dataclass(frozen=True)
class CatalogueEntry:
    """A published detector: one checkpoint, or several combined (``combine``)."""

    name: str
    title: str
    files: tuple[CatalogueFile, ...]
    format: str = "auto"
    architecture: str | None = None
    project: str = ""
    project_url: str = ""
    paper: str = ""
    trained_on: str = ""
    preprocessing: str = ""
    licence: str = "unknown"
    licence_url: str = ""
    restriction: str = ""  # non-empty: shown before a download, needs --accept-licence
    combine: str | None = None
    combine_note: str = ""
    architecture_source: str = ""
    source_read: str = ""
    notes: str = ""
    benchmarks: tuple[dict, ...] = field(default=(), compare=False)
    in_catalogue: bool = True

    @property
    def published_size(self) -> int | None:
        sizes = [f.size for f in self.files]
        return sum(sizes) if all(s is not None for s in sizes) else None

    def card(self) -> dict:
        """The entry as a plain dict (model card fields and files)."""
        return {
            "name": self.name,
            "title": self.title,
            "project": self.project,
            "project_url": self.project_url,
            "paper": self.paper,
            "trained_on": self.trained_on,
            "architecture": self.architecture,
            "format": self.format,
            "preprocessing": self.preprocessing,
            "licence": self.licence,
            "licence_url": self.licence_url,
            "restriction": self.restriction,
            "combine": self.combine,
            "combine_note": self.combine_note,
            "benchmarks": [dict(b) for b in self.benchmarks],
            "source_read": self.source_read,
            "notes": self.notes,
            "files": [
                {"file": f.file, "url": f.url, "fallbacks": list(f.fallbacks), "size": f.size, "sha256": f.sha256,
                 "sha256_source": f.sha256_source}  # fmt: skip
                for f in self.files
            ],
        }


NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
MAX_NAME = 200  # characters: with ".part" or a staging prefix, still inside the usual 255-byte component limit


def valid_name(name: str) -> bool:
    """A model or file name that is one plain path component: letters, digits, '-', '_', '.'; no leading
    '.' (so never '..' or a hidden file), at most :data:`MAX_NAME` characters. Entry and file names from
    catalogue files are checked with it before any path is built from them."""
    return bool(name) and len(name) <= MAX_NAME and not name.startswith(".") and set(name) <= NAME_CHARS


def _urls(f: dict) -> list[str]:
    """A file's origins: ``url`` (a string or a list of them), then ``fallbacks``."""
    url = f.get("url", "")
    first = [url] if isinstance(url, str) else list(url)
    extra = f.get("fallbacks", [])
    if not all(isinstance(u, str) for u in [*first, *extra]):
        raise TypeError("url and fallbacks must be strings")
    return [u for u in [*first, *extra] if u]


_FILE_FIELDS = frozenset({"file", "url", "fallbacks", "size", "sha256", "sha256_source"})


def _entry(raw: dict, where: Path) -> CatalogueEntry:
    try:
        for f in raw["files"]:  # a misspelt field (e.g. "sha265") would silently drop a check
            if set(f) - _FILE_FIELDS:
                raise ValueError(f"unknown file field(s) {', '.join(sorted(set(f) - _FILE_FIELDS))}")
        files = tuple(
            CatalogueFile(
                file=str(f["file"]),
                url=_urls(f)[0] if _urls(f) else "",
                fallbacks=tuple(_urls(f)[1:]),
                size=int(f["size"]) if f.get("size") is not None else None,
                sha256=str(f["sha256"]).lower() if f.get("sha256") else None,
                sha256_source=str(f.get("sha256_source", "")),
            )
            for f in raw["files"]
        )
        known = {k for k in CatalogueEntry.__dataclass_fields__ if k not in ("files", "benchmarks", "in_catalogue")}
        unknown = sorted(set(raw) - known - {"files", "benchmarks"})
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)}")
        entry = CatalogueEntry(
            files=files,
            benchmarks=tuple(dict(b) for b in raw.get("benchmarks", ())),
            **{k: raw[k] for k in known if k in raw},
        )
    except (KeyError, TypeError, ValueError) as e:
        name = raw.get("name", "?") if isinstance(raw, dict) else "?"
        raise FakescopeError(f"{where}: catalogue entry {name!r} is malformed ({type(e).__name__}: {e})") from None
    if not valid_name(entry.name):
        raise FakescopeError(f"{where}: catalogue entry name {entry.name!r} is not a valid name (letters, digits, "
                             f"'-', '_', '.'; no leading '.'; at most {MAX_NAME} characters)")  # fmt: skip
    for f in entry.files:
        if not valid_name(f.file):
            raise FakescopeError(f"{where}: catalogue entry {entry.name!r} names the file {f.file!r}, which is "
                                 "not a plain file name (letters, digits, '-', '_', '.'; no '/', no leading '.')")
    if not entry.files:
        raise FakescopeError(f"{where}: catalogue entry {entry.name!r} lists no files")
    if len(entry.files) > 1 and entry.combine not in COMBINE_RULES:
        raise FakescopeError(f"{where}: entry {entry.name!r} has {len(entry.files)} files but no combine rule "
                             f"({', '.join(COMBINE_RULES)})")  # fmt: skip
    return entry


def _read(path: Path) -> list[CatalogueEntry]:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise FakescopeError(f"{path}: cannot read the weights catalogue ({e.strerror or e})") from None
    except tomllib.TOMLDecodeError as e:
        raise FakescopeError(f"{path}: not a valid TOML weights catalogue ({e})") from None
    return [_entry(raw, path) for raw in data.get("weights", [])]


def load_catalogue() -> dict[str, CatalogueEntry]:
    """Every catalogue entry by name: the shipped catalogue, then ``$FAKESCOPE_WEIGHTS_CATALOGUE`` files."""
    paths = [CATALOGUE_PATH] + [Path(p) for p in os.environ.get(ENV_EXTRA, "").split(os.pathsep) if p]
    out: dict[str, CatalogueEntry] = {}
    for path in paths:
        for entry in _read(path):
            out[entry.name] = entry
    return out


def get_entry(name: str) -> CatalogueEntry:
    """The catalogue entry ``name`` (UnknownNameError with a suggestion otherwise)."""
    catalogue = load_catalogue()
    if name not in catalogue:
        import difflib

        close = difflib.get_close_matches(name, list(catalogue), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UnknownNameError(f"{name!r} is not in the weights catalogue{hint} (see `fakescope weights list`)")
    return catalogue[name]
