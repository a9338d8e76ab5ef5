"""``fakescope batch`` and ``fakescope batch-report``: resumable analysis of whole archives.

``batch`` takes exactly ``analyze``'s analysis options: its signature is built from ``analyze``'s own
parameters (:func:`_with_analysis_options`), and the config from ``cli._options.analysis_config``, so the two
commands cannot drift apart.
"""

from __future__ import annotations

import functools
import inspect
import typing
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from ..errors import FakescopeError

# analyze's options that batch shares (the analysis settings plus the per-input pictures)
_SHARED = ("annotate", "report", "mode")


class _RateColumn(ProgressColumn):
    """Inputs per second since the analysis began."""

    def render(self, task) -> Text:
        elapsed = task.elapsed or 0.0
        rate = task.completed / elapsed if elapsed > 0 and task.completed else None
        return Text("-- inputs/s" if rate is None else f"{rate:.2f} inputs/s", style="progress.data.speed")


def _with_analysis_options(analyze, names: tuple[str, ...]):
    """Decorator: append ``analyze``'s parameters ``names`` (type, default, help) to a command; they
    arrive as one ``options`` dict."""

    def deco(func):
        src_sig = inspect.signature(analyze)
        src_hints = typing.get_type_hints(analyze, include_extras=True)
        own_hints = typing.get_type_hints(func, include_extras=True)
        own = [p.replace(annotation=own_hints[p.name]) for p in inspect.signature(func).parameters.values()
               if p.name != "options"]  # fmt: skip
        shared = [src_sig.parameters[n].replace(annotation=src_hints[n]) for n in names]

        @functools.wraps(func)
        def wrapper(**kwargs):
            options = {n: kwargs.pop(n) for n in names}
            return func(options=options, **kwargs)

        del wrapper.__wrapped__  # typer must read the new signature, not the wrapped one
        params = own + shared
        wrapper.__signature__ = inspect.Signature(params)
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper

    return deco


def register(app: typer.Typer, analyze, analysis_options: tuple[str, ...], fail, console, err_console) -> None:
    """Add ``batch`` and ``batch-report`` to the ``fakescope`` app."""

    @app.command()
    @_with_analysis_options(analyze, analysis_options + _SHARED)
    def batch(
        sources: Annotated[
            list[Path] | None,
            typer.Argument(help="Videos, images, folders (recursive) or lists of paths (.txt, .csv: 'path' column)."),
        ] = None,
        out: Annotated[Path, typer.Option("--out", "-o", help="Batch folder: batch.sqlite3 + results/.")] = Path(
            "batch"
        ),
        resume: Annotated[
            bool, typer.Option("--resume", help="Continue the last run in OUT: its sources and settings.")
        ] = False,
        engine: Annotated[str, typer.Option(help="Where analyses run: process, ray or thread.")] = "process",
        workers: Annotated[
            int | None, typer.Option(min=1, help="Worker processes / Ray actors (default: one per 2 cores / per CPU).")
        ] = None,
        threads: Annotated[
            int | None, typer.Option(min=1, help="Threads per worker (default: cores / workers).")
        ] = None,
        ray_address: Annotated[
            str | None, typer.Option(help="Ray cluster to join (HOST:PORT; default $RAY_ADDRESS, else a local Ray).")
        ] = None,
        timeout: Annotated[float, typer.Option(min=0, help="Seconds per input before it fails (0: no limit).")] = 600,
        retry_failed: Annotated[
            bool, typer.Option("--retry-failed", help="Run inputs that failed before again.")
        ] = False,
        options: dict | None = None,
    ) -> None:
        """Analyse an archive into a resumable results store; re-runs skip what is done."""
        from ..archive import BatchOptions, ResultStore, run_archive
        from ..archive.store import DB_NAME
        from ._options import analysis_config, apply_mode

        options = dict(options or {})
        annotate, report, mode = options.pop("annotate"), options.pop("report"), options.pop("mode")
        try:
            if resume:
                if not (out / DB_NAME).is_file():
                    raise ValueError(f"--resume: no batch in {out} ({DB_NAME} not found)")
                with ResultStore(out) as store:
                    last = store.last_run()
                    cfg = store.settings_config(last["settings"]) if last else None
                if last is None or cfg is None:
                    raise ValueError(f"--resume: {out} records no earlier run")
                sources = sources or [Path(s) for s in last["sources"]]
            else:  # --mode thorough: the strongest installed published detector, fewer frames (as analyze)
                cfg, used = apply_mode(analysis_config(**options), mode, options)
                if used:
                    err_console.print(escape(used), highlight=False)
            if not sources:
                raise ValueError("no sources: name files, folders or lists (or --resume an earlier batch)")
            from ..engine import ENGINES

            if engine not in ENGINES:
                raise ValueError(f"unknown engine {engine!r} (known: {', '.join(ENGINES)})")
            _check_config(cfg)
        except (FakescopeError, ValueError) as e:
            raise fail(str(e), 2) from None
        opts = BatchOptions(engine=engine, workers=workers, threads=threads, ray_address=ray_address,
                            timeout=timeout or None, retry_failed=retry_failed, annotate=annotate,
                            report=report)  # fmt: skip

        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), _RateColumn(),
            TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[failed]} failed"),
            console=err_console, transient=True,
        ) as progress:  # fmt: skip
            hashing = progress.add_task("hashing", total=None, failed=0)
            task_id = None
            failed = 0

            def on_event(kind: str, **info) -> None:
                nonlocal task_id, failed
                if kind == "hashed":
                    progress.update(hashing, completed=info["done"], total=info["total"])
                elif kind == "planned":
                    progress.update(hashing, visible=False)
                    task_id = progress.add_task("analysing", total=info["todo"], failed=0)
                elif kind == "finished" and task_id is not None:
                    failed += not info["ok"]
                    progress.update(task_id, advance=1, failed=failed)

            try:
                summary = run_archive(sources, out, cfg, opts, on_event=on_event)
            except (FakescopeError, ValueError) as e:
                raise fail(str(e), 2) from None

        for _src, msg in summary.source_errors:
            err_console.print(f"[red]error:[/red] {msg}", highlight=False, soft_wrap=True)
        for _path, msg in summary.failures[:20]:
            err_console.print(f"[red]failed:[/red] {msg}", highlight=False, soft_wrap=True)
        if len(summary.failures) > 20:
            err_console.print(f"... and {len(summary.failures) - 20} more failures (fakescope batch-report {out})")
        _print_verdicts(out, summary, sources, console, err_console)
        rate = f", {summary.rate:.2f} inputs/s" if summary.analysed + summary.failed else ""
        console.print(
            f"{summary.inputs} inputs: {summary.analysed} analysed, {summary.failed} failed, "
            f"{summary.already_done} already done, {summary.already_failed} failed earlier "
            f"({summary.engine}, {summary.workers} workers{rate}); store: {out}/{DB_NAME}",
            highlight=False,
        )
        if summary.interrupted:
            err_console.print(f"interrupted: finished inputs are recorded; continue with "
                              f"`fakescope batch --resume --out {out}`", highlight=False)  # fmt: skip
            raise typer.Exit(130)
        if summary.failed or summary.source_errors:
            raise typer.Exit(1)

    @app.command("batch-report")
    def batch_report(
        folder: Annotated[Path, typer.Argument(help="A batch folder (fakescope batch --out).")],
        out: Annotated[Path | None, typer.Option("--out", "-o", help="Report folder (default FOLDER/report).")] = None,
        slowest: Annotated[int, typer.Option(min=1, help="Inputs in the 'slowest' plot.")] = 15,
    ) -> None:
        """Export a batch's results: results.csv (+ .parquet with pyarrow) and verdict/score/slowest plots."""
        from ..archive.report import write_report

        try:
            rep = write_report(folder, out, slowest=slowest)
        except (FileNotFoundError, FakescopeError) as e:
            raise fail(str(e), 2) from None
        table = Table(title=f"{folder}: {rep.rows} inputs", show_header=False)
        for k, v in sorted(rep.counts.items()):
            table.add_row(k, str(v))
        console.print(table)
        for f in rep.files:
            console.print(f"wrote {f}", highlight=False)


