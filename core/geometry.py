"""Coordinate conventions and small geometry helpers shared by every stage.

Frames (all right-handed, metres, seconds):

- **world**: gravity-aligned, ``+Z`` up, floor at ``z = 0`` where known. Its heading
  (``+X``) is the camera's initial viewing direction projected on the floor.
- **cam**: OpenCV camera, ``+X`` right, ``+Y`` down, ``+Z`` forward (optical axis).
- **canon**: SMPL's canonical body frame, ``+Y`` up, ``+Z`` forward (the way the body
  faces in its rest pose), ``+X`` the body's left.
- **imu**: the gyroscope's sensor frame; ``R_cam_imu`` maps it into **cam**.

Names say which frame maps to which: ``R_world_cam`` takes a vector in **cam** to
**world**; ``T_world_cam`` (4x4) takes a homogeneous point in **cam** to **world**.
Torch code (models, training) uses ``roma``. The per-frame numpy path uses SciPy's
``Rotation`` for conversions and closed-form ``rotation_between`` / ``rodrigues`` /
``cross3`` on single vectors: there a torch call's fixed cost (~0.1-1 ms) would
exceed the whole pipeline's budget.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

#: canon -> world for a body standing upright, facing world -Y. (canon +Y up -> world +Z.)
R_WORLD_CANON = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

#: cam -> world for a level camera looking along world +X (image right = world -Y,
#: image down = world -Z). The world's heading is defined by this.
R_WORLD_CAM_LEVEL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])

#: Named camera<-IMU rotations. ``identity``: the IMU axes are the camera's (x right,
#: y down, z forward). ``android-portrait``: Android sensor axes (x right, y up, z out of
#: the screen) with the rear camera, phone upright. ``android-landscape``: the same
#: phone turned 90 deg counter-clockwise (its top to the left).
IMU_PRESETS: dict[str, np.ndarray] = {
    "identity": np.eye(3),
    "android-portrait": np.diag([1.0, -1.0, -1.0]),
    "android-landscape": np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]]),
}


def rotvec_to_rotmat(rotvec: np.ndarray) -> np.ndarray:
    """Axis-angle (..., 3) radians -> rotation matrices (..., 3, 3)."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    return Rotation.from_rotvec(rotvec.reshape(-1, 3)).as_matrix().reshape(*rotvec.shape[:-1], 3, 3)


def rotmat_to_rotvec(R: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) -> axis-angle (..., 3) radians, angle in [0, pi]."""
    R = np.asarray(R, dtype=np.float64)
    return Rotation.from_matrix(R.reshape(-1, 3, 3)).as_rotvec().reshape(*R.shape[:-2], 3)


def rotation_angle(R: np.ndarray) -> np.ndarray:
    """Angle (radians) of rotation matrices (..., 3, 3)."""
    return np.linalg.norm(rotmat_to_rotvec(R), axis=-1)


def special_procrustes(M: np.ndarray) -> np.ndarray:
    """Nearest rotation matrix to M (..., 3, 3)."""
    U, _, Vt = np.linalg.svd(np.asarray(M, dtype=np.float64))
    D = np.ones(U.shape[:-1])
    D[..., -1] = np.sign(np.linalg.det(U @ Vt))
    return (U * D[..., None, :]) @ Vt


def cross3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of two 3-vectors (np.cross costs ~20x more on single vectors)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def skew(v: np.ndarray) -> np.ndarray:
    """Cross-product matrix (3, 3) of a vector (3,): ``skew(a) @ b == cross(a, b)``."""
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])


def rodrigues(rotvec: np.ndarray) -> np.ndarray:
    """Axis-angle (3,) -> rotation matrix (3, 3), closed form (single vector, numpy)."""
    angle = float(np.linalg.norm(rotvec))
    if angle < 1e-12:
        return np.eye(3) + skew(rotvec)
    k = skew(np.asarray(rotvec) / angle)
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def _orthogonal_axis(a: np.ndarray) -> np.ndarray:
    """A unit axis (3,) orthogonal to the unit vector ``a``."""
    ortho = np.cross(a, [1.0, 0.0, 0.0])
    if np.linalg.norm(ortho) < 1e-6:
        ortho = np.cross(a, [0.0, 1.0, 0.0])
    return ortho / np.linalg.norm(ortho)


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation (3, 3) taking direction ``a`` (3,) onto direction ``b`` (3,)."""
    a = np.asarray(a, dtype=np.float64) / np.linalg.norm(a)
    b = np.asarray(b, dtype=np.float64) / np.linalg.norm(b)
    v = cross3(a, b)
    c = float(a @ b)
    if c < -1.0 + 1e-9:  # opposite directions: pi about an axis orthogonal to a
        return rodrigues(np.pi * _orthogonal_axis(a))
    k = skew(v)
    return np.eye(3) + k + (k @ k) / (1.0 + c)


