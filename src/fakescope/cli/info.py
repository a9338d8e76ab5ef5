"""``fakescope info``, ``detectors`` and ``rules``: the runtime and the registered parts."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from .._version import __version__
from ._common import console


def info(
    as_json: Annotated[bool, typer.Option("--json", help="As JSON.")] = False,
) -> None:
    """Show the runtime: versions, threads, memory allocator, bf16 and GPU support (for bug reports)."""
    import json
    import os
    import platform

    import torch

    from .._alloc import active_allocator, find_tcmalloc
    from ..models.export import cpu_has_bf16

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


def detectors() -> None:
    """List the face detectors."""
    from ..faces import DEFAULT_FACE_DETECTOR, get_face_detector_info, list_face_detectors

    table = Table(title="face detectors")
    for col in ("name", "landmarks", "licence", "description", "source"):
        table.add_column(col, overflow="fold")
    for name in list_face_detectors():
        info = get_face_detector_info(name)
        label = f"{name} (default)" if name == DEFAULT_FACE_DETECTOR else name
        table.add_row(label, str(info.landmarks), info.licence, info.description, info.source)
    console.print(table)


def rules() -> None:
    """List the verdict rules and the ensemble combiners."""
    from ..combine import DEFAULT_COMBINER, get_combiner, list_combiners
    from ..rules import DEFAULT_RULE, get_rule, list_rules

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

