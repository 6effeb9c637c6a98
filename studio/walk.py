"""A procedural walk in SMPL-24 parameters: the embedded demo's motion.

A person walks counter-clockwise around a circle at a constant speed with a
sinusoidal gait (hip and knee flexion, ankle roll, counter-swinging arms, pelvis
yaw and bob). Feet are kept on the floor by lifting or lowering the root so the
lowest sole touches ``z = 0`` at every frame. Angles are in radians, the world is
Z-up (see :mod:`livehmr.core.geometry`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livehmr.core.geometry import R_WORLD_CANON, rotmat_to_rotvec, rotvec_to_rotmat
from livehmr.models.body import BodySkeleton, SmplParams, body_joints, lowest_sole
from livehmr.models.skeleton import JOINT


def _rx(a: float) -> np.ndarray:
    return rotvec_to_rotmat(np.array([a, 0.0, 0.0]))


def _ry(a: float) -> np.ndarray:
    return rotvec_to_rotmat(np.array([0.0, a, 0.0]))


def _rz(a: float) -> np.ndarray:
    return rotvec_to_rotmat(np.array([0.0, 0.0, a]))


@dataclass
class CircleWalk:
    """Walk around a circle. ``center`` (2,) and ``radius`` in metres, ``speed`` m/s,
    ``cadence`` gait cycles per second, ``start_angle`` radians on the circle."""

    center: tuple[float, float] = (4.3, 0.0)
    radius: float = 1.5
    speed: float = 1.1
    cadence: float = 0.9
    start_angle: float = np.pi

    def root_xy(self, t: float) -> tuple[np.ndarray, float]:
        """Root position on the floor (2,) and travel direction angle (radians) at time t."""
        a = self.start_angle + self.speed * t / self.radius
        pos = np.asarray(self.center) + self.radius * np.array([np.cos(a), np.sin(a)])
        return pos, a + np.pi / 2

    def local_pose(self, t: float) -> np.ndarray:
        """(24, 3, 3) local rotations at time t, root excluded (identity)."""
        phi = 2 * np.pi * self.cadence * t
        R = np.tile(np.eye(3), (24, 1, 1))
        swing = 0.38
        for side, phase, sign in (("left", 0.0, 1.0), ("right", np.pi, -1.0)):
            s = np.sin(phi + phase)
            R[JOINT[f"{side}_hip"]] = _rx(-swing * s)
            knee = 0.12 + 0.55 * max(0.0, np.sin(phi + phase + 1.2)) ** 2
            R[JOINT[f"{side}_knee"]] = _rx(knee)
            R[JOINT[f"{side}_ankle"]] = _rx(-0.15 * np.sin(phi + phase + 0.6))
            arm_swing = 0.35 * np.sin(phi + phase + np.pi)
            R[JOINT[f"{side}_shoulder"]] = _rx(-arm_swing) @ _rz(-sign * 1.35)
            R[JOINT[f"{side}_elbow"]] = _ry(-sign * (0.35 + 0.15 * max(0.0, -np.sin(phi + phase))))
        R[JOINT["spine1"]] = _ry(0.05 * np.sin(phi))
        R[JOINT["spine3"]] = _ry(-0.08 * np.sin(phi))
        R[JOINT["neck"]] = _rx(0.1)
        return R

    def params(self, t: float, body: BodySkeleton) -> SmplParams:
        """SMPL parameters in the world at time t, feet on the floor."""
        xy, heading = self.root_xy(t)
        phi = 2 * np.pi * self.cadence * t
        yaw = heading + np.pi / 2 + 0.08 * np.sin(phi)  # canon faces world -Y at yaw 0
        R_root = _rz(yaw) @ R_WORLD_CANON @ _rx(0.05)  # slight forward lean
        local = self.local_pose(t)
        params = SmplParams(
            global_orient=rotmat_to_rotvec(R_root),
            body_pose=rotmat_to_rotvec(local[1:]).reshape(69),
            transl=np.zeros(3),
            betas=body.betas.copy(),
        )
        joints = body_joints(body, params)
        params.transl = np.array([xy[0], xy[1], 0.0]) - np.array([joints[0, 0], joints[0, 1], 0.0])
        params.transl[2] = -lowest_sole(body, joints)
        return params
