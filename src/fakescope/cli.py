"""The ``fakescope`` command line: a thin layer over the Python API."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ._version import __version__
from .cli_provenance import TrustAnchors, provenance_cmd
from .errors import FakescopeError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Explainable deepfake detection: faces, identity tracks, scores and verdicts.",
)
console = Console()
err_console = Console(stderr=True)

# `--explain-option/-E`, shared by `analyze` and `explain`
ExplainOption = Annotated[
    list[str] | None,
    typer.Option(
        "--explain-option",
        "-E",
        help="Explainer option KEY=VALUE or METHOD.KEY=VALUE, repeatable (e.g. -E bf16=true -E ig.n_steps=64).",
    ),
]

_LABEL_STYLE = {"fake": "bold red", "real": "bold green", "uncertain": "bold yellow", "inconclusive": "bold blue"}
from .defaults import DEFAULT_MODEL as DEFAULT_MODEL_SPEC  # noqa: E402


def _fail(message: str, code: int) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
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
    try:  # FFmpeg's own stderr chatter on damaged files; our one-line errors say what happened
        import av.logging

        av.logging.set_level(av.logging.DEBUG if verbose >= 2 else None)
    except Exception:  # pragma: no cover - logging is cosmetic
        pass


# analyze's parameters that make its AnalyzeConfig (`fakescope batch` takes the same ones, see cli_batch)
ANALYSIS_OPTIONS = ("model", "weights", "checkpoint", "calibration", "combine", "band", "detector", "frames", "rule",
                    "threshold", "min_faces", "margin", "detect_size", "batch_size", "backend", "bf16", "explain",
                    "explain_per_track", "explain_option", "provenance", "trust_anchors")  # fmt: skip


def analysis_config(*, model: str, weights: str = "default", checkpoint: Path | None = None,
                    calibration: str = "default", combine: str = "mean", band: str | None = None,
                    detector: str | None = None, frames: str = "even:32", rule: str = "calibrated",
                    threshold: float = 0.5, min_faces: int | None = None, margin: float = 0.3, detect_size: int = 640,
                    batch_size: int = 16, backend: str = "torch", bf16: bool = False, explain: str | None = None,
                    explain_per_track: int = 4, explain_option: list[str] | None = None, provenance: bool = True,
                    trust_anchors: Path | None = None):  # fmt: skip
    """analyze's options → AnalyzeConfig (raises ValueError / FakescopeError on a bad value)."""
    from .faces import DEFAULT_FACE_DETECTOR
    from .media import Sampling
    from .pipeline import AnalyzeConfig, check_analysis_options

    cfg = AnalyzeConfig(
        model=model,
        weights=None if weights.lower() == "none" else weights,
        checkpoint_path=str(checkpoint) if checkpoint else None,
        calibration=calibration,
        combine=combine,
        band=_band(band),
        detector=detector or DEFAULT_FACE_DETECTOR,
        sampling=Sampling.parse(frames),
        rule=rule,
        threshold=threshold,
        min_faces=min_faces,
        margin=margin,
        detect_max_side=detect_size or None,
        batch_size=batch_size,
        explain=_methods(explain),
        explain_options=_explain_options(_methods(explain), explain_option),
        explain_per_track=explain_per_track,
        backend=backend,
        bf16=bf16,
        provenance=provenance,
        trust_anchors=str(Path(trust_anchors).expanduser().resolve()) if trust_anchors else None,
    )
    check_analysis_options(cfg)  # ranges that depend on other options (the threshold lies in the band)
    return cfg


