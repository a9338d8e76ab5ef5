"""``fakescope weights list|show|pull|add|remove|verify``: a thin layer over :mod:`fakescope.catalogue`."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from ..errors import FakescopeError, UnknownNameError

weights_app = typer.Typer(
    no_args_is_help=True,
    help="Published detector weights: list the catalogue, pull (download, verify, convert, install), add, remove.",
)
console = Console()
err_console = Console(stderr=True)

AcceptLicence = Annotated[
    bool,
    typer.Option("--accept-licence", help="Accept a licence that restricts use (non-commercial, GPL) without asking."),
]
FormatOpt = Annotated[str | None, typer.Option("--format", help="Importer (`fakescope convert --format`); default: the "
                                               "entry's, or auto-detected.")]  # fmt: skip
ArchOpt = Annotated[str | None, typer.Option(help="fakescope architecture to map onto (default: from the file).")]


def _fail(message: str, code: int) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _code(e: FakescopeError) -> int:
    from ..catalogue import LicenceNotAccepted

    return 2 if isinstance(e, (UnknownNameError, LicenceNotAccepted)) else 1


def _confirm_licence(entries, accepted: bool) -> bool:
    """Show restrictive licences (always, before any download); True when accepted, by ``--accept-licence``
    or interactively. Never prompts without a terminal."""
    restricted = [e for e in entries if e.restriction]
    for e in restricted:
        terms = escape(f"{e.name}: {e.licence} — {e.restriction} ({e.licence_url})")
        err_console.print(f"[yellow]licence[/yellow] {terms}",
                          highlight=False, soft_wrap=True)  # fmt: skip
    if accepted or not restricted or not (sys.stdin.isatty() and sys.stderr.isatty()):
        return accepted
    return typer.confirm("Accept these terms?", default=False, err=True)


@weights_app.command("list")
def list_cmd(as_json: Annotated[bool, typer.Option("--json", help="As JSON.")] = False) -> None:
    """What the catalogue offers, what is installed, licence, size and how it is checked."""
    from ..catalogue import list_rows

    try:
        rows = list_rows()
    except FakescopeError as e:
        raise _fail(str(e), 2) from None
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="weights (fakescope weights pull NAME)")
    table.add_column("name", no_wrap=True)
    for col in ("installed", "architecture", "published accuracy", "licence", "size", "sha256"):
        table.add_column(col, overflow="fold")
    for r in rows:
        licence = escape(r["licence"]) + (" [yellow](restricted)[/yellow]" if r["restricted"] else "")
        table.add_row(escape(r["name"]), "yes" if r["installed"] else "-", escape(str(r["architecture"] or "auto")) +
                      (f" ×{r['files']}" if r["files"] > 1 else ""), escape(str(r.get("accuracy", ""))), licence,
                      escape(str(r["size"])), escape(str(r["sha256"])))  # fmt: skip
    console.print(table)


@weights_app.command()
def show(name: Annotated[str, typer.Argument(help="Catalogue entry or installed model.")]) -> None:
    """The entry's card: source, files, preprocessing, licence, published benchmark numbers (JSON)."""
    from ..catalogue import get_entry, read_manifest

    try:
        manifest = read_manifest(name)
        card = get_entry(name).card() if manifest is None or manifest.get("in_catalogue", True) else manifest["entry"]
    except FakescopeError as e:
        raise _fail(str(e), _code(e)) from None
    card = dict(card, installed=manifest is not None)
    if manifest is not None:
        card["installed_files"] = manifest["members"]
    print(json.dumps(card, indent=2, ensure_ascii=False))


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
        console=err_console, transient=False,
    )  # fmt: skip


