"""BlazePose's metric 3D landmarks ("world landmarks"): their error model, measured on studio renders.

For every frame of a suite where the detector reports a person, its 14 model landmarks
(the points of :data:`livehmr.training.detector_errors.PAIRS`) are compared with the SMPL
joints they stand for. Both sides are centred on their own hip midpoint (BlazePose's
origin is the midpoint of *its* hips, which are not SMPL's hip joints: that difference
is part of each joint's bias). Errors are expressed in the **body frame** (SMPL's canon:
Y up, Z forward, X to the body's left), so they carry over between viewpoints:
``e_body = R_cam_root^T (landmark_cam - joint_cam)``, metres.

Per joint the file records the bias and covariance of ``e_body``'s Gaussian core (the
errors are heavy-tailed: :func:`robust_covariance`), the rate and covariance of the
outliers beyond it, the plain mean and covariance, percentiles, the lag-1 autocorrelation of the de-biased error (how errors persist from
frame to frame), and the error's spread along the camera's depth axis for reference.
Whole-body failures are counted per frame: a **facing flip** (the body's forward
direction from the landmarks more than 90 degrees from the truth: BlazePose sees the back
as the front or the reverse) and a **left/right swap** (the left/right landmark pairs fit
the truth better swapped), each with its rate and mean episode length in frames. The
motion model's training synthesises 3D landmarks from these numbers
(:class:`livehmr.training.motion.synth.LandmarkNoise`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from livehmr.core.geometry import rotvec_to_rotmat
from livehmr.core.types import KP
from livehmr.eval.keypoint_cache import cached_keypoints
from livehmr.models.motion.features import MIRROR, hip_centred
from livehmr.models.skeleton import JOINT
from livehmr.studio.suite import SequenceTruth, load_suite
from livehmr.training.detector_errors import PAIRS, write_error_model

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "models" / "data" / "blazepose_world_errors.json"
#: our keypoint name -> BlazePose landmark index (33-point topology), for the 14 model points
BLAZEPOSE_INDEX = {
    "left_shoulder": 11, "right_shoulder": 12, "left_elbow": 13, "right_elbow": 14, "left_wrist": 15,
    "right_wrist": 16, "left_hip": 23, "right_hip": 24, "left_knee": 25, "right_knee": 26, "left_ankle": 27,
    "right_ankle": 28, "left_big_toe": 31, "right_big_toe": 32,
}  # fmt: skip
NAMES = tuple(PAIRS)
LANDMARKS = np.array([BLAZEPOSE_INDEX[k] for k in NAMES])
JOINTS = np.array([JOINT[j] for j in PAIRS.values()])
KEYPOINT_INDEX = np.array([KP[k] for k in NAMES])  # into the 23-point 2D layout
HIPS = (NAMES.index("left_hip"), NAMES.index("right_hip"))
SHOULDERS = (NAMES.index("left_shoulder"), NAMES.index("right_shoulder"))


def facing(points: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(..., 3) unit forward direction of a body from its 14 points (hip and shoulder lines
    point to the body's left; forward = left x up), ``up`` (..., 3) the body's up."""
    left = (points[..., HIPS[0], :] - points[..., HIPS[1], :]) + (points[..., SHOULDERS[0], :] - points[..., SHOULDERS[1], :])
    forward = np.cross(left, up)
    return forward / np.maximum(np.linalg.norm(forward, axis=-1, keepdims=True), 1e-9)


