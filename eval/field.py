"""livehmr on the field's yardsticks: EMDB (splits 1 and 2) and 3DPW's test split, scored by
the studio's own :func:`~livehmr.eval.accuracy.score` on the datasets' SMPL ground truth
(protocol choices and their sources: docs/benchmarks.md).

Each sequence is run causally at its own rate with its own intrinsics through the same
code as ``livehmr bench accuracy`` (:func:`~livehmr.eval.accuracy.run_frames`). Configs:
``ESTIMATOR[+CAMERA]``, with CAMERA ``gyro`` (simulated from the dataset's true camera
rotation: the "GT gyro" rows of WHAM and GVHMR), ``vo`` or none (a static camera).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livehmr.core.errors import LivehmrError
from livehmr.core.geometry import invert_T, transform_points
from livehmr.eval import metrics as M
from livehmr.eval.accuracy import Prediction, run_frames, score
from livehmr.eval.datasets import DatasetFrames, DatasetSequence, gt_gyro, smpl_forward, smpl_joints, smpl_model_file
from livehmr.studio.suite import SequenceTruth

#: what each benchmark reports, in order
METRICS = {
    "emdb2": ("WA-MPJPE100", "W-MPJPE100", "RTE", "jitter", "foot sliding", "coverage"),
    "emdb1": ("PA-MPJPE", "MPJPE", "PVE", "coverage"),
    "3dpw": ("PA-MPJPE", "MPJPE", "PVE", "coverage"),
}
UNITS = {"RTE": "%", "jitter": "10 m/s³", "coverage": "%"}


@dataclass(frozen=True)
class PublishedRow:
    """A published result, with where it was read. Values: None where not verified here."""

    method: str
    values: dict[str, float]
    source: str
    note: str = ""


_WIZ_WHAM = "WHAM (Shin et al., CVPR 2024), as listed at https://www.wizwand.com/paper/68fa72ed1e209131cea594ca"
_WIZ_GVHMR = "GVHMR (Shen et al., SIGGRAPH Asia 2024), as listed at https://www.wizwand.com/paper/68fa74c11e209131cea638a9"
#: the field's rows beside ours. Only values read from a page this project could reach are
#: filled; the rest of each paper's table (and TRAM, OnlineHMR) was not verified here and is
#: left out rather than recalled. Joint sets differ: see each note and docs/benchmarks.md.
PUBLISHED: dict[str, tuple[PublishedRow, ...]] = {
    "emdb1": (PublishedRow("WHAM", {"PA-MPJPE": 50.4}, _WIZ_WHAM, "EMDB protocol 1, 24 joints"),
              PublishedRow("GVHMR", {"PA-MPJPE": 44.5}, _WIZ_GVHMR, "EMDB, 24 joints")),
    "emdb2": (PublishedRow("GVHMR", {"WA-MPJPE100": 111.0}, _WIZ_GVHMR, "EMDB 2"),),
    "3dpw": (PublishedRow("WHAM", {"PA-MPJPE": 35.9, "MPJPE": 56.9}, _WIZ_WHAM, "14 joints (ours: SMPL's 24)"),
             PublishedRow("GVHMR", {"PA-MPJPE": 37.0}, _WIZ_GVHMR, "14 joints (ours: SMPL's 24)")),
}  # fmt: skip


def truth_of(sequence: DatasetSequence, joints_world: np.ndarray) -> SequenceTruth:
    """A dataset sequence as the studio's ground truth, so :func:`score` scores it unchanged:
    ``joints_world`` (T, 24, 3) from SMPL, the true camera, 2D joints projected with the
    dataset's intrinsics (visible: in the image, in front of the camera)."""
    import cv2

    first = cv2.imread(str(sequence.images[0]), cv2.IMREAD_COLOR)
    if first is None:
        raise LivehmrError(f"{sequence.name}: cannot read {sequence.images[0]}")
    h, w = first.shape[:2]
    n = sequence.num_frames
    joints_2d = M.project(joints_world, sequence.T_world_cam, sequence.K)
    cam = transform_points(invert_T(sequence.T_world_cam), joints_world)
    inside = (joints_2d[..., 0] >= 0) & (joints_2d[..., 0] < w) & (joints_2d[..., 1] >= 0) & (joints_2d[..., 1] < h)
    return SequenceTruth(fps=sequence.fps, K=sequence.K, size=np.array([w, h]), times=np.arange(n) / sequence.fps,
                         T_world_cam=sequence.T_world_cam, joints_world=joints_world,
                         global_orient=sequence.global_orient, body_pose=sequence.body_pose, transl=sequence.transl,
                         betas=sequence.betas, rest_joints=np.zeros((24, 3)), contacts=np.zeros((n, 4), bool),
                         joints_2d=joints_2d, visible=inside & (cam[..., 2] > 0.1), R_cam_imu=np.eye(3),
                         gyro_clock_offset_s=0.0)  # fmt: skip