@app.command()
def analyze(
    inputs: Annotated[list[Path], typer.Argument(help="Videos, images or folders of them.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for result.json files.")] = Path("results"),
    model: Annotated[
        str, typer.Option(help="Detector model, or an ensemble a,b:TAG (see `fakescope models`).")
    ] = DEFAULT_MODEL_SPEC,
    weights: Annotated[
        str, typer.Option(help="Weight tag of the model ('default': its default tag; 'none': untrained).")
    ] = "default",
    checkpoint: Annotated[Path | None, typer.Option(help="Local weight file instead of a tag.")] = None,
    calibration: Annotated[
        str, typer.Option(help="'default' (shipped per model), 'none' (raw scores) or calibration file(s), comma-sep.")
    ] = "default",
    combine: Annotated[str, typer.Option(help="Ensemble combiner (see `fakescope rules`).")] = "mean",
    band: Annotated[
        str | None, typer.Option(help="Uncertain band LOW,HIGH of the identity P(fake) (default: calibration's).")
    ] = None,
    detector: Annotated[str | None, typer.Option(help="Face detector (see `fakescope detectors`).")] = None,
    frames: Annotated[str, typer.Option(help="Frame sampling: even:N, every:K, all, or N.")] = "even:32",
    rule: Annotated[str, typer.Option(help="Verdict rule (see `fakescope rules`).")] = "calibrated",
    threshold: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Calibrated P(fake) above which a face counts as fake (rule "
                            "'calibrated': inside the uncertain band; it sets the share of faces above it and when "
                            "a briefly seen identity leans fake, the band decides the verdict).")
    ] = 0.5,
    min_faces: Annotated[
        int | None, typer.Option(min=1, help="Fewest faces a track needs (default 1 image, 3 video).")
    ] = None,
    margin: Annotated[float, typer.Option(min=0.0, max=2.0, help="Crop margin: side = (1+m)·box.")] = 0.3,
    detect_size: Annotated[int, typer.Option(help="Detect on frames downscaled to this side (0: full).")] = 640,
    batch_size: Annotated[int, typer.Option(min=1, help="Faces per classifier call.")] = 16,
    backend: Annotated[str, typer.Option(help="Scoring backend: torch or onnx (onnxruntime).")] = "torch",
    bf16: Annotated[bool, typer.Option("--bf16", help="bfloat16 autocast (torch backend; less exact).")] = False,
    explain: Annotated[
        str | None, typer.Option(help="Explanation methods, comma-separated (see `fakescope explainers`).")
    ] = None,
    explain_per_track: Annotated[int, typer.Option(min=1, help="Faces explained per identity.")] = 4,
    explain_option: ExplainOption = None,
    provenance: Annotated[
        bool,
        typer.Option("--provenance/--no-provenance", help="Read Content Credentials and metadata first (default)."),
    ] = True,
    trust_anchors: TrustAnchors = None,
    annotate: Annotated[
        bool | None,
        typer.Option("--annotate/--no-annotate", help="Write the annotated video (default: with --explain)."),
    ] = None,
    report: Annotated[bool, typer.Option("--report/--no-report", help="Write report.html per input.")] = True,
    heatmap_scale: Annotated[
        str, typer.Option(help="Heatmap colours: 'shared' (one scale per method, default) or 'face' (each alone).")
    ] = "shared",
    mode: Annotated[
        str, typer.Option(help="'standard', or 'thorough': the strongest installed published detector (GenD, "
                          "Effort; `fakescope weights pull gend-clip-l14`) on fewer sampled faces.")
    ] = "standard",
) -> None:
    """Analyse videos and images; write OUT/<name>/result.json and OUT/summary.json."""
    options = {k: v for k, v in locals().items() if k in ANALYSIS_OPTIONS}
    from dataclasses import replace

    from .batch import BatchItem, run_batch
    from .pipeline import Analyzer, check_analysis_options
    from .thorough import MODES, thorough_config

    choice = None
    try:
        if heatmap_scale not in ("shared", "face"):
            raise ValueError(f"--heatmap-scale must be 'shared' or 'face', not {heatmap_scale!r}")
        if mode not in MODES:
            raise ValueError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
        cfg = analysis_config(**options)
        if mode == "thorough":
            cfg, choice = thorough_config(cfg, model_given=model != DEFAULT_MODEL_SPEC or checkpoint is not None,
                                          frames_given=frames != "even:32")  # fmt: skip
            cfg = replace(cfg, mode="thorough")
            check_analysis_options(cfg)
            used = choice.describe() if choice else cfg.model
            err_console.print(f"thorough: {escape(used)}, frames {cfg.sampling.describe()}", highlight=False)
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
            from .progress import STAGE_TITLES

            task = progress.add_task(path.name, total=None)

            def update(done: int, total: int | None, stage: str = "detect") -> None:
                desc = f"{path.name} · {STAGE_TITLES.get(stage, stage)}"
                progress.update(task, completed=done, total=total, description=desc)

            return update

        def on_done(item: BatchItem) -> None:
            items.append(item)
            for t in progress.tasks:
                progress.update(t.id, visible=False)
            if item.ok and item.result:
                r = item.result
                v = r.verdict
                by = " (declared)" if v.basis == "declaration" else ""
                table.add_row(  # file names and reasons (signers, metadata) are printed literally
                    escape(Path(item.path).name),
                    f"[{_LABEL_STYLE[v.label]}]{v.label}[/]{by}",
                    "-" if v.score is None else f"{v.score:.2f}",
                    str(r.n_faces),
                    str(len(r.tracks)),
                    escape(v.headline or v.reason) + (f"\n[dim]{escape(v.reason)}[/]" if v.headline else ""),
                )
            else:
                table.add_row(escape(Path(item.path).name), "[bold magenta]error[/]", "-", "-", "-",
                              escape(item.error or ""))

        run_batch(inputs, out, analyzer, on_start=on_start, on_done=on_done, annotate=annotate, report=report,
                  heatmap_scale=heatmap_scale)

    console.print(table)
    if mode == "thorough":
        for it in items:
            if it.ok and it.result:
                _print_thorough(it.result)
    _print_guidance([it.result for it in items if it.ok and it.result])
    n_bad = sum(not it.ok for it in items)
    console.print(f"results in {out}/ ({len(items) - n_bad} analysed, {n_bad} failed)", highlight=False)
    if n_bad:
        raise typer.Exit(1)


