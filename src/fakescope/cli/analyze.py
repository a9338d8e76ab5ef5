"""``fakescope analyze`` and ``fakescope explain``: verdicts for videos and images, heatmaps for faces."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..errors import FakescopeError
from ._common import LABEL_STYLE, _fail, console, err_console, use_installed_weights
from ._options import (
    ANALYSIS_OPTIONS,
    DEFAULT_MODEL_SPEC,
    ExplainOption,
    TrustAnchors,
    _explain_options,
    _methods,
    analysis_config,
    apply_mode,
)


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
    from ..batch import BatchItem, run_batch
    from ..pipeline import Analyzer

    use_installed_weights()
    try:
        if heatmap_scale not in ("shared", "face"):
            raise ValueError(f"--heatmap-scale must be 'shared' or 'face', not {heatmap_scale!r}")
        cfg, used = apply_mode(analysis_config(**options), mode, options)
        if used:
            err_console.print(escape(used), highlight=False)
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
            from ..progress import STAGE_TITLES

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
                    f"[{LABEL_STYLE[v.label]}]{v.label}[/]{by}",
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
    from ..explain_faces import explain_images, read_image_list
    from ..models import create_model

    use_installed_weights()
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

