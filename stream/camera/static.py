"""``--camera static`` and the first frame's orientation, which every backend starts from."""

from __future__ import annotations

import numpy as np

from livehmr.core.geometry import R_WORLD_CAM_LEVEL, gravity_aligned_from_cam, rotation_between
from livehmr.core.stages import CameraMotion
from livehmr.core.types import CameraState, Flag, Frame, PersonKeypoints


def initial_orientation(frame: Frame) -> np.ndarray:
    """R_world_cam at the first frame: tilt/roll from gravity if known, heading +X."""
    if frame.gravity_cam is None:
        return R_WORLD_CAM_LEVEL.copy()
    g = np.asarray(frame.gravity_cam, dtype=np.float64)
    # Find a level camera's rotation by the tilt that maps its gravity onto the measured one.
    g_level = R_WORLD_CAM_LEVEL.T @ np.array([0.0, 0.0, -1.0])
    R_level_cam = rotation_between(g, g_level)  # cam -> a level camera frame
    return gravity_aligned_from_cam(R_WORLD_CAM_LEVEL @ R_level_cam)


class StaticCamera(CameraMotion):
    """No camera-motion input: the camera keeps its first orientation (flag ``camera_static``)."""

    def __init__(self):
        self.R_world_cam: np.ndarray | None = None

    def update(self, frame: Frame, persons: list[PersonKeypoints]) -> CameraState:
        if self.R_world_cam is None:
            self.R_world_cam = initial_orientation(frame)
        return CameraState(self.R_world_cam.copy(), flags={Flag.CAMERA_STATIC}, translates=False)

    def reset(self, R_world_cam: np.ndarray | None = None) -> None:
        self.R_world_cam = None if R_world_cam is None else R_world_cam.copy()
