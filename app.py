"""Run fakescope's web app and HTTP API like a Hugging Face Space: ``python app.py``.

Settings come from ``FAKESCOPE_*`` environment variables (see ``fakescope.server.settings``); the port
defaults to 7860 (a Space's) unless FAKESCOPE_PORT is set. Binding to anything but loopback, as a
Space does with FAKESCOPE_HOST=0.0.0.0, needs FAKESCOPE_TOKEN: the page then asks for it.
The same server: ``fakescope serve``.
"""

from __future__ import annotations

import os

import uvicorn

from fakescope.server.main import create_app
from fakescope.server.settings import ServerSettings

settings = ServerSettings(port=int(os.environ.get("FAKESCOPE_PORT", "7860")))
app = create_app(settings)
demo = app.state.demo if settings.ui else None  # the gr.Blocks, for tools that look for `demo`

if __name__ == "__main__":
    uvicorn.run(app, host=settings.host, port=settings.port)
