"""Where the body must be for its joints to land on the keypoints: a per-frame translation fit.

The network predicts the body's pose and orientation in the camera well and its depth
poorly (from the box size: a 10 % taller person reads 10 % nearer). Given the predicted
body (joints relative to the pelvis, in **cam**), the pelvis position ``t`` that puts its
14 model joints on the detected keypoints is a linear least-squares problem: for a joint
``J`` and its keypoint's normalised image point ``(x, y) = K^-1 (u, v, 1)``, the pinhole
``x = (J_x + t_x) / (J_z + t_z)`` gives two equations linear in ``t``:

    (J_x + t_x) - x (J_z + t_z) = 0,   (J_y + t_y) - y (J_z + t_z) = 0,

weighted by the keypoint's confidence and by ``1 / (J_z + t_z)`` of the previous guess
(so the algebraic error approximates the reprojection error), with a weak pull towards
the network's own ``t``. Two re-weighted rounds; microseconds per person. Its result sits
the published body on the person in the frame (what an AR overlay needs) and is the
trajectory filter's view of where the camera sees the pelvis.
"""

from __future__ import annotations

import numpy as np

MIN_KEYPOINTS = 6  # fewer confident keypoints: the fit is not made (the network's t stands)
MIN_CONFIDENCE = 0.3
KEYPOINT_SIGMA = 0.01  # a keypoint's error in normalised image units (1 % of the focal length)


def fit_pelvis_cam(joints_rel_cam: np.ndarray, keypoints: np.ndarray, K: np.ndarray, prior: np.ndarray,
                   prior_sigma: float = 0.15) -> np.ndarray | None:  # fmt: skip
    """The pelvis position in cam (3,) m that best projects ``joints_rel_cam`` (14, 3)
    (the body's joints minus its pelvis, cam axes, m) onto ``keypoints`` (14, 3) (pixels
    and confidence), given intrinsics ``K`` (3, 3) and the network's pelvis ``prior`` (3,);
    ``prior_sigma``: its strength, as a fraction of its depth. None when too few keypoints
    are confident or the fit is degenerate (behind the camera)."""
    conf = keypoints[:, 2]
    ok = conf >= MIN_CONFIDENCE
    if ok.sum() < MIN_KEYPOINTS or prior[2] <= 0.1:
        return None
    xy = (keypoints[ok, :2] - K[:2, 2]) / np.array([K[0, 0], K[1, 1]])
    J = joints_rel_cam[ok]
    w = np.sqrt(conf[ok])
    t = prior.copy()
    for _ in range(2):
        depth = np.maximum(J[:, 2] + t[2], 0.1)
        s = w / depth  # algebraic -> (about) normalised-image error
        A = np.zeros((2 * len(J), 3))
        b = np.zeros(2 * len(J))
        A[0::2, 0], A[0::2, 2], b[0::2] = s, -s * xy[:, 0], s * (xy[:, 0] * J[:, 2] - J[:, 0])
        A[1::2, 1], A[1::2, 2], b[1::2] = s, -s * xy[:, 1], s * (xy[:, 1] * J[:, 2] - J[:, 1])
        reg = KEYPOINT_SIGMA / (prior_sigma * prior[2])  # the prior's metres, weighed against the keypoints' spread
        A = np.vstack([A, reg * np.eye(3)])
        b = np.concatenate([b, reg * prior])
        t, *_ = np.linalg.lstsq(A, b, rcond=None)
        if not np.isfinite(t).all() or t[2] + J[:, 2].min() <= 0.05:
            return None
    return t


#: limb bones the pose fit turns, parent first: (SMPL joint that turns, SMPL child joint, model keypoint of the child)
LIMBS = (
    ("left_shoulder", "left_elbow", "left_elbow"), ("left_elbow", "left_wrist", "left_wrist"),
    ("right_shoulder", "right_elbow", "right_elbow"), ("right_elbow", "right_wrist", "right_wrist"),
    ("left_hip", "left_knee", "left_knee"), ("left_knee", "left_ankle", "left_ankle"),
    ("right_hip", "right_knee", "right_knee"), ("right_knee", "right_ankle", "right_ankle"),
)  # fmt: skip


