"""``livehmr bench accuracy``: the pipeline on every studio sequence, scored against truth.

Each sequence runs through the real pipeline (video file source, keypoints, camera
backend, estimator) causally, frame by frame in time order, gyro samples integrated
between frame timestamps as live. The keypoint model runs once per sequence (cached beside
the video, :func:`cached_keypoints`); every configuration replays the keypoints it produced
(BlazePose in tracking mode is deterministic on the same frames, so they see exactly what
a live run would) and runs everything after it live.

What is compared (see :mod:`livehmr.eval.metrics` for the definitions):
- camera frame: MPJPE, PA-MPJPE, PVE (prediction = published world joints brought into
  the camera by the published ``T_world_cam``; truth likewise with the true camera; PVE
  on every 10th frame with a body, as meshing both bodies costs more than the run);
- world: WA-MPJPE100, W-MPJPE100, RTE, jitter, foot sliding, accel error, on the runs
  of consecutive frames where a body was published;
- camera rotation: the published camera orientation relative to its first frame vs the
  truth's, degrees; camera drift: the published camera's position against the true one
  (worlds aligned at the first frame with a body), metres, every camera family;
- ground speed: the published pelvis' mean ground speed over the true one on the same
  frames (both smoothed alike), per camera family; RTE by the sequence's true mean
  ground speed (walking pace vs running);
- coverage: the share of frames with a published body.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from livehmr.core.geometry import invert_T, transform_points
from livehmr.core.stages import Estimator
from livehmr.core.types import FrameResult, PersonKeypoints
from livehmr.eval import metrics as M
from livehmr.eval.keypoint_cache import cached_keypoints
from livehmr.studio.locomotion import ground_speed
from livehmr.studio.suite import SequenceSpec, SequenceTruth, load_suite

CONFIGS = (("learned", "gyro"), ("learned", "gyro+vo"), ("learned", "static"), ("baseline", "gyro"), ("baseline", "gyro+vo"))
TABLE_METRICS = (
    ("coverage", "%"), ("PA-MPJPE", "mm"), ("MPJPE", "mm"), ("PVE", "mm"), ("WA-MPJPE100", "mm"),
    ("W-MPJPE100", "mm"), ("RTE", "%"), ("jitter", "10m/s³"), ("foot sliding", "mm"), ("accel", "mm/f²"),
    ("cam rot", "deg"),
)  # fmt: skip
#: the second table: errors by body part, the overlay's 2D error and the camera's drift
DETAIL_METRICS = (
    ("PA torso", "mm"), ("PA arms", "mm"), ("PA legs", "mm"), ("2D published", "px"), ("2D BlazePose", "px"),
    ("2D ratio", "×"),
)  # fmt: skip
RUNNING_SPEED = 1.8  # m/s: RTE is reported apart for sequences whose true mean ground speed is below / at least this
HEIGHT_BINS = (0, 40, 80, 160, 320, 10_000)  # person height in pixels, for coverage


@dataclass
class Prediction:
    """What the pipeline published for a sequence, per frame (NaN where no body)."""

    joints_world: np.ndarray  # (T, 24, 3)
    T_world_cam: np.ndarray  # (T, 4, 4)
    global_orient: np.ndarray  # (T, 3)
    body_pose: np.ndarray  # (T, 69)
    transl: np.ndarray  # (T, 3)
    betas: np.ndarray  # (T, 10)
    has_body: np.ndarray  # (T,) bool
    keypoints: dict[int, list[PersonKeypoints]] = field(default_factory=dict)
    #: refined streams of the same run, by prior name (``--refine``)
    refined: dict[str, Prediction] = field(default_factory=dict)
    #: refined predictions only: the refiner's lag (frames) when it published each frame
    lag_frames: list[int] = field(default_factory=list)
    #: refined predictions only: wall time of each window solve, ms
    solve_ms: list[float] = field(default_factory=list)

    @classmethod
    def empty(cls, n: int) -> Prediction:
        return cls(np.full((n, 24, 3), np.nan), np.tile(np.eye(4), (n, 1, 1)), np.full((n, 3), np.nan),
                   np.full((n, 69), np.nan), np.full((n, 3), np.nan), np.full((n, 10), np.nan), np.zeros(n, bool))  # fmt: skip

    def record(self, result: FrameResult) -> None:
        i = result.frame_index
        if i >= len(self.has_body):
            return
        self.T_world_cam[i] = result.T_world_cam
        self.keypoints[i] = result.keypoints
        if result.lag_frames is not None:
            self.lag_frames.append(result.lag_frames)
        if result.persons:
            p = result.persons[0]
            self.joints_world[i] = p.joints_world
            self.global_orient[i], self.body_pose[i], self.transl[i] = p.params.global_orient, p.params.body_pose, p.params.transl
            self.betas[i] = p.params.betas
            self.has_body[i] = True


class ReplayedKeypoints:
    """A keypoint stage that returns what an earlier run's detector produced for each frame."""

    def __init__(self, recorded: dict[int, list[PersonKeypoints]]):
        self.recorded = recorded

    def detect(self, frame) -> list[PersonKeypoints]:
        return self.recorded.get(frame.index, [])

    def reset(self) -> None:
        pass  # a recording has no state to forget

    def close(self) -> None:
        pass


