"""Backends by name: what ``--keypoints``, ``--camera`` and ``--estimator`` choose from,
and :class:`StageChoices`, one run's choices for every stage."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livehmr.core.errors import LivehmrError
from livehmr.core.stages import CameraMotion, Estimator, KeypointDetector, Source
from livehmr.models.body import BodyModel

KEYPOINT_BACKENDS = ("blazepose", "blazepose-multi", "vitpose")
DEVICES = ("cpu", "cuda")
BODY_MODELS = ("anny", "smpl")
CAMERA_BACKENDS = ("auto", "gyro", "vo", "gyro+vo", "dpvo", "static")
ESTIMATORS = ("learned", "baseline")


def make_keypoints(name: str, max_people: int = 4, vitpose: str | None = None, device: str = "cpu",
                   trust_checkpoint: bool = False, far_search: bool = True) -> KeypointDetector:  # fmt: skip
    """``blazepose``: MediaPipe's Pose solution, one person, smoothed; on frames where it
    finds nobody (far away, seen from above) the multi-person models with zoomed views stand
    in (``far_search``; :mod:`livehmr.stream.keypoints.fallback`). ``blazepose-multi``:
    the same models run per person, up to ``max_people``, with a tracker. ``vitpose``: a
    user-supplied ViTPose checkpoint (``.pth``), ONNX model or TensorRT engine on the
    people ``blazepose-multi``'s detector finds."""
    check_keypoint_options(name, vitpose)
    if name == "blazepose":
        from livehmr.stream.keypoints.blazepose import BlazePoseDetector

        if not far_search:
            return BlazePoseDetector()
        from livehmr.stream.keypoints.blazepose_multi import MultiBlazePose
        from livehmr.stream.keypoints.fallback import FallbackDetector
        from livehmr.stream.keypoints.tracker import TrackerConfig

        # one person: no one to confuse it with, so a track is published from its first frame
        return FallbackDetector(BlazePoseDetector(), MultiBlazePose(max_people=1, tracker=TrackerConfig(confirm_hits=1)))
    if max_people < 1:
        raise LivehmrError(f"--people must be at least 1, not {max_people}")
    if name == "blazepose-multi":
        from livehmr.stream.keypoints.blazepose_multi import MultiBlazePose

        return MultiBlazePose(max_people=max_people)
    if name == "vitpose" and vitpose:  # (check_keypoint_options refused it without one)
        from livehmr.stream.keypoints.vitpose import ViTPoseKeypoints

        return ViTPoseKeypoints(vitpose, device=device, max_people=max_people, trust_pickle=trust_checkpoint)
    raise LivehmrError(f"unknown keypoint backend {name!r}; choose from {', '.join(KEYPOINT_BACKENDS)}")


def check_keypoint_options(name: str, vitpose: str | None) -> None:
    """What a keypoint backend needs besides its name (checked before anything loads)."""
    if name == "vitpose" and not vitpose:
        raise LivehmrError("--keypoints vitpose needs --vitpose FILE (.pth checkpoint, .onnx or .engine)")


def parse_imu_rotation(spec: str) -> np.ndarray:
    """A preset name (see livehmr.core.geometry.IMU_PRESETS) or 9 comma-separated numbers (row-major R_cam_imu)."""
    from livehmr.core.geometry import IMU_PRESETS, special_procrustes

    if spec in IMU_PRESETS:
        return IMU_PRESETS[spec]
    try:
        values = [float(v) for v in spec.split(",")]
    except ValueError:
        values = []
    if len(values) != 9 or not np.isfinite(values).all():
        raise LivehmrError(f"--imu-to-cam {spec!r}: use one of {', '.join(IMU_PRESETS)} or 9 numbers (row-major)")
    R = np.array(values).reshape(3, 3)
    if abs(np.linalg.det(R) - 1.0) > 1e-3 or np.abs(R @ R.T - np.eye(3)).max() > 1e-3:
        raise LivehmrError(f"--imu-to-cam {spec!r} is not a rotation matrix")
    return special_procrustes(R)


def make_camera(name: str, source: Source, gyro: str | None = None, imu_to_cam: str = "identity",
                gyro_offset_s: float | None = None, hfov_deg: float = 60.0, floor_motion: bool = True) -> CameraMotion:  # fmt: skip
    """A camera-motion backend by name. ``gyro_offset_s`` None: 0 for ``gyro``, estimated
    online for ``gyro+vo``. ``auto``: gyro when a gyro exists, else visual odometry — a
    video without a gyroscope is not assumed to come from a still camera (on the
    validation suite, the learned estimator with ``vo`` against ``static``: PA-MPJPE 93.1
    vs 104.5 mm, W-MPJPE100 1285 vs 1553 mm, RTE 12.5 vs 15.4 %; VO costs ~5 ms a frame,
    bench/camera.py). ``floor_motion``: every backend but ``static`` also measures the
    camera's travel over the floor (:mod:`livehmr.stream.camera.floor_motion`)."""
    from livehmr.stream.camera.floor_camera import FloorMotionCamera

    backend = _camera_backend(name, source, gyro, imu_to_cam, gyro_offset_s, hfov_deg)
    return FloorMotionCamera(backend, hfov_deg) if floor_motion and name != "static" else backend


