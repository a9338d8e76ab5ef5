"""Build the FastAPI app: the ``/v1`` API, ``/healthz`` and the Gradio web app (``/ui``).

Run with ``fakescope serve`` or ``uvicorn --factory fakescope.server.main:create_app``; settings come
from :class:`~fakescope.server.settings.ServerSettings` (``FAKESCOPE_*`` environment variables).
One process owns one data_dir/database: do not run several uvicorn workers on the same data_dir.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.responses import RedirectResponse

try:  # /docs and /redoc from assets installed with the package (FastAPI's default pages load a CDN)
    from fastapi_offline import FastAPIOffline as _make_app
except ImportError:  # pragma: no cover - the server extra installs it
    _make_app = FastAPI

from .._version import __version__
from ..catalogue import register as register_installed_weights
from .api.routes import analyses, live, meta
from .deps import require_token, token_ok
from .jobs import AnalyzerFactory, JobStore
from .settings import ServerSettings

log = logging.getLogger(__name__)


def create_app(settings: ServerSettings | None = None, *, analyzer_factory: AnalyzerFactory | None = None) -> FastAPI:
    """The whole server for ``settings``; ``analyzer_factory`` replaces :class:`~fakescope.Analyzer` (tests)."""
    settings = settings or ServerSettings()
    register_installed_weights()  # installed weights are models the API lists and analyses run
    store = JobStore(settings, analyzer_factory)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        store.close()

    app = _make_app(
        title="fakescope",
        version=__version__,
        summary="Offline, explainable deepfake detection: upload a video or image, get verdicts and heatmaps.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    auth = [Depends(require_token)]
    app.include_router(analyses.router, prefix="/v1", dependencies=auth)
    app.include_router(meta.router, prefix="/v1", dependencies=auth)
    app.include_router(meta.health_router)
    app.include_router(live.router, prefix="/v1")  # WebSocket: checks the token itself (header or start message)
    app.include_router(live.page_router)

    home = f"{settings.ui_path}/" if settings.ui else "/docs"

    @app.get("/", include_in_schema=False)
    def _home() -> RedirectResponse:
        return RedirectResponse(home)

    if settings.ui:
        import gradio as gr

        from .webapp import THEME_CSS, build_demo

        demo = build_demo(store)
        gr.mount_gradio_app(
            app,
            demo,
            path=settings.ui_path,
            auth=(lambda _user, password: token_ok(settings, password)) if settings.token else None,
            auth_message="This fakescope server needs its token: any user name, the token as password.",
            allowed_paths=[str(settings.jobs_dir)],
            max_file_size=settings.max_upload_bytes,
            ssr_mode=False,
            footer_links=[],
            css=THEME_CSS,
        )
        app.state.demo = demo
    return app