def parse_config(config: str) -> tuple[str, str]:
    """``learned+gyro`` -> (``learned``, ``gyro``); ``baseline`` -> (``baseline``, ``static``)."""
    estimator, _, camera = config.partition("+")
    camera = camera or "static"
    if estimator not in ("learned", "baseline") or camera not in ("gyro", "vo", "static"):
        raise LivehmrError(f"config {config!r}: ESTIMATOR[+CAMERA], ESTIMATOR learned | baseline, CAMERA gyro | vo")
    return estimator, camera


def run_dataset_sequence(sequence: DatasetSequence, config: str, body, keypoints: str = "blazepose",
                         refine: tuple[str, ...] = ()) -> Prediction:  # fmt: skip
    """The pipeline on one sequence's frames, causally, at their rate and intrinsics."""
    from livehmr.stream import registry
    from livehmr.stream.camera.gyro import GyroCamera
    from livehmr.stream.sources.gyro_feeds import ArrayGyroFeed

    estimator, camera = parse_config(config)
    source = DatasetFrames(sequence)
    if camera == "gyro":  # with the floor's travel, as make_camera gives live
        from livehmr.stream.camera.floor_camera import FloorMotionCamera

        camera_motion = FloorMotionCamera(GyroCamera(ArrayGyroFeed(gt_gyro(sequence.T_world_cam, sequence.fps)), np.eye(3)))
    else:
        camera_motion = registry.make_camera(camera, source)
    w = 2 * sequence.K[0, 2]
    hfov = float(np.degrees(2 * np.arctan(w / (2 * sequence.K[0, 0]))))  # only used where a frame has no K
    return run_frames(source, camera_motion, estimator, body, hfov, sequence.num_frames, keypoints, refine)


def score_sequence(prediction: Prediction, truth: SequenceTruth, valid: np.ndarray, meshes=None) -> dict:
    """:func:`score` on the dataset's scored frames only (a frame outside ``valid`` counts as
    neither a hit nor a miss)."""
    keep = np.flatnonzero(valid)
    position = {int(frame): n for n, frame in enumerate(keep)}  # dataset frame -> its place among the scored
    pred = Prediction(prediction.joints_world[keep], prediction.T_world_cam[keep], prediction.global_orient[keep],
                      prediction.body_pose[keep], prediction.transl[keep], prediction.betas[keep],
                      prediction.has_body[keep],
                      keypoints={position[i]: k for i, k in prediction.keypoints.items() if i in position})  # fmt: skip
    sub = SequenceTruth(**{**truth.__dict__, **{k: getattr(truth, k)[keep] for k in (
        "times", "T_world_cam", "joints_world", "global_orient", "body_pose", "transl", "contacts", "joints_2d",
        "visible")}})  # fmt: skip
    return score(pred, sub, meshes)


