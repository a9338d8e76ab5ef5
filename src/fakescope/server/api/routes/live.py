"""``/v1/live`` (WebSocket): live analysis of frames from a camera or a shared screen; ``/live``: its page.

The protocol is in the README ("Live analysis over a WebSocket") and :mod:`fakescope.server.live`.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import Response

from ...live import BUSY, POLICY, LiveConnection, same_origin

router = APIRouter(tags=["live"])
page_router = APIRouter(include_in_schema=False)

_PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob: "
    "mediastream:; connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
_STATIC = files("fakescope.server") / "static"


@router.websocket("/live")
async def live(ws: WebSocket) -> None:
    """Binary messages: JPEG/PNG frames; replies: one ``update`` per analysed frame (see the README)."""
    state = ws.app.state
    if not same_origin(ws):
        await ws.close(POLICY)  # before the handshake: the browser gets 403
        return
    await ws.accept()
    limit = state.settings.live_sessions
    if getattr(state, "live_sessions", 0) >= limit:
        await ws.send_json({"type": "error", "message": f"busy: {limit} live sessions already; retry later"})
        await ws.close(BUSY)
        return
    state.live_sessions = getattr(state, "live_sessions", 0) + 1
    try:
        await LiveConnection(ws, state.settings, state.store.pool).run()
    finally:
        state.live_sessions -= 1


def _static(name: str, media_type: str, token: bool = False) -> Response:
    text = _STATIC.joinpath(name).read_text(encoding="utf-8")
    if token:  # the page asks for the token only where the server has one
        text = text.replace('data-token="no"', 'data-token="yes"')
    return Response(text, media_type=media_type, headers={
        "Content-Security-Policy": _PAGE_CSP, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})


@page_router.get("/live")
def live_page(request: Request) -> Response:
    """The live page (camera or shared screen → /v1/live); the web app's Live tab shows it."""
    return _static("live.html", "text/html; charset=utf-8", request.app.state.settings.token is not None)


@page_router.get("/live/live.js")
def live_script() -> Response:
    return _static("live.js", "text/javascript; charset=utf-8")


@page_router.get("/live/live.css")
def live_style() -> Response:
    return _static("live.css", "text/css; charset=utf-8")
