"""``--estimator learned``: the motion model live, one recurrent state per tracked person.

Each frame, per person: features (:mod:`livehmr.models.motion.features`) -> one network step -> decoded
outputs -> a world-grounded SMPL state:

- root orientation in the world = ``R_world_cam @ R_cam_root`` (gravity-aligned since
  ``R_world_cam`` is);
- **where**: one filter (:mod:`livehmr.models.motion.trajectory`) places every person and the camera: each
  person's predicted motion since the last frame (velocity in the body's heading frame,
  corrected so that feet predicted in contact on this and the last frame do not slide)
  and predicted pelvis height above the floor (z = 0) are fused with where the camera
  sees the pelvis (``pelvis_cam``), under a model of the camera's translation (fixed,
  moving, or decided from the measurements); the camera's world position is the filter's,
  published through :meth:`camera_translation`, so the published joints seen through the
  published camera are the filter's camera-frame body. The world origin is below the
  camera of the first frame anyone was seen. The filter smooths, and so lags; the
  published pelvis is then pulled across the line of sight (not along it: depth stays the
  filter's) toward where the camera sees it this frame, the pull itself smoothed
  (``SEEN_SMOOTHING``), so the body is drawn on the person and the limb fit never bends
  limbs to make up for the lag;
- shape: the predicted Anny phenotype (a running mean), turned into a skeleton by a fitted
  regressor when the body model is Anny; with SMPL the body's own shape is kept;
- a person missing for up to ``max_predict_frames`` frames is predicted through (no
  keypoints in, flag ``predicted``); longer, and the track's state is dropped.

Backends: ``torch`` (default) or ``onnx`` (ONNX Runtime on the exported step network,
:mod:`livehmr.models.motion.onnx_runtime`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from livehmr.core.geometry import heading_rotmats, rotmat_to_rotvec
from livehmr.core.types import CameraState, Flag, Frame, PersonKeypoints, PersonState
from livehmr.models.body import BodySkeleton, SmplParams
from livehmr.models.motion.features import (
    DEFAULT_BOX,
    FPS,
    KEYPOINT_JOINTS,
    LANDMARK_SLICE,
    NUM_CAM_FEATURES,
    NUM_FEATURES,
    NUM_KP,
    NUM_KP_FEATURES,
    camera_features,
    input_columns,
    keypoint_features,
    landmark_features,
    select_keypoints,
    select_landmarks,
)  # fmt: skip
from livehmr.models.motion.fit import fit_limbs, fit_pelvis_cam
from livehmr.models.motion.network import DEFAULT_WEIGHTS
from livehmr.models.motion.smoothing import OneEuroConfig, OneEuroRotations
from livehmr.models.motion.trajectory import PelvisObservation, TrajectoryFilter
from livehmr.models.skeleton import FOOT_JOINTS, forward_kinematics, global_to_local

#: the leg bones (by their start joint) of each foot (its ankle and toe contacts), left to the
#: network while the foot is in contact when ``pin_feet`` is on
PLANTED_LEGS = (("left_hip", (0, 1)), ("left_knee", (0, 1)), ("right_hip", (2, 3)), ("right_knee", (2, 3)))
NETWORK_DEPTH_SIGMA = 0.12  # the network's pelvis depth: relative std (validation log-depth error)
FIT_DEPTH_SIGMA = 0.08  # the keypoint fit's (see bench/trajectory.py)


SEEN_SMOOTHING = 0.85  # weight of the last frame's offset to where the camera sees a person (noise vs lag)
MAX_SEEN_OFFSET_M = 1.0  # the pull never goes further: beyond, the filter's own gating judges the detection


@dataclass
class _Track:
    state: np.ndarray  # the recurrent network's hidden state (its backend's initial_state())
    box: np.ndarray = field(default_factory=lambda: DEFAULT_BOX.copy())
    pelvis_world: np.ndarray | None = None
    feet_world: np.ndarray | None = None
    contacts: np.ndarray = field(default_factory=lambda: np.zeros(4))
    phenotype: np.ndarray | None = None
    seen: int = 0
    missing: int = 0
    confidence: float = 0.0
    limb_turns: dict = field(default_factory=dict)  # the limb fit's last corrections (fit_limbs' memory)
    seen_offset: np.ndarray = field(default_factory=lambda: np.zeros(3))  # smoothed (seen - filtered) pelvis, world m
    pose_filter: OneEuroRotations | None = None  # the published rotations' causal smoother (smooth_pose)


@dataclass
class _Body:
    """One person's decoded network output in one frame (world axes, before placement).

    rotmats (24, 3, 3): [0] canon -> world, then local; rest (24, 3) canon m; joints (24, 3)
    and G (24, 3, 3) their forward kinematics with the pelvis at the world origin (the
    body at any pelvis is ``joints + pelvis``: computed once per frame);
    pelvis_cam (3,) m or None (not detected this frame), its depth's relative std
    depth_sigma; height m; v_world (3,) m/s;
    contacts (4,); kp (14, 3) the keypoints it saw."""

    rotmats: np.ndarray
    rest: np.ndarray
    joints: np.ndarray
    G: np.ndarray
    pelvis_cam: np.ndarray | None
    depth_sigma: float
    height: float
    v_world: np.ndarray
    contacts: np.ndarray
    kp: np.ndarray
    track: _Track

    def observation(self, dt: float) -> PelvisObservation:
        """What the trajectory filter takes: the motion since the last frame is the predicted
        velocity, corrected so that feet in contact on this and the last frame do not slide."""
        track = self.track
        displacement = self.v_world * dt
        displacement[2] = 0.0  # height is observed directly
        in_contact = False
        if track.pelvis_world is not None and track.feet_world is not None:
            feet = self.joints[list(FOOT_JOINTS)] + track.pelvis_world + displacement
            w = np.minimum(self.contacts, track.contacts)
            w = w * (w > 0.5)
            if w.sum() > 0:
                slip = ((track.feet_world - feet)[:, :2] * w[:, None]).sum(0) / w.sum()
                displacement[:2] += slip
                in_contact = True
        return PelvisObservation(displacement, self.height, self.pelvis_cam, in_contact, self.depth_sigma)


class MotionStep(Protocol):
    """One step of the motion network for a batch of people (PyTorch or ONNX Runtime)."""

    landmarks: bool  # whether it reads the 3D landmark block

    def initial_state(self) -> np.ndarray: ...

    def __call__(self, x: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inputs (B, F) and states -> outputs (B, D) and the new states."""
        ...


