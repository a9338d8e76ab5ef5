"""``fakescope serve``: the HTTP API and the web app."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .._version import __version__
from ._common import _fail, err_console
from ._options import TrustAnchors


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

        from ..server.main import create_app
        from ..server.settings import ServerSettings
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

