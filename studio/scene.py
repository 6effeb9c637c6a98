"""A synthetic scene: one Anny body walking, seen by a moving handheld camera.

:func:`default_scene` is livehmr's embedded default input (``livehmr demo``); it
knows its ground truth exactly at every time ``t``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from livehmr.geometry import intrinsics_from_fov
from livehmr.models.anny_body import AnnyBody
from livehmr.models.body import SmplParams, body_joints
from livehmr.models.skeleton import JOINT
from livehmr.studio.camera_path import GyroNoise, HandheldFollow, simulate_gyro
from livehmr.studio.render import Mesh, render
from livehmr.studio.walk import CircleWalk

# Clothing regions by the SMPL joint that drives a vertex most (BGR, 0..1).
_SKIN = (0.55, 0.65, 0.85)
_REGION_COLORS = {
    "shirt": (0.65, 0.35, 0.2),
    "pants": (0.25, 0.22, 0.2),
    "shoes": (0.1, 0.1, 0.12),
    "skin": _SKIN,
}
_REGION_OF_JOINT = {
    **{j: "shirt" for j in ("spine1", "spine2", "spine3", "left_collar", "right_collar",
                            "left_shoulder", "right_shoulder")},
    **{j: "pants" for j in ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee")},
    **{j: "shoes" for j in ("left_ankle", "right_ankle", "left_foot", "right_foot")},
}  # fmt: skip


def clothing_colors(body: AnnyBody) -> np.ndarray:
    """(V, 3) BGR vertex colours: shirt, trousers, shoes and skin from the skinning weights."""
    bone_index = body.model.vertex_bone_indices.numpy()
    bone_weight = body.model.vertex_bone_weights.numpy()
    dominant_bone = bone_index[np.arange(len(bone_index)), bone_weight.argmax(1)]
    joint_of_vertex = body.bone_joint[dominant_bone]
    names = {i: n for n, i in JOINT.items()}
    colors = np.array([_REGION_COLORS[_REGION_OF_JOINT.get(names[j], "skin")] for j in range(24)])
    return colors[joint_of_vertex]


@dataclass
class FrameTruth:
    """Ground truth of one frame. Units: metres, radians, pixels."""

    t: float
    params: SmplParams
    joints_world: np.ndarray  # (24, 3)
    T_world_cam: np.ndarray  # (4, 4)
    K: np.ndarray  # (3, 3)


@dataclass
class SyntheticScene:
    """Everything needed to render and know a synthetic sequence."""

    body: AnnyBody
    walk: CircleWalk
    camera: HandheldFollow
    size: tuple[int, int] = (640, 480)
    hfov_deg: float = 70.0
    fps: float = 30.0
    duration: float = 20.0
    gyro_rate_hz: float = 200.0
    gyro_noise: GyroNoise = field(default_factory=GyroNoise)
    seed: int = 0

    def __post_init__(self):
        self.K = intrinsics_from_fov(*self.size, self.hfov_deg)
        self.colors = clothing_colors(self.body)

    @property
    def num_frames(self) -> int:
        return int(round(self.duration * self.fps))

    def truth(self, index: int) -> FrameTruth:
        t = index / self.fps
        params = self.walk.params(t, self.body)
        return FrameTruth(t, params, body_joints(self.body, params), self.camera.T_world_cam(t), self.K)

    def render(self, truth: FrameTruth) -> np.ndarray:
        """The camera image (H, W, 3) uint8 BGR of a frame."""
        vertices, faces = self.body.mesh(truth.params)
        image, _ = render(self.K, truth.T_world_cam, self.size, [Mesh(vertices, faces, self.colors)], seed=self.seed + 7)
        return image

    def gyro(self) -> np.ndarray:
        """Simulated gyroscope samples (N, 4): t (gyro clock, s), wx, wy, wz (rad/s, IMU = camera axes)."""
        return simulate_gyro(self.camera.T_world_cam, self.duration, self.gyro_rate_hz, noise=self.gyro_noise, seed=self.seed)


def default_scene(duration: float = 20.0, seed: int = 0) -> SyntheticScene:
    """The embedded default: an average Anny adult walking a 1.5 m-radius circle, filmed handheld."""
    body = AnnyBody()
    walk = CircleWalk()

    def pelvis(t: float) -> np.ndarray:
        xy, _ = walk.root_xy(t)
        return np.array([xy[0], xy[1], 1.0])

    return SyntheticScene(body=body, walk=walk, camera=HandheldFollow(target=pelvis), duration=duration, seed=seed)
