"""One detector for the frames another one misses.

MediaPipe's Pose solution (``--keypoints blazepose``) is what the motion model's detector
error models were measured on, and it is the best single-person tracker we have, but it
finds nobody where its detector cannot see a face and hips at 224×224: people far from
the camera (8-10 m: ~50 px tall at 640×480) and people seen from above (drones). The
multi-person backend runs the same two models itself over zoomed views of the frame and
finds them (training-subject sequences: a drone sequence 15.5 % -> 99.5 % of frames, a
whip pan with people down to 37 px 76.7 % -> 91.8 %). :class:`FallbackDetector` keeps the
solution for every frame it sees its person and hands the others to the fallback.
"""

from __future__ import annotations

from dataclasses import replace

from livehmr.core.stages import KeypointDetector
from livehmr.core.types import Frame, PersonKeypoints


class FallbackDetector:
    """``primary`` on every frame where it finds someone; ``fallback`` on the frames it does not.

    While the fallback follows the person, the primary is tried again only every
    ``retry_every`` frames (not both models on every frame); the primary back, the fallback
    forgets its track. Both answer for one person, published as track 0.
    """

    def __init__(self, primary: KeypointDetector, fallback: KeypointDetector, retry_every: int = 10):
        self.primary = primary
        self.fallback = fallback
        self.retry_every = retry_every
        self.on_fallback = False  # the fallback follows the person now
        self._since_retry = 0
        self.fallback_frames = 0  # frames whose person came from the fallback

    def detect(self, frame: Frame) -> list[PersonKeypoints]:
        if self.on_fallback and self._since_retry < self.retry_every:
            self._since_retry += 1
            persons = self.fallback.detect(frame)
            if persons:
                return self._one(persons)
        persons = self.primary.detect(frame)
        if persons:
            if self.on_fallback:
                self.fallback.reset()
                self.on_fallback = False
            return persons
        persons = self.fallback.detect(frame)
        self.on_fallback, self._since_retry = bool(persons), 0
        return self._one(persons)

    def _one(self, persons: list[PersonKeypoints]) -> list[PersonKeypoints]:
        if not persons:
            return []
        self.fallback_frames += 1
        return [replace(persons[0], track_id=0)]

    def reset(self) -> None:
        self.primary.reset()
        self.fallback.reset()
        self.on_fallback, self._since_retry = False, 0

    def close(self) -> None:
        self.primary.close()
        self.fallback.close()