def rotvec_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:func:`rotation_between` as axis-angle (3,) radians, in closed form: the axis
    ``a x b``, the angle between them (per-frame code calls it per bone, where going through
    a matrix and scipy costs ten times as much)."""
    a = np.asarray(a, dtype=np.float64) / np.linalg.norm(a)
    b = np.asarray(b, dtype=np.float64) / np.linalg.norm(b)
    v = cross3(a, b)
    s, c = float(np.linalg.norm(v)), float(a @ b)
    if c < -1.0 + 1e-9:  # opposite directions: pi about the same axis as rotation_between
        return np.pi * _orthogonal_axis(a)
    if s < 1e-12:
        return np.zeros(3)
    return v / s * np.arctan2(s, c)


def rotations_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched :func:`rotation_between`: smallest rotations (..., 3, 3) taking directions
    ``a`` (..., 3) onto ``b`` (..., 3). Zero-length inputs give the identity."""
    a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    v = np.cross(a, b)
    c = np.sum(a * b, axis=-1)
    s = np.linalg.norm(v, axis=-1)
    angle = np.arctan2(s, c)
    axis = v / np.maximum(s, 1e-12)[..., None]
    # opposite directions: any axis orthogonal to a
    flip = (c < -1.0 + 1e-9)
    if np.any(flip):
        ortho = np.cross(a[flip], [1.0, 0.0, 0.0])
        weak = np.linalg.norm(ortho, axis=-1) < 1e-6
        ortho[weak] = np.cross(a[flip][weak], [0.0, 1.0, 0.0])
        axis[flip] = ortho / np.linalg.norm(ortho, axis=-1, keepdims=True)
    return rotvec_to_rotmat(axis * angle[..., None])


def make_T(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """4x4 rigid transform from rotation (3, 3) and translation (3,)."""
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = t
    return T


def invert_T(T: np.ndarray) -> np.ndarray:
    """Inverse of a rigid transform (..., 4, 4)."""
    R = T[..., :3, :3]
    t = T[..., :3, 3]
    out = np.zeros_like(T)
    Rt = np.swapaxes(R, -1, -2)
    out[..., :3, :3] = Rt
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", Rt, t)
    out[..., 3, 3] = 1.0
    return out


def transform_points(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a rigid transform (4, 4) to points (..., 3); or one per frame: transforms
    (N, 4, 4) to points (N, K, 3)."""
    if T.ndim == 3:
        return points @ np.swapaxes(T[:, :3, :3], 1, 2) + T[:, None, :3, 3]
    return points @ T[:3, :3].T + T[:3, 3]


def intrinsics_from_fov(width: int, height: int, hfov_deg: float) -> np.ndarray:
    """Pinhole intrinsics (3, 3) with square pixels and the principal point at the centre."""
    f = 0.5 * width / np.tan(0.5 * np.deg2rad(hfov_deg))
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def project(points_cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pinhole projection of points (..., 3) in **cam** to pixels (..., 2).

    Pixel (0, 0) is the centre of the top-left pixel. Points at or behind the camera
    (z <= 1e-6) project to NaN: callers must treat them as not visible.
    """
    z = points_cam[..., 2:3]
    safe = np.where(z > 1e-6, z, np.nan)
    uv1 = (points_cam / safe) @ K.T
    return uv1[..., :2]


def unproject(pixels: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Unit-depth rays (..., 3) in **cam** through pixels (..., 2)."""
    ones = np.ones(pixels.shape[:-1] + (1,))
    return np.concatenate([pixels, ones], axis=-1) @ np.linalg.inv(K).T


def gravity_aligned_from_cam(R_world_cam: np.ndarray) -> np.ndarray:
    """Keep only the gravity part of a camera orientation: same tilt/roll, heading +X."""
    forward = R_world_cam[:, 2].copy()
    forward[2] = 0.0
    n = np.linalg.norm(forward)
    if n < 1e-6:  # looking straight up or down: heading undefined, keep it as it is
        return R_world_cam
    yaw = np.arctan2(forward[1] / n, forward[0] / n)
    Rz = rodrigues(np.array([0.0, 0.0, -yaw]))
    return Rz @ R_world_cam


def heading_rotmats(R_world_root: np.ndarray) -> np.ndarray:
    """Yaw-only rotations (..., 3, 3) about world Z that turn world +X towards the body's
    forward (canon +Z) projected on the floor."""
    fwd = R_world_root[..., :, 2]
    yaw = np.arctan2(fwd[..., 1], fwd[..., 0])
    c, s = np.cos(yaw), np.sin(yaw)
    R = np.zeros((*yaw.shape, 3, 3))
    R[..., 0, 0], R[..., 0, 1], R[..., 1, 0], R[..., 1, 1], R[..., 2, 2] = c, -s, s, c, 1.0
    return R