def run_sequence(folder: Path, spec: SequenceSpec, truth: SequenceTruth, estimator: str, camera: str, body,
                 keypoints: str | dict[int, list[PersonKeypoints]] = "blazepose", refine: tuple[str, ...] | dict = (),
                 estimator_options: dict | None = None, floor_motion: bool = True) -> Prediction:  # fmt: skip
    """Run the pipeline on one sequence; ``keypoints``: a backend name or recorded keypoints.
    ``refine``: priors (``humor``, ``diffusion``, ``noprior``), or labelled RefineConfigs,
    whose refined streams are made from the same causal results (synchronously, so the
    numbers do not depend on the machine's load) into ``Prediction.refined``.
    ``estimator_options``: keyword arguments of :func:`~livehmr.stream.registry.make_estimator`
    (``motion_model``, ``camera_translation``). ``floor_motion``: the camera stage measures
    the camera's travel over the floor (as live)."""
    from livehmr.stream import registry
    from livehmr.stream.sources.files import VideoFileSource

    source = VideoFileSource(folder / "video.mp4")
    gyro = str(folder / "gyro.csv") if "gyro" in camera else None
    camera_motion = registry.make_camera(camera, source, gyro, spec.imu, hfov_deg=spec.hfov_deg, floor_motion=floor_motion)
    return run_frames(source, camera_motion, estimator, body, spec.hfov_deg,
                      truth.num_frames, keypoints, refine, estimator_options)  # fmt: skip


def run_frames(source, camera_motion, estimator: str | Estimator, body, hfov_deg: float, num_frames: int,
               keypoints: str | dict[int, list[PersonKeypoints]] = "blazepose", refine: tuple[str, ...] | dict = (),
               estimator_options: dict | None = None,
               on_result: tuple[Callable[[FrameResult], None], ...] = ()) -> Prediction:  # fmt: skip
    """The pipeline on ``source`` with ``camera_motion``, recorded per frame (see
    :func:`run_sequence`; the dataset benchmarks run the same code on their frames).
    ``estimator``: a name for the registry, or one already made; ``on_result``: more
    callbacks on every frame's result (after the recording)."""
    from livehmr.stream import registry
    from livehmr.stream.runtime import Pipeline

    detector = registry.make_keypoints(keypoints) if isinstance(keypoints, str) else ReplayedKeypoints(keypoints)
    prediction = Prediction.empty(num_frames)
    if not isinstance(refine, dict):
        from livehmr.stream.refine.refiner import RefineConfig

        refine = {name: RefineConfig.for_prior(name) for name in refine}
    refiners = {name: _Refined(config, body, num_frames) for name, config in refine.items()}
    prediction.refined = {name: r.prediction for name, r in refiners.items()}
    pipeline = Pipeline(source=source, keypoints=detector, camera=camera_motion,
                        estimator=registry.make_estimator(estimator, body, hfov_deg, **(estimator_options or {}))
                        if isinstance(estimator, str) else estimator,
                        on_result=[prediction.record, *(r.push for r in refiners.values()), *on_result])  # fmt: skip
    try:
        pipeline.run()
    finally:
        pipeline.close()
    for r in refiners.values():
        r.finish()
    return prediction