def smpl_meshes(sequence: DatasetSequence, smpl_dir: str | Path, body, stride: int = 10):
    """PVE meshes (``--body smpl`` only: the published parameters on the user's SMPL, the
    truth's on the model of the sequence's gender), every ``stride``-th frame with a body.
    Frames are the scored ones (:func:`score_sequence` hands over ``sequence.valid``'s)."""
    from livehmr.models.body import SmplParams

    scored = np.flatnonzero(sequence.valid)

    def make(pred: Prediction, truth: SequenceTruth):
        frames = np.flatnonzero(pred.has_body)[::stride]
        if not len(frames):
            return np.zeros((0, 1, 3)), np.zeros((0, 1, 3)), frames
        pw = np.stack([body.mesh(SmplParams(pred.global_orient[i], pred.body_pose[i], pred.transl[i]))[0] for i in frames])
        gw = smpl_forward(sequence, smpl_dir, scored[frames]).vertices.double().numpy()
        return (transform_points(invert_T(pred.T_world_cam[frames]), pw),
                transform_points(invert_T(truth.T_world_cam[frames]), gw), frames)

    return make


def evaluate(sequences: list[DatasetSequence], smpl_dir: str | Path, configs: tuple[str, ...], body_name: str = "anny",
             keypoints: str = "blazepose", refine: tuple[str, ...] = (), progress=None) -> dict[str, dict[str, dict]]:  # fmt: skip
    """Per sequence, per config (and per refined stream, ``CONFIG+refine-PRIOR``): the metrics."""
    from livehmr.models.body import load_body_model

    for config in configs:
        parse_config(config)
    body = load_body_model(body_name, str(smpl_model_file(smpl_dir)) if body_name == "smpl" else None)
    results: dict[str, dict[str, dict]] = {}
    for sequence in sequences:
        truth = truth_of(sequence, smpl_joints(sequence, smpl_dir))
        meshes = smpl_meshes(sequence, smpl_dir, body) if body_name == "smpl" else None
        results[sequence.name] = {}
        for config in configs:
            prediction = run_dataset_sequence(sequence, config, body, keypoints, refine)
            results[sequence.name][config] = score_sequence(prediction, truth, sequence.valid, meshes)
            for prior, refined in prediction.refined.items():
                results[sequence.name][f"{config}+refine-{prior}"] = score_sequence(refined, truth, sequence.valid, meshes)
            if progress:
                progress(sequence.name, config)
    return results


def table(results: dict[str, dict[str, dict]], benchmark: str) -> dict[str, dict[str, float]]:
    """Each config's metrics: means over sequences weighted by their scored frames."""
    rows: dict[str, dict[str, float]] = {}
    configs = sorted({c for per in results.values() for c in per})
    for config in configs:
        row = {}
        for metric in METRICS[benchmark]:
            values = [(r[config].get(metric, np.nan), r[config]["frames"]) for r in results.values() if config in r]
            values = [(v, w) for v, w in values if np.isfinite(v)]
            row[metric] = float(np.average([v for v, _ in values], weights=[w for _, w in values])) if values else np.nan
        rows[config] = row
    return rows


def markdown(rows: dict[str, dict[str, float]], benchmark: str, gyro_note: bool) -> str:
    """Our rows, then the published ones with their sources."""
    metrics = METRICS[benchmark]
    head = "| method | " + " | ".join(f"{m} ({UNITS.get(m, 'mm')})" for m in metrics) + " | source |"
    lines = [head, "|" + "---|" * (len(metrics) + 2)]
    for config, row in rows.items():
        cells = " | ".join("—" if not np.isfinite(row[m]) else f"{row[m]:.1f}" for m in metrics)
        lines.append(f"| livehmr {config} | {cells} | measured now{' (gyro simulated from the true camera)' if gyro_note and 'gyro' in config else ''} |")
    for published in PUBLISHED.get(benchmark, ()):
        cells = " | ".join(f"{published.values[m]:.1f}" if m in published.values else "—" for m in metrics)
        lines.append(f"| {published.method} | {cells} | {published.source}; {published.note} |")
    return "\n".join(lines)
