"""``--camera vo``: the camera's rotation from the CPU visual odometry."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from livehmr.core.geometry import rotvec_to_rotmat
from livehmr.core.stages import CameraMotion
from livehmr.core.types import CameraState, Flag, Frame, PersonKeypoints
from livehmr.stream.camera.static import initial_orientation

if TYPE_CHECKING:
    from livehmr.stream.camera.vo import VoEstimate

log = logging.getLogger(__name__)


class VoCamera(CameraMotion):
    """``--camera vo``: rotation from the CPU visual odometry (:mod:`livehmr.stream.camera.vo`).

    The keyframe's world orientation times the tracked keyframe -> now rotation. While
    lost (``vo_lost``) the camera keeps turning at its last measured rate for up to
    ``hold_s`` seconds, then holds still, until tracking recovers.
    """

    def __init__(self, hfov_deg: float = 60.0, hold_s: float = 0.5):
        from livehmr.stream.camera.vo import VisualOdometry

        self.vo = VisualOdometry()
        self.hfov_deg = hfov_deg
        self.hold_s = hold_s
        self.R_world_cam: np.ndarray | None = None
        self.R_world_kf = np.eye(3)
        self.t_prev = 0.0
        self.w_last = np.zeros(3)
        self.lost_since: float | None = None
        self.last: VoEstimate | None = None  # the latest estimate

    def update(self, frame: Frame, persons: list[PersonKeypoints]) -> CameraState:
        est = self.last = self.vo.track(frame.image, frame.intrinsics(self.hfov_deg), [p.box for p in persons])
        if self.R_world_cam is None:
            self.R_world_cam = initial_orientation(frame)
            self.R_world_kf = self.R_world_cam.copy()
            self.t_prev = frame.t
            return CameraState(self.R_world_cam.copy())
        dt = max(frame.t - self.t_prev, 1e-6)
        self.t_prev = frame.t
        flags: set[str] = set()
        if est.lost:
            flags.add(Flag.VO_LOST)
            self.lost_since = frame.t if self.lost_since is None else self.lost_since
            w = self.w_last if frame.t - self.lost_since < self.hold_s else np.zeros(3)
            R_new = self.R_world_cam @ rotvec_to_rotmat(w * dt)
        else:
            self.lost_since = None
            R_new = self.R_world_kf @ est.R_kf_cam
            from livehmr.core.geometry import rotmat_to_rotvec

            w = rotmat_to_rotvec(self.R_world_cam.T @ R_new) / dt
            self.w_last = w
        self.R_world_cam = R_new
        if est.new_keyframe:
            self.R_world_kf = self.R_world_cam.copy()
        return CameraState(self.R_world_cam.copy(), angular_velocity=w, flags=flags)

    def reset(self, R_world_cam: np.ndarray | None = None) -> None:
        """Track afresh from ``R_world_cam`` (the last good orientation; None: from gravity)."""
        self.vo.reset()
        self.R_world_cam = None if R_world_cam is None else R_world_cam.copy()
        self.R_world_kf = np.eye(3) if R_world_cam is None else R_world_cam.copy()
        self.w_last = np.zeros(3)
        self.lost_since = None