class _Refined:
    """A refined stream made beside a causal run (see :func:`run_sequence`)."""

    def __init__(self, config, body, frames: int):
        from livehmr.stream.refine.refiner import FixedLagRefiner

        self.refiner = FixedLagRefiner(body, config)
        self.prediction = Prediction.empty(frames)

    def push(self, result: FrameResult) -> None:
        for refined in self.refiner.push(result):
            self.prediction.record(refined)

    def finish(self) -> None:
        for refined in self.refiner.flush():
            self.prediction.record(refined)
        self.prediction.solve_ms = list(self.refiner.solve_ms)


def score(pred: Prediction, truth: SequenceTruth, meshes=None) -> dict[str, float | np.ndarray]:
    """Metrics of one sequence (means), plus per-frame series for plots.
    ``meshes``: optional callable (pred, truth) -> (pred_vertices, gt_vertices, frames) for PVE."""
    ok = pred.has_body
    out: dict[str, float | np.ndarray] = {"coverage": 100 * ok.mean(), "frames": float(len(ok))}
    gt_world = truth.joints_world
    gt_cam = transform_points(invert_T(truth.T_world_cam), gt_world)
    pred_cam = transform_points(invert_T(pred.T_world_cam), pred.joints_world)
    R_rel_pred = np.swapaxes(pred.T_world_cam[:1, :3, :3], 1, 2) @ pred.T_world_cam[:, :3, :3]
    R_rel_gt = np.swapaxes(truth.T_world_cam[:1, :3, :3], 1, 2) @ truth.T_world_cam[:, :3, :3]
    out["cam rot"] = float(M.rotation_error_deg(R_rel_pred, R_rel_gt).mean())
    # from the first frame with a body: before anyone is seen, no world (floor, origin) exists to place the camera in
    drift = M.camera_position_drift(pred.T_world_cam, truth.T_world_cam, start=int(np.argmax(ok)) if ok.any() else 0)
    out["cam drift"] = float(drift.max())
    out["true speed"] = float(truth.ground_speed.mean())
    height_px, visible_2d = person_height_px(truth)
    out["_height_px"], out["_has_body"] = height_px, ok
    if not ok.any():
        return out
    out["MPJPE"] = float(M.mpjpe(pred_cam[ok], gt_cam[ok]).mean())
    per_joint = M.pa_joint_errors(pred_cam[ok], gt_cam[ok])
    out["_pa_err"] = np.full(len(ok), np.nan)
    out["_pa_err"][ok] = per_joint.mean(axis=1)
    out["PA-MPJPE"] = float(per_joint.mean())
    for part, joints in M.BODY_PARTS.items():
        out[f"PA {part}"] = float(per_joint[:, list(joints)].mean())
    out.update(overlay_errors(pred, truth, ok, visible_2d))
    if meshes is not None:
        pv, gv, frames = meshes(pred, truth)
        out["PVE"] = float(M.pve(pv, gv, pred_cam[frames], gt_cam[frames]).mean()) if len(frames) else np.nan
    series = {k: [] for k in ("WA-MPJPE100", "W-MPJPE100", "jitter", "foot sliding", "accel")}
    w_err = np.full(len(ok), np.nan)
    for run in M.runs(ok, min_length=4):
        p, g = pred.joints_world[run], gt_world[run]
        series["WA-MPJPE100"].append(M.wa_mpjpe(p, g))
        w = M.w_mpjpe(p, g)
        w_err[run] = w
        series["W-MPJPE100"].append(w)
        series["jitter"].append(M.jitter(p, truth.fps))
        series["foot sliding"].append(M.foot_sliding(p, g))
        series["accel"].append(M.accel_error(p, g))
    for k, v in series.items():
        out[k] = float(np.concatenate(v).mean()) if v else np.nan
    published_path, true_path = 0.0, 0.0  # metres walked on the frames both are known, smoothed alike
    for run in M.runs(ok, min_length=10):
        published_path += float(ground_speed(pred.joints_world[run, 0, :2], truth.fps).sum()) / truth.fps
        true_path += float(ground_speed(gt_world[run, 0, :2], truth.fps).sum()) / truth.fps
    out["published path m"], out["true path m"] = published_path, true_path
    root_pred, root_gt = pred.joints_world[ok, 0], gt_world[ok, 0]
    out["RTE"] = float(M.rte(root_pred, root_gt).mean()) if ok.sum() > 2 else np.nan
    s, R, t = M.align_similarity(root_pred, root_gt, scale=False)
    out["_root_pred_aligned"] = root_pred @ R.T + t
    out["_root_gt"] = gt_world[:, 0]
    out["_w_err"] = w_err
    return out