def _print_verdicts(out: Path, summary, sources, console, err_console) -> None:
    """What the batch found, in one line (this run's settings, every input so far), and what it passed over."""
    from ..archive import ResultStore
    from ..archive.sources import skipped_in_folders

    with ResultStore(out) as store:
        rows = store.rows(settings=summary.settings)
    counts: dict[str, int] = {}
    for r in rows:
        label = (r["verdict"] or "inconclusive") if r["status"] == "done" else r["status"]
        counts[label] = counts.get(label, 0) + 1
    order = ["fake", "uncertain", "real", "inconclusive", "failed", "pending", "running"]
    parts = [f"{counts[k]} {k}" for k in order if counts.get(k)]
    if parts:
        console.print("verdicts: " + ", ".join(parts) + f" (fakescope batch-report {out} for the table)",
                      highlight=False)  # fmt: skip
    skipped = skipped_in_folders(list(sources))
    if skipped:
        err_console.print(f"note: {skipped} file(s) in the folders were skipped: not media by their extension "
                          "(name them directly to analyse them anyway)", highlight=False)


def _check_config(cfg) -> None:
    """Fail early (exit 2) on names the workers would refuse: model, weights, rule, detector, explainers."""
    from ..errors import WeightsError
    from ..faces import list_face_detectors
    from ..models import get_model_info
    from ..pipeline import parse_models
    from ..rules import get_rule

    get_rule(cfg.rule)
    if cfg.provenance:
        from ..provenance import load_trust_anchors

        load_trust_anchors(cfg.trust_anchors)
    for name, tag in parse_models(cfg.model, cfg.weights):
        info = get_model_info(name)
        if tag not in (None, "default") and tag not in info.weights:
            raise ValueError(f"unknown weights tag {tag!r} of {name} (known: {', '.join(info.weights) or 'none'})")
        if tag == "default" and info.default_weights is None and cfg.checkpoint_path is None:
            raise WeightsError(f"model {name!r} ships no trained weights; pass a checkpoint file (--checkpoint)")
    if cfg.checkpoint_path and not Path(cfg.checkpoint_path).is_file():
        raise ValueError(f"{cfg.checkpoint_path}: no such checkpoint file")
    if cfg.detector not in list_face_detectors():
        raise ValueError(f"unknown face detector {cfg.detector!r} (known: {', '.join(list_face_detectors())})")
    if cfg.backend not in ("torch", "onnx"):
        raise ValueError(f"unknown backend {cfg.backend!r}: use 'torch' or 'onnx'")
