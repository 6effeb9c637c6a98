"""The baseline estimator: per-frame inverse kinematics from BlazePose's metric 3D
landmarks onto the SMPL-24 skeleton, root translation from 2D-3D correspondences.

Causal and stateless except for the floor height (a running low quantile of the
sole heights seen so far, so the published world has its floor at z = 0). Kept as
``--estimator baseline``: the reference the learned model is measured against.

IK, all in **cam** first, then rotated into the world by ``R_world_cam``:
- pelvis and chest frames from the hip and shoulder lines and the spine direction;
  spine1/spine2 interpolate between them;
- every limb segment is the smallest rotation ("swing") that takes its rest direction,
  as carried by its parent, onto the observed bone direction;
- collars, hands, toes keep their parent's orientation (local identity).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from livehmr.core.geometry import cross3, rodrigues, rotation_between, rotmat_to_rotvec, unproject
from livehmr.core.types import KP, CameraState, Frame, PersonKeypoints, PersonState
from livehmr.models.body import BodySkeleton, SmplParams, sole_gaps
from livehmr.models.skeleton import JOINT, JOINT_NAMES, NUM_JOINTS, PARENTS, forward_kinematics, global_to_local

# BlazePose landmark indices.
_BP = dict(nose=0, l_ear=7, r_ear=8, l_sh=11, r_sh=12, l_el=13, r_el=14, l_wr=15, r_wr=16,
           l_index=19, r_index=20, l_pinky=17, r_pinky=18, l_hip=23, r_hip=24, l_kn=25, r_kn=26,
           l_an=27, r_an=28, l_heel=29, r_heel=30, l_toe=31, r_toe=32)  # fmt: skip

# SMPL joint -> (child joint whose rest direction it swings, landmark expression of that bone).
_SWINGS = {
    "left_hip": ("left_knee", ("l_hip", "l_kn")), "right_hip": ("right_knee", ("r_hip", "r_kn")),
    "left_knee": ("left_ankle", ("l_kn", "l_an")), "right_knee": ("right_ankle", ("r_kn", "r_an")),
    "left_ankle": ("left_foot", ("l_an", "l_toe")), "right_ankle": ("right_foot", ("r_an", "r_toe")),
    "left_shoulder": ("left_elbow", ("l_sh", "l_el")), "right_shoulder": ("right_elbow", ("r_sh", "r_el")),
    "left_elbow": ("left_wrist", ("l_el", "l_wr")), "right_elbow": ("right_wrist", ("r_el", "r_wr")),
    "left_wrist": ("left_hand", ("l_wr", "l_hand")), "right_wrist": ("right_hand", ("r_wr", "r_hand")),
    "neck": ("head", ("mid_sh", "mid_ear")),
}  # fmt: skip
# SMPL joints used for translation, with their COCO keypoints.
_CORRESPONDENCES = [
    (JOINT[j], KP[k]) for j, k in [
        ("left_hip", "left_hip"), ("right_hip", "right_hip"), ("left_knee", "left_knee"),
        ("right_knee", "right_knee"), ("left_ankle", "left_ankle"), ("right_ankle", "right_ankle"),
        ("left_shoulder", "left_shoulder"), ("right_shoulder", "right_shoulder"),
        ("left_elbow", "left_elbow"), ("right_elbow", "right_elbow"),
        ("left_wrist", "left_wrist"), ("right_wrist", "right_wrist"),
    ]
]  # fmt: skip
# Which keypoints vouch for each SMPL joint's confidence.
_CONF_SOURCES = {
    "pelvis": ("left_hip", "right_hip"), "left_hip": ("left_hip",), "right_hip": ("right_hip",),
    "spine1": ("left_hip", "right_hip"), "left_knee": ("left_knee",), "right_knee": ("right_knee",),
    "spine2": ("left_hip", "right_hip", "left_shoulder", "right_shoulder"),
    "left_ankle": ("left_ankle",), "right_ankle": ("right_ankle",),
    "spine3": ("left_shoulder", "right_shoulder"), "left_foot": ("left_big_toe",), "right_foot": ("right_big_toe",),
    "neck": ("left_shoulder", "right_shoulder"), "left_collar": ("left_shoulder",), "right_collar": ("right_shoulder",),
    "head": ("nose", "left_ear", "right_ear"), "left_shoulder": ("left_shoulder",), "right_shoulder": ("right_shoulder",),
    "left_elbow": ("left_elbow",), "right_elbow": ("right_elbow",), "left_wrist": ("left_wrist",),
    "right_wrist": ("right_wrist",), "left_hand": ("left_wrist",), "right_hand": ("right_wrist",),
}  # fmt: skip
_CONF_INDEX = [[KP[k] for k in _CONF_SOURCES[name]] for name in JOINT]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.sqrt(v @ v)), 1e-9)


def _frame_from(x_axis: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Rotation whose columns are the body's left (x), up (y) and forward (z) axes."""
    x = _unit(x_axis)
    y = _unit(up - (up @ x) * x)
    return np.stack([x, y, cross3(x, y)], axis=1)