def person_height_px(truth: SequenceTruth) -> tuple[np.ndarray, np.ndarray]:
    """(T,) the person's height in the image (px: vertical extent of the visible true joints,
    NaN when fewer than 4 are visible) and (T, 24) which joints are visible."""
    visible = truth.visible & np.isfinite(truth.joints_2d).all(-1)
    y = np.where(visible, truth.joints_2d[..., 1], np.nan)
    with warnings.catch_warnings():  # frames where nobody is visible: NaN, said so below
        warnings.simplefilter("ignore", RuntimeWarning)
        height = np.nanmax(y, axis=1) - np.nanmin(y, axis=1)
    height[visible.sum(1) < 4] = np.nan
    return height, visible


def overlay_errors(pred: Prediction, truth: SequenceTruth, ok: np.ndarray, visible: np.ndarray) -> dict[str, float]:
    """What an AR overlay shows: the published joints projected through the published camera
    (with the true intrinsics) against the true 2D joints, median px over the model's 14
    keypoint joints where visible; beside it BlazePose's own 2D error on the same joints
    and frames (where it reported them), and their ratio."""
    from livehmr.models.motion.features import KEYPOINT_INDEX, KEYPOINT_JOINTS

    published = M.project(pred.joints_world, pred.T_world_cam, truth.K)[:, KEYPOINT_JOINTS]
    gt = truth.joints_2d[:, KEYPOINT_JOINTS]
    detector = np.full_like(gt, np.nan)
    for i, persons in pred.keypoints.items():
        if persons and i < len(detector):
            kp = persons[0].keypoints[KEYPOINT_INDEX]
            detector[i] = np.where(kp[:, 2:] >= 0.3, kp[:, :2], np.nan)
    use = ok[:, None] & visible[:, KEYPOINT_JOINTS] & np.isfinite(detector).all(-1) & np.isfinite(published).all(-1)
    if not use.any():
        return {}
    e_pub = np.linalg.norm(published - gt, axis=-1)[use]
    e_det = np.linalg.norm(detector - gt, axis=-1)[use]
    return {"2D published": float(np.median(e_pub)), "2D BlazePose": float(np.median(e_det)),
            "2D ratio": float(np.median(e_pub) / max(np.median(e_det), 1e-6))}  # fmt: skip


def anny_meshes(stride: int = 10):
    """PVE meshes: the published parameters on the pipeline's body, the truth's on the true
    body (both Anny, same topology), every ``stride``-th frame with a body."""
    from livehmr.models.anny_body import AnnyBody
    from livehmr.models.body import SmplParams

    cache: dict[str, AnnyBody] = {}

    def bodies(truth: SequenceTruth) -> AnnyBody:
        key = json.dumps(truth.phenotype, sort_keys=True)
        if key not in cache:
            cache.clear()
            cache[key] = AnnyBody(truth.phenotype)
        return cache[key]

    def make(pred: Prediction, truth: SequenceTruth):
        from livehmr.models.anny_body import PHENOTYPES

        frames = np.flatnonzero(pred.has_body)[::stride]
        gt_body = bodies(truth)
        # the published shape: Anny betas are its phenotype (the learned model predicts it;
        # the baseline publishes the default body's)
        phenotype = np.clip(np.nanmedian(pred.betas[pred.has_body, : len(PHENOTYPES)], axis=0), 0.0, 1.0)
        default = [AnnyBody(dict(zip(PHENOTYPES, phenotype.tolist())))]
        pv, gv = [], []
        for start in range(0, len(frames), 32):
            chunk = frames[start : start + 32]
            pp = [SmplParams(pred.global_orient[i], pred.body_pose[i], pred.transl[i], default[0].betas) for i in chunk]
            gp = [SmplParams(truth.global_orient[i], truth.body_pose[i], truth.transl[i], truth.betas) for i in chunk]
            pw = default[0].pose_bones(pp)["vertices"].numpy().astype(np.float64)
            gw = gt_body.pose_bones(gp)["vertices"].numpy().astype(np.float64)
            pv.append(transform_points(invert_T(pred.T_world_cam[chunk]), pw))
            gv.append(transform_points(invert_T(truth.T_world_cam[chunk]), gw))
        if not pv:
            return np.zeros((0, 1, 3)), np.zeros((0, 1, 3)), frames
        return np.concatenate(pv), np.concatenate(gv), frames

    return make


