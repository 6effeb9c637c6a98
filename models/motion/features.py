"""What the motion model sees each frame, computed identically in training and live.

Keypoints: the 14 body points whose detector errors the studio measured
(:data:`livehmr.training.detector_errors.PAIRS`), each standing for one SMPL joint. Pixels
become normalised image coordinates ``((u - cx) / fx, (v - cy) / fy)`` so the field of
view does not matter; a **box** (centre ``c`` (2,), size ``s`` = the larger side of the
confident keypoints' extent, normalised units) is taken from the keypoints themselves;
the network sees each keypoint relative to the box, ``(x - c) / s``, its confidence, and
the box (``c``, ``log s``). A frame with fewer than 4 confident keypoints is *undetected*:
keypoint inputs are zero, the box holds its last value and the ``detected`` input is 0.

3D landmarks (BlazePose's metric "world landmarks", where the keypoint backend has them):
the same 14 points, metres, centred on their own hip midpoint, in camera-aligned axes
(x right, y down, z away), each with its visibility, and a ``has_3d`` flag. A backend
without them (ViTPose) leaves the block zero with ``has_3d`` 0; the network is trained
with the block masked at random so that it runs either way.

Camera inputs: the camera's angular velocity in **cam** (rad/s) and the world's down
direction in **cam** (unit; from the gravity-aligned ``R_world_cam``).

Layout of the full feature vector (F = 109): 14 x (dx, dy), 14 x conf, c (2), log s,
detected [46]; 14 x (x, y, z) landmark, 14 x visibility, has_3d [57]; angular velocity
(3), down (3) [6]. A network that does not take landmarks (``NetConfig.landmarks``
False: the first motion model) reads :func:`input_columns` of it: the 2D and camera blocks.
"""

from __future__ import annotations

import numpy as np

from livehmr.core.types import BLAZEPOSE_OF_KEYPOINT, KP
from livehmr.models.skeleton import JOINT

# detector keypoint -> the SMPL joint whose projection stands for it
PAIRS = {
    "left_shoulder": "left_shoulder", "right_shoulder": "right_shoulder", "left_elbow": "left_elbow",
    "right_elbow": "right_elbow", "left_wrist": "left_wrist", "right_wrist": "right_wrist", "left_hip": "left_hip",
    "right_hip": "right_hip", "left_knee": "left_knee", "right_knee": "right_knee", "left_ankle": "left_ankle",
    "right_ankle": "right_ankle", "left_big_toe": "left_foot", "right_big_toe": "right_foot",
}  # fmt: skip
FPS = 30.0  # frames per second the network is trained at
KEYPOINT_NAMES = tuple(PAIRS)
KEYPOINT_INDEX = np.array([KP[k] for k in KEYPOINT_NAMES])  # into the 23-point layout
KEYPOINT_JOINTS = np.array([JOINT[j] for j in PAIRS.values()])  # SMPL joint per keypoint
NUM_KP = len(KEYPOINT_NAMES)
NUM_KP_FEATURES = NUM_KP * 3 + 4
NUM_LANDMARK_FEATURES = NUM_KP * 4 + 1
NUM_CAM_FEATURES = 6
NUM_FEATURES = NUM_KP_FEATURES + NUM_LANDMARK_FEATURES + NUM_CAM_FEATURES
LANDMARK_SLICE = slice(NUM_KP_FEATURES, NUM_KP_FEATURES + NUM_LANDMARK_FEATURES)
#: BlazePose landmark index (33-point topology) of each model keypoint
LANDMARK_INDEX = np.array([BLAZEPOSE_OF_KEYPOINT[k] for k in KEYPOINT_NAMES])
_HIPS = (KEYPOINT_NAMES.index("left_hip"), KEYPOINT_NAMES.index("right_hip"))
#: index of each keypoint's left/right partner
MIRROR = np.array([KEYPOINT_NAMES.index(n.replace("left_", "@").replace("right_", "left_").replace("@", "right_"))
                   for n in KEYPOINT_NAMES])  # fmt: skip
MAX_LANDMARK_M = 3.0  # a landmark further than this from the hips is clipped (a broken output, not a body)
MIN_CONFIDENCE = 0.3
MIN_KEYPOINTS = 4
DEFAULT_BOX = np.array([0.0, 0.0, np.log(0.5)])  # before any detection: centred, half the view


