"""Typed server settings (pydantic-settings); every field can be set as ``FAKESCOPE_<NAME>``.

Insecure combinations are refused at construction: binding to anything but a loopback address
without a bearer token raises a validation error, so the server never starts open to a network.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def is_loopback(host: str) -> bool:
    """True for ``127.0.0.0/8``, ``::1`` and the usual names of localhost."""
    h = host.strip().strip("[]").lower()
    if h in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


class ServerSettings(BaseSettings):
    """Settings of ``fakescope serve`` (HTTP API + web app)."""

    model_config = SettingsConfigDict(env_prefix="FAKESCOPE_", extra="ignore")

    data_dir: Path = Field(Path("fakescope-data"), description="jobs/<id>/ folders and the job database live here")
    db_path: Path | None = Field(None, description="SQLite job database (default: data_dir/jobs.sqlite3)")
    max_upload_mb: float = Field(200.0, gt=0, description="largest accepted upload, MiB (413 above)")
    max_duration_s: float = Field(600.0, gt=0, description="longest accepted video, seconds (422 above)")
    max_frames: int = Field(36_000, gt=0, description="most frames in an accepted video (422 above)")
    max_pixels: int = Field(40_000_000, gt=0, description="largest accepted frame, width × height (422 above)")
    job_timeout_s: float = Field(900.0, gt=0, description="a job running longer fails (checked between frames)")
    workers: int = Field(1, ge=1, le=32, description="analyses running at once (threads, processes or Ray actors)")
    engine: Literal["thread", "process", "ray"] = Field(
        "thread", description="where analyses run: threads here, local processes or Ray actors (fakescope.engine)"
    )
    ray_address: str | None = Field(None, description="Ray cluster for engine 'ray' (default $RAY_ADDRESS, else local)")
    queue_size: int = Field(4, ge=0, le=10_000, description="jobs waiting for a worker; one more → 429")
    max_uploads: int = Field(16, ge=1, le=10_000, description="uploads being received at once; one more → 429")
    upload_idle_timeout_s: float = Field(30.0, gt=0, description="an upload that sends nothing this long → 408")
    upload_timeout_s: float = Field(900.0, gt=0, description="an upload body that takes longer → 408")
    live_sessions: int = Field(4, ge=1, le=256, description="live WebSocket sessions at once; one more → 1013")
    live_idle_timeout_s: float = Field(60.0, gt=0, description="a live session that sends nothing this long is closed")
    token: SecretStr | None = Field(None, description="bearer token; required unless bound to loopback")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    ui: bool = Field(True, description="mount the Gradio web app at ui_path")
    ui_path: str = "/ui"
    default_frames: str = Field("even:32", description="frame sampling when a request names none")
    annotate: bool = Field(True, description="write annotated.mp4/png for each job")
    report: bool = Field(True, description="write report.html for each job")
    pdf: bool = Field(True, description="also report.pdf (headless Chromium, when installed)")
    zip: bool = Field(True, description="also result.zip: every result file of the job in one download")
    trust_anchors: Path | None = Field(
        None, description="PEM bundle of trust anchors for Content Credentials signers (offline; none: signers "
        "are reported as not verified against a trust list)"
    )

    @model_validator(mode="after")
    def _check(self) -> ServerSettings:
        if self.token is not None and not self.token.get_secret_value().strip():
            self.token = None
        if not is_loopback(self.host) and self.token is None:
            raise ValueError(
                f"refusing to bind to {self.host!r} without a token: set FAKESCOPE_TOKEN (or --token), "
                "or bind to 127.0.0.1"
            )
        if self.token is not None and len(self.token.get_secret_value()) < 16 and not is_loopback(self.host):
            raise ValueError("the token must have at least 16 characters when binding to a non-loopback address")
        if not self.ui_path.startswith("/") or self.ui_path.rstrip("/") == "" or self.ui_path.startswith("/v1"):
            raise ValueError(f"ui_path must be a path like '/ui', not {self.ui_path!r}")
        self.ui_path = self.ui_path.rstrip("/")
        self.data_dir = self.data_dir.expanduser().resolve()
        self.db_path = (self.db_path or self.data_dir / "jobs.sqlite3").expanduser().resolve()
        if self.trust_anchors is not None:
            from ..provenance import TrustAnchorError, load_trust_anchors

            self.trust_anchors = self.trust_anchors.expanduser().resolve()
            try:  # a missing or empty bundle stops the server at start
                load_trust_anchors(self.trust_anchors)
            except TrustAnchorError as e:
                raise ValueError(str(e).replace("--trust-anchors", "trust_anchors")) from None
        return self

    @property
    def trust_anchors_path(self) -> str | None:
        return None if self.trust_anchors is None else str(self.trust_anchors)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    @property
    def uploads_dir(self) -> Path:
        """Bodies being received (before they hold a job slot)."""
        return self.data_dir / "uploads"
