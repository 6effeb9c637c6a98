"""Accuracy metrics of world-grounded human motion, defined as the field computes them.

The definitions follow the evaluation code of WHAM and GVHMR (which take the world
metrics from SLAHMR), so our numbers read like theirs. Inputs are numpy arrays in
metres; outputs are per-frame (or per-pair) arrays, in the units each function states;
average them (``np.mean``) for a table. Joints are SMPL-24 unless stated.

=================  =========================================================  ==========
metric             definition                                                 unit
=================  =========================================================  ==========
MPJPE              joints aligned at the hip midpoint, mean joint distance    mm
PA-MPJPE           per-frame similarity (Procrustes, with scale) alignment    mm
PVE                vertices aligned at the joints' hip midpoint               mm
WA-MPJPE100        100-frame chunks, one similarity alignment of all joints   mm
W-MPJPE100         100-frame chunks, rigid alignment of the first two frames  mm
RTE                root error after rigid alignment of the whole trajectory,  %
                   divided by the distance the root travelled
jitter             mean third difference of joint positions * fps^3           10 m/s^3
foot sliding       per-frame displacement of predicted foot points where the  mm
                   truth's foot point moves < 1 cm/frame (contact)
accel error        second-difference error of hip-aligned joints              mm/frame^2
camera drift       published camera position against the true one, worlds     m
                   aligned at one frame (position and heading)
=================  =========================================================  ==========
"""

from __future__ import annotations

import numpy as np

from livehmr.core.geometry import special_procrustes

HIPS = (1, 2)  # SMPL-24 left and right hip: the field's "pelvis" for alignment
FOOT_POINTS = (7, 10, 8, 11)  # ankles and toes stand in for SMPL's four foot vertices
CHUNK = 100
CONTACT_DISP_M = 0.01