def plot_sequence(name: str, results: dict[str, dict], out: Path) -> None:
    """Top view of the root trajectories (each aligned rigidly, as RTE is) and W-MPJPE over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_top, ax_err) = plt.subplots(1, 2, figsize=(11, 4.5))
    first = next(iter(results.values()))
    if "_root_gt" in first:
        gt = first["_root_gt"]
        ax_top.plot(gt[:, 0], gt[:, 1], "k-", lw=2, label="truth")
    for label, r in results.items():
        if "_root_pred_aligned" in r:
            p = r["_root_pred_aligned"]
            ax_top.plot(p[:, 0], p[:, 1], lw=1, label=label)
            ax_err.plot(np.arange(len(r["_w_err"])) / 30.0, r["_w_err"], lw=1, label=label)
    ax_top.set_aspect("equal", adjustable="datalim")
    ax_top.set(title=f"{name}: root, top view (m)", xlabel="x", ylabel="y")
    ax_err.set(title="W-MPJPE100 per frame", xlabel="s", ylabel="mm")
    for ax in (ax_top, ax_err):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / f"{name}.png", dpi=80)
    plt.close(fig)


def bench_accuracy(suite_dir: str | Path, out: str | Path, configs=CONFIGS, pve_stride: int = 10,
                   limit: int | None = None, progress=True, refine: tuple[str, ...] | dict = (),
                   estimator_options: dict | None = None, far_search: bool = True,
                   compare_to: str | Path | None = None, floor_motion: bool = True) -> dict[str, dict[str, float]]:  # fmt: skip
    """Run and score every sequence of a suite for each (estimator, camera) config; write
    ``results.json``, ``table.md``, ``frames.npz`` (per sequence and config, per frame:
    ``has_body``, PA-MPJPE, W-MPJPE100 errors) and one plot per sequence into ``out``; return
    the table. ``refine``: priors (or labelled RefineConfigs, see :func:`run_sequence`) whose
    refined stream is scored too, as ``<config> refined:<label>`` (with its publish lag and
    window solve times under the table). ``far_search``: BlazePose with the far-person
    fallback (as live) or the solution alone. ``compare_to``: another run's output folder;
    the table then also says how the frames this run publishes and that one does not fare.
    ``floor_motion``: camera stages measure the camera's travel over the floor (as live)."""
    from tqdm import tqdm

    from livehmr.models.anny_body import AnnyBody

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sequences = load_suite(suite_dir)[:limit]
    body = AnnyBody()
    meshes = anny_meshes(pve_stride)
    per_sequence: dict[str, dict[str, dict]] = {}
    families: dict[str, str] = {}
    heights: dict[str, list[np.ndarray]] = {}  # config -> [(height_px, has_body) per frame]
    solve_times: dict[str, list[float]] = {}
    lags: dict[str, list[int]] = {}
    frame_series: dict[str, np.ndarray] = {}  # "sequence|config|series" -> (T,)
    for spec, folder in tqdm(sequences, desc="bench accuracy", unit="seq", disable=not progress):
        truth = SequenceTruth.load(folder / "truth.npz")
        recorded = cached_keypoints(folder, truth, far_search=far_search)
        results = {}
        for estimator, camera in configs:
            options = estimator_options if estimator == "learned" else None
            pred = run_sequence(folder, spec, truth, estimator, camera, body, keypoints=recorded, refine=refine,
                                estimator_options=options, floor_motion=floor_motion)  # fmt: skip
            results[f"{estimator}+{camera}"] = score(pred, truth, meshes)
            for prior, refined in pred.refined.items():
                name = f"{estimator}+{camera} refined:{prior}"
                results[name] = score(refined, truth, meshes)
                solve_times.setdefault(name, []).extend(refined.solve_ms)
                lags.setdefault(name, []).extend(refined.lag_frames)
        plot_sequence(spec.name, results, out)
        families[spec.name] = spec.camera
        for config, r in results.items():
            if "_height_px" in r:
                heights.setdefault(config, []).append(np.column_stack([r["_height_px"], r["_has_body"]]))
            for series in ("_has_body", "_pa_err", "_w_err"):
                if series in r:
                    frame_series[f"{spec.name}|{config}|{series[1:]}"] = np.asarray(r[series])
        per_sequence[spec.name] = {k: {m: v for m, v in r.items() if not m.startswith("_")} for k, r in results.items()}
    table = summarize(per_sequence)
    details = summarize_details(per_sequence, families)
    coverage_by_height = {c: coverage_by_height_px(np.concatenate(h)) for c, h in heights.items()}
    (out / "results.json").write_text(json.dumps({"per_sequence": per_sequence, "families": families, "table": table,
                                                  "details": details, "coverage_by_height": coverage_by_height},
                                                 indent=1))  # fmt: skip
    np.savez_compressed(out / "frames.npz", allow_pickle=False, **frame_series)
    text = markdown_table(table, len(sequences), sum(s.frames for s, _ in sequences))
    text += "\n" + markdown_motion(details) + "\n" + markdown_details(details) + "\n" + markdown_coverage(coverage_by_height)
    if compare_to is not None:
        text += "\n" + markdown_new_frames(new_frame_errors(frame_series, Path(compare_to) / "frames.npz"), compare_to)
    for name, times in solve_times.items():
        if times:
            text += (f"\n{name}: published {np.mean(lags[name]):.1f} frames after capture on average (min {min(lags[name])}); "
                     f"window solve {np.percentile(times, 50):.0f} / {np.percentile(times, 99):.0f} ms p50 / p99 "
                     f"({len(times)} solves, run synchronously here)\n")  # fmt: skip
    (out / "table.md").write_text(text)
    return table


