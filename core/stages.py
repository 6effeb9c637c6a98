"""The small interfaces every backend implements. Backends are chosen by name
(``--keypoints``, ``--camera``, ``--estimator``) through :mod:`livehmr.stream.registry`."""

from __future__ import annotations

from typing import Iterator, Protocol

import numpy as np

from livehmr.core.types import CameraState, Frame, FrameResult, PersonKeypoints, PersonState


class Source(Protocol):
    """Frames in time order. ``live`` sources drop stale frames (they never queue
    without bound); file sources deliver every frame."""

    live: bool

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


class KeypointDetector(Protocol):
    """Image -> per-person 2D keypoints (and 3D landmarks when the model gives them);
    ``reset`` forgets every track (the next frame starts afresh)."""

    def detect(self, frame: Frame) -> list[PersonKeypoints]: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


class CameraMotion(Protocol):
    """Camera orientation (and translation when known) in the gravity-aligned world.
    ``reset`` goes on from ``R_world_cam`` (None: from gravity); ``close`` releases what
    the backend holds (a backend may subclass this protocol for a ``close`` that has nothing
    to release)."""

    def update(self, frame: Frame, persons: list[PersonKeypoints]) -> CameraState: ...

    def reset(self, R_world_cam: np.ndarray | None = None) -> None: ...

    def close(self) -> None:
        return None


class Estimator(Protocol):
    """Keypoints + camera -> per-person SMPL states in the world. Causal: sees only the past.

    ``default_hfov_deg``: the field of view it assumes when a frame has no intrinsics (the
    published ``K`` says the same). ``camera_translation``: the camera's world position it
    estimated, (3,) m, or None when it does not place the camera (rotation-only front ends
    leave the position to it). A backend may subclass this protocol for those defaults."""

    default_hfov_deg: float = 60.0

    def estimate(self, frame: Frame, camera: CameraState, persons: list[PersonKeypoints]) -> list[PersonState]: ...

    def reset(self) -> None: ...

    def camera_translation(self) -> np.ndarray | None:
        return None


class Publisher(Protocol):
    """Takes every frame result, the refined stream's results (``--refine``) and the
    pipeline's health once a second; ``withheld`` counts the states it refused to send
    (non-finite values). A backend may subclass this protocol for the defaults (refined
    results and health ignored, nothing withheld)."""

    withheld: int = 0

    def publish(self, result: FrameResult) -> None: ...

    def close(self) -> None: ...

    def publish_refined(self, result: FrameResult) -> None:
        return None

    def publish_status(self, status: dict) -> None:
        return None
