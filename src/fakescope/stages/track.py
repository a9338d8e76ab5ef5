"""The *track* stage: each sampled frame's detections → identity ids (fakescope.tracking). One per input:
it holds the identities' running state."""

from __future__ import annotations

from ..faces import Detection
from ..tracking import IouTracker


class TrackStage:
    def __init__(self, max_gap: int = 3) -> None:
        self.tracker = IouTracker(max_gap=max_gap)

    def __call__(self, detections: list[Detection]) -> list[int]:
        return self.tracker.update([d.box for d in detections])

    def live(self) -> set[int]:
        """The identities still open: seen within the last ``max_gap`` samples."""
        return self.tracker.live_ids()