def _print_thorough(r) -> None:
    """What thorough mode used and how long it took, per input."""
    t = r.timings
    per_face = t.get("classify_per_face")
    cal = "; uncalibrated scores" if any(str(c.get("source", "")).startswith("uncalibrated")
                                          for c in r.settings.calibration.values()) else ""  # fmt: skip
    console.print(
        escape(f"thorough: {Path(r.input.path).name}: {r.settings.model} on {r.n_faces} face(s) from "
               f"{len(r.frames)} frame(s) ({r.settings.sampling}); scoring "
               + (f"{per_face:.2f} s per face, " if per_face is not None else "")
               + f"{t.get('total', 0.0):.1f} s in all{cal}"),
        highlight=False, soft_wrap=True,
    )  # fmt: skip


def _print_guidance(results) -> None:
    """Under the table: the REAL caveat and each shown verdict's "what you can do next" line, once each."""
    seen: dict[str, str] = {}
    for r in results:
        v = r.verdict
        if v.caveat and "caveat" not in seen:
            seen["caveat"] = f"[yellow]⚠ {escape(v.caveat)}[/]"
        if v.next_step and v.label not in seen:
            seen[v.label] = f"[bold]{v.label}:[/] {escape(v.next_step)}"
    for line in seen.values():
        console.print(line, highlight=False, soft_wrap=True)


def _band(text: str | None) -> tuple[float, float] | None:
    if not text:
        return None
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--band must be LOW,HIGH (e.g. 0.35,0.65), not {text!r}") from None
    if not 0.0 <= lo <= 0.5 <= hi <= 1.0:
        raise ValueError(f"--band {text}: need 0 ≤ LOW ≤ 0.5 ≤ HIGH ≤ 1")
    return lo, hi


def _methods(text: str | None) -> tuple[str, ...]:
    """Parse ``gradcam,ig`` and check every name against the explainer registry."""
    if not text:
        return ()
    from .explainers import explainer_class

    names = tuple(m.strip() for m in text.split(",") if m.strip())
    for m in names:
        if m != "default":  # "default": the methods chosen by measurement for the model
            explainer_class(m)
    return names


def _explain_options(methods: tuple[str, ...], pairs: list[str] | None) -> dict:
    """``--explain-option`` pairs → {method: {option: value}} (checked against the chosen methods)."""
    if not pairs:
        return {}
    from .explainers import parse_options

    if not methods:
        raise ValueError("--explain-option needs explanation methods (--explain / --methods)")
    return parse_options(methods, pairs)


