"""The small interfaces every backend implements. Backends are chosen by name
(``--keypoints``, ``--camera``, ``--estimator``) through :mod:`livehmr.stream.registry`."""

from __future__ import annotations

from typing import Iterator, Protocol

from livehmr.core.types import CameraState, Frame, FrameResult, PersonKeypoints, PersonState


class Source(Protocol):
    """Frames in time order. ``live`` sources drop stale frames (they never queue
    without bound); file sources deliver every frame."""

    live: bool

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


class KeypointDetector(Protocol):
    """Image -> per-person 2D keypoints (and 3D landmarks when the model gives them)."""

    def detect(self, frame: Frame) -> list[PersonKeypoints]: ...

    def close(self) -> None: ...


class CameraMotion(Protocol):
    """Camera orientation (and translation when known) in the gravity-aligned world."""

    def update(self, frame: Frame, persons: list[PersonKeypoints]) -> CameraState: ...


class Estimator(Protocol):
    """Keypoints + camera -> per-person SMPL states in the world. Causal: sees only the past."""

    def estimate(self, frame: Frame, camera: CameraState, persons: list[PersonKeypoints]) -> list[PersonState]: ...

    def reset(self) -> None: ...


class Publisher(Protocol):
    """Takes every frame result (and, if it has ``publish_status(status: dict)``, the
    pipeline's health once a second)."""

    def publish(self, result: FrameResult) -> None: ...

    def close(self) -> None: ...
