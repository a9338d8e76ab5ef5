"""The ``fakescope`` command line: a thin layer over the Python API.

One module per command group (the commands are plain functions; this module builds the typer app from
them, in the order ``fakescope --help`` lists them): :mod:`.analyze` (analyze, explain), :mod:`.xai`
(explainers, xai-eval), :mod:`.info` (info, detectors, rules), :mod:`.models` (models, convert, export),
:mod:`.weights` (``fakescope weights …``), :mod:`.training` (calibrate, extract-faces, train,
evaluate), :mod:`.serve`, :mod:`.batch` (batch, batch-report), :mod:`.provenance`, :mod:`.watch`; options several
share in :mod:`._options`, consoles and the error exit in :mod:`._common`.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.logging import RichHandler

from .._version import __version__
from . import analyze as _analyze
from . import batch as _batch
from . import info as _info
from . import models as _models
from . import serve as _serve
from . import training as _training
from . import watch as _watch
from . import xai as _xai
from ._common import _fail, console, err_console
from ._options import ANALYSIS_OPTIONS
from .provenance import provenance_cmd
from .weights import weights_app

__all__ = ["app", "main"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Explainable deepfake detection: faces, identity tracks, scores and verdicts.",
)


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


app.command()(_analyze.analyze)
app.command("explain")(_analyze.explain_cmd)
app.command()(_xai.explainers)
app.command()(_info.info)
app.command()(_models.models)
app.command()(_training.calibrate)
app.command()(_info.detectors)
app.command()(_info.rules)
app.command()(_serve.serve)
app.command("extract-faces")(_training.extract_faces)
app.command()(_training.train)
app.command()(_training.evaluate)
app.command()(_models.convert)
app.command()(_models.export)
app.add_typer(weights_app, name="weights")  # fakescope weights ...: issue 11
# `fakescope batch` and `fakescope batch-report` (issue 14): same analysis options as `analyze`
_batch.register(app, _analyze.analyze, ANALYSIS_OPTIONS, _fail, console, err_console)
app.command("xai-eval")(_xai.xai_eval)
app.command("provenance")(provenance_cmd)  # issue 25
app.command()(_watch.watch)  # issue 24


def main() -> None:
    """Console entry point: re-execute under tcmalloc if installed (see ``fakescope._alloc``), run."""
    from .._alloc import reexec_with_tcmalloc

    reexec_with_tcmalloc()
    app()

