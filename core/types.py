"""Typed boundaries between pipeline stages.

Frame -> [keypoints] -> list[PersonKeypoints] -> [camera] -> CameraState
      -> [estimator] -> list[PersonState] -> [publisher]

Units: seconds, metres, radians, pixels. Frames are named as in
:mod:`livehmr.core.geometry` (``T_world_cam`` maps **cam** points to **world**).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

NUM_BETAS = 10


@dataclass
class SmplParams:
    """SMPL parameters of one body, in the **world** frame.

    Attributes:
        global_orient: (3,) axis-angle, radians: canon -> world rotation of the pelvis.
        body_pose: (69,) axis-angle, radians: local rotations of joints 1..23.
        transl: (3,) metres, added to every joint (``p[0] = J[0] + transl``).
        betas: (10,) shape coefficients of the body model in use (see ``BodyModel.name``).
    """

    global_orient: np.ndarray = field(default_factory=lambda: np.zeros(3))
    body_pose: np.ndarray = field(default_factory=lambda: np.zeros(69))
    transl: np.ndarray = field(default_factory=lambda: np.zeros(3))
    betas: np.ndarray = field(default_factory=lambda: np.zeros(NUM_BETAS))


#: 2D keypoint layout: COCO-17 followed by the six COCO-WholeBody foot points.
KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_big_toe", "left_small_toe", "left_heel",
    "right_big_toe", "right_small_toe", "right_heel",
)  # fmt: skip
KP = {name: i for i, name in enumerate(KEYPOINT_NAMES)}
NUM_KEYPOINTS = len(KEYPOINT_NAMES)

#: Our keypoint -> BlazePose landmark index (its 33-point topology, which
#: ``PersonKeypoints.landmarks_3d`` keeps). Small toes have no
#: BlazePose counterpart and stay at confidence 0.
BLAZEPOSE_OF_KEYPOINT = {
    "nose": 0, "left_eye": 2, "right_eye": 5, "left_ear": 7, "right_ear": 8,
    "left_shoulder": 11, "right_shoulder": 12, "left_elbow": 13, "right_elbow": 14,
    "left_wrist": 15, "right_wrist": 16, "left_hip": 23, "right_hip": 24,
    "left_knee": 25, "right_knee": 26, "left_ankle": 27, "right_ankle": 28,
    "left_big_toe": 31, "left_heel": 29, "right_big_toe": 32, "right_heel": 30,
}  # fmt: skip

class Flag(StrEnum):
    """Flags a published state may carry (docs/protocol.md). Members are their wire strings
    (``Flag.GYRO_GAP == "gyro_gap"``), so sets of them encode as the protocol's list of str."""

    NO_PERSON = "no_person"  # nobody in view: a heartbeat with no body arrays
    GYRO_GAP = "gyro_gap"  # gyro samples missing around this frame; rotation from vision, else extrapolated
    GYRO_CLOCK_JUMP = "gyro_clock_jump"  # the gyro's clock jumped; its offset was re-anchored at this frame
    VO_LOST = "vo_lost"  # visual odometry lost its tracks this frame; rotation from the gyro, else held
    PREDICTED = "predicted"  # body state predicted, not observed this frame
    FRAME_MISSING = "frame_missing"  # the source skipped frame indices before this one
    FRAME_DROPPED = "frame_dropped"  # a live source dropped stale frames before this one
    CAMERA_STATIC = "camera_static"  # no camera-motion input: the camera is assumed still
    STAGE_ERROR = "stage_error"  # a stage failed on this frame; see the log
    INVALID = "invalid"  # a stage produced non-finite values; the body arrays were withheld
    REFINED = "refined"  # topic ``refined``: the frame (and each person so flagged) after windowed refinement
    RESTARTED = "restarted"  # ``livehmr serve``: the stream's worker died and was restarted (first second after)


#: every flag's wire string, in protocol order
FLAGS = tuple(f.value for f in Flag)