def frame_weighted(rows: list[dict], metric: str) -> float:
    """Mean of ``metric`` over sequences (rows with it finite), each weighted by its frames; NaN if none."""
    pairs = [(r[metric], r["frames"]) for r in rows if metric in r and np.isfinite(r[metric])]
    return float(np.average([v for v, _ in pairs], weights=[w for _, w in pairs])) if pairs else np.nan


def summarize(per_sequence: dict[str, dict[str, dict]]) -> dict[str, dict[str, float]]:
    """Frame-weighted mean of each metric over sequences, per config (NaN-free sequences only)."""
    table: dict[str, dict[str, float]] = {}
    configs = {c for r in per_sequence.values() for c in r}
    for config in sorted(configs):
        rows = [r[config] for r in per_sequence.values() if config in r]
        table[config] = {metric: frame_weighted(rows, metric) for metric, _ in TABLE_METRICS}
    return table


def summarize_details(per_sequence: dict[str, dict[str, dict]], families: dict[str, str]) -> dict[str, dict[str, float]]:
    """Per config, and per config and camera family (``config @ family``): body-part errors,
    the overlay's 2D error against BlazePose's, PA-MPJPE, W-MPJPE100, RTE, coverage, the
    true mean ground speed (frame-weighted means); the 90th percentile over sequences of
    W-MPJPE100 (runaways); the published ground speed over the true one (ratio of the
    distances walked on the frames both are known); RTE of the sequences walking (true mean
    speed < 1.8 m/s) and running; the camera's drift, median and worst over sequences (m)."""
    metrics = ("coverage", "PA-MPJPE", "W-MPJPE100", "RTE", "true speed") + tuple(m for m, _ in DETAIL_METRICS)
    groups: dict[str, list[dict]] = {}
    for name, results in per_sequence.items():
        for config, r in results.items():
            groups.setdefault(config, []).append({**r, "_family": families[name]})
            groups.setdefault(f"{config} @ {families[name]}", []).append({**r, "_family": families[name]})
    out: dict[str, dict[str, float]] = {}
    for group, rows in sorted(groups.items()):
        row = {metric: frame_weighted(rows, metric) for metric in metrics}
        w = [r["W-MPJPE100"] for r in rows if np.isfinite(r.get("W-MPJPE100", np.nan))]
        row["W-MPJPE100 p90 seq"] = float(np.percentile(w, 90)) if w else np.nan
        drift = [r["cam drift"] for r in rows if np.isfinite(r.get("cam drift", np.nan))]
        row["cam drift median"] = float(np.median(drift)) if drift else np.nan
        row["cam drift max"] = float(max(drift)) if drift else np.nan
        published = sum(r.get("published path m", 0.0) for r in rows)
        true = sum(r.get("true path m", 0.0) for r in rows)
        row["speed ratio"] = published / true if true > 0 else np.nan
        for label, fast in ((f"RTE <{RUNNING_SPEED}", False), (f"RTE >={RUNNING_SPEED}", True)):
            row[label] = frame_weighted([r for r in rows if (r.get("true speed", 0.0) >= RUNNING_SPEED) == fast], "RTE")
        row["sequences"] = float(len(rows))
        out[group] = row
    return out


