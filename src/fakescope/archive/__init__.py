"""Batch analysis of whole archives: a resumable results store (SQLite) fed by an executor
(:mod:`fakescope.engine`), and reports over it. ``fakescope batch`` / ``fakescope batch-report``."""

from __future__ import annotations

from .run import BatchOptions, BatchSummary, run_archive
from .sources import expand_sources
from .store import DB_NAME, ResultStore, settings_hash

__all__ = ["DB_NAME", "BatchOptions", "BatchSummary", "ResultStore", "expand_sources", "run_archive", "settings_hash"]