def compare(landmarks_cam: np.ndarray, joints_cam: np.ndarray, R_cam_root: np.ndarray) -> dict[str, np.ndarray]:
    """One sequence's frames: landmarks (T, 14, 3) and true joints (T, 14, 3) in cam axes,
    R_cam_root (T, 3, 3). Returns e_body (T, 14, 3), e_cam (T, 14, 3), facing_flip (T,),
    lr_swap (T,), true_body (T, 14, 3) (the hip-centred truth in the body frame)."""
    lm, gt = hip_centred(landmarks_cam), hip_centred(joints_cam)
    e_cam = lm - gt
    e_body = np.einsum("tji,tkj->tki", R_cam_root, e_cam)
    up = R_cam_root[:, :, 1]  # the body's Y axis in cam
    facing_flip = np.einsum("ti,ti->t", facing(lm, up), facing(gt, up)) < 0
    same = np.linalg.norm(lm - gt, axis=-1).sum(-1)
    swapped = np.linalg.norm(lm[:, MIRROR] - gt, axis=-1).sum(-1)
    return {"e_body": e_body, "e_cam": e_cam, "facing_flip": facing_flip, "lr_swap": swapped < same,
            "true_body": np.einsum("tji,tkj->tki", R_cam_root, gt)}  # fmt: skip


def swapped_2d(keypoints: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(T,) whether 2D keypoints (T, 14, 2) fit the true projections (T, 14, 2) better with
    left and right exchanged (the detector took the back for the front, or the reverse)."""
    same = np.linalg.norm(keypoints - truth, axis=-1).sum(-1)
    return np.linalg.norm(keypoints[:, MIRROR] - truth, axis=-1).sum(-1) < same


def episodes(flags: np.ndarray) -> list[int]:
    """Lengths (frames) of the runs of True in a boolean sequence."""
    padded = np.concatenate([[False], flags, [False]]).astype(int)
    starts, ends = np.flatnonzero(np.diff(padded) == 1), np.flatnonzero(np.diff(padded) == -1)
    return (ends - starts).tolist()


def lag1_autocorrelation(e: np.ndarray, segments: list[slice]) -> float:
    """Lag-1 autocorrelation of de-meaned errors e (N, ...) within consecutive segments."""
    e = e - e.mean(0)
    num = den = 0.0
    for s in segments:
        x = e[s]
        if len(x) > 1:
            num += float((x[1:] * x[:-1]).sum())
            den += float((x**2).sum())
    return num / den if den > 0 else 0.0


def collect(suite_dirs: Sequence[str | Path], detector: str = "blazepose") -> tuple[dict[str, np.ndarray], list[slice], int]:
    """Every frame with landmarks, over suites: the arrays of :func:`compare` concatenated,
    plus visibility (N, 14) and the sequence's index (N,); the slices of consecutive frames;
    and the sequence count."""
    parts, segments, start = [], [], 0
    sequences = [s for d in suite_dirs for s in load_suite(d)]
    for _, folder in tqdm(sequences, desc="3D landmark errors", unit="seq"):
        truth = SequenceTruth.load(folder / "truth.npz")
        recorded = cached_keypoints(folder, truth, detector, far_search=False)  # the solution's own errors
        frames = [i for i in sorted(recorded) if recorded[i] and recorded[i][0].landmarks_3d is not None
                  and i < truth.num_frames]  # fmt: skip
        if not frames:
            continue
        idx = np.array(frames)
        lm = np.stack([lm3d[LANDMARKS] for i in frames if (lm3d := recorded[i][0].landmarks_3d) is not None])
        R_wc, eye = truth.T_world_cam[idx, :3, :3], truth.T_world_cam[idx, :3, 3]
        joints_cam = np.einsum("tji,tkj->tki", R_wc, truth.joints_world[idx][:, JOINTS] - eye[:, None])
        R_cam_root = np.einsum("tji,tjk->tik", R_wc, rotvec_to_rotmat(truth.global_orient[idx]))
        part = compare(lm, joints_cam, R_cam_root)
        part["visible"] = truth.visible[idx][:, JOINTS]
        kp2d = np.stack([recorded[i][0].keypoints[KEYPOINT_INDEX, :2] for i in frames])
        part["lr_swap_2d"] = swapped_2d(kp2d, truth.joints_2d[idx][:, JOINTS])
        part["sequence"] = np.full(len(idx), len(parts))
        parts.append(part)
        # consecutive runs of frames (a missed frame breaks a run)
        breaks = np.flatnonzero(np.diff(idx) != 1) + 1
        for a, b in zip(np.r_[0, breaks], np.r_[breaks, len(idx)]):
            segments.append(slice(start + a, start + b))
        start += len(idx)
    data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return data, segments, len(sequences)


OUTLIER_D2 = 16.27  # squared Mahalanobis distance a 3D Gaussian exceeds with probability 0.001


def robust_covariance(e: np.ndarray, keep: float = 0.9, rounds: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (3,), (3, 3) of the errors' Gaussian core: re-estimated from the
    ``keep`` fraction nearest the centre (Mahalanobis), scaled back to a whole Gaussian's.
    BlazePose's errors are heavy-tailed: a Gaussian with their plain covariance would make
    typical errors a third too large (measured: synthetic medians 0.14-0.24 m against
    0.11-0.21 m real)."""
    from scipy.stats import chi2

    mean, cov = e.mean(0), np.cov(e.T)
    q = chi2.ppf(keep, 3)
    for _ in range(rounds):
        d = e - mean
        d2 = np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov + 1e-12 * np.eye(3)), d)
        core = e[d2 <= q]
        if len(core) < 10:
            break
        mean = core.mean(0)
        cov = np.cov(core.T) * chi2.cdf(q, 3) / chi2.cdf(q, 5)  # a truncated Gaussian's covariance, undone
    return mean, cov


