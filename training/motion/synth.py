"""Training batches synthesised on the fly from the cached motion: deterministic given a seed.

For each sequence of a batch: a window of a retargeted clip (random heading and place),
its Anny body from the bank; a virtual camera of a random family (static, tripod pan,
orbit, handheld follow with shake, whip pans, high "drone" views, as the studio's
families plus random smooth paths, after WHAM); the 14 model keypoints projected with a
random field of view and corrupted with the **measured detector error model**
(``models/data/blazepose_errors.json``: per-keypoint systematic offset and covariance in
units of the person's 2D scale, temporally correlated, outliers, misses; plus whole-frame
dropouts); BlazePose's 3D landmarks from the **measured 3D error model**
(``models/data/blazepose_world_errors.json``: bias, covariance and persistence in the body
frame, facing flips), left out of a random 30 % of sequences; the camera's angular
velocity with gyro-like noise and bias. A body covering ground has its own 3D model (the
file's ``gait`` entry, measured on training subjects filmed by travelling cameras):
BlazePose keeps only about half of a runner's limb motion about its mean pose (a gain per
joint and body axis), which an additive error cannot express.

A share of sequences (``gait_rate``) covers ground: one gait cycle of a clip that moves at
>= 1 m/s, looped (:mod:`livehmr.studio.locomotion`; a capture volume cuts every run to
1-3 s, too short for a training window), filmed mostly by the studio's travelling cameras
(an operator following, a dolly, a robot), which keep the runner near the middle of the
frame: the shot where only the body's own motion tells the speed.

World: Z up, floor z = 0. Camera axes: OpenCV. ``R_world_cam`` maps cam vectors to world.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from livehmr.core.geometry import heading_rotmats, rotvec_to_rotmat
from livehmr.models.motion.features import (
    FPS,
    KEYPOINT_JOINTS,
    KEYPOINT_NAMES,
    LANDMARK_SLICE,
    MIRROR,
    NUM_CAM_FEATURES,
    NUM_FEATURES,
    NUM_KP_FEATURES,
    camera_features,
    hip_centred,
    keypoint_features,
    landmark_features,
    rates_from_rotations,
)  # fmt: skip
from livehmr.models.skeleton import forward_kinematics
from livehmr.studio.camera_path import TRAVELLING_FAMILIES, TRAVELLING_PATHS, SmoothPath, look_at
from livehmr.studio.locomotion import GaitCycle, find_cycle, loop_cycle
from livehmr.training.motion.data import MotionCache

IMAGE_SIZE = (640, 480)
FAMILIES = ("static", "pan", "orbit", "handheld", "whip", "drone")
TRAVELLING_SHARE = 0.6  # of the ground-covering sequences, filmed by a travelling camera


@dataclass
class Batch:
    """Inputs and targets, torch float32, B sequences x T frames.

    features (B, T, 109) (the full vector; a network reads its ``input_columns``); R_world_cam (B, T, 3, 3); local_rotmats (B, T, 23, 3, 3);
    R_cam_root (B, T, 3, 3); pelvis_cam (B, T, 3) m; box (B, T, 3) (the features' box:
    cx, cy, log s); v_heading (B, T, 3) m/s root velocity in the heading frame;
    height (B, T) m pelvis above the floor; contacts (B, T, 4); phenotype (B, 6);
    rest_joints (B, 24, 3); joints_world (B, T, 24, 3).
    """

    features: torch.Tensor
    R_world_cam: torch.Tensor
    local_rotmats: torch.Tensor
    R_cam_root: torch.Tensor
    pelvis_cam: torch.Tensor
    box: torch.Tensor
    v_heading: torch.Tensor
    height: torch.Tensor
    contacts: torch.Tensor
    phenotype: torch.Tensor
    rest_joints: torch.Tensor
    joints_world: torch.Tensor


def _smooth(x: np.ndarray, alpha: float) -> np.ndarray:
    out = x.copy()
    for t in range(1, len(x)):
        out[t] = out[t - 1] + alpha * (x[t] - out[t - 1])
    return out


def _shake(rng, T: int, amplitude: float, dims: int = 3) -> np.ndarray:
    """Sum of a few random sinusoids (T, dims), 0.5-4 Hz, peak ~ amplitude."""
    t = np.arange(T)[:, None] / FPS
    out = np.zeros((T, dims))
    for _ in range(3):
        f = rng.uniform(0.5, 4.0, size=dims)
        out += np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi, size=dims)) * rng.uniform(0.2, 1.0, size=dims)
    return out * amplitude / 2.0


def travelling_camera(rng, pelvis: np.ndarray, family: str) -> np.ndarray:
    """T_world_cam (T, 4, 4) of the studio's travelling camera ``family`` (follow, dolly,
    robot) moving with a pelvis track (T, 3); its pursuit integrated at the frame rate."""
    t = np.arange(len(pelvis)) / FPS
    path = TRAVELLING_PATHS[family](SmoothPath(t, pelvis, sigma_s=0.1), rng, duration=float(t[-1]), dt=1.0 / FPS)
    return np.stack([path.T_world_cam(ti) for ti in t])


def gait_cycles(cache: MotionCache, min_speed: float = 1.0) -> list[tuple[int, GaitCycle, dict]]:
    """(clip, cycle, arrays of the cycle's frames) of every cached clip with a loopable gait
    of at least ``min_speed`` m/s. The heading is where the root faces (canon +Z, forward)."""
    from scipy.spatial.transform import Rotation

    found = []
    for clip in range(len(cache.clip_body)):
        rows = slice(cache.clip_start[clip], cache.clip_start[clip + 1])
        rotvecs = cache.rotvecs[rows].astype(np.float64)
        root = cache.transl[rows].astype(np.float64)
        forward = rotvec_to_rotmat(rotvecs[:, 0])[:, :, 2]
        heading = np.unwrap(np.arctan2(forward[:, 1], forward[:, 0]))
        quats = Rotation.from_rotvec(rotvecs.reshape(-1, 3)).as_quat().reshape(len(root), -1, 4)
        cycle = find_cycle(quats, root, heading, FPS, min_speed=min_speed)
        if cycle is None:
            continue
        keep = slice(cycle.start, cycle.stop + 1)
        arrays = {"quats": quats[keep], "root": root[keep], "heading": heading[keep],
                  "contacts": cache.contacts[rows][keep]}  # fmt: skip
        found.append((clip, GaitCycle(0, cycle.stop - cycle.start, cycle.speed, cycle.cost), arrays))
    return found


def camera_path(rng, pelvis: np.ndarray, family: str) -> np.ndarray:
    """T_world_cam (T, 4, 4) of a random camera of ``family`` watching a pelvis track (T, 3)."""
    if family in TRAVELLING_FAMILIES:
        return travelling_camera(rng, pelvis, family)
    T = len(pelvis)
    t = np.arange(T) / FPS
    start = pelvis[0] * [1, 1, 0]
    dist = rng.uniform(2.5, 8.0)
    theta = rng.uniform(0, 2 * np.pi)
    height = rng.uniform(0.5, 2.2)
    look_offset = np.array([*rng.normal(0, 0.2, 2), rng.uniform(-0.3, 0.3)])
    roll = np.full(T, rng.normal(0, np.radians(3)))
    follow = _smooth(pelvis, rng.uniform(0.05, 0.3)) + look_offset
    ring = lambda a, d: start + d * np.stack([np.cos(a), np.sin(a), np.zeros_like(a)], -1)  # noqa: E731
    if family == "static":
        eye = np.repeat(ring(np.array([theta]), dist), T, 0) + [0, 0, height]
        target = np.repeat(follow[:1], T, 0)
    elif family == "pan":
        eye = np.repeat(ring(np.array([theta]), dist), T, 0) + [0, 0, height]
        target = follow
    elif family == "orbit":
        eye = ring(theta + rng.choice([-1, 1]) * rng.uniform(0.1, 0.6) * t, dist) + [0, 0, height]
        target = follow
    elif family == "drone":
        eye = ring(theta + rng.normal(0, 0.15) * t, dist * 1.3) + [0, 0, rng.uniform(3.0, 7.0)]
        eye = eye + rng.normal(0, 0.4, 3) * t[:, None]
        target = follow
    else:  # handheld / whip: a walking operator following at a distance, shaking
        offset = dist * np.array([np.cos(theta), np.sin(theta), 0.0])
        eye = _smooth(pelvis * [1, 1, 0], rng.uniform(0.02, 0.1)) + offset + [0, 0, height]
        eye = eye + _shake(rng, T, 0.02)
        target = follow + _shake(rng, T, 0.03 * dist) * [1, 1, 0.5]
        roll = roll + _shake(rng, T, np.radians(1.5), 1)[:, 0]
    R = look_at(eye, target, roll)
    if family == "whip":  # fast excursions of yaw, 20-60 deg over ~0.3 s and back
        for _ in range(rng.integers(1, 3)):
            t0, width, amp = rng.uniform(0, t[-1]), rng.uniform(0.15, 0.4), np.radians(rng.uniform(20, 60))
            yaw = amp * np.exp(-0.5 * ((t - t0) / width) ** 2) * rng.choice([-1, 1])
            R = rotvec_to_rotmat(yaw[:, None] * [0.0, 0.0, 1.0]) @ R
    out = np.tile(np.eye(4), (T, 1, 1))
    out[:, :3, :3], out[:, :3, 3] = R, eye
    return out


class DetectorNoise:
    """Corrupts projected keypoints as the measured detector error model says."""

    def __init__(self, errors: dict):
        kps = errors["keypoints"]
        self.offset = np.array([kps[k]["mean_offset"] for k in KEYPOINT_NAMES])  # (14, 2) person scales
        self.chol = np.linalg.cholesky(np.array([kps[k]["cov"] for k in KEYPOINT_NAMES]) + 1e-8 * np.eye(2))
        self.miss = np.array([kps[k]["miss_rate"] for k in KEYPOINT_NAMES])
        self.outlier = np.array([kps[k]["outlier_rate_0.2"] for k in KEYPOINT_NAMES])

    def __call__(self, rng, px: np.ndarray, visible: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """px (T, 14, 2) true pixels, visible (T, 14), person scale (T,) px -> (T, 14, 3) keypoints."""
        T = len(px)
        white = np.einsum("kij,tkj->tki", self.chol, rng.normal(size=(T, len(self.miss), 2)))
        noise = np.zeros_like(white)
        rho = 0.8  # BlazePose tracks: errors persist frame to frame
        for t in range(T):
            noise[t] = (rho * noise[t - 1] if t else 0) + np.sqrt(1 - rho**2) * white[t]
        err = self.offset + noise
        out_mask = rng.random((T, len(self.miss))) < self.outlier
        direction = rng.normal(size=(T, len(self.miss), 2))
        direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
        err = np.where(out_mask[..., None], direction * rng.uniform(0.1, 0.4, (T, len(self.miss), 1)), err)
        # misses persist a few frames: a two-state chain whose stationary rate is the measured one
        stay = 0.7
        start = self.miss * (1 - stay) / np.maximum(1 - self.miss, 1e-3)
        missed = np.zeros((T, len(self.miss)), bool)
        for t in range(T):
            p = np.where(missed[t - 1], stay, start) if t else self.miss
            missed[t] = rng.random(len(self.miss)) < p
        # whole-frame dropouts: the detector loses the person for 1-15 frames
        dropped = np.zeros(T, bool)
        for t0 in np.flatnonzero(rng.random(T) < 0.01):
            dropped[t0 : t0 + rng.integers(1, 16)] = True
        conf = np.where(out_mask, rng.uniform(0.3, 0.9, out_mask.shape), rng.uniform(0.5, 1.0, out_mask.shape))
        ok = visible & ~missed & ~dropped[:, None]
        kp = np.concatenate([px + err * scale[:, None, None], conf[..., None]], -1)
        kp[~ok] = 0.0
        return kp


class LandmarkNoise:
    """BlazePose's 3D landmarks made from the true joints as the measured 3D error model says
    (``models/data/blazepose_world_errors.json``, :mod:`livehmr.training.landmark_errors`):
    per joint a bias and the covariance of the errors' Gaussian core in the body frame,
    errors that persist from frame to frame (AR(1) with the measured lag-1
    autocorrelation), outliers at the measured rate and spread, and facing flips (the body read
    back to front: its landmarks mirrored in depth and left and right exchanged, in 2D too)
    with the measured rate and mean length."""

    def __init__(self, errors: dict):
        joints = errors["joints"]
        self.bias = np.array([joints[k]["bias"] for k in KEYPOINT_NAMES])  # (14, 3) m, body frame
        self.chol = np.linalg.cholesky(np.array([joints[k]["cov"] for k in KEYPOINT_NAMES]) + 1e-8 * np.eye(3))
        self.rho = np.clip(np.array([joints[k]["lag1_autocorrelation"] for k in KEYPOINT_NAMES]), 0.0, 0.99)
        self.outlier_rate = np.array([joints[k]["outlier_rate"] for k in KEYPOINT_NAMES])
        self.outlier_chol = np.linalg.cholesky(np.array([joints[k]["outlier_cov"] for k in KEYPOINT_NAMES]) + 1e-8 * np.eye(3))
        #: (14, 3) share of each joint's motion about its mean the landmarks keep (the gait model; 1: all)
        self.gain = np.array([joints[k].get("gain", [1.0, 1.0, 1.0]) for k in KEYPOINT_NAMES])
        self.flip_rate = float(errors["facing_flip_rate"])
        self.flip_frames = max(float(errors["facing_flip_mean_frames"]), 1.0)

    FRONTAL = 0.5  # |cos| of the angle between the body's forward and the viewing ray beyond which flips happen
    FLIP_CALIBRATION = 1.5

    def flips(self, rng, R_cam_root: np.ndarray, pelvis_cam: np.ndarray) -> np.ndarray:
        """(T,) bool: frames read back to front. A two-state chain with the measured mean
        length, running only while the body faces towards or away from the camera (a side
        view has no front to confuse, and the measurement counts only flips that reverse
        the facing); its rate there is the measured one over the share of such views (2/3
        for headings spread evenly), times ``FLIP_CALIBRATION``: so calibrated, the same
        facing test (:func:`livehmr.training.landmark_errors.compare`) counts as many flips
        in synthetic sequences as in the real ones (without it: 4.7 % against 8.4 %)."""
        forward = R_cam_root[:, :, 2]
        ray = pelvis_cam / np.maximum(np.linalg.norm(pelvis_cam, axis=-1, keepdims=True), 1e-9)
        frontal = np.abs(np.einsum("ti,ti->t", forward, ray)) > self.FRONTAL
        rate = min(self.flip_rate / (2 / 3) * self.FLIP_CALIBRATION, 0.5)
        stay = 1.0 - 1.0 / self.flip_frames
        start = rate * (1 - stay) / (1 - rate)
        flipped = np.zeros(len(forward), bool)
        for t in range(len(forward)):
            flipped[t] = frontal[t] and rng.random() < (stay if t and flipped[t - 1] else start)
        return flipped

    def __call__(self, rng, joints_cam: np.ndarray, R_cam_root: np.ndarray, flipped: np.ndarray) -> np.ndarray:
        """joints_cam (T, 14, 3) m, the true joints the landmarks stand for; R_cam_root (T, 3, 3);
        flipped (T,) -> landmarks (T, 14, 3), hip-centred, camera axes: the truth in the body
        frame, its motion about the window's mean scaled by the gains, plus bias and noise."""
        T, n = joints_cam.shape[:2]
        white = np.einsum("kij,tkj->tki", self.chol, rng.normal(size=(T, n, 3)))
        noise = np.zeros_like(white)
        scale = np.sqrt(1 - self.rho**2)[:, None]
        for t in range(T):
            noise[t] = (self.rho[:, None] * noise[t - 1] if t else 0.0) + (scale if t else 1.0) * white[t]
        outliers = rng.random((T, n)) < self.outlier_rate
        wild = np.einsum("kij,tkj->tki", self.outlier_chol, rng.normal(size=(T, n, 3)))
        noise = np.where(outliers[..., None], wild, noise)
        body = np.einsum("tji,tkj->tki", R_cam_root, hip_centred(joints_cam))  # the truth in the body frame
        mean = body.mean(0)  # the window's: what a gain < 1 pulls the motion towards
        body = mean + self.gain * (body - mean) + self.bias + noise
        landmarks = np.einsum("tij,tkj->tki", R_cam_root, body)
        mirrored = landmarks[:, MIRROR] * [1.0, 1.0, -1.0]
        return np.where(flipped[:, None, None], mirrored, landmarks)


class Synthesizer:
    """``batch(B, T)``: a training batch. Deterministic for a given seed and call order."""

    def __init__(self, cache: MotionCache, errors: dict, seed: int = 0, landmark_errors: dict | None = None,
                 no_landmarks_rate: float = 0.3, gait_rate: float = 0.0):  # fmt: skip
        """``landmark_errors``: the 3D error model (None: no 3D landmarks are made, as for a
        2D-only network); ``no_landmarks_rate``: the fraction of sequences made without them
        (a 2D-only backend such as ViTPose), so that one network serves both; ``gait_rate``:
        the fraction made of a looped gait that covers ground (see the module docstring)."""
        self.cache = cache
        self.noise = DetectorNoise(errors)
        self.landmark_noise = LandmarkNoise(landmark_errors) if landmark_errors is not None else None
        # a body covering ground has its own 3D errors (the legs' swing mostly lost), where measured
        gait_errors = (landmark_errors or {}).get("gait")
        self.gait_landmark_noise = LandmarkNoise(gait_errors) if gait_errors is not None else self.landmark_noise
        self.no_landmarks_rate = no_landmarks_rate
        self.rng = np.random.default_rng(seed)
        lengths = np.diff(cache.clip_start)
        self.lengths = lengths
        self.gait_rate = gait_rate
        self.gaits = gait_cycles(cache) if gait_rate > 0 else []
        if gait_rate > 0 and not self.gaits:
            raise ValueError("gait_rate > 0 but no cached clip moves at 1 m/s for a whole gait cycle")

    def _gait(self, T: int):
        """A looped gait of T frames starting at a random phase: (clip, local rotations
        (T, 24, 3, 3), root translation (T, 3), contacts (T, 4))."""
        rng = self.rng
        clip, cycle, a = self.gaits[rng.integers(len(self.gaits))]
        phase = int(rng.integers(cycle.stop))
        quats, root, source = loop_cycle(a["quats"], a["root"], a["heading"], cycle, T + phase,
                                         turn_deg=rng.uniform(-4.0, 4.0))  # fmt: skip
        from scipy.spatial.transform import Rotation

        R = Rotation.from_quat(quats[phase:].reshape(-1, 4)).as_matrix().reshape(T, -1, 3, 3)
        return clip, R, root[phase:], a["contacts"][source[phase:]]

    def _window(self, T: int):
        c = self.cache
        ok = np.flatnonzero(self.lengths >= T)
        clip = self.rng.choice(ok, p=self.lengths[ok] / self.lengths[ok].sum())
        s = c.clip_start[clip] + self.rng.integers(0, self.lengths[clip] - T + 1)
        return clip, slice(s, s + T)

    def sequence(self, T: int) -> dict[str, np.ndarray]:
        rng, c = self.rng, self.cache
        landmark_noise = self.landmark_noise
        if self.gaits and rng.random() < self.gait_rate:
            clip, R_local, transl, contacts = self._gait(T)
            landmark_noise = self.gait_landmark_noise
            travelling = rng.random() < TRAVELLING_SHARE
            family = TRAVELLING_FAMILIES[rng.integers(len(TRAVELLING_FAMILIES))] if travelling else FAMILIES[rng.integers(len(FAMILIES))]
        else:
            clip, rows = self._window(T)
            R_local = rotvec_to_rotmat(c.rotvecs[rows].astype(np.float64))
            transl = c.transl[rows].astype(np.float64)
            contacts = c.contacts[rows]
            family = None  # drawn below, where the first models' recipe drew it (their batches stay the same)
        body = c.clip_body[clip]
        rest = c.bank.rest_joints[body]
        yaw = rotvec_to_rotmat(np.array([0.0, 0.0, rng.uniform(0, 2 * np.pi)]))
        R_local[:, 0] = yaw @ R_local[:, 0]
        pelvis0 = rest[0] + transl
        shift = -(yaw @ pelvis0[0]) * [1, 1, 0]
        transl = pelvis0 @ yaw.T + shift - rest[0]
        joints, G = forward_kinematics(R_local, rest, transl)
        if family is None:
            family = FAMILIES[rng.integers(len(FAMILIES))]
        for _ in range(10):  # a camera the person does not walk into or behind
            T_wc = camera_path(rng, joints[:, 0], family)
            R_wc, eye = T_wc[:, :3, :3], T_wc[:, :3, 3]
            joints_cam = np.einsum("tji,tkj->tki", R_wc, joints - eye[:, None])
            if joints_cam[:, 0, 2].min() > 1.0:
                break
        W, H = IMAGE_SIZE
        hfov = np.radians(rng.uniform(45, 85))
        fx = W / 2 / np.tan(hfov / 2)
        K = np.array([[fx, 0, W / 2], [0, fx, H / 2], [0, 0, 1.0]])
        z = joints_cam[..., 2]
        px = fx * joints_cam[..., :2] / np.maximum(z, 1e-3)[..., None] + [W / 2, H / 2]
        inside = (z > 0.2) & (px[..., 0] > -10) & (px[..., 0] < W + 10) & (px[..., 1] > -10) & (px[..., 1] < H + 10)
        lo = np.where(inside[..., None], px, np.inf).min(1)
        hi = np.where(inside[..., None], px, -np.inf).max(1)
        scale = np.where(inside.any(1), np.linalg.norm(hi - lo, axis=-1), 0.0)  # person's 2D scale, px
        kp = self.noise(rng, px[:, KEYPOINT_JOINTS], inside[:, KEYPOINT_JOINTS], scale)
        R_world_root = G[:, 0]
        R_cam_root = np.einsum("tji,tjk->tik", R_wc, R_world_root)
        landmarks = None
        if landmark_noise is not None:
            flipped = landmark_noise.flips(rng, R_cam_root, joints_cam[:, 0])
            kp = np.where(flipped[:, None, None], kp[:, MIRROR], kp)  # read back to front: labels exchanged in 2D too
            if rng.random() >= self.no_landmarks_rate:
                landmarks = landmark_noise(rng, joints_cam[:, KEYPOINT_JOINTS], R_cam_root, flipped)
        # camera angular velocity in cam, gyro-like: noise and a constant bias
        w = rates_from_rotations(R_wc)
        w = w + rng.normal(0, 0.01, w.shape) + rng.uniform(-0.01, 0.01, 3)
        box = np.zeros((T, 3))
        feats = np.zeros((T, NUM_FEATURES))
        last = np.array([0.0, 0.0, np.log(0.5)])
        for t in range(T):
            f, last = keypoint_features(kp[t], K, last)
            box[t] = last
            feats[t, :NUM_KP_FEATURES] = f
        detected = feats[:, NUM_KP_FEATURES - 1] > 0
        feats[:, LANDMARK_SLICE] = landmark_features(landmarks, kp[..., 2], detected)
        feats[:, -NUM_CAM_FEATURES:] = camera_features(w, R_wc)
        v_world = np.gradient(joints[:, 0], axis=0) * FPS
        v_heading = np.einsum("tji,tj->ti", heading_rotmats(R_world_root), v_world)
        return {
            "features": feats, "R_world_cam": R_wc, "local_rotmats": R_local[:, 1:],
            "R_cam_root": R_cam_root, "pelvis_cam": joints_cam[:, 0], "box": box,
            "v_heading": v_heading, "height": joints[:, 0, 2], "contacts": contacts.astype(np.float64),
            "phenotype": c.bank.phenotypes[body], "rest_joints": rest, "joints_world": joints,
        }  # fmt: skip

    def batch(self, B: int, T: int) -> Batch:
        seqs = [self.sequence(T) for _ in range(B)]
        return Batch(**{k: torch.as_tensor(np.stack([s[k] for s in seqs]), dtype=torch.float32) for k in seqs[0]})