def new_frame_errors(this: dict[str, np.ndarray], other_path: Path) -> dict[str, dict[str, float]]:
    """Per config in both runs: frames with a body here and not in the other run (``new``)
    and in both (``shared``), with mean PA-MPJPE and W-MPJPE100 (mm) on each, here and there."""
    from livehmr.core.errors import LivehmrError

    if not other_path.is_file():
        raise LivehmrError(f"--compare-to: {other_path} not found (a bench accuracy output folder holds it)")
    with np.load(other_path, allow_pickle=False) as f:
        other = {k: f[k] for k in f.files}
    sums: dict[str, dict[str, list[np.ndarray]]] = {}
    for key, body in this.items():
        seq, config, series = key.split("|")
        if series != "has_body" or key not in other or len(other[key]) != len(body):
            continue
        here, there = body.astype(bool), other[key].astype(bool)
        acc = sums.setdefault(config, {})
        for part, sel in (("new", here & ~there), ("shared", here & there), ("lost", ~here & there)):
            acc.setdefault(f"{part} frames", []).append(np.array([sel.sum()]))
            for metric in ("pa_err", "w_err"):
                mine, theirs = this.get(f"{seq}|{config}|{metric}"), other.get(f"{seq}|{config}|{metric}")
                if mine is not None:
                    acc.setdefault(f"{part} {metric} here", []).append(mine[sel])
                if theirs is not None:
                    acc.setdefault(f"{part} {metric} there", []).append(theirs[sel])
    out: dict[str, dict[str, float]] = {}
    for config, acc in sums.items():
        row = {}
        for k, v in acc.items():
            values = np.concatenate(v)
            if k.endswith("frames"):
                row[k] = float(values.sum())
            else:
                values = values[np.isfinite(values)]
                row[k] = float(values.mean()) if len(values) else np.nan
        out[config] = row
    return out


def markdown_new_frames(rows: dict[str, dict[str, float]], other: str | Path) -> str:
    if not rows:
        return ""
    cols = [("new frames", "new frames"), ("new PA-MPJPE", "new pa_err here"), ("new W-MPJPE100", "new w_err here"),
            ("lost frames", "lost frames"), ("shared frames", "shared frames"),
            ("shared PA-MPJPE here / there", ("shared pa_err here", "shared pa_err there")),
            ("shared W-MPJPE100 here / there", ("shared w_err here", "shared w_err there"))]  # fmt: skip

    def cell(r, key):
        if isinstance(key, tuple):
            return " / ".join("–" if not np.isfinite(r.get(k, np.nan)) else f"{r[k]:.1f}" for k in key)
        v = r.get(key, np.nan)
        return "–" if not np.isfinite(v) else f"{v:.0f}" if key.endswith("frames") else f"{v:.1f}"

    head = f"| against {other} | " + " | ".join(c for c, _ in cols) + " |"
    body = [f"| {config} | " + " | ".join(cell(r, k) for _, k in cols) + " |" for config, r in rows.items()]
    note = ("Frames this run publishes a body on and the other run does not (new), the reverse (lost), and both "
            "(shared); errors in mm (W-MPJPE100 per frame: its 100-frame chunk's error).")
    return "\n".join([note, "", head, "|---|" + "---:|" * len(cols), *body]) + "\n"