class _TorchStep:
    def __init__(self, weights: Path):
        import torch

        from livehmr.models.motion.network import load_motion_net

        self.torch = torch
        self.net = load_motion_net(weights)
        self.landmarks = self.net.config.landmarks

    def initial_state(self):
        return self.net.initial_state(1).numpy()

    def __call__(self, x: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = self.torch
        with t.no_grad():
            out, new = self.net.step(t.as_tensor(x, dtype=t.float32), t.as_tensor(state))
        return out.numpy(), new.numpy()


class LearnedEstimator:
    """The learned motion model as a pipeline estimator.

    Args:
        body: body model (Anny: the predicted shape is used; SMPL: its own shape).
        weights: a ``motion.pt`` (default: the shipped ``models/data/motion_cpu.pt``) or,
            with ``backend="onnx"``, an exported ``.onnx`` step network.
        default_hfov_deg: field of view assumed when the source gives no intrinsics.
        max_predict_frames: how long a missing person is predicted through.
        camera_translation: the camera's translation model (:mod:`livehmr.models.motion.trajectory`): ``fixed``
            (static or tripod), ``moving`` or ``auto`` (decided from the measurements).
        fit_pelvis: place the pelvis in the camera by fitting the predicted body to the 2D
            keypoints each frame (:func:`livehmr.models.motion.fit.fit_pelvis_cam`) rather than by the network's
            depth alone.
        fit_limbs: turn the limbs towards the keypoints each frame (:func:`livehmr.models.motion.fit.fit_limbs`),
            so that the published body sits on the person in the frame.
        limb_smoothing: weight of the last frame's limb turn in this frame's (0: none).
        pin_feet: leave a leg to the network while its foot is predicted in contact (the
            fit's turns fade out), so a planted foot does not follow the detector's jitter
            (on by default since issue 31: foot sliding 53 -> 43 mm on the validation suite).
        smooth_pose: smooth the published rotations causally (:class:`~livehmr.models.motion.smoothing.OneEuroRotations`;
            a config or its fields as a dict; None: off, the default: on the validation suite
            it lowers jitter by two fifths but lags fast limbs, so the overlay worsens).
    """

    def __init__(self, body: BodySkeleton, weights: str | Path | None = None, default_hfov_deg: float = 60.0,
                 backend: str = "torch", max_predict_frames: int = 15, camera_translation: str = "auto",
                 fit_pelvis: bool = True, fit_limbs: bool = True, limb_smoothing: float = 0.5,
                 pin_feet: bool = True, smooth_pose: OneEuroConfig | dict | None = None):  # fmt: skip
        from livehmr.core.errors import LivehmrError

        self.body = body
        self.default_hfov_deg = default_hfov_deg
        self.max_predict_frames = max_predict_frames
        path = Path(weights) if weights else DEFAULT_WEIGHTS
        if not path.exists():
            raise LivehmrError(f"motion model weights not found: {path}")
        self.step: MotionStep
        if backend == "torch":
            self.step = _TorchStep(path)
        elif backend == "onnx":
            from livehmr.models.motion.onnx_runtime import OnnxStep

            self.step = OnnxStep(path)
        else:
            raise LivehmrError(f"unknown motion model backend {backend!r}; choose torch or onnx")
        self.columns = input_columns(self.step.landmarks)  # which features this network reads
        self.shape_from_phenotype = None
        if getattr(body, "name", "") == "anny":
            from livehmr.models.motion.shape import load_rest_regressor

            self.shape_from_phenotype = load_rest_regressor()
        self.camera_mode = camera_translation
        self.fit_pelvis, self.fit_limbs, self.limb_smoothing = fit_pelvis, fit_limbs, limb_smoothing
        self.pin_feet = pin_feet
        self.smooth_pose = OneEuroConfig(**smooth_pose) if isinstance(smooth_pose, dict) else smooth_pose
        self.dt = 1.0 / FPS
        self.trajectory = TrajectoryFilter(camera_translation)
        self.tracks: dict[int, _Track] = {}
        self.t_prev: float | None = None
        #: the last frame's evidence per track id, kept for diagnostics (``livehmr bench speed``)
        self.last_bodies: dict[int, _Body] = {}
        self.last_observations: dict[int, PelvisObservation] = {}

    def reset(self) -> None:
        self.tracks.clear()
        self.trajectory = TrajectoryFilter(self.camera_mode)
        self.t_prev = None

    def camera_translation(self) -> np.ndarray:
        """The camera's estimated world position (what the rotation-only front ends lack)."""
        return self.trajectory.camera_position

    def estimate(self, frame: Frame, camera: CameraState, persons: list[PersonKeypoints]) -> list[PersonState]:
        K = frame.intrinsics(self.default_hfov_deg)
        cam = camera_features(camera.angular_velocity, camera.R_world_cam)
        seen = {p.track_id: p for p in persons}
        for tid in list(self.tracks):
            if tid not in seen:
                self.tracks[tid].missing += 1
                if self.tracks[tid].missing > self.max_predict_frames:
                    del self.tracks[tid]
        dt = 1.0 / FPS if self.t_prev is None else float(np.clip(frame.t - self.t_prev, 1e-3, 0.5))
        self.t_prev = frame.t
        self.dt = dt
        bodies: dict[int, _Body] = {}
        stepped: list[tuple[int, _Track, np.ndarray, np.ndarray, np.ndarray, bool]] = []  # tid, track, x, box, kp, detected
        for tid in sorted(set(seen) | set(self.tracks)):
            track = self.tracks.get(tid)
            if track is None:
                track = self.tracks[tid] = _Track(self.step.initial_state())
            landmarks = visibility = None
            if tid in seen:
                track.missing = 0
                kp = select_keypoints(seen[tid].keypoints)
                landmarks, visibility = select_landmarks(seen[tid].landmarks_3d, seen[tid].landmarks_3d_conf)
            else:
                kp = np.zeros((NUM_KP, 3))
            feats, box = keypoint_features(kp, K, track.box)
            if not feats[-1] and track.seen == 0:
                del self.tracks[tid]  # never detected: nothing to predict from
                continue
            track.box = box
            x = np.zeros(NUM_FEATURES, np.float32)
            x[:NUM_KP_FEATURES] = feats
            x[LANDMARK_SLICE] = landmark_features(landmarks, visibility, feats[-1] > 0)
            x[-NUM_CAM_FEATURES:] = cam
            stepped.append((tid, track, x[self.columns], box, kp, bool(feats[-1])))
        if stepped:  # every person in one batch: one network call per frame, not one per person
            states = np.concatenate([track.state for _, track, *_ in stepped], axis=2)  # (3, layers, B, hidden)
            out, new_states = self.step(np.stack([x for _, _, x, *_ in stepped]), states)
            for i, (tid, track, _, box, kp, detected) in enumerate(stepped):
                track.state = new_states[:, :, i : i + 1]
                bodies[tid] = self._body(track, out[i], box, camera, kp, K, detected=detected)
        observations = {tid: b.observation(dt) for tid, b in bodies.items()}
        self.last_bodies, self.last_observations = bodies, observations
        placed = self.trajectory.step(dt, camera.R_world_cam, observations, camera.translates, camera.floor_shift)
        camera_position = self.trajectory.camera_position
        states = []
        for tid, body in bodies.items():
            if tid in placed:
                view = (K, camera.R_world_cam, camera_position) if self.fit_limbs and tid in seen else None
                states.append(self._to_state(tid, self.tracks[tid], body, placed[tid], body.kp, view))
        return states

    def _body(self, track: _Track, out: np.ndarray, box: np.ndarray, camera: CameraState, kp: np.ndarray, K: np.ndarray,
              detected: bool) -> _Body:  # fmt: skip
        """One person's network output, decoded, with the world motion since their last frame."""
        import torch

        from livehmr.models.motion.network import decode

        d = decode(torch.as_tensor(out), torch.as_tensor(box, dtype=torch.float32))
        R_wc = camera.R_world_cam
        local = d.local_rotmats.double().numpy()
        R_world_root = R_wc @ d.R_cam_root.double().numpy()
        phen = d.phenotype.double().numpy()
        track.phenotype = phen if track.phenotype is None else track.phenotype + (phen - track.phenotype) / min(track.seen + 1, 100)
        if self.shape_from_phenotype is not None:
            rest = self.shape_from_phenotype(track.phenotype)
        else:
            rest = np.asarray(self.body.rest_joints, dtype=np.float64)
        rotmats = np.concatenate([R_world_root[None], local])
        contacts = 1.0 / (1.0 + np.exp(-d.contact_logits.double().numpy()))
        v_world = heading_rotmats(R_world_root) @ d.v_heading.double().numpy()
        joints, G = forward_kinematics(rotmats, rest, -rest[0])  # pelvis at the origin
        pelvis_cam, depth_sigma = None, NETWORK_DEPTH_SIGMA
        if detected:
            pelvis_cam = d.pelvis_cam.double().numpy()
            if self.fit_pelvis:
                joints_rel_cam = joints[KEYPOINT_JOINTS] @ R_wc  # R_wc^T (J - pelvis), per row
                fitted = fit_pelvis_cam(joints_rel_cam, kp, K, pelvis_cam)
                if fitted is not None:
                    pelvis_cam, depth_sigma = fitted, FIT_DEPTH_SIGMA
        return _Body(rotmats=rotmats, rest=rest, joints=joints, G=G, pelvis_cam=pelvis_cam, depth_sigma=depth_sigma, height=float(d.height),
                     v_world=v_world, contacts=contacts, kp=kp, track=track)  # fmt: skip

    def _to_state(self, tid: int, track: _Track, body: _Body, pelvis: np.ndarray, kp: np.ndarray, view=None) -> PersonState:
        """The person's published state, placed at the filter's pelvis; with ``view`` (K,
        R_world_cam, camera position), pulled across the line of sight toward where the
        camera sees it and its limbs turned towards the keypoints (:func:`fit_limbs`)."""
        if view is not None and body.pelvis_cam is not None:
            # published where the camera sees the person this frame across the line of sight (the filter's
            # depth kept): the filter's lag is not drawn, and the limb fit never bends limbs to make up for it
            _, R_world_cam, camera_position = view
            ray = (pelvis - camera_position) / max(float(np.linalg.norm(pelvis - camera_position)), 1e-6)
            offset = camera_position + R_world_cam @ body.pelvis_cam - pelvis
            offset -= ray * float(ray @ offset)
            offset *= min(1.0, MAX_SEEN_OFFSET_M / max(float(np.linalg.norm(offset)), 1e-9))
            track.seen_offset = SEEN_SMOOTHING * track.seen_offset + (1 - SEEN_SMOOTHING) * offset
            pelvis = pelvis + track.seen_offset
        joints, G = body.joints + pelvis, body.G
        # the network's feet (before the limb fit) are what the next frame's slip is measured against
        track.pelvis_world, track.feet_world, track.contacts = pelvis, joints[list(FOOT_JOINTS)], body.contacts
        rotmats = body.rotmats
        if view is not None:
            planted = tuple(bone for bone, foot in PLANTED_LEGS if self.pin_feet and body.contacts[list(foot)].max() > 0.5)
            G, joints = fit_limbs(G, joints, kp, *view, memory=track.limb_turns, smoothing=self.limb_smoothing,
                                  planted=planted)  # fmt: skip
            rotmats = global_to_local(G)
        if self.smooth_pose is not None:  # last: smoothing the network's pose before the fit measured worse
            if track.pose_filter is None:
                track.pose_filter = OneEuroRotations(self.smooth_pose)
            rotmats = track.pose_filter(rotmats, self.dt)
            joints = forward_kinematics(rotmats, body.rest, -body.rest[0])[0] + pelvis
        track.seen += 1
        if self.shape_from_phenotype is not None:
            betas = np.zeros(10)
            betas[:6] = track.phenotype
        else:
            betas = np.asarray(self.body.betas, dtype=np.float64)
        flags = set()
        conf = kp[:, 2]
        if track.missing:
            flags.add(Flag.PREDICTED)
            track.confidence *= 0.8
        else:
            track.confidence = float(conf[conf >= 0.3].mean()) if (conf >= 0.3).any() else 0.0
        rv = rotmat_to_rotvec(rotmats)
        params = SmplParams(global_orient=rv[0], body_pose=rv[1:].reshape(69), transl=pelvis - body.rest[0], betas=betas)
        return PersonState(tid, params, joints, body.contacts, np.full(24, track.confidence), flags)
