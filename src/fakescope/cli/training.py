"""``fakescope calibrate``, ``extract-faces``, ``train`` and ``evaluate``: fitting and measuring detectors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..errors import FakescopeError
from ._common import _fail, console, err_console, use_installed_weights


def calibrate(
    data: Annotated[Path, typer.Argument(help="Labelled faces: any layout `evaluate` reads (folder, CSV, dataset).")],
    model: Annotated[str, typer.Option(help="Detector model.")] = "mesoinception4",
    weights: Annotated[str, typer.Option(help="Weight tag of the model.")] = "default",
    checkpoint: Annotated[Path | None, typer.Option(help="Local weight file instead of a tag.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Calibration file to write (JSON).")] = Path(
        "calibration.json"
    ),
    method: Annotated[str, typer.Option(help="platt (default), temperature or identity.")] = "platt",
    target_fpr: Annotated[
        float, typer.Option(min=0.0, max=0.5, help="Share of real faces allowed above the uncertain band.")
    ] = 0.02,
    dataset: Annotated[str, typer.Option(help="Dataset reader (auto: guess from the layout).")] = "auto",
    option: Annotated[list[str] | None, typer.Option("--option", help="Reader option key=value.")] = None,
    frames: Annotated[str, typer.Option(help="Frame sampling when faces must be extracted first.")] = "even:8",
) -> None:
    """Fit a calibration (Platt scaling + uncertain band) on labelled faces; use it with analyze --calibration."""
    from ..models import create_model
    from ..training.calibrate import calibrate_records
    from ..training.config import parse_overrides
    from ..training.datasets import read_dataset
    from ..training.extract import ExtractConfig, load_extract_info
    from ..training.extract import extract_faces as run_extract

    use_installed_weights()
    try:
        net = create_model(model, weights=None if weights.lower() == "none" else weights, checkpoint_path=checkpoint)
        records = read_dataset(dataset, data, **parse_overrides(option or []))
        info = load_extract_info(data)
        if info is None:  # raw media: crop the faces first, exactly as analyze would
            crops = out.parent / f".{out.stem}-faces"
            run_extract(records, crops, ExtractConfig(size=net.info.input_size, sampling=frames))
            records = read_dataset("csv", crops / "faces.csv")
        with Progress(TextColumn("[bold]scoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err_console, transient=True) as progress:  # fmt: skip
            task = progress.add_task("faces", total=len(records))
            cal = calibrate_records(net, records, name=model, weights=net.weights_tag, method=method,
                                    target_fpr=target_fpr, source=str(data),
                                    margin=info["margin"] if info else 0.3,
                                    on_progress=lambda n: progress.advance(task, n))  # fmt: skip
    except (FakescopeError, ValueError, OSError) as e:
        raise _fail(str(e), 2) from None
    cal.save(out)
    m = cal.metrics
    console.print(
        f"{model}/{net.weights_tag}: {cal.method} slope {cal.slope:.3f} (T = {cal.temperature:.2f}), intercept "
        f"{cal.intercept:+.3f}; band {cal.band[0]:.2f}–{cal.band[1]:.2f}; {m['n_real']} real, {m['n_fake']} fake; "
        f"ECE {m['ece_raw']:.3f} → {m['ece_calibrated']:.3f} → {out}",
        highlight=False,
    )


def extract_faces(
    data: Annotated[
        Path, typer.Argument(help="Dataset folder or CSV (see --dataset), or images/videos with --dataset media.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (faces.csv, crops, landmarks).")],
    dataset: Annotated[str, typer.Option(help="Dataset reader (auto: guess from the layout).")] = "auto",
    option: Annotated[
        list[str] | None, typer.Option("--option", help="Reader option key=value (e.g. compression=c40, label=fake).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Crop at this model's input size (overrides --size).")] = None,
    size: Annotated[int, typer.Option(min=16, help="Crop side in pixels (the model's input size).")] = 224,
    detector: Annotated[str | None, typer.Option(help="Face detector (default: analyze's).")] = None,
    margin: Annotated[float, typer.Option(min=0.0, max=2.0, help="Crop margin, as analyze --margin.")] = 0.3,
    frames: Annotated[str, typer.Option(help="Frame sampling: even:N, every:K, all, or N.")] = "even:32",
    faces: Annotated[str, typer.Option(help="'all' faces of a frame or only the 'largest'.")] = "all",
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (one input each at a time).")] = 1,
    split: Annotated[str | None, typer.Option(help="Only records of this official split (train/val/test).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N inputs.")] = None,
) -> None:
    """Crop the faces of a dataset exactly as `analyze` does (resumable, parallel)."""
    from ..training.config import parse_overrides
    from ..training.datasets import read_dataset
    from ..training.extract import ExtractConfig
    from ..training.extract import extract_faces as run_extract

    try:
        records = read_dataset(dataset, data, **parse_overrides(option or []))
        if split:
            records = [r for r in records if r.split == split]
        records = records[:limit] if limit else records
        if model:
            from ..models import get_model_info

            use_installed_weights()
            size = get_model_info(model).input_size
        cfg = ExtractConfig(size=size, detector=detector, margin=margin, sampling=frames, faces=faces).resolved()
    except (FakescopeError, ValueError, FileNotFoundError) as e:
        raise _fail(str(e), 2) from None
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("extracting faces", total=len(records))

        def update(done: int, total: int, name: str) -> None:
            progress.update(task, completed=done, total=total, description=name)

        try:
            summary = run_extract(records, out, cfg, workers=workers, progress=update)
        except ValueError as e:
            raise _fail(str(e), 2) from None
    console.print(
        f"{summary.faces} faces from {summary.inputs} inputs in {out}/ "
        f"({summary.skipped} already done, {len(summary.failed)} failed; {cfg.detector}, margin {cfg.margin}, "
        f"{cfg.size}px, {cfg.sampling})",
        highlight=False,
    )
    for path, err in summary.failed[:10]:
        err_console.print(f"[red]failed:[/red] {path}: {err}", highlight=False, soft_wrap=True)
    if summary.failed:
        raise typer.Exit(1)


def train(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML file of training settings.")] = None,
    overrides: Annotated[list[str] | None, typer.Argument(help="Settings key=value (dotted keys for tables).")] = None,
) -> None:
    """Train a detector on face crops (settings: YAML + key=value; resumes from OUT/last)."""
    from ..training.config import load_config
    from ..training.trainer import train as run_train

    try:
        cfg = load_config(config, list(overrides or []))
        if not cfg.data:
            raise ValueError("no training data: set data=<extract-faces folder or faces.csv>")
        result = run_train(cfg)
    except (FakescopeError, ValueError, FileNotFoundError) as e:
        raise _fail(str(e), 2) from None
    best = "-" if result.best_val_auc is None else f"{result.best_val_auc:.4f}"
    console.print(
        f"{result.status}: {result.epochs_done} epochs, {result.global_step} steps, best validation AUC {best} "
        f"(epoch {result.best_epoch}) in {result.seconds / 60:.1f} min; outputs in {result.out}/",
        highlight=False,
    )
    if result.test:
        m = result.test["frame"]
        auc = "-" if m["roc_auc"] is None else f"{m['roc_auc']:.4f}"
        console.print(f"test split: AUC {auc}, accuracy {m['accuracy']:.4f} ({result.out}/test/metrics.md)",
                      highlight=False)  # fmt: skip


def evaluate(
    data: Annotated[
        Path, typer.Argument(help="extract-faces folder / faces.csv, or a dataset (faces are extracted first).")
    ],
    model: Annotated[
        str | None,
        typer.Option(help="Model, or several to compare side by side (a,b,c); default: the checkpoint's meta.json, "
                     "else analyze's default model."),
    ] = None,
    weights: Annotated[str, typer.Option(help="Weight tag of the model, when no --checkpoint.")] = "default",
    checkpoint: Annotated[Path | None, typer.Option(help="Checkpoint folder or weight file.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for metrics.json/.md and plots.")] = Path(
        "results/eval"
    ),
    dataset: Annotated[str, typer.Option(help="Dataset reader (auto: guess from the layout).")] = "auto",
    option: Annotated[list[str] | None, typer.Option("--option", help="Reader option key=value.")] = None,
    split: Annotated[
        str | None, typer.Option(help="Only this split: a name from --splits or the dataset's own.")
    ] = None,
    splits: Annotated[Path | None, typer.Option(help="Split file (splits.json of a training run).")] = None,
    rule: Annotated[str, typer.Option(help="Video-level verdict rule (see `fakescope rules`).")] = "share",
    threshold: Annotated[float, typer.Option(min=0.0, max=1.0, help="p_fake above which a face is fake.")] = 0.5,
    min_faces: Annotated[int, typer.Option(min=1, help="Fewest faces a clip needs for a video verdict.")] = 1,
    sbi: Annotated[
        bool, typer.Option("--sbi/--no-sbi", help="Add self-blended pseudo-fakes of the real faces.")
    ] = False,
    frames: Annotated[str, typer.Option(help="Frame sampling when faces must be extracted first.")] = "even:32",
    workers: Annotated[int, typer.Option(min=1, help="Worker processes for the extraction.")] = 1,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
) -> None:
    """Evaluate a detector: frame/video/per-manipulation metrics, ROC/PR/confusion plots, JSON + markdown."""
    from ..training.checkpoint import load_trained_model, read_meta
    from ..training.config import parse_overrides
    from ..training.datasets import read_dataset
    from ..training.evaluate import evaluate_records
    from ..training.extract import ExtractConfig, load_extract_info
    from ..training.extract import extract_faces as run_extract
    from ..training.splits import load_splits, split_records

    use_installed_weights()
    try:
        if checkpoint is not None and read_meta(checkpoint) is not None:
            net = load_trained_model(checkpoint, model)
            nets = {net.info.name: net}
        else:
            nets = _evaluation_models(model, weights, checkpoint)
        name, net = next(iter(nets.items()))
        records = read_dataset(dataset, data, **parse_overrides(option or []))
        info = load_extract_info(data)
        margin = info["margin"] if info else 0.3
        if info is None:  # raw media: crop the faces first, exactly as analyze would
            crops = out / "faces"
            cfg = ExtractConfig(size=net.info.input_size, sampling=frames)
            summary = run_extract(records, crops, cfg, workers=workers)
            records = read_dataset("csv", crops / "faces.csv")
            console.print(f"extracted {summary.faces} faces into {crops}/", highlight=False)
        elif info.get("size") != net.info.input_size:
            err_console.print(f"[yellow]warning:[/yellow] crops are {info.get('size')} px, {name} takes "
                              f"{net.info.input_size} px: they are resized", highlight=False)  # fmt: skip
        if splits is not None:
            parts = split_records(records, load_splits(splits), strict=False)
            records = parts.get(split or "test", [])
        elif split:
            records = [r for r in records if r.split == split]
        if not records:
            raise ValueError("no face crops to evaluate")
        reports, folders = {}, {}
        for name, net in nets.items():
            folders[name] = out / name if len(nets) > 1 else out
            reports[name] = evaluate_records(net, records, folders[name], threshold=threshold, rule=rule,
                                             min_faces=min_faces, sbi=sbi, batch_size=batch_size,
                                             title=f"{name} on {data}", margin=margin)  # fmt: skip
    except (FakescopeError, ValueError, FileNotFoundError) as e:
        raise _fail(str(e), 2) from None
    from ..training.compare import comparison_markdown, write_comparison
    from ..training.evaluate import markdown_table

    for report in reports.values():
        console.print(markdown_table(report), highlight=False, markup=False)
    if len(reports) > 1:
        write_comparison(reports, folders, out)
        console.print(comparison_markdown(reports), highlight=False, markup=False)
        console.print(f"comparison in {out}/ (comparison.md, roc_compare.png); each model in {out}/<model>/",
                      highlight=False)  # fmt: skip
    for w in dict.fromkeys(w for r in reports.values() for w in r.get("warnings", [])):
        err_console.print(f"[yellow]warning:[/yellow] {w}", highlight=False, soft_wrap=True)
    console.print(f"report in {out}/ (metrics.json, metrics.md, ROC/PR/confusion plots)", highlight=False)


def _evaluation_models(spec: str | None, weights: str, checkpoint: Path | None) -> dict:
    """``--model a,b,c`` → {name: loaded model}; the default is analyze's model."""
    from ..models import create_model, has_usable_weights
    from ..pipeline import DEFAULT_MODEL

    specs = list(dict.fromkeys(m.strip() for m in (spec or DEFAULT_MODEL).split(",") if m.strip()))
    if checkpoint is not None and len(specs) > 1:
        raise ValueError("--checkpoint goes with a single --model")
    nets = {}
    for s in specs:
        name, _, tag = s.partition(":")
        tag = tag or weights
        if checkpoint is None and tag == "default" and not has_usable_weights(name):
            raise ValueError(f"model {name!r} has no trained weights: pass --checkpoint, or --weights none")
        nets[s] = create_model(name, weights=None if tag.lower() == "none" else tag, checkpoint_path=checkpoint)
    return nets

