"""What the motion model sees each frame, computed identically in training and live.

Keypoints: the 14 body points whose detector errors the studio measured
(:data:`livehmr.studio.detector_errors.PAIRS`), each standing for one SMPL joint. Pixels
become normalised image coordinates ``((u - cx) / fx, (v - cy) / fy)`` so the field of
view does not matter; a **box** (centre ``c`` (2,), size ``s`` = the larger side of the
confident keypoints' extent, normalised units) is taken from the keypoints themselves;
the network sees each keypoint relative to the box, ``(x - c) / s``, its confidence, and
the box (``c``, ``log s``). A frame with fewer than 4 confident keypoints is *undetected*:
keypoint inputs are zero, the box holds its last value and the ``detected`` input is 0.

Camera inputs: the camera's angular velocity in **cam** (rad/s) and the world's down
direction in **cam** (unit; from the gravity-aligned ``R_world_cam``).

Layout of the feature vector (F = 52): 14 x (dx, dy), 14 x conf, c (2), log s, detected,
angular velocity (3), down (3).
"""

from __future__ import annotations

import numpy as np

from livehmr.models.skeleton import JOINT
from livehmr.stream.types import KP
from livehmr.studio.detector_errors import PAIRS

KEYPOINT_NAMES = tuple(PAIRS)
KEYPOINT_INDEX = np.array([KP[k] for k in KEYPOINT_NAMES])  # into the 23-point layout
KEYPOINT_JOINTS = np.array([JOINT[j] for j in PAIRS.values()])  # SMPL joint per keypoint
NUM_KP = len(KEYPOINT_NAMES)
NUM_FEATURES = NUM_KP * 3 + 4 + 6
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


def camera_features(angular_velocity_cam: np.ndarray, R_world_cam: np.ndarray) -> np.ndarray:
    """(..., 6): angular velocity (..., 3) rad/s in cam and world-down in cam."""
    down_cam = np.einsum("...ji,j->...i", R_world_cam, np.array([0.0, 0.0, -1.0]))
    return np.concatenate([angular_velocity_cam, down_cam], -1)


def select_keypoints(keypoints23: np.ndarray) -> np.ndarray:
    """The model's 14 keypoints (14, 3) from a PersonKeypoints' 23-point array."""
    return keypoints23[KEYPOINT_INDEX]
