"""HTTP API and web app for fakescope (``pip install fakescope[server]``; ``fakescope serve``).

>>> from fakescope.server import ServerSettings, create_app   # doctest: +SKIP
>>> app = create_app(ServerSettings(data_dir="srv"))           # doctest: +SKIP
"""

from .settings import ServerSettings


def create_app(*args, **kwargs):
    """See :func:`fakescope.server.main.create_app` (imported lazily: FastAPI and Gradio are heavy)."""
    from .main import create_app as _create

    return _create(*args, **kwargs)


__all__ = ["ServerSettings", "create_app"]
