"""A camera-motion backend with the floor's travel added (``--floor-motion``, on by default).

Wraps any backend: its orientation is kept as it is, and each frame's state gets
``floor_shift``, the camera's horizontal travel since the last frame per unit of its
height above the floor, from :class:`~livehmr.stream.camera.floor_motion.FloorMotion`
(measured with the orientation the wrapped backend gives at the last frame).
"""

from __future__ import annotations

import dataclasses

from livehmr.core.stages import CameraMotion
from livehmr.core.types import CameraState, Frame, PersonKeypoints
from livehmr.stream.camera.floor_motion import FloorMotion, FloorMotionConfig


class FloorMotionCamera(CameraMotion):
    """``inner``'s camera states, each with the floor's measured ``floor_shift`` (or None).

    Args:
        inner: the backend that turns the camera (gyro, vo, gyro+vo, dpvo).
        hfov_deg: the field of view assumed when a frame has no intrinsics.
    """

    def __init__(self, inner: CameraMotion, hfov_deg: float = 60.0, config: FloorMotionConfig | None = None):
        self.inner = inner
        self.hfov_deg = hfov_deg
        self.floor = FloorMotion(config)

    def update(self, frame: Frame, persons: list[PersonKeypoints]) -> CameraState:
        state = self.inner.update(frame, persons)
        shift = self.floor.update(frame.image, frame.intrinsics(self.hfov_deg), state.R_world_cam, [p.box for p in persons])
        return dataclasses.replace(state, floor_shift=shift)

    def reset(self, R_world_cam=None) -> None:
        self.inner.reset(R_world_cam)
        self.floor.reset()

    def close(self) -> None:
        self.inner.close()