def _landmark_points(lm: np.ndarray) -> dict[str, np.ndarray]:
    p = {name: lm[i] for name, i in _BP.items()}
    p["mid_sh"] = 0.5 * (p["l_sh"] + p["r_sh"])
    p["mid_hip"] = 0.5 * (p["l_hip"] + p["r_hip"])
    p["mid_ear"] = 0.5 * (p["l_ear"] + p["r_ear"])
    p["l_hand"] = 0.5 * (p["l_index"] + p["l_pinky"])
    p["r_hand"] = 0.5 * (p["r_index"] + p["r_pinky"])
    return p


def ik_from_landmarks(landmarks_cam: np.ndarray, rest_joints: np.ndarray) -> np.ndarray:
    """World-free IK: joint rotations ``G`` (24, 3, 3) in **cam** from BlazePose landmarks (33, 3).

    ``landmarks_cam`` are metric, in camera-aligned axes (y down); ``G[j]`` maps the
    canon rest frame of joint j into **cam**.
    """
    p = _landmark_points(landmarks_cam)
    up_cam = p["mid_sh"] - p["mid_hip"]
    G = np.zeros((NUM_JOINTS, 3, 3))
    G_pelvis = _frame_from(p["l_hip"] - p["r_hip"], up_cam)
    G_chest = _frame_from(p["l_sh"] - p["r_sh"], up_cam)
    G[JOINT["pelvis"]] = G_pelvis
    twist = rotmat_to_rotvec(G_pelvis.T @ G_chest)
    for name, w in (("spine1", 1 / 3), ("spine2", 2 / 3), ("spine3", 1.0)):
        G[JOINT[name]] = G_pelvis @ rodrigues(twist * w)
    # Walk the tree in order: identity-local joints copy their parent, swings rotate it.
    for j in range(1, NUM_JOINTS):
        name = JOINT_NAMES[j]
        if name.startswith("spine"):
            continue
        G_parent = G[PARENTS[j]]
        if name in _SWINGS:
            child, (a, b) = _SWINGS[name]
            rest_dir = G_parent @ (rest_joints[JOINT[child]] - rest_joints[j])
            G[j] = rotation_between(rest_dir, p[b] - p[a]) @ G_parent
        else:
            G[j] = G_parent
    return G


