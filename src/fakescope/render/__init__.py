"""Rendering of fakescope results: heatmap overlays, montages and PNGs (``overlay.py``); the annotated
video and HTML report live in ``annotate.py`` and ``report.py`` (imported on use, they need PyAV).

Rendering only reads results (explanation maps, analysis results); it never runs a model.
"""

from .overlay import colorize, montage, overlay, save_png

__all__ = ["colorize", "montage", "overlay", "save_png"]