def keypoint_features(kp: np.ndarray, K: np.ndarray, last_box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features of keypoints ``kp`` (..., 14, 3) pixels + confidence, intrinsics ``K``
    (..., 3, 3), the last box (..., 3) = (cx, cy, log s). Returns features (..., 46) and
    the box (..., 3) to carry to the next frame."""
    f = np.stack([K[..., 0, 0], K[..., 1, 1]], -1)[..., None, :]
    c0 = np.stack([K[..., 0, 2], K[..., 1, 2]], -1)[..., None, :]
    xy = (kp[..., :2] - c0) / f
    conf = kp[..., 2]
    ok = conf >= MIN_CONFIDENCE
    detected = ok.sum(-1) >= MIN_KEYPOINTS
    big = 1e6
    lo = np.where(ok[..., None], xy, big).min(-2)
    hi = np.where(ok[..., None], xy, -big).max(-2)
    centre = np.where(detected[..., None], 0.5 * (lo + hi), last_box[..., :2])
    size = np.where(detected, np.maximum((hi - lo).max(-1), 1e-3), np.exp(last_box[..., 2]))
    box = np.concatenate([centre, np.log(size)[..., None]], -1)
    rel = (xy - centre[..., None, :]) / size[..., None, None]
    use = (ok & detected[..., None])[..., None]
    feats = np.concatenate([np.where(use, rel, 0.0).reshape(*rel.shape[:-2], -1), np.where(use[..., 0], conf, 0.0),
                            box, detected[..., None].astype(float)], -1)  # fmt: skip
    return feats, box


def hip_centred(points: np.ndarray) -> np.ndarray:
    """(..., 14, 3) points minus the midpoint of their two hips."""
    return points - 0.5 * (points[..., _HIPS[0], None, :] + points[..., _HIPS[1], None, :])


def landmark_features(landmarks: np.ndarray | None, visibility: np.ndarray | None, detected) -> np.ndarray:
    """(..., 57): 3D landmarks (..., 14, 3) metres in camera axes (any origin: they are
    re-centred on their hip midpoint) and their visibility (..., 14); ``detected`` (...)
    bool, the 2D features' flag (no 2D detection: no 3D either). ``landmarks`` None: the
    backend has none (zeros, has_3d 0)."""
    detected = np.asarray(detected, bool)
    if landmarks is None:
        return np.zeros((*detected.shape, NUM_LANDMARK_FEATURES))
    centred = np.clip(hip_centred(landmarks), -MAX_LANDMARK_M, MAX_LANDMARK_M)
    vis = np.zeros(centred.shape[:-1]) if visibility is None else np.clip(visibility, 0.0, 1.0)
    use = detected[..., None]
    return np.concatenate([np.where(use[..., None], centred, 0.0).reshape(*centred.shape[:-2], -1),
                           np.where(use, vis, 0.0), detected[..., None].astype(float)], -1)  # fmt: skip


def select_landmarks(landmarks33: np.ndarray | None, conf33: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The model's 14 landmarks (14, 3) and visibilities (14,) from BlazePose's 33, or (None, None)."""
    if landmarks33 is None:
        return None, None
    return landmarks33[LANDMARK_INDEX], None if conf33 is None else conf33[LANDMARK_INDEX]


def input_columns(landmarks: bool) -> np.ndarray:
    """Columns of the full feature vector a network reads: all of them, or (``landmarks``
    False) the 2D and camera blocks only."""
    if landmarks:
        return np.arange(NUM_FEATURES)
    return np.r_[0:NUM_KP_FEATURES, NUM_FEATURES - NUM_CAM_FEATURES : NUM_FEATURES]


def camera_features(angular_velocity_cam: np.ndarray, R_world_cam: np.ndarray) -> np.ndarray:
    """(..., 6): angular velocity (..., 3) rad/s in cam and world-down in cam."""
    down_cam = np.einsum("...ji,j->...i", R_world_cam, np.array([0.0, 0.0, -1.0]))
    return np.concatenate([angular_velocity_cam, down_cam], -1)


def rates_from_rotations(R_world_cam: np.ndarray, fps: float = FPS) -> np.ndarray:
    """(T, 3) the camera's angular velocity in cam, rad/s, from its orientations R_world_cam
    (T, 3, 3) at ``fps`` (the rotation from each frame to the next; the first frame 0): what a
    noise-free gyroscope would give the network."""
    from livehmr.core.geometry import rotmat_to_rotvec

    rel = np.einsum("tji,tjk->tik", R_world_cam[:-1], R_world_cam[1:])
    return np.concatenate([np.zeros((1, 3)), rotmat_to_rotvec(rel) * fps])


def select_keypoints(keypoints23: np.ndarray) -> np.ndarray:
    """The model's 14 keypoints (14, 3) from a PersonKeypoints' 23-point array."""
    return keypoints23[KEYPOINT_INDEX]
