"""The ``fakescope`` command line: a thin layer over the Python API."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__
from .errors import FakescopeError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Explainable deepfake detection: faces, identity tracks, scores and verdicts.",
)
console = Console()
err_console = Console(stderr=True)

_LABEL_STYLE = {"fake": "bold red", "real": "bold green", "inconclusive": "bold yellow"}


def _fail(message: str, code: int) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        console.print(f"fakescope {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More logging (-v, -vv).")] = 0,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(
        level=level, format="%(message)s", handlers=[RichHandler(console=err_console, show_path=False)], force=True
    )


@app.command()
def analyze(
    inputs: Annotated[list[Path], typer.Argument(help="Videos, images or folders of them.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for result.json files.")] = Path("results"),
    model: Annotated[str, typer.Option(help="Detector model (see `fakescope models`).")] = "mesoinception4",
    weights: Annotated[str, typer.Option(help="Weight tag of the model, or 'none'.")] = "df",
    checkpoint: Annotated[Path | None, typer.Option(help="Local weight file instead of a tag.")] = None,
    detector: Annotated[str | None, typer.Option(help="Face detector (see `fakescope detectors`).")] = None,
    frames: Annotated[str, typer.Option(help="Frame sampling: even:N, every:K, all, or N.")] = "even:32",
    rule: Annotated[str, typer.Option(help="Verdict rule (see `fakescope rules`).")] = "share",
    threshold: Annotated[float, typer.Option(min=0.0, max=1.0, help="p_fake above which a face is fake.")] = 0.5,
    min_faces: Annotated[
        int | None, typer.Option(min=1, help="Fewest faces a track needs (default 1 image, 3 video).")
    ] = None,
    margin: Annotated[float, typer.Option(min=0.0, max=2.0, help="Crop margin: side = (1+m)·box.")] = 0.3,
    detect_size: Annotated[int, typer.Option(help="Detect on frames downscaled to this side (0: full).")] = 640,
    batch_size: Annotated[int, typer.Option(min=1, help="Faces per classifier call.")] = 16,
) -> None:
    """Analyse videos and images; write OUT/<name>/result.json and OUT/summary.json."""
    from .batch import BatchItem, run_batch
    from .faces import DEFAULT_FACE_DETECTOR
    from .media import Sampling
    from .pipeline import AnalyzeConfig, Analyzer

    try:
        cfg = AnalyzeConfig(
            model=model,
            weights=None if weights.lower() == "none" else weights,
            checkpoint_path=str(checkpoint) if checkpoint else None,
            detector=detector or DEFAULT_FACE_DETECTOR,
            sampling=Sampling.parse(frames),
            rule=rule,
            threshold=threshold,
            min_faces=min_faces,
            margin=margin,
            detect_max_side=detect_size or None,
            batch_size=batch_size,
        )
        analyzer = Analyzer(cfg)
    except (FakescopeError, ValueError) as e:
        raise _fail(str(e), 2) from None

    table = Table(title="fakescope analysis", show_lines=False)
    for col in ("input", "verdict", "score", "faces", "tracks", "reason / error"):
        table.add_column(col, overflow="fold")
    items: list[BatchItem] = []

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:

        def on_start(path: Path):
            task = progress.add_task(path.name, total=None)

            def update(done: int, total: int | None) -> None:
                progress.update(task, completed=done, total=total)

            return update

        def on_done(item: BatchItem) -> None:
            items.append(item)
            for t in progress.tasks:
                progress.update(t.id, visible=False)
            if item.ok and item.result:
                r = item.result
                v = r.verdict
                table.add_row(
                    Path(item.path).name,
                    f"[{_LABEL_STYLE[v.label]}]{v.label}[/]",
                    "-" if v.score is None else f"{v.score:.2f}",
                    str(r.n_faces),
                    str(len(r.tracks)),
                    v.reason,
                )
            else:
                table.add_row(Path(item.path).name, "[bold magenta]error[/]", "-", "-", "-", item.error or "")

        run_batch(inputs, out, analyzer, on_start=on_start, on_done=on_done)

    console.print(table)
    n_bad = sum(not it.ok for it in items)
    console.print(f"results in {out}/ ({len(items) - n_bad} analysed, {n_bad} failed)", highlight=False)
    if n_bad:
        raise typer.Exit(1)


@app.command()
def models() -> None:
    """List the deepfake detectors: input size, weights, licence, source."""
    from .models import get_model_info, list_models

    table = Table(title="models")
    for col in ("name", "family", "input", "weights", "licence", "source"):
        table.add_column(col, overflow="fold")
    for name in list_models():
        info = get_model_info(name)
        tags = ", ".join(f"{t}*" if t == info.default_weights else t for t in info.weights) or "-"
        table.add_row(name, info.family, f"{info.input_size}px", tags, info.licence, info.source)
    console.print(table)


@app.command()
def detectors() -> None:
    """List the face detectors."""
    from .faces import DEFAULT_FACE_DETECTOR, get_face_detector_info, list_face_detectors

    table = Table(title="face detectors")
    for col in ("name", "landmarks", "licence", "description", "source"):
        table.add_column(col, overflow="fold")
    for name in list_face_detectors():
        info = get_face_detector_info(name)
        label = f"{name} (default)" if name == DEFAULT_FACE_DETECTOR else name
        table.add_row(label, str(info.landmarks), info.licence, info.description, info.source)
    console.print(table)


@app.command()
def rules() -> None:
    """List the verdict rules."""
    from .rules import get_rule, list_rules

    table = Table(title="verdict rules")
    table.add_column("name")
    table.add_column("rule", overflow="fold")
    for name in list_rules():
        doc = (get_rule(name).__doc__ or "").strip().splitlines()[0]
        table.add_row(name, doc)
    console.print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