def solve_translation(points_rel: np.ndarray, pixels: np.ndarray, weights: np.ndarray, K: np.ndarray) -> np.ndarray | None:
    """Translation t (3,) minimising the weighted ray distance of ``points_rel + t`` to the
    pixel rays (linear least squares on the pinhole equations). None if ill-posed."""
    rays = unproject(pixels, K)  # (N, 3) with z = 1
    a, b = rays[:, 0], rays[:, 1]
    X, Y, Z = points_rel.T
    # x - a z = a Z - X ; y - b z = b Z - Y  (for t = (x, y, z))
    rows = np.concatenate([np.stack([np.ones_like(a), np.zeros_like(a), -a], 1),
                           np.stack([np.zeros_like(b), np.ones_like(b), -b], 1)])  # fmt: skip
    rhs = np.concatenate([a * Z - X, b * Z - Y])
    w = np.sqrt(np.concatenate([weights, weights]))
    if np.count_nonzero(weights > 0) < 3:
        return None
    t, *_ = np.linalg.lstsq(rows * w[:, None], rhs * w, rcond=None)
    if not np.all(np.isfinite(t)) or t[2] <= 0.1:
        return None
    return t


class BaselineEstimator:
    """``--estimator baseline``: IK + PnP translation per frame, floor from the feet.

    Args:
        body: the body model whose rest skeleton is posed.
        default_hfov_deg: horizontal field of view assumed when the source gives no intrinsics.
    """

    def __init__(self, body: BodySkeleton, default_hfov_deg: float = 60.0, floor_window: int = 150):
        self.body = body
        self.default_hfov_deg = default_hfov_deg
        self._sole_heights: deque[float] = deque(maxlen=floor_window)
        self.floor_z: float | None = None

    def reset(self) -> None:
        self._sole_heights.clear()
        self.floor_z = None

    def estimate(self, frame: Frame, camera: CameraState, persons: list[PersonKeypoints]) -> list[PersonState]:
        K = frame.intrinsics(self.default_hfov_deg)
        J = self.body.rest_joints
        states = []
        for person in persons:
            if person.landmarks_3d is None:
                continue  # the baseline needs metric landmarks (BlazePose)
            G_cam = ik_from_landmarks(person.landmarks_3d, J)
            joints_rel, _ = forward_kinematics(global_to_local(G_cam), J)
            joints_rel = joints_rel - joints_rel[0]  # pelvis-relative, cam axes
            idx_j = [j for j, _ in _CORRESPONDENCES]
            idx_k = [k for _, k in _CORRESPONDENCES]
            t_pelvis = solve_translation(joints_rel[idx_j], person.keypoints[idx_k, :2], person.keypoints[idx_k, 2], K)
            if t_pelvis is None:
                continue
            R_wc = camera.R_world_cam
            G_world = R_wc @ G_cam
            local_world = global_to_local(G_world)
            pelvis_world = R_wc @ t_pelvis + camera.t_world_cam
            joints_world = (joints_rel + t_pelvis) @ R_wc.T + camera.t_world_cam
            rv = rotmat_to_rotvec(local_world)
            params = SmplParams(global_orient=rv[0], body_pose=rv[1:].reshape(69), transl=pelvis_world - J[0],
                                betas=self.body.betas.copy())  # fmt: skip
            conf = np.array([person.keypoints[ix, 2].mean() for ix in _CONF_INDEX])
            states.append(PersonState(person.track_id, params, joints_world, np.zeros(4), conf))
        self._place_floor(states)
        return states

    def _place_floor(self, states: list[PersonState]) -> None:
        """Shift the world so the floor (a low quantile of sole heights so far) is at z = 0,
        and mark feet within 5 cm of it as in contact."""
        gaps = [sole_gaps(self.body, s.joints_world) for s in states]
        self._sole_heights.extend(g.min() for g in gaps)
        if self._sole_heights:
            self.floor_z = float(np.quantile(np.array(self._sole_heights), 0.1))
        if self.floor_z is None:
            return
        for s, g in zip(states, gaps):
            s.joints_world[:, 2] -= self.floor_z
            s.params.transl[2] -= self.floor_z
            s.contacts = np.clip(1.0 - (g - self.floor_z) / 0.05, 0.0, 1.0)

    def camera_translation(self) -> np.ndarray:
        """Camera position offset implied by the floor estimate (world z of the camera)."""
        return np.array([0.0, 0.0, -(self.floor_z or 0.0)])