def coverage_by_height_px(height_and_body: np.ndarray) -> dict[str, float]:
    """Coverage (% of frames with a published body) by the person's height in the image."""
    height, body = height_and_body[:, 0], height_and_body[:, 1] > 0
    out = {}
    for lo, hi in zip(HEIGHT_BINS[:-1], HEIGHT_BINS[1:]):
        sel = (height >= lo) & (height < hi)
        out[f"{lo}-{hi if hi < 10_000 else ''} px"] = float(100 * body[sel].mean()) if sel.any() else np.nan
        out[f"{lo}-{hi if hi < 10_000 else ''} px frames"] = float(sel.sum())
    return out


def _cells(row: dict[str, float], cols: tuple[str, ...], digits: dict[str, int]) -> str:
    return " | ".join("–" if not np.isfinite(row.get(c, np.nan)) else f"{row[c]:.{digits.get(c, 1)}f}" for c in cols)


def markdown_details(details: dict[str, dict[str, float]]) -> str:
    cols = ("sequences", "coverage", "PA-MPJPE", "PA torso", "PA arms", "PA legs", "W-MPJPE100", "W-MPJPE100 p90 seq",
            "RTE", "2D published", "2D BlazePose", "2D ratio")  # fmt: skip
    head = "| config (@ camera family) | " + " | ".join(cols) + " |"
    rows = [f"| {g} | " + _cells(r, cols, {"sequences": 0}) + " |" for g, r in details.items()]
    note = ("By camera family and body part. 2D: median px of the published joints projected through the published "
            "camera against the true 2D joints, BlazePose's own error on the same joints and frames, and their ratio "
            "(an AR overlay's error). W-MPJPE100 p90 seq: the 90th percentile over sequences (runaways).")  # fmt: skip
    return "\n".join([note, "", head, "|---|" + "---:|" * len(cols), *rows]) + "\n"


def markdown_motion(details: dict[str, dict[str, float]]) -> str:
    """The table of ground covered: speed ratio, RTE by speed, camera drift, per family."""
    cols = ("sequences", "true speed", "speed ratio", "RTE", f"RTE <{RUNNING_SPEED}", f"RTE >={RUNNING_SPEED}",
            "cam drift median", "cam drift max")  # fmt: skip
    head = ("| config (@ camera family) | sequences | true speed (m/s) | speed ratio | RTE (%) | RTE < 1.8 m/s (%) "
            "| RTE ≥ 1.8 m/s (%) | cam drift median (m) | cam drift max (m) |")  # fmt: skip
    rows = [f"| {g} | " + _cells(r, cols, {"sequences": 0, "true speed": 2, "speed ratio": 2, "cam drift median": 2,
                                           "cam drift max": 2}) + " |" for g, r in details.items()]  # fmt: skip
    note = ("Ground covered. true speed: the subject's mean ground speed (frame-weighted over sequences); speed ratio: "
            "the distance the published pelvis walked over the true one on the frames with a body (both smoothed over "
            "0.15 s); RTE by the sequence's true mean speed; cam drift: the farthest the published camera strays from "
            "the true one with the worlds aligned at the first frame with a body (position and heading), median and "
            "worst over sequences.")  # fmt: skip
    return "\n".join([note, "", head, "|---|" + "---:|" * len(cols), *rows]) + "\n"


def markdown_coverage(coverage: dict[str, dict[str, float]]) -> str:
    if not coverage:
        return ""
    bins = [k for k in next(iter(coverage.values())) if not k.endswith("frames")]
    head = "| coverage (%) by the person's height in the image | " + " | ".join(bins) + " |"
    rows = [f"| {c} | " + " | ".join("–" if not np.isfinite(r[b]) else f"{r[b]:.1f} ({r[b + ' frames']:.0f} f)" for b in bins) + " |"
            for c, r in coverage.items()]  # fmt: skip
    return "\n".join([head, "|---|" + "---:|" * len(bins), *rows]) + "\n"


def markdown_table(table: dict[str, dict[str, float]], sequences: int, frames: int) -> str:
    head = "| estimator + camera | " + " | ".join(f"{m} ({u})" for m, u in TABLE_METRICS) + " |"
    rule = "|---|" + "---:|" * len(TABLE_METRICS)
    rows = [f"| {c} | " + " | ".join("–" if not np.isfinite(v) else f"{v:.1f}" for v in r.values()) + " |"
            for c, r in table.items()]  # fmt: skip
    return "\n".join([f"{sequences} sequences, {frames} frames ({frames / 30 / 60:.1f} min)", "", head, rule, *rows]) + "\n"
