"""Route dependencies: settings, the job store and bearer-token auth (tests override these)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .jobs import JobStore
from .settings import ServerSettings
from .uploads import discard_body

_bearer = HTTPBearer(auto_error=False, description="FAKESCOPE_TOKEN, when the server has one")


def get_settings(request: Request) -> ServerSettings:
    return request.app.state.settings


def get_store(request: Request) -> JobStore:
    return request.app.state.store


def token_ok(settings: ServerSettings, supplied: str | None) -> bool:
    """Constant-time check of a supplied token; always true when the server has none."""
    if settings.token is None:
        return True
    if not supplied:
        return False
    return hmac.compare_digest(supplied.encode(), settings.token.get_secret_value().encode())


async def require_token(
    request: Request,
    settings: Annotated[ServerSettings, Depends(get_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """401 unless ``Authorization: Bearer <token>`` matches (when a token is configured)."""
    if settings.token is None:
        return
    supplied = credentials.credentials if credentials and credentials.scheme.lower() == "bearer" else None
    if not token_ok(settings, supplied):
        if request.method in ("POST", "PUT", "PATCH"):
            await discard_body(request, settings.max_upload_bytes)  # so the client can read the 401
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong bearer token" if supplied else "this server requires a bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


SettingsDep = Annotated[ServerSettings, Depends(get_settings)]
StoreDep = Annotated[JobStore, Depends(get_store)]
