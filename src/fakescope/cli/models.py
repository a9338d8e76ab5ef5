"""``fakescope models``, ``convert`` and ``export``: the detectors, importing and exporting their weights
(``fakescope weights``: :mod:`.weights`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..errors import FakescopeError
from ._common import _fail, console, err_console, use_installed_weights


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

    from ..models import get_model_info, list_installed_models, list_models, list_runnable_models

    use_installed_weights()
    if card is not None:
        from rich.markdown import Markdown

        from ..cards import card_markdown, load_card

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
    from ..models.convert import convert_file, save_converted

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
    from ..models import create_model
    from ..models.export import export_onnx

    use_installed_weights()
    try:
        net = create_model(model, weights=None if weights.lower() == "none" else weights, checkpoint_path=checkpoint)
        path = export_onnx(net, onnx, opset=opset, check=check)
    except (FakescopeError, ValueError, RuntimeError) as e:
        raise _fail(str(e), 2) from None
    console.print(f"{model} ({net.info.input_size}px, weights {net.weights_tag or 'none'}) → {path}", highlight=False)