def _subtree(joint: int) -> list[int]:
    from livehmr.models.skeleton import PARENTS

    out = [joint]
    for j in range(joint + 1, len(PARENTS)):
        if PARENTS[j] in out:
            out.append(j)
    return out


def fit_limbs(G: np.ndarray, joints: np.ndarray, keypoints: np.ndarray, K: np.ndarray, R_world_cam: np.ndarray,
              camera_position: np.ndarray, strength: float = 0.7, max_turn_rad: float = 0.8,
              memory: dict | None = None, smoothing: float = 0.5,
              planted: tuple[str, ...] = ()) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Turn each limb bone (upper arm, forearm, thigh, shin; parents first) towards where the
    detector sees its end: the end's new place is the point on its keypoint's viewing ray at
    the bone's length from the bone's start (of the two, the one nearer the predicted end,
    so depth stays the network's choice), and the bone turns ``strength`` x confidence of
    the way there (at most ``max_turn_rad``), carrying its children along.

    G (24, 3, 3) global joint rotations and joints (24, 3) in the world, m; keypoints (14, 3)
    pixels + confidence; K; the camera's R_world_cam and world position. ``memory``: a dict
    kept per person across frames; each turn (cam axis-angle) is then the exponential
    average (weight ``smoothing`` on the last one) of this frame's and the last, so the
    detector's frame-to-frame noise is not passed on whole. ``planted``: bones (named by
    their start joint) left as the network has them, e.g. the legs of a foot in contact, so a
    planted foot does not follow the detector's jitter; their turns fade out through the
    same smoothing rather than stopping at once. Returns the new (G, joints); the pelvis,
    spine and head are not moved."""
    from livehmr.core.geometry import rodrigues, rotvec_between
    from livehmr.models.motion.features import KEYPOINT_NAMES
    from livehmr.models.skeleton import JOINT

    G, joints = G.copy(), joints.copy()
    K_inv = np.linalg.inv(K)
    for parent_name, child_name, kp_name in LIMBS:
        u, v, conf = keypoints[KEYPOINT_NAMES.index(kp_name)]
        a, b = JOINT[parent_name], JOINT[child_name]
        if parent_name in planted:
            last = memory.get(parent_name) if memory is not None else None
            if last is None:
                continue
            turn = smoothing * last  # fading toward the network's own bone
            memory[parent_name] = turn  # type: ignore[index]  (last is not None: memory is a dict)
            _turn_subtree(G, joints, a, R_world_cam @ rodrigues(turn) @ R_world_cam.T)
            continue
        if conf < MIN_CONFIDENCE:
            continue
        A = R_world_cam.T @ (joints[a] - camera_position)  # the bone, in cam
        B = R_world_cam.T @ (joints[b] - camera_position)
        length = float(np.linalg.norm(B - A))
        ray = K_inv @ np.array([u, v, 1.0])
        ray /= np.linalg.norm(ray)
        along = float(ray @ A)
        disc = along**2 - float(A @ A) + length**2
        if disc < 0:  # the ray passes farther than the bone reaches: point the bone at the ray's nearest point
            target = along * ray
        else:
            roots = (along - np.sqrt(disc), along + np.sqrt(disc))
            target = min((s * ray for s in roots if s > 0.05), key=lambda p: np.linalg.norm(p - B), default=None)
            if target is None:
                continue
        turn = rotvec_between(B - A, target - A) * min(strength * conf, 1.0)
        if memory is not None:
            last = memory.get(parent_name)
            turn = turn if last is None else smoothing * last + (1 - smoothing) * turn
            memory[parent_name] = turn
        angle = float(np.linalg.norm(turn))
        if angle > max_turn_rad:
            turn *= max_turn_rad / angle
        _turn_subtree(G, joints, a, R_world_cam @ rodrigues(turn) @ R_world_cam.T)
    return G, joints


def _turn_subtree(G: np.ndarray, joints: np.ndarray, a: int, R_world: np.ndarray) -> None:
    """Turn joint ``a`` and everything below it by ``R_world`` about ``a``, in place."""
    sub = _subtree(a)
    G[sub] = R_world @ G[sub]
    joints[sub] = joints[a] + (joints[sub] - joints[a]) @ R_world.T
