"""``--estimator learned``: the motion model live, one recurrent state per tracked person.

Each frame, per person: features (:mod:`.features`) -> one network step -> decoded
outputs -> a world-grounded SMPL state:

- root orientation in the world = ``R_world_cam @ R_cam_root`` (gravity-aligned since
  ``R_world_cam`` is);
- the pelvis' world position integrates the predicted velocity in the body's heading
  frame (horizontal), its height is predicted above the floor (z = 0); on a person's
  first frame it is placed by the camera: the world origin is below the camera of the
  first frame anyone was seen;
- **contact-aware refinement**: feet predicted in contact on this and the previous frame
  do not slide: the root moves by their (contact-weighted) horizontal slip;
- the camera's world position follows as ``pelvis_world - R_world_cam @ pelvis_cam``
  (smoothed), published through :meth:`camera_translation`;
- shape: the predicted Anny phenotype (a running mean), turned into a skeleton by a fitted
  regressor when the body model is Anny; with SMPL the body's own shape is kept;
- a person missing for up to ``max_predict_frames`` frames is predicted through (no
  keypoints in, flag ``predicted``); longer, and the track's state is dropped.

Backends: ``torch`` (default) or ``onnx`` (ONNX Runtime on the exported step network,
:mod:`livehmr.export.motion_onnx`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from livehmr.geometry import rotmat_to_rotvec
from livehmr.models.body import BodyModel, SmplParams
from livehmr.models.motion.features import DEFAULT_BOX, NUM_FEATURES, NUM_KP, camera_features, keypoint_features, select_keypoints
from livehmr.models.motion.synth import FPS, heading_rotmats
from livehmr.models.skeleton import FOOT_JOINTS, forward_kinematics
from livehmr.stream.types import CameraState, Frame, PersonKeypoints, PersonState

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "data" / "motion_cpu.pt"


@dataclass
class _Track:
    state: object
    box: np.ndarray = field(default_factory=lambda: DEFAULT_BOX.copy())
    pelvis_world: np.ndarray | None = None
    feet_world: np.ndarray | None = None
    contacts: np.ndarray = field(default_factory=lambda: np.zeros(4))
    phenotype: np.ndarray | None = None
    seen: int = 0
    missing: int = 0
    t_prev: float | None = None
    confidence: float = 0.0


class _TorchStep:
    def __init__(self, weights: Path):
        import torch

        from livehmr.models.motion.train import load_motion_net

        self.torch = torch
        self.net = load_motion_net(weights)

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
    """

    def __init__(self, body: BodyModel, weights: str | Path | None = None, default_hfov_deg: float = 60.0,
                 backend: str = "torch", max_predict_frames: int = 15):  # fmt: skip
        from livehmr.stream.errors import LivehmrError

        self.body = body
        self.default_hfov_deg = default_hfov_deg
        self.max_predict_frames = max_predict_frames
        path = Path(weights) if weights else DEFAULT_WEIGHTS
        if not path.exists():
            raise LivehmrError(f"motion model weights not found: {path}")
        if backend == "torch":
            self.step = _TorchStep(path)
        elif backend == "onnx":
            from livehmr.export.motion_onnx import OnnxStep

            self.step = OnnxStep(path)
        else:
            raise LivehmrError(f"unknown motion model backend {backend!r}; choose torch or onnx")
        self.shape_from_phenotype = None
        if getattr(body, "name", "") == "anny":
            from livehmr.models.motion.data import load_rest_regressor

            self.shape_from_phenotype = load_rest_regressor()
        self.tracks: dict[int, _Track] = {}
        self.camera_origin: np.ndarray | None = None  # camera position at the first sighting
        self.camera_position = np.zeros(3)

    def reset(self) -> None:
        self.tracks.clear()
        self.camera_origin = None
        self.camera_position = np.zeros(3)

    def camera_translation(self) -> np.ndarray:
        """The camera's estimated world position (what the rotation-only front ends lack)."""
        return self.camera_position.copy()

    def estimate(self, frame: Frame, camera: CameraState, persons: list[PersonKeypoints]) -> list[PersonState]:
        K = frame.intrinsics(self.default_hfov_deg)
        cam = camera_features(camera.angular_velocity, camera.R_world_cam)
        seen = {p.track_id: p for p in persons}
        for tid in list(self.tracks):
            if tid not in seen:
                self.tracks[tid].missing += 1
                if self.tracks[tid].missing > self.max_predict_frames:
                    del self.tracks[tid]
        states = []
        for tid in sorted(set(seen) | set(self.tracks)):
            track = self.tracks.get(tid)
            if track is None:
                track = self.tracks[tid] = _Track(self.step.initial_state())
            if tid in seen:
                track.missing = 0
                kp = select_keypoints(seen[tid].keypoints)
            else:
                kp = np.zeros((NUM_KP, 3))
            feats, box = keypoint_features(kp, K, track.box)
            if not feats[-1] and track.seen == 0:
                del self.tracks[tid]  # never detected: nothing to predict from
                continue
            track.box = box
            x = np.zeros((1, NUM_FEATURES), np.float32)
            x[0, : feats.shape[-1]] = feats
            x[0, -6:] = cam
            out, track.state = self.step(x, track.state)
            states.append(self._to_state(tid, track, out[0], box, camera, frame.t, kp))
        return states

    def _to_state(self, tid, track, out, box, camera, t, kp) -> PersonState:
        import torch

        from livehmr.models.motion.network import decode

        d = decode(torch.as_tensor(out), torch.as_tensor(box, dtype=torch.float32))
        R_wc = camera.R_world_cam
        local = d.local_rotmats.double().numpy()
        R_world_root = R_wc @ d.R_cam_root.double().numpy()
        pelvis_cam = d.pelvis_cam.double().numpy()
        phen = d.phenotype.double().numpy()
        track.phenotype = phen if track.phenotype is None else track.phenotype + (phen - track.phenotype) / min(track.seen + 1, 100)
        if self.shape_from_phenotype is not None:
            rest = self.shape_from_phenotype(track.phenotype)
            betas = np.zeros(10)
            betas[:6] = track.phenotype
        else:
            rest, betas = np.asarray(self.body.rest_joints, dtype=np.float64), np.asarray(self.body.betas, dtype=np.float64)
        height = float(d.height)
        dt = 1.0 / FPS if track.t_prev is None else float(np.clip(t - track.t_prev, 1e-3, 0.5))
        track.t_prev = t
        if track.pelvis_world is None:
            if self.camera_origin is None:  # the world's origin lies below this camera, floor at z = 0
                self.camera_origin = self.camera_position = np.array([0.0, 0.0, height - (R_wc @ pelvis_cam)[2]])
            # a person seen for the first time (or again after being dropped) is placed from
            # where the camera is now, not where it started
            pelvis = self.camera_position + R_wc @ pelvis_cam
            pelvis[2] = height
        else:
            v_world = heading_rotmats(R_world_root) @ d.v_heading.double().numpy()
            pelvis = track.pelvis_world + v_world * dt
            pelvis[2] = height
        rotmats = np.concatenate([R_world_root[None], local])
        joints, _ = forward_kinematics(rotmats, rest, pelvis - rest[0])
        contacts = 1.0 / (1.0 + np.exp(-d.contact_logits.double().numpy()))
        feet = joints[list(FOOT_JOINTS)]
        if track.feet_world is not None:
            w = np.minimum(contacts, track.contacts) * (np.minimum(contacts, track.contacts) > 0.5)
            if w.sum() > 0:
                slip = ((track.feet_world - feet)[:, :2] * w[:, None]).sum(0) / w.sum()
                pelvis[:2] += slip
                joints[:, :2] += slip
        track.pelvis_world, track.feet_world, track.contacts = pelvis, joints[list(FOOT_JOINTS)], contacts
        track.seen += 1
        if tid == min(self.tracks):  # the first person places the camera
            est = pelvis - R_wc @ pelvis_cam
            self.camera_position = est if track.seen == 1 else self.camera_position + 0.1 * (est - self.camera_position)
        flags = set()
        conf = kp[:, 2]
        if track.missing:
            flags.add("predicted")
            track.confidence *= 0.8
        else:
            track.confidence = float(conf[conf >= 0.3].mean()) if (conf >= 0.3).any() else 0.0
        rv = rotmat_to_rotvec(rotmats)
        params = SmplParams(global_orient=rv[0], body_pose=rv[1:].reshape(69), transl=pelvis - rest[0], betas=betas)
        return PersonState(tid, params, joints, contacts, np.full(24, track.confidence), flags)
