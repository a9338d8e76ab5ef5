"""What every ``fakescope`` command module shares: the consoles, the error exit, installed weights."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

console = Console()
err_console = Console(stderr=True)

LABEL_STYLE = {"fake": "bold red", "real": "bold green", "uncertain": "bold yellow", "inconclusive": "bold blue"}


def _fail(message: str, code: int) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def use_installed_weights() -> None:
    """Installed weights (``fakescope weights pull/add``) are models: register the weights catalogue as a
    model source (the model registry does not import it). For commands that take a model name."""
    from ..catalogue import register

    register()