def summarise(data: dict[str, np.ndarray], segments: list[slice]) -> dict:
    """The error model (JSON-ready) from :func:`collect`'s arrays."""
    e_body, e_cam = data["e_body"], data["e_cam"]
    model: dict = {
        "frames": int(len(e_body)),
        "units": "metres; e_body in the body frame (SMPL canon: X left, Y up, Z forward), hip-centred",
        "facing_flip_rate": float(data["facing_flip"].mean()),
        "facing_flip_mean_frames": float(np.mean(episodes(data["facing_flip"]) or [0])),
        "lr_swap_rate": float(data["lr_swap"].mean()),
        "lr_swap_mean_frames": float(np.mean(episodes(data["lr_swap"]) or [0])),
        "lr_swap_2d_rate": float(data["lr_swap_2d"].mean()),
        "lr_swap_2d_mean_frames": float(np.mean(episodes(data["lr_swap_2d"]) or [0])),
        # how often the failures come together (fractions of the facing flips' frames)
        "facing_flip_with_lr_swap": float(data["lr_swap"][data["facing_flip"]].mean()) if data["facing_flip"].any() else 0.0,
        "facing_flip_with_lr_swap_2d": float(data["lr_swap_2d"][data["facing_flip"]].mean()) if data["facing_flip"].any() else 0.0,
        "lr_swap_with_lr_swap_2d": float(data["lr_swap_2d"][data["lr_swap"]].mean()) if data["lr_swap"].any() else 0.0,
        "joints": {},
    }
    ok = ~data["facing_flip"] & ~data["lr_swap"]  # the per-joint statistics of frames without a whole-body failure
    for k, name in enumerate(NAMES):
        e = e_body[ok, k]
        norm = np.linalg.norm(e, axis=-1)
        vis = data["visible"][ok, k]
        mean, cov = robust_covariance(e)
        d = e - mean
        outlier = np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov + 1e-10 * np.eye(3)), d) > OUTLIER_D2
        model["joints"][name] = {
            "truth_joint": PAIRS[name],
            "bias": mean.round(5).tolist(),
            "cov": cov.round(6).tolist(),  # of the Gaussian core (robust_covariance)
            "outlier_rate": float(outlier.mean()),  # beyond the core's p = 0.001 ellipsoid
            "outlier_cov": (np.cov(d[outlier].T) if outlier.sum() > 3 else 9 * cov).round(6).tolist(),
            "plain_mean": e.mean(0).round(5).tolist(),
            "plain_cov": np.cov(e.T).round(6).tolist(),
            "lag1_autocorrelation": round(lag1_autocorrelation(e_body[:, k], segments), 4),
            "error_p50": float(np.percentile(norm, 50)),
            "error_p90": float(np.percentile(norm, 90)),
            "error_p50_visible": float(np.percentile(norm[vis], 50)) if vis.any() else None,
            "error_p50_hidden": float(np.percentile(norm[~vis], 50)) if (~vis).any() else None,
            "depth_std_cam": float(e_cam[ok, k, 2].std()),
        }
    return model