@dataclass
class Frame:
    """One image from a source.

    Attributes:
        index: source frame index (0-based; a jump means frames went missing).
        t: source timestamp in seconds on the source's clock.
        image: (H, W, 3) uint8 BGR.
        K: (3, 3) intrinsics when the source knows them, else None.
        t_captured: ``time.perf_counter()`` when the frame entered livehmr (glass-to-publish).
        gravity_cam: (3,) unit gravity direction in **cam** (an accelerometer), if known.
        flags: flags the source raises for this frame.
        truth: ground truth of synthetic sources (never published).
        latency_ms: what the stages before the back thread took on it (``source``, ``keypoints``).
    """

    index: int
    t: float
    image: np.ndarray
    K: np.ndarray | None = None
    t_captured: float = 0.0
    gravity_cam: np.ndarray | None = None
    flags: set[str] = field(default_factory=set)
    truth: Any = None
    latency_ms: dict[str, float] = field(default_factory=dict)

    def intrinsics(self, default_hfov_deg: float) -> np.ndarray:
        """``K`` if the source knows it, else a centred pinhole of that horizontal field of view."""
        if self.K is not None:
            return self.K
        from livehmr.core.geometry import intrinsics_from_fov

        h, w = self.image.shape[:2]
        return intrinsics_from_fov(w, h, default_hfov_deg)


@dataclass
class PersonKeypoints:
    """2D (and, from BlazePose, metric 3D) evidence for one person in one frame.

    Attributes:
        keypoints: (23, 3) pixel x, y and confidence in [0, 1] (KEYPOINT_NAMES order).
        box: (4,) x0, y0, x1, y1 pixels.
        landmarks_3d: (33, 3) BlazePose world landmarks, metres, hip-centred, camera-aligned
            axes (x right, y down, z away from the camera), or None.
        landmarks_3d_conf: (33,) their visibility, or None.
        track_id: stable id of this person across frames.
    """

    keypoints: np.ndarray
    box: np.ndarray
    landmarks_3d: np.ndarray | None = None
    landmarks_3d_conf: np.ndarray | None = None
    track_id: int = 0


@dataclass
class CameraState:
    """Camera pose at a frame. ``t_world_cam`` is (0, 0, 0) when only rotation is known;
    the estimator places the floor. ``angular_velocity`` (3,) rad/s in **cam**."""

    R_world_cam: np.ndarray
    t_world_cam: np.ndarray = field(default_factory=lambda: np.zeros(3))
    angular_velocity: np.ndarray = field(default_factory=lambda: np.zeros(3))
    flags: set[str] = field(default_factory=set)
    #: (3,) camera position in the world up to an unknown scale (monocular VO), if known
    t_up_to_scale: np.ndarray | None = None
    #: whether the camera stage knows the camera translates: False (a static camera), True, or None (cannot tell)
    translates: bool | None = None
    #: (2,) the camera's world (x, y) travel since the last frame divided by its height above the
    #: floor, from the floor's image motion (:mod:`livehmr.stream.camera.floor_motion`), or None
    floor_shift: np.ndarray | None = None

    @property
    def T_world_cam(self) -> np.ndarray:
        T = np.eye(4)
        T[:3, :3] = self.R_world_cam
        T[:3, 3] = self.t_world_cam
        return T


@dataclass
class PersonState:
    """The published state of one person at one frame (see docs/protocol.md).

    Attributes:
        person_id: track id.
        params: SMPL parameters in the world.
        joints_world: (24, 3) SMPL-24 joints, metres, world.
        contacts: (4,) probability that left ankle, left toes, right ankle, right toes touch the floor.
        joint_confidence: (24,) in [0, 1].
        flags: per-person flags.
    """

    person_id: int
    params: SmplParams
    joints_world: np.ndarray
    contacts: np.ndarray
    joint_confidence: np.ndarray
    flags: set[str] = field(default_factory=set)


@dataclass
class FrameResult:
    """Everything the pipeline produced for one frame; what publishers publish."""

    frame_index: int
    t_source: float
    t_captured: float
    T_world_cam: np.ndarray
    persons: list[PersonState]
    flags: set[str] = field(default_factory=set)
    latency_ms: dict[str, float] = field(default_factory=dict)
    keypoints: list[PersonKeypoints] = field(default_factory=list)
    #: (H, W, 3) uint8 BGR: the frame's image (for publishers of frames and viewers)
    image: np.ndarray | None = None
    #: (3, 3) the intrinsics the estimator used
    K: np.ndarray | None = None
    #: (3,) the camera's world position up to an unknown scale, from front ends that give one
    camera_up_to_scale: np.ndarray | None = None
    #: refined results only: how many newer frames the refinement had seen when it published this one
    lag_frames: int | None = None