def align_similarity(source: np.ndarray, target: np.ndarray, scale: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """Umeyama: ``s, R, t`` minimising ``|| s R source + t - target ||`` over points (N, 3)."""
    mu_s, mu_t = source.mean(0), target.mean(0)
    xs, xt = source - mu_s, target - mu_t
    M = xt.T @ xs / len(source)
    R = special_procrustes(M)  # the rotation nearest to the cross-covariance
    s = float(np.trace(R.T @ M) / max((xs**2).sum() / len(source), 1e-12)) if scale else 1.0
    return s, R, mu_t - s * R @ mu_s


def _apply(s: float, R: np.ndarray, t: np.ndarray, points: np.ndarray) -> np.ndarray:
    return s * points @ R.T + t


def _hip_aligned(joints: np.ndarray) -> np.ndarray:
    return joints - joints[..., list(HIPS), :].mean(axis=-2, keepdims=True)


def mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(T,) mm: mean joint distance after aligning both at the hip midpoint. pred, gt (T, J, 3)."""
    return 1000 * np.linalg.norm(_hip_aligned(pred) - _hip_aligned(gt), axis=-1).mean(-1)


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(T,) mm: mean joint distance after a per-frame similarity alignment of pred onto gt."""
    out = np.empty(len(pred))
    for i, (p, g) in enumerate(zip(pred, gt)):
        out[i] = np.linalg.norm(_apply(*align_similarity(p, g), p) - g, axis=-1).mean()
    return 1000 * out


def pa_joint_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(T, J) mm: each joint's distance after the per-frame similarity alignment of
    :func:`pa_mpjpe` (whose per-frame mean this is), for errors by body part."""
    out = np.empty(pred.shape[:2])
    for i, (p, g) in enumerate(zip(pred, gt)):
        out[i] = np.linalg.norm(_apply(*align_similarity(p, g), p) - g, axis=-1)
    return 1000 * out


#: SMPL-24 joints by body part (the field's usual split; hands and feet with their limbs)
BODY_PARTS = {
    "torso": (0, 1, 2, 3, 6, 9, 12, 13, 14, 15),
    "arms": (16, 17, 18, 19, 20, 21, 22, 23),
    "legs": (4, 5, 7, 8, 10, 11),
}


def project(points_world: np.ndarray, T_world_cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(T, J, 2) pixels of world points (T, J, 3) seen by cameras T_world_cam (T, 4, 4)
    with intrinsics K (3, 3); points behind the camera are NaN."""
    R, t = T_world_cam[:, :3, :3], T_world_cam[:, :3, 3]
    cam = np.einsum("tji,tkj->tki", R, points_world - t[:, None])
    z = cam[..., 2:]
    px = cam[..., :2] / np.where(z > 1e-3, z, np.nan) * [K[0, 0], K[1, 1]] + K[:2, 2]
    return px


def pve(pred_vertices: np.ndarray, gt_vertices: np.ndarray, pred_joints: np.ndarray, gt_joints: np.ndarray) -> np.ndarray:
    """(T,) mm: mean vertex distance, each mesh shifted by its own joints' hip midpoint.
    Both meshes must share a topology (V, 3)."""
    p = pred_vertices - pred_joints[:, list(HIPS)].mean(1, keepdims=True)
    g = gt_vertices - gt_joints[:, list(HIPS)].mean(1, keepdims=True)
    return 1000 * np.linalg.norm(p - g, axis=-1).mean(-1)


def _chunks(n: int, size: int = CHUNK) -> list[slice]:
    """The field's chunking: consecutive ``size``-frame pieces; a shorter tail is its own chunk."""
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def wa_mpjpe(pred: np.ndarray, gt: np.ndarray, chunk: int = CHUNK) -> np.ndarray:
    """(T,) mm: per chunk, one similarity alignment of all pred joints onto gt, then MPJPE."""
    out = np.empty(len(pred))
    for c in _chunks(len(pred), chunk):
        s, R, t = align_similarity(pred[c].reshape(-1, 3), gt[c].reshape(-1, 3), scale=True)
        out[c] = np.linalg.norm(_apply(s, R, t, pred[c]) - gt[c], axis=-1).mean(-1)
    return 1000 * out


def w_mpjpe(pred: np.ndarray, gt: np.ndarray, chunk: int = CHUNK) -> np.ndarray:
    """(T,) mm: per chunk, a rigid alignment from the first two frames' joints only, then
    MPJPE over the chunk: drift within 100 frames shows."""
    out = np.empty(len(pred))
    for c in _chunks(len(pred), chunk):
        first = slice(c.start, min(c.start + 2, c.stop))
        s, R, t = align_similarity(pred[first].reshape(-1, 3), gt[first].reshape(-1, 3), scale=False)
        out[c] = np.linalg.norm(_apply(s, R, t, pred[c]) - gt[c], axis=-1).mean(-1)
    return 1000 * out


def rte(pred_root: np.ndarray, gt_root: np.ndarray) -> np.ndarray:
    """(T,) %: root error after one rigid alignment of the whole predicted trajectory (T, 3),
    divided by the distance the true root travelled."""
    s, R, t = align_similarity(pred_root, gt_root, scale=False)
    travelled = np.linalg.norm(np.diff(gt_root, axis=0), axis=-1).sum()
    return 100 * np.linalg.norm(_apply(s, R, t, pred_root) - gt_root, axis=-1) / max(travelled, 1e-9)


def camera_position_drift(pred_T_world_cam: np.ndarray, gt_T_world_cam: np.ndarray, start: int = 0) -> np.ndarray:
    """(T - start,) m: how far the published camera (T, 4, 4) is from the true one once the two
    worlds are aligned at frame ``start``: the same position there and the same heading (a
    turn about the vertical: both worlds are gravity-aligned, only their origin and heading
    are arbitrary)."""
    def heading(R: np.ndarray) -> float:
        right = R[:, 0]  # the image's x axis in the world: level for an upright camera, even one looking down
        return float(np.arctan2(right[1], right[0]))

    yaw = heading(gt_T_world_cam[start, :3, :3]) - heading(pred_T_world_cam[start, :3, :3])
    c, s = np.cos(yaw), np.sin(yaw)
    R = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    pred = (pred_T_world_cam[start:, :3, 3] - pred_T_world_cam[start, :3, 3]) @ R.T
    gt = gt_T_world_cam[start:, :3, 3] - gt_T_world_cam[start, :3, 3]
    return np.linalg.norm(pred - gt, axis=-1)


def jitter(joints: np.ndarray, fps: float = 30.0) -> np.ndarray:
    """(T-3,) in 10 m/s^3: mean over joints of the third difference's norm times fps^3."""
    jerk = joints[3:] - 3 * joints[2:-1] + 3 * joints[1:-2] - joints[:-3]
    return np.linalg.norm(jerk * fps**3, axis=-1).mean(-1) / 10.0


def foot_sliding(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(M,) mm: displacement of each predicted foot point over the frame pairs where the
    true point moves less than 1 cm (the field's contact label)."""
    gt_disp = np.linalg.norm(np.diff(gt[:, list(FOOT_POINTS)], axis=0), axis=-1)
    pred_disp = np.linalg.norm(np.diff(pred[:, list(FOOT_POINTS)], axis=0), axis=-1)
    return 1000 * pred_disp[gt_disp < CONTACT_DISP_M]


def accel_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(T-2,) mm/frame^2: mean joint norm of the difference of second differences of
    hip-aligned joints."""
    def accel(j: np.ndarray) -> np.ndarray:
        return j[:-2] - 2 * j[1:-1] + j[2:]

    return 1000 * np.linalg.norm(accel(_hip_aligned(pred)) - accel(_hip_aligned(gt)), axis=-1).mean(-1)


def rotation_error_deg(R_pred: np.ndarray, R_gt: np.ndarray) -> np.ndarray:
    """(T,) degrees between rotations (T, 3, 3)."""
    cos = (np.einsum("tij,tij->t", R_pred, R_gt) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def runs(valid: np.ndarray | np.bool_, min_length: int) -> list[slice]:
    """Maximal runs of consecutive True frames at least ``min_length`` long: the stretches
    on which differences (jitter, acceleration) and chunked world metrics are defined."""
    out, start = [], None
    for i, v in enumerate(np.append(valid, False)):
        if v and start is None:
            start = i
        elif not v and start is not None:
            if i - start >= min_length:
                out.append(slice(start, i))
            start = None
    return out


__all__ = [
    "align_similarity", "mpjpe", "pa_mpjpe", "pve", "wa_mpjpe", "w_mpjpe", "rte", "jitter", "foot_sliding",
    "accel_error", "rotation_error_deg", "camera_position_drift", "runs", "pa_joint_errors", "BODY_PARTS", "project",
]  # fmt: skip
