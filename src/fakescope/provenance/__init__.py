"""Provenance beside pixels: the stage that runs before face analysis (issue 25).

:class:`ProvenanceReader` reads, for one image or video, its **Content Credentials** (C2PA, via
c2pa-python, validated offline against the user's trust anchors if any), its **unsigned metadata**
(EXIF camera and software, dates, XMP IPTC ``DigitalSourceType``; PNG text chunks and JPEG comments
that name an AI generator; video container tags) and says what they mean in plain words. It never
fails: whatever cannot be read becomes a warning. :func:`apply_provenance` weighs it against the
detector's verdict (see :mod:`fakescope.provenance.decide`). The same stage serves ``analyze``, the
server, ``fakescope batch`` and ``fakescope provenance``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import MediaError
from ..media import sniff_kind
from ..schema import Provenance
from .c2pa_reader import (
    AI_SOURCE_TYPES,
    CAPTURE_SOURCE_TYPES,
    TrustAnchorError,
    load_trust_anchors,
    read_content_credentials,
)
from .decide import apply_provenance
from .metadata import MetadataFindings, read_container_tags, read_image_metadata

log = logging.getLogger(__name__)

__all__ = ["ProvenanceReader", "read_provenance", "apply_provenance", "load_trust_anchors", "TrustAnchorError",
           "TRUST_ANCHORS_ENV", "AI_SOURCE_TYPES", "CAPTURE_SOURCE_TYPES"]

#: environment variable naming the default trust-anchor PEM bundle
TRUST_ANCHORS_ENV = "FAKESCOPE_TRUST_ANCHORS"


class ProvenanceReader:
    """The provenance stage. ``trust_anchors``: a PEM bundle file (read and checked once, here)."""

    def __init__(self, trust_anchors: str | Path | None = None) -> None:
        self.trust_anchors = str(trust_anchors) if trust_anchors else None
        self._pem = load_trust_anchors(self.trust_anchors)

    def __call__(self, path: str | Path) -> Provenance:
        path = Path(path)
        found = MetadataFindings()
        cc = None
        if path.is_file():
            cc = read_content_credentials(path, self._pem, found.warnings)
            try:
                if sniff_kind(path) == "video":
                    read_container_tags(path, found)
                else:
                    read_image_metadata(path, found)
            except MediaError as e:
                found.warnings.append(f"metadata not read: {e}")
            except Exception as e:  # noqa: BLE001 - provenance never fails an analysis
                log.warning("metadata of %s not read: %s", path.name, e)
                found.warnings.append(f"metadata not read: {' '.join(str(e).split())[:300]}")
        else:
            found.warnings.append(f"{path}: no such file")
        prov = Provenance(
            content_credentials=cc,
            camera=found.camera,
            software=found.software[:16],
            dates=found.dates,
            digital_source_type=found.digital_source_type,
            generator_hints=found.hints[:16],
            container=found.container,
            trust_anchors=Path(self.trust_anchors).name if self.trust_anchors else None,  # no folder: no path leak
            warnings=list(dict.fromkeys(found.warnings))[:32],
        )
        prov.summary = summary_lines(prov)
        return prov


def read_provenance(path: str | Path, trust_anchors: str | Path | None = None) -> Provenance:
    """One file's provenance (``trust_anchors``: a PEM bundle; default ``$FAKESCOPE_TRUST_ANCHORS``)."""
    return ProvenanceReader(trust_anchors or os.environ.get(TRUST_ANCHORS_ENV) or None)(path)


def summary_lines(prov: Provenance) -> list[str]:
    """The findings in plain words, strongest first."""
    out = []
    cc = prov.content_credentials
    if cc is not None:
        out.append(cc.summary)
    else:
        out.append("no Content Credentials (C2PA) found; their absence says nothing about the file")
    for h in prov.generator_hints:
        out.append(f"metadata says made by {h.generator} ({h.source}; unsigned, easily removed or forged)")
    if prov.digital_source_type and prov.digital_source_type not in AI_SOURCE_TYPES:
        out.append(f"metadata declares source type {prov.digital_source_type} (XMP, unsigned)")
    if prov.camera:
        cam = " ".join(v for k, v in prov.camera.items() if k in ("make", "model"))
        out.append(f"metadata names a camera: {cam or prov.camera.get('lens', '')} (unsigned, easily removed or "
                   "forged)")
    if prov.software and not prov.generator_hints:
        out.append(f"software: {', '.join(prov.software[:3])}")
    if prov.dates:
        out.append("dates in metadata: " + ", ".join(f"{k} {v}" for k, v in prov.dates.items()))
    if len(out) == 1 and cc is None and not prov.dates and not prov.container:
        out.append("no camera, software or generator metadata; missing metadata is not evidence of anything")
    return out
