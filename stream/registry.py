"""Backends by name: what ``--keypoints``, ``--camera`` and ``--estimator`` choose from."""

from __future__ import annotations

import numpy as np

from livehmr.models.body import BodyModel
from livehmr.stream.errors import LivehmrError
from livehmr.stream.stages import CameraMotion, Estimator, KeypointDetector, Source

KEYPOINT_BACKENDS = ("blazepose", "blazepose-lite")
CAMERA_BACKENDS = ("auto", "gyro", "static")
ESTIMATORS = ("baseline",)


def make_keypoints(name: str) -> KeypointDetector:
    if name in ("blazepose", "blazepose-lite"):
        from livehmr.stream.keypoints import BlazePoseDetector

        return BlazePoseDetector(model_complexity=0 if name == "blazepose-lite" else 1)
    raise LivehmrError(f"unknown keypoint backend {name!r}; choose from {', '.join(KEYPOINT_BACKENDS)}")


def parse_imu_rotation(spec: str) -> np.ndarray:
    """A preset name (see livehmr.stream.gyro.IMU_PRESETS) or 9 comma-separated numbers (row-major R_cam_imu)."""
    from livehmr.geometry import special_procrustes
    from livehmr.stream.gyro import IMU_PRESETS

    if spec in IMU_PRESETS:
        return IMU_PRESETS[spec]
    try:
        values = [float(v) for v in spec.split(",")]
    except ValueError:
        values = []
    if len(values) != 9:
        raise LivehmrError(f"--imu-to-cam {spec!r}: use one of {', '.join(IMU_PRESETS)} or 9 numbers (row-major)")
    R = np.array(values).reshape(3, 3)
    if abs(np.linalg.det(R) - 1.0) > 1e-3 or np.abs(R @ R.T - np.eye(3)).max() > 1e-3:
        raise LivehmrError(f"--imu-to-cam {spec!r} is not a rotation matrix")
    return special_procrustes(R)


def make_camera(name: str, source: Source, gyro: str | None = None, imu_to_cam: str = "identity",
                gyro_offset_s: float = 0.0) -> CameraMotion:  # fmt: skip
    from livehmr.stream.camera import GyroCamera, StaticCamera
    from livehmr.stream.gyro import open_gyro

    if name not in CAMERA_BACKENDS:
        raise LivehmrError(f"unknown camera backend {name!r}; choose from {', '.join(CAMERA_BACKENDS)}")
    feed = open_gyro(gyro) if gyro else None
    if feed is None and hasattr(source, "gyro_feed"):
        feed = source.gyro_feed()
    if name == "static" or (name == "auto" and feed is None):
        return StaticCamera()
    if feed is None:
        raise LivehmrError("--camera gyro needs --gyro FILE.csv or --gyro tcp://HOST:PORT")
    return GyroCamera(feed, parse_imu_rotation(imu_to_cam), clock_offset=gyro_offset_s)


def make_estimator(name: str, body: BodyModel, hfov_deg: float = 60.0) -> Estimator:
    if name == "baseline":
        from livehmr.models.baseline import BaselineEstimator

        return BaselineEstimator(body, default_hfov_deg=hfov_deg)
    raise LivehmrError(f"unknown estimator {name!r}; choose from {', '.join(ESTIMATORS)}")