def _camera_backend(name: str, source: Source, gyro: str | None, imu_to_cam: str, gyro_offset_s: float | None,
                    hfov_deg: float) -> CameraMotion:  # fmt: skip
    from livehmr.stream.camera.fused import FusedCamera
    from livehmr.stream.camera.gyro import GyroCamera
    from livehmr.stream.camera.static import StaticCamera
    from livehmr.stream.camera.visual import VoCamera
    from livehmr.stream.sources.gyro_feeds import GyroSource, open_gyro

    if name not in CAMERA_BACKENDS:
        raise LivehmrError(f"unknown camera backend {name!r}; choose from {', '.join(CAMERA_BACKENDS)}")
    if name == "static":
        return StaticCamera()
    if name == "vo":
        return VoCamera(hfov_deg)
    if name == "dpvo":
        from livehmr.stream.camera.dpvo import DpvoCamera

        return DpvoCamera(hfov_deg=hfov_deg)
    feed = open_gyro(gyro) if gyro else None
    if feed is None and isinstance(source, GyroSource):
        feed = source.gyro_feed()
    if name == "auto":
        if feed is None:
            return VoCamera(hfov_deg)
        name = "gyro"
    if feed is None:
        raise LivehmrError(f"--camera {name} needs --gyro FILE.csv, tcp://HOST:PORT or udp://:PORT")
    R_cam_imu = parse_imu_rotation(imu_to_cam)
    if name == "gyro":
        return GyroCamera(feed, R_cam_imu, clock_offset=gyro_offset_s or 0.0)
    return FusedCamera(feed, R_cam_imu, clock_offset=gyro_offset_s, hfov_deg=hfov_deg)


CAMERA_TRANSLATION = ("auto", "fixed", "moving")


def make_estimator(name: str, body: BodyModel, hfov_deg: float = 60.0, motion_model: str | None = None,
                   camera_translation: str = "auto", **learned_options) -> Estimator:  # fmt: skip
    """``learned``: the motion model (``motion_model``: a ``.pt`` runs in PyTorch, an exported
    ``.onnx`` in ONNX Runtime; default the shipped weights; ``camera_translation``: fixed,
    moving or auto, see :mod:`livehmr.models.motion.trajectory`; ``learned_options``: the
    rest of :class:`~livehmr.stream.estimators.learned.LearnedEstimator`'s, such as
    ``fit_pelvis`` and ``fit_limbs``). ``baseline``: per-frame IK."""
    if camera_translation not in CAMERA_TRANSLATION:
        raise LivehmrError(f"--camera-translation {camera_translation!r}: choose from {', '.join(CAMERA_TRANSLATION)}")
    if name == "baseline":
        from livehmr.stream.estimators.baseline import BaselineEstimator

        return BaselineEstimator(body, default_hfov_deg=hfov_deg)
    if name == "learned":
        from livehmr.stream.estimators.learned import LearnedEstimator

        backend = "onnx" if motion_model and str(motion_model).endswith(".onnx") else "torch"
        return LearnedEstimator(body, motion_model, default_hfov_deg=hfov_deg, backend=backend,
                                camera_translation=camera_translation, **learned_options)  # fmt: skip
    raise LivehmrError(f"unknown estimator {name!r}; choose from {', '.join(ESTIMATORS)}")


REFINE_PRIORS = ("humor", "diffusion", "noprior")


def make_refiner(prior: str | None, body: BodyModel, lag: int = 20, mode: str = "process"):
    """``--refine``: a RefineWorker (its own process) whose refinement uses the motion prior
    ``prior`` (``noprior``: reprojection, smoothness and contacts only), or None when not asked."""
    if prior is None:
        return None
    if prior not in REFINE_PRIORS:
        raise LivehmrError(f"unknown --refine {prior!r}; choose from {', '.join(REFINE_PRIORS)}")
    from functools import partial

    from livehmr.stream.refine import refiner
    from livehmr.stream.refine.worker import RefineWorker

    try:
        config = refiner.RefineConfig.for_prior(prior, lag=lag)
    except ValueError as exc:
        raise LivehmrError(f"--refine-lag {lag}: {exc}") from None
    return RefineWorker(partial(refiner.make_refiner, refiner.RefineBody.of(body), config), config, mode=mode)


