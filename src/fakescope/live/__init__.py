"""Live analysis: a camera, a stream or a video call as it happens (``fakescope watch``, the web app's Live
tab). The source (:mod:`.source`) reads frames into a bounded queue; the driver (:mod:`.driver`) pushes
them through :meth:`fakescope.pipeline.Analyzer.stream`'s session — the same stages as ``analyze`` — and
reports events."""

from .driver import WatchSummary, identity_summary, watch
from .source import Captured, LiveError, LiveSource, SourceStats, source_kind

__all__ = ["Captured", "LiveError", "LiveSource", "SourceStats", "WatchSummary", "identity_summary", "source_kind",
           "watch"]
