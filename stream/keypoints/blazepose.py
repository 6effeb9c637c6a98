"""2D keypoint backends. ``blazepose``: MediaPipe's BlazePose (the detector and the
full landmark model ship inside the ``mediapipe==0.10.14`` wheel, so it runs offline),
in tracking mode, one person, mapped to COCO-17 + feet."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from typing import Any

import cv2
import numpy as np

from livehmr.core.types import BLAZEPOSE_OF_KEYPOINT, KP, NUM_KEYPOINTS, Frame, PersonKeypoints

log = logging.getLogger(__name__)

_OURS = np.array([KP[k] for k in BLAZEPOSE_OF_KEYPOINT])
_THEIRS = np.array(list(BLAZEPOSE_OF_KEYPOINT.values()))


def blazepose_to_keypoints(landmarks: np.ndarray) -> np.ndarray:
    """(33, 3) BlazePose pixel x, y, visibility -> (23, 3) livehmr keypoints (KEYPOINT_NAMES order)."""
    keypoints = np.zeros((NUM_KEYPOINTS, 3))
    keypoints[_OURS] = landmarks[_THEIRS]
    keypoints[:, 2] = np.clip(keypoints[:, 2], 0.0, 1.0)
    return keypoints


def visible_box(points: np.ndarray, min_conf: float = 0.3) -> np.ndarray:
    """(4,) x0, y0, x1, y1 around the (N, 3) pixel points seen with confidence above
    ``min_conf`` (all points when fewer than two are)."""
    seen = points[points[:, 2] > min_conf, :2]
    pts = seen if len(seen) >= 2 else points[:, :2]
    return np.array([*pts.min(0), *pts.max(0)])


def _quiet_mediapipe() -> None:
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class BlazePoseDetector:
    """BlazePose in tracking mode (detector runs only when the track is lost).

    Args:
        model_complexity: 0 (lite), 1 (full, default) or 2 (heavy; its model is not in
            the wheel and would be downloaded, so it is refused here).
        min_confidence: detection and tracking confidence thresholds.
    """

    def __init__(self, model_complexity: int = 1, min_confidence: float = 0.5, static_image_mode: bool = False):
        if model_complexity not in (0, 1):
            raise ValueError("BlazePose model_complexity must be 0 or 1 (2 needs a download)")
        _quiet_mediapipe()
        # protobuf deprecation noise from mediapipe 0.10.14's own graph code, on every frame
        warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
        with contextlib.redirect_stderr(io.StringIO()):
            from mediapipe.python.solutions import pose as mp_pose

        self._new_graph = lambda: mp_pose.Pose(static_image_mode=static_image_mode, model_complexity=model_complexity,
                                               smooth_landmarks=True, min_detection_confidence=min_confidence,
                                               min_tracking_confidence=min_confidence)  # fmt: skip
        self._pose = self._new_graph()

    def reset(self) -> None:
        """A fresh MediaPipe graph: no track, no smoothing history."""
        self._pose.close()
        self._pose = self._new_graph()

    def detect(self, frame: Frame) -> list[PersonKeypoints]:
        image = frame.image
        h, w = image.shape[:2]
        # the solution's result is a NamedTuple built at run time from the graph's outputs
        result: Any = self._pose.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        if result.pose_landmarks is None:
            return []
        lm = np.array([(p.x * w, p.y * h, p.visibility) for p in result.pose_landmarks.landmark])
        keypoints = blazepose_to_keypoints(lm)
        box = visible_box(lm)
        world = None
        world_conf = None
        if result.pose_world_landmarks is not None:
            world = np.array([(p.x, p.y, p.z) for p in result.pose_world_landmarks.landmark])
            world_conf = np.array([p.visibility for p in result.pose_world_landmarks.landmark])
        if not np.all(np.isfinite(keypoints)) or (world is not None and not np.all(np.isfinite(world))):
            log.warning("BlazePose returned non-finite landmarks at frame %d; ignoring them", frame.index)
            return []
        return [PersonKeypoints(keypoints=keypoints, box=box, landmarks_3d=world, landmarks_3d_conf=world_conf, track_id=0)]

    def close(self) -> None:
        self._pose.close()