@weights_app.command()
def pull(
    names: Annotated[list[str] | None, typer.Argument(help="Catalogue entries (see `fakescope weights list`).")] = None,
    url: Annotated[str | None, typer.Option(help="Pull this URL instead of the origin (with --name: a file "
                                            "outside the catalogue).")] = None,  # fmt: skip
    name: Annotated[str | None, typer.Option("--name", help="Name to install a --url file under.")] = None,
    fmt: FormatOpt = None,
    arch: ArchOpt = None,
    sha256: Annotated[str | None, typer.Option(help="Expected sha256 of a --url file (64 hex digits).")] = None,
    accept_licence: AcceptLicence = False,
    retries: Annotated[int, typer.Option(min=0, help="Resume attempts after a broken connection.")] = 3,
    force: Annotated[bool, typer.Option("--force", help="Pull again even if installed and intact.")] = False,
) -> None:
    """Download (resumable), verify size/sha256, convert and install; FAKESCOPE_WEIGHTS_MIRROR replaces origins."""
    from ..catalogue import adhoc_entry, load_catalogue, read_manifest, verify
    from ..catalogue import pull as do_pull

    targets = list(names or [])
    if name:
        targets.append(name)
    if not targets:
        raise _fail("name a catalogue entry (fakescope weights list), or --url URL --name NAME", 2)
    if url and len(targets) != 1:
        raise _fail("--url pulls one file: give one NAME", 2)
    if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise _fail(f"--sha256 must be 64 hexadecimal digits (a SHA-256 checksum), not {sha256!r}", 2)
    try:
        catalogue = load_catalogue()
        entries = []
        for t in targets:
            if t in catalogue:
                entries.append(catalogue[t])
            elif url:
                entries.append(adhoc_entry(t, Path(url).name, url, fmt or "auto", arch, sha256))
                err_console.print(f"[yellow]note[/yellow] {escape(t)}: not in the catalogue; licence unknown — "
                                  "check the source's terms", highlight=False)  # fmt: skip
            else:
                from ..catalogue import get_entry

                get_entry(t)  # raises with a suggestion
    except FakescopeError as e:
        raise _fail(str(e), _code(e)) from None
    accepted = _confirm_licence(entries, accept_licence)
    failed = 0
    for entry in entries:
        try:
            installed = not force and not url and read_manifest(entry.name) is not None
            intact = installed and not verify([entry.name])[entry.name]
        except FakescopeError as e:  # a damaged install: the pull replaces it
            err_console.print(f"[yellow]note[/yellow] {escape(str(e))}: pulling it again", highlight=False,
                              soft_wrap=True)  # fmt: skip
            intact = False
        if intact:
            console.print(f"{entry.name} is already installed and intact (--force pulls it again)", highlight=False)
            continue
        error: FakescopeError | None = None
        with _progress() as bar:
            tasks: dict[str, int] = {}

            def report(file: str, done: int, total: int | None, bar=bar, tasks=tasks) -> None:
                if file not in tasks:
                    tasks[file] = bar.add_task(file[:48], total=total)
                bar.update(tasks[file], completed=done, total=total)

            try:
                inst = do_pull(entry.name, url=url, format=fmt, arch=arch, sha256=sha256, accept_licence=accepted,
                               progress=report, retries=retries)  # fmt: skip
            except FakescopeError as e:
                error = e
        if error is not None:
            # remote text (reason phrases, URLs) is printed literally, never as markup
            err_console.print(f"[red]error:[/red] {escape(str(error))}", highlight=False, soft_wrap=True)
            failed = max(failed, _code(error))
            continue
        m = inst.manifest
        console.print(f"installed {inst.name}: {m['architecture']} ({m['input_size']}px, {len(m['members'])} "
                      f"file{'s' if len(m['members']) > 1 else ''}) in {inst.path}", highlight=False)  # fmt: skip
        console.print(f"use it with: fakescope analyze VIDEO --model {inst.name}", highlight=False)
    if failed:
        raise typer.Exit(failed)


@weights_app.command()
def add(
    files: Annotated[list[Path], typer.Argument(help="Checkpoint file(s) obtained any other way.")],
    name: Annotated[str, typer.Option("--name", help="Catalogue entry, or a new name.")],
    fmt: FormatOpt = None,
    arch: ArchOpt = None,
    accept_licence: AcceptLicence = False,
) -> None:
    """Install local checkpoint file(s) (offline): the same checks and conversion as pull."""
    from ..catalogue import add as do_add
    from ..catalogue import load_catalogue

    try:
        entry = load_catalogue().get(name)
        accepted = _confirm_licence([entry] if entry is not None else [], accept_licence)
        inst = do_add(files, name, format=fmt, arch=arch, accept_licence=accepted)
    except FakescopeError as e:
        raise _fail(str(e), _code(e)) from None
    m = inst.manifest
    console.print(f"installed {inst.name}: {m['architecture']} ({m['input_size']}px) in {inst.path}", highlight=False)


@weights_app.command()
def remove(names: Annotated[list[str], typer.Argument(help="Installed models.")]) -> None:
    """Uninstall weights."""
    from ..catalogue import remove as do_remove

    for n in names:
        try:
            path = do_remove(n)
        except FakescopeError as e:
            raise _fail(str(e), 1) from None
        console.print(f"removed {n} ({path})", highlight=False)


@weights_app.command()
def verify(names: Annotated[list[str] | None, typer.Argument(help="Installed models (default: all).")] = None) -> None:
    """Re-hash the installed files against the hashes recorded at install; exit 1 if any differ."""
    from ..catalogue import verify as do_verify

    try:
        report = do_verify(names)
    except FakescopeError as e:
        raise _fail(str(e), 1) from None
    if not report:
        console.print("no weights installed", highlight=False)
    bad = 0
    for n, problems in report.items():
        if problems:
            bad += 1
            err_console.print(f"[red]FAILED[/red] {escape(n)}: " + escape("; ".join(problems)), highlight=False,
                              soft_wrap=True)  # fmt: skip
        else:
            console.print(f"ok {n}", highlight=False)
    if bad:
        raise typer.Exit(1)
