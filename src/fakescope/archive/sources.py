"""What a batch analyses: files, folders (recursive) and lists of paths (``.txt``: one per line;
``.csv``: a ``path`` column, else the first column). Relative paths in a list are relative to the
list's folder; blank lines and lines starting with ``#`` are skipped.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ..media import find_media

LIST_SUFFIXES = (".txt", ".csv", ".lst")


MAX_LIST_CELL = 4096  # characters: longer than any path a file system takes; longer cells are skipped


def _exists(p: Path) -> bool:
    """``p.exists()``, False for a name the file system refuses (too long, a NUL byte)."""
    try:
        return p.exists()
    except (OSError, ValueError):
        return False


def _read_list(path: Path) -> tuple[list[Path], list[str]]:
    """The paths a list names. Read defensively: a cell of any length never raises (csv's 131,072-character
    field limit is lifted, too-long items are left out), and ``~user`` that names no user stays literal."""
    base = path.parent
    text = path.read_text(encoding="utf-8-sig", errors="replace")  # pragma: no mutate (codec names ignore case)
    if path.suffix.lower() == ".csv":
        limit = csv.field_size_limit()
        csv.field_size_limit(max(limit, len(text) + 1))
        try:
            rows = list(csv.reader(text.splitlines()))
        finally:
            csv.field_size_limit(limit)
        if not rows:
            return [], []
        header = [c.strip().lower() for c in rows[0]]
        col = header.index("path") if "path" in header else 0
        # a header row is one whose first cell is not an existing path
        body = rows[1:] if "path" in header or not _exists(base / rows[0][0].strip()) else rows
        items = [r[col].strip() for r in body if len(r) > col and r[col].strip()]
    else:
        items = [ln.strip() for ln in text.splitlines()]
    out, skipped = [], []
    for n, item in enumerate(items, 1):
        if not item or item.startswith("#"):
            continue
        if len(item) > MAX_LIST_CELL or "\0" in item:
            skipped.append(f"{path}: item {n} skipped (not a path: {len(item)} characters)")
            continue
        try:
            p = Path(item).expanduser()
        except RuntimeError:  # "~nosuchuser/…": no such home folder; keep the text as a relative path
            p = Path(item)
        out.append(p if p.is_absolute() else base / p)  # pragma: no mutate (base / an absolute path is that path)
    return out, skipped


def expand_sources(sources: list[str | Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files (any kind: sniffed when analysed), folders (media files, recursive) and lists → paths.

    Returns ``(paths, errors)``; ``errors`` are ``(source, one-line message)`` for folders without media
    and unreadable lists. Paths that do not exist or are no regular files are *kept* in ``paths``: the
    batch records them as failed rows (so a list's every line gets a row).
    """
    paths: list[Path] = []
    errors: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(p: Path) -> None:
        try:
            key = str(p.resolve()) if p.exists() else str(p.absolute())
        except OSError:  # e.g. a name too long for the file system: recorded as a failed row later
            key = str(p.absolute())
        if key not in seen:
            seen.add(key)
            paths.append(p)

    for raw in sources:
        p = Path(raw)
        if p.is_dir():
            found, errs = find_media([p])
            errors += errs
            for f in found:
                add(f)
        elif p.is_file() and p.suffix.lower() in LIST_SUFFIXES:
            try:
                listed, skipped = _read_list(p)
            except OSError as e:
                errors.append((str(raw), f"{raw}: cannot read list ({e.strerror or e})"))
                continue
            errors += [(str(raw), msg) for msg in skipped]
            for item in listed:
                if item.is_dir():
                    found, errs = find_media([item])
                    errors += errs
                    for f in found:
                        add(f)
                else:
                    add(item)
        else:
            add(p)
    return paths, errors


def skipped_in_folders(sources: list[str | Path]) -> int:
    """How many visible files in the folders among ``sources`` are not analysed (no media extension): the batch
    says so instead of passing over them in silence."""
    from ..media import MEDIA_EXTENSIONS

    n = 0
    for raw in sources:
        p = Path(raw)
        if not p.is_dir():
            continue
        for f in p.rglob("*"):
            hidden = any(part.startswith(".") for part in f.relative_to(p).parts)
            if f.is_file() and not hidden and f.suffix.lower() not in MEDIA_EXTENSIONS:
                n += 1
    return n
