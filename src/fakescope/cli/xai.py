"""``fakescope explainers`` and ``xai-eval``: the explanation methods, their measured quality, measuring it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ._common import use_installed_weights

console = Console()
err_console = Console(stderr=True)


def xai_eval(
    out: Annotated[Path, typer.Option("--out", help="Output folder (xai_eval.json, xai_eval.md, plots).")],
    model: Annotated[
        list[str], typer.Option("--model", help="Model(s), comma-separated or repeated; NAME:TAG for other weights.")
    ],
    methods: Annotated[str, typer.Option(help="Explanation methods, comma-separated.")] = "gradcam,gradcam++,saliency",
    faces: Annotated[
        list[Path] | None,
        typer.Option("--faces", help="Folder(s)/files of REAL faces (images, videos), or a crops CSV with landmarks."),
    ] = None,
    faces_split: Annotated[
        str | None, typer.Option(help="Only this split of a crops CSV (e.g. test: identities never trained on).")
    ] = None,
    max_faces: Annotated[int | None, typer.Option(min=2, help="At most this many real faces.")] = None,
    ffpp: Annotated[Path | None, typer.Option(help="FaceForensics++ root with manipulated_sequences/*/masks.")] = None,
    n_sbi: Annotated[int, typer.Option(min=0, help="Self-blended images to make.")] = 40,
    n_splice: Annotated[int, typer.Option(min=0, help="Eye/mouth splices to make.")] = 40,
    steps: Annotated[int, typer.Option(min=2, help="Deletion/insertion steps.")] = 16,
    sanity: Annotated[bool, typer.Option("--sanity/--no-sanity", help="Model-randomisation check.")] = True,
    sanity_faces: Annotated[int, typer.Option(min=1, help="Faces for the randomisation check.")] = 16,
    baseline: Annotated[str, typer.Option(help="Deletion baseline: 'neutral' (measured) or a kind.")] = "neutral",
    n_boot: Annotated[int, typer.Option(min=100, help="Bootstrap resamples.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    option: Annotated[
        list[str] | None, typer.Option("--explain-option", "-E", help="Explainer option KEY=VALUE or METHOD.KEY=VALUE.")
    ] = None,
) -> None:
    """Measure explanation methods on manipulated faces with known masks (pointing game, relevance mass,
    pixel AUROC, deletion/insertion vs random, randomisation sanity check, ms/face; bootstrap 95 % CIs)."""
    from ..errors import FakescopeError
    from ..explainers import explainer_class, parse_options
    from ..xai_eval import EvalConfig, evaluate

    use_installed_weights()
    names = tuple(m.strip() for m in methods.split(",") if m.strip())
    models = [m.strip() for spec in model for m in spec.split(",") if m.strip()]
    try:
        for m in names:
            explainer_class(m)
        opts = parse_options(names, option or [])
        cfg = EvalConfig(methods=names, options=opts, steps=steps, sanity=sanity, sanity_faces=sanity_faces,
                         baseline=baseline, n_boot=n_boot, seed=seed)  # fmt: skip
        with console.status("evaluating…") as status:
            reports = evaluate(models, names, faces=faces or (), out=out, ffpp=ffpp, n_sbi=n_sbi, n_splice=n_splice,
                               max_faces=max_faces, faces_split=faces_split, config=cfg,
                               progress=lambda msg: status.update(msg))  # fmt: skip
    except (FakescopeError, ValueError, FileNotFoundError, ImportError) as e:
        err_console.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    for r in reports:
        table = Table(title=f"{r['model']}: {r['faces']}")
        for col in ("method", "PG", "PG off-centre", "RMA", "pixel AUROC", "del. gain", "sanity ρ", "ms/face"):
            table.add_column(col)
        for m, e in r["methods"].items():
            if "error" in e:
                table.add_row(m, f"failed: {e['error'][:60]}")
                continue
            s = e["subsets"]
            f = lambda v: "–" if not v or v[0] != v[0] else f"{v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}]"  # noqa: E731
            table.add_row(m if e["kind"] == "method" else f"({m})", f(s["all"]["pointing_game"]),
                          f(s.get("off_centre", {}).get("pointing_game")), f(s["all"]["relevance_mass"]),
                          f(s["all"]["pixel_auroc"]), f(s["all"]["deletion_gain"]),
                          f(e.get("sanity", {}).get("spearman")), str(e.get("ms_per_face", "–")))  # fmt: skip
        console.print(table)
        console.print(f"chosen default: {', '.join(r.get('defaults', [])) or '–'}", highlight=False)
    console.print(f"written to {out}/xai_eval.md, xai_eval.json", highlight=False)


def quality_table(model: str) -> Table:
    """The shipped measured quality of each method on ``model`` (``explainers/quality.json``)."""
    from ..explainers import explainer_class, list_explainers
    from ..explainers.quality import default_methods, method_quality, model_entry, neutral_baseline

    entry = model_entry(model)
    defaults = set(default_methods(model))
    title = f"explainers on {model}"
    if entry:
        title += f" (measured: {entry.get('faces')}; neutral baseline {neutral_baseline(model)}; ★ = default)"
    else:
        title += " (not measured: run `fakescope xai-eval`)"
    table = Table(title=title)
    for col in ("name", "family", "PG", "PG off-centre", "RMA", "RMA − centre (off-c.)", "del. gain",
                "del. gain (pristine)", "ins. gain", "sanity", "ms/face"):  # fmt: skip
        table.add_column(col, overflow="fold")
    f = lambda v: "–" if not v else f"{v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}]"  # noqa: E731
    for name in list_explainers():
        row = method_quality(model, name) or {}
        if "error" in row:
            cells = [f"failed: {row['error'][:50]}"] + [""] * 8
        elif row:
            sane = row.get("sanity_pass")
            rho = row.get("sanity_spearman")
            cells = [f(row.get("pointing_game")), f(row.get("pointing_game_off_centre")), f(row.get("relevance_mass")),
                     f(row.get("rma_minus_centre_off_centre")), f(row.get("deletion_gain")),
                     f(row.get("deletion_gain_pristine")), f(row.get("insertion_gain")),
                     "–" if sane is None else f"{'pass' if sane else 'FAIL'} (ρ {rho[0]:.2f})",
                     str(row.get("ms_per_face", "–"))]  # fmt: skip
        else:
            cells = ["not measured"] + [""] * 8
        star = " ★" if name in defaults else ""
        table.add_row(name + star, explainer_class(name).family, *cells)
    return table


def explainers(
    model: Annotated[str | None, typer.Option(help="Show each method's measured quality on this model.")] = None,
) -> None:
    """List the explanation methods (with --model: their measured quality on that model)."""
    from ..explainers import explainer_class, list_explainers

    if model:
        use_installed_weights()
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