@dataclass(frozen=True)
class StageChoices:
    """One run's choice for every stage, by name, as ``livehmr run`` takes them (see its
    ``--help`` for each): the source spec, keypoints (``far_search``, ``people``, ``vitpose``
    model, ``device``, ``trust_checkpoint``), camera motion (``gyro`` feed, ``imu_to_cam`` mounting,
    ``gyro_offset`` s, ``floor_motion``), estimator (``motion_model``, ``camera_translation``, ``smooth_pose``), body model
    (``smpl_model`` path), ``fov`` (degrees, for sources without intrinsics), refinement
    (``refine`` prior, ``refine_lag`` frames), ``max_frames``, ``realtime`` pacing, and
    ``start_s``: a video file starts this far in (s; a restarted ``livehmr serve`` stream resumes)."""

    source: str
    keypoints: str = "blazepose"
    far_search: bool = True
    people: int = 4
    vitpose: str | None = None
    device: str = "cpu"
    trust_checkpoint: bool = False
    camera: str = "auto"
    gyro: str | None = None
    imu_to_cam: str = "identity"
    gyro_offset: float | None = None
    floor_motion: bool = True
    estimator: str = "learned"
    motion_model: str | None = None
    camera_translation: str = "auto"
    smooth_pose: bool = False
    body: str = "anny"
    smpl_model: str | None = None
    fov: float = 60.0
    refine: str | None = None
    refine_lag: int = 20
    max_frames: int | None = None
    realtime: bool = False
    start_s: float = 0.0

    def learned_options(self) -> dict:
        """The learned estimator's options beyond the common ones (see :func:`make_estimator`)."""
        return {"smooth_pose": {}} if self.smooth_pose else {}

    def check(self) -> None:
        """Every backend named exists (the names ``livehmr run``'s options take), the numbers
        are in range, and what the backends need besides their names is there: checked
        before anything loads; raises LivehmrError naming the option and the choices."""
        from livehmr.models.body import check_body_options

        for option, value, names in (("keypoints", self.keypoints, KEYPOINT_BACKENDS),
                                     ("camera", self.camera, CAMERA_BACKENDS), ("estimator", self.estimator, ESTIMATORS),
                                     ("device", self.device, DEVICES),
                                     ("camera_translation", self.camera_translation, CAMERA_TRANSLATION),
                                     ("refine", self.refine or "humor", REFINE_PRIORS), ("body", self.body, BODY_MODELS)):  # fmt: skip
            if value not in names:
                raise LivehmrError(f"unknown {option} {value!r}; choose from {', '.join(names)}")
        if not 1 <= self.people <= 32:
            raise LivehmrError(f"people = {self.people}: must be 1 to 32")
        if not 1 <= self.refine_lag <= 300:
            raise LivehmrError(f"refine_lag = {self.refine_lag}: must be 1 to 300")
        if not 1.0 <= self.fov <= 179.0:
            raise LivehmrError(f"fov = {self.fov:g}: must be 1 to 179 degrees")
        parse_imu_rotation(self.imu_to_cam)
        check_body_options(self.body, self.smpl_model)
        check_keypoint_options(self.keypoints, self.vitpose)


def build_pipeline(c: StageChoices, publishers: list, loaded=None, source: Source | None = None):
    """The live pipeline ``c`` names, publishing through ``publishers``: the cheap stages
    first (a bad source or gyro file is reported before any model loads). ``source``: a
    source already open (the phone server's), instead of the one ``c.source`` names. ``loaded(stage,
    backend)`` sees each backend as it is made (``livehmr run`` logs the time each took) and
    returns it. Raises LivehmrError (or ValueError) on anything a stage refuses."""
    from livehmr.models.body import load_body_model
    from livehmr.stream.runtime import Pipeline
    from livehmr.stream.sources import open_source

    def seen(stage: str, backend):
        return backend if loaded is None else loaded(stage, backend)

    c.check()
    if source is None:
        source = open_source(c.source, realtime=c.realtime, max_frames=c.max_frames, start_s=c.start_s)
    source = seen("source", source)
    camera = seen("camera", make_camera(c.camera, source, c.gyro, c.imu_to_cam, c.gyro_offset, c.fov, c.floor_motion))
    body_model = seen("body model", load_body_model(c.body, c.smpl_model))
    for publisher in publishers:
        if hasattr(publisher, "body_model"):
            publisher.body_model = body_model.name
    return Pipeline(
        source=source,
        keypoints=seen("keypoints", make_keypoints(c.keypoints, c.people, c.vitpose, c.device, c.trust_checkpoint,
                                                   c.far_search)),
        camera=camera,
        estimator=seen("estimator", make_estimator(c.estimator, body_model, c.fov, c.motion_model, c.camera_translation,
                                                   **c.learned_options())),
        publishers=publishers,
        refiner=make_refiner(c.refine, body_model, c.refine_lag),
    )  # fmt: skip