def gait_gain(data: dict[str, np.ndarray]) -> np.ndarray:
    """(14, 3): how much of each joint's motion about its mean the landmarks keep, per body
    axis: the least-squares slope of the landmark on the truth (both hip-centred, body
    frame), each sequence centred on its own means, frames without a whole-body failure.
    1 keeps the motion; BlazePose keeps a third to a half of a runner's leg swing, which an
    additive error model cannot express."""
    ok = ~data["facing_flip"] & ~data["lr_swap"]
    x, seq = data["true_body"][ok], data["sequence"][ok]
    y = x + data["e_body"][ok]
    num = np.zeros(x.shape[1:])
    den = np.zeros(x.shape[1:])
    for s in np.unique(seq):
        xs, ys = x[seq == s], y[seq == s]
        dx, dy = xs - xs.mean(0), ys - ys.mean(0)
        num += (dx * dy).sum(0)
        den += (dx * dx).sum(0)
    return num / np.maximum(den, 1e-12)


def summarise_gait(data: dict[str, np.ndarray], segments: list[slice]) -> dict:
    """The error model of a body covering ground: :func:`gait_gain`'s gains, and
    :func:`summarise`'s statistics of what the gains leave: ``landmark - (mean + gain * (truth
    - mean))``, each sequence's own means (so the bias is measured after the gain)."""
    gain = gait_gain(data)
    x = data["true_body"]
    mean = np.zeros_like(x)
    for s in np.unique(data["sequence"]):
        mean[data["sequence"] == s] = x[data["sequence"] == s].mean(0)
    shrunk = mean + gain * (x - mean)
    model = summarise({**data, "e_body": x + data["e_body"] - shrunk}, segments)
    for k, name in enumerate(NAMES):
        model["joints"][name]["gain"] = gain[k].round(4).tolist()
    model["units"] += "; gain: of the motion about the sequence's mean, per body axis"
    return model


def measure_gait_landmark_errors(suite_dirs: Sequence[str | Path], path: str | Path | None = None,
                                 detector: str = "blazepose") -> Path:  # fmt: skip
    """Measure the gait part of the 3D landmark error model over suites of training subjects
    covering ground (``livehmr studio make --suite detector-gait``) and write it, as the
    ``gait`` entry, into the error model file ``path`` (None: the shipped file; the rest of
    the file is kept); returns the file."""
    data, segments, n_sequences = collect(suite_dirs, detector)
    model = load_landmark_errors(path)
    model["gait"] = {"suites": [Path(d).name for d in suite_dirs], "sequences": n_sequences, **summarise_gait(data, segments)}
    return write_error_model(model, path, DEFAULT_PATH)


def measure_landmark_errors(suite_dirs: Sequence[str | Path], out: str | Path | None = None, detector: str = "blazepose") -> Path:
    """Measure and write the 3D landmark error model over one or more rendered suites
    (training subjects: ``livehmr studio make --suite detector [--seed N]``); returns the file.
    A ``gait`` entry already in the file (:func:`measure_gait_landmark_errors`) is kept."""
    data, segments, n_sequences = collect(suite_dirs, detector)
    model = {"detector": detector, "suites": [Path(d).name for d in suite_dirs], "sequences": n_sequences,
             **summarise(data, segments)}  # fmt: skip
    target = Path(out) if out else DEFAULT_PATH
    if target.is_file() and "gait" in (old := load_landmark_errors(target)):
        model["gait"] = old["gait"]
    return write_error_model(model, out, DEFAULT_PATH)


def load_landmark_errors(path: str | Path | None = None) -> dict:
    """The saved 3D landmark error model (see :func:`measure_landmark_errors`)."""
    return json.loads(Path(path or DEFAULT_PATH).read_text())