@app.command("explain")
def explain_cmd(
    source: Annotated[Path, typer.Argument(help="A face image, a folder of face images, or a CSV list of them.")],
    methods: Annotated[str, typer.Option(help="Comma-separated methods (see `fakescope explainers`).")] = "gradcam",
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("explanations"),
    model: Annotated[str, typer.Option(help="Detector model.")] = "mesoinception4",
    weights: Annotated[
        str, typer.Option(help="Weight tag of the model ('default': its default tag; 'none': untrained).")
    ] = "default",
    checkpoint: Annotated[Path | None, typer.Option(help="Local weight file instead of a tag.")] = None,
    target: Annotated[str, typer.Option(help="Explain the 'fake' or the 'real' logit.")] = "fake",
    batch_size: Annotated[int, typer.Option(min=1, help="Faces per explainer call.")] = 8,
    explain_option: ExplainOption = None,
) -> None:
    """Explain already-cropped face images: heatmaps, raw maps and a montage per face."""
    from .explain_faces import explain_images, read_image_list
    from .models import create_model

    if target not in ("fake", "real"):
        raise _fail(f"--target must be 'fake' or 'real', not {target!r}", 2)
    try:
        names = _methods(methods)
        options = _explain_options(names, explain_option)
        net = create_model(model, weights=None if weights.lower() == "none" else weights, checkpoint_path=checkpoint)
        images = read_image_list(source)
    except (FakescopeError, ValueError) as e:
        raise _fail(str(e), 2) from None
    with Progress(
        TextColumn("[bold]explaining"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=True,
    ) as progress:
        task = progress.add_task("faces", total=len(images))
        try:
            results = explain_images(
                images, net, names, out, target=target, batch_size=batch_size,
                on_progress=lambda n: progress.advance(task, n), options=options,
            )
        except FakescopeError as e:  # a method/option that cannot run on this model: same for every face
            raise _fail(str(e), 2) from None
    bad = [r for r in results if not r.ok]
    for r in bad:
        err_console.print(f"[red]error:[/red] {escape(str(r.error))}", highlight=False, soft_wrap=True)
    console.print(
        f"{len(results) - len(bad)} faces explained with {', '.join(names)} → {out}/ ({len(bad)} failed)",
        highlight=False,
    )
    if bad:
        raise typer.Exit(1)


@app.command()
def explainers(
    model: Annotated[str | None, typer.Option(help="Show each method's measured quality on this model.")] = None,
) -> None:
    """List the explanation methods (with --model: their measured quality on that model)."""
    from .explainers import explainer_class, list_explainers

    if model:
        from .cli_xai import quality_table

        console.print(quality_table(model))
        return

    table = Table(title="explainers")
    for col in ("name", "family", "description"):
        table.add_column(col, overflow="fold")
    for name in list_explainers():
        cls = explainer_class(name)
        doc = (cls.__doc__ or "").strip().splitlines()
        table.add_row(name, str(getattr(cls, "family", "")), doc[0] if doc else "")
    console.print(table)


@app.command()
def info(
    as_json: Annotated[bool, typer.Option("--json", help="As JSON.")] = False,
) -> None:
    """Show the runtime: versions, threads, memory allocator, bf16 and GPU support (for bug reports)."""
    import json
    import os
    import platform

    import torch

    from ._alloc import active_allocator, find_tcmalloc
    from .models.export import cpu_has_bf16

    data = {
        "fakescope": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "allocator": active_allocator(),
        "tcmalloc_library": find_tcmalloc(),
        "cpu_bf16": cpu_has_bf16(),
        "cuda": torch.cuda.is_available(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }
    if as_json:
        print(json.dumps(data, indent=2))
        return
    table = Table(title="fakescope runtime", show_header=False)
    for k, v in data.items():
        table.add_row(k, str(v))
    console.print(table)


@app.command()
def models(
    as_json: Annotated[bool, typer.Option("--json", help="Full metadata (paper, source, sha256) as JSON.")] = False,
    card: Annotated[
        str | None, typer.Option(help="Print the model card of NAME or NAME:WEIGHTS (training data, accuracy, limits).")
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Also architectures without usable weights (need --checkpoint).")
    ] = False,
) -> None:
    """List the deepfake detectors with usable weights (shipped or installed): input size, weights, licence
    (--json for source and paper; --card NAME for the model card)."""
    import json

    from .models import get_model_info, list_installed_models, list_models, list_runnable_models

    if card is not None:
        from rich.markdown import Markdown

        from .cards import card_markdown, load_card

        name, _, tag = card.partition(":")
        try:
            data = load_card(name, tag or None)
        except FakescopeError as e:
            raise _fail(str(e), 2) from None
        if data is None:
            raise _fail(f"no model card for {card!r} (models with trained weights have one)", 2)
        if as_json:
            print(json.dumps(data, indent=2, ensure_ascii=False))
        else:
            console.print(Markdown(card_markdown(data)))
        return

    names = list_models() + list_installed_models() if show_all else list_runnable_models()
    if as_json:
        print(json.dumps([get_model_info(n).to_dict() for n in names], indent=2))
        return
    table = Table(title="models (* = default weights)" + ("" if show_all else "; --all: every architecture"))
    table.add_column("name", no_wrap=True)
    for col in ("family", "input", "weights", "licence"):
        table.add_column(col, overflow="fold")
    for name in names:
        info = get_model_info(name)
        tags = ", ".join(f"{t}*" if t == info.default_weights else t for t in info.weights) or "-"
        table.add_row(name, info.family, f"{info.input_size}px", tags, info.licence.split(";")[0])
    console.print(table)


@app.command()
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
    from .models import create_model
    from .training.calibrate import calibrate_records
    from .training.config import parse_overrides
    from .training.datasets import read_dataset
    from .training.extract import ExtractConfig, load_extract_info
    from .training.extract import extract_faces as run_extract

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
    """List the verdict rules and the ensemble combiners."""
    from .combine import DEFAULT_COMBINER, get_combiner, list_combiners
    from .rules import DEFAULT_RULE, get_rule, list_rules

    table = Table(title="verdict rules (--rule)")
    table.add_column("name")
    table.add_column("rule", overflow="fold")
    for name in list_rules():
        doc = (get_rule(name).__doc__ or "").strip().splitlines()[0]
        table.add_row(f"{name} (default)" if name == DEFAULT_RULE else name, doc)
    console.print(table)
    table = Table(title="ensemble combiners (--combine)")
    table.add_column("name")
    table.add_column("combination", overflow="fold")
    for name in list_combiners():
        doc = (get_combiner(name).__doc__ or "").strip().splitlines()[0]
        table.add_row(f"{name} (default)" if name == DEFAULT_COMBINER else name, doc)
    console.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (a non-loopback one needs --token).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8000,
    data_dir: Annotated[Path | None, typer.Option(help="Jobs and database (default FAKESCOPE_DATA_DIR).")] = None,
    token: Annotated[
        str | None, typer.Option(envvar="FAKESCOPE_TOKEN", help="Bearer token required by the API and the web app.")
    ] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Analyses running at once.")] = None,
    ui: Annotated[bool, typer.Option("--ui/--no-ui", help="Serve the web app at /ui.")] = True,
    engine: Annotated[
        str | None, typer.Option(help="Where analyses run: thread (default), process or ray (as `fakescope batch`).")
    ] = None,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster for --engine ray (HOST:PORT).")] = None,
    trust_anchors: TrustAnchors = None,
) -> None:
    """Start the HTTP API (/v1, /docs) and the web app (/ui) with uvicorn."""
    try:
        import uvicorn

        from .server.main import create_app
        from .server.settings import ServerSettings
    except ImportError as e:
        raise _fail(f"the server needs its extras: pip install 'fakescope[server]' ({e})", 2) from None
    from pydantic import ValidationError

    overrides = {"host": host, "port": port, "ui": ui, "token": token, "data_dir": data_dir, "workers": workers,
                 "engine": engine, "ray_address": ray_address, "trust_anchors": trust_anchors}  # fmt: skip
    try:
        settings = ServerSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as e:
        raise _fail("; ".join(str(err["msg"]).removeprefix("Value error, ") for err in e.errors()), 2) from None
    err_console.print(f"fakescope {__version__}: http://{settings.host}:{settings.port}/ (data in {settings.data_dir})")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")


@app.command("extract-faces")
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
    from .training.config import parse_overrides
    from .training.datasets import read_dataset
    from .training.extract import ExtractConfig
    from .training.extract import extract_faces as run_extract

    try:
        records = read_dataset(dataset, data, **parse_overrides(option or []))
        if split:
            records = [r for r in records if r.split == split]
        records = records[:limit] if limit else records
        if model:
            from .models import get_model_info

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


@app.command()
def train(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML file of training settings.")] = None,
    overrides: Annotated[list[str] | None, typer.Argument(help="Settings key=value (dotted keys for tables).")] = None,
) -> None:
    """Train a detector on face crops (settings: YAML + key=value; resumes from OUT/last)."""
    from .training.config import load_config
    from .training.trainer import train as run_train

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


@app.command()
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
    from .training.checkpoint import load_trained_model, read_meta
    from .training.config import parse_overrides
    from .training.datasets import read_dataset
    from .training.evaluate import evaluate_records
    from .training.extract import ExtractConfig, load_extract_info
    from .training.extract import extract_faces as run_extract
    from .training.splits import load_splits, split_records

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
    from .training.compare import comparison_markdown, write_comparison
    from .training.evaluate import markdown_table

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
    from .models import create_model, has_usable_weights
    from .pipeline import DEFAULT_MODEL

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


@app.command()
def convert(
    src: Annotated[Path, typer.Argument(help="Published checkpoint (.pth/.pt/.tar, .safetensors, Keras .h5).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .safetensors file.")],
    fmt: Annotated[
        str,
        typer.Option("--format", help="Source layout: auto, ffpp, deepfakebench, sbi, dfdc, efficientvit, timm, "
                     "torchvision, keras-mesonet, fakescope."),
    ] = "auto",
    arch: Annotated[str | None, typer.Option(help="fakescope model to map onto (default: from the file).")] = None,
    fake_index: Annotated[
        int | None,
        typer.Option(min=0, max=1, help="Index of 'fake' in a 2-logit head of a timm/torchvision file (default 1)."),
    ] = None,
    trust_pickle: Annotated[
        bool, typer.Option("--trust-pickle", help="Allow pickled Python objects (whole models): runs their code.")
    ] = False,
) -> None:
    """Import a published detector checkpoint as fakescope safetensors (weights + preprocessing metadata)."""
    from .models.convert import convert_file, save_converted

    if out.suffix != ".safetensors":
        raise _fail(f"--out must end in .safetensors, not {out.name!r}", 2)
    if trust_pickle:
        err_console.print(
            f"[yellow]warning:[/yellow] --trust-pickle: unpickling {src} can run code from the file",
            highlight=False, soft_wrap=True,
        )  # fmt: skip
    try:
        conv = convert_file(src, fmt, arch, trust_pickle=trust_pickle, fake_index=fake_index)
        save_converted(conv, out)
    except FakescopeError as e:
        raise _fail(str(e), 2) from None
    table = Table(title=f"{src.name} → {out}", show_header=False)
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in (
        ("source format", conv.source_format),
        ("architecture", conv.arch + (f" {conv.model_kwargs}" if conv.model_kwargs else "")),
        ("input", f"{conv.input_size}px RGB in [0, 1], mean {tuple(round(v, 4) for v in conv.mean)}, "
                  f"std {tuple(round(v, 4) for v in conv.std)}"),
        ("output", "1 logit = log-odds of fake"),
        ("tensors", str(len(conv.state_dict))),
        *(("note", n) for n in conv.notes),
    ):  # fmt: skip
        table.add_row(key, value)
    console.print(table)
    console.print(f"use it with: fakescope analyze VIDEO --model {conv.arch} --checkpoint {out}", highlight=False)


@app.command()
def export(
    model: Annotated[str, typer.Argument(help="Model name (see `fakescope models`).")],
    onnx: Annotated[Path, typer.Option("--onnx", help="Output .onnx file.")],
    weights: Annotated[
        str, typer.Option(help="Weight tag of the model ('default': its default tag; 'none': untrained).")
    ] = "default",
    checkpoint: Annotated[Path | None, typer.Option(help="Local weight file instead of a tag.")] = None,
    opset: Annotated[int, typer.Option(min=7, help="ONNX opset.")] = 17,
    check: Annotated[bool, typer.Option("--check/--no-check", help="Compare onnxruntime with PyTorch.")] = True,
) -> None:
    """Export a detector to ONNX (dynamic batch, model metadata embedded, checked with onnxruntime)."""
    from .models import create_model
    from .models.export import export_onnx

    try:
        net = create_model(model, weights=None if weights.lower() == "none" else weights, checkpoint_path=checkpoint)
        path = export_onnx(net, onnx, opset=opset, check=check)
    except (FakescopeError, ValueError, RuntimeError) as e:
        raise _fail(str(e), 2) from None
    console.print(f"{model} ({net.info.input_size}px, weights {net.weights_tag or 'none'}) → {path}", highlight=False)


from .cli_weights import weights_app  # noqa: E402  (fakescope weights ...: issue 11)

app.add_typer(weights_app, name="weights")

# `fakescope batch` and `fakescope batch-report` (issue 14): same analysis options as `analyze`
from .cli_batch import register as _register_batch  # noqa: E402

_register_batch(app, analyze, ANALYSIS_OPTIONS, _fail, console, err_console)

from .cli_xai import xai_eval  # noqa: E402

app.command("xai-eval")(xai_eval)

app.command("provenance")(provenance_cmd)  # issue 25


def main() -> None:
    """Console entry point: re-execute under tcmalloc if installed (see ``fakescope._alloc``), run."""
    from ._alloc import reexec_with_tcmalloc

    reexec_with_tcmalloc()
    app()


if __name__ == "__main__":
    main()
