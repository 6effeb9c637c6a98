"""The trajectory filter's noise levels, tuned on training subjects (issue 21, part 2).

    python -m livehmr.bench.trajectory --suite-dir suites/detector [--suite-dir suites/detector_s1 ...]

Runs the learned estimator once per sequence (the pipeline's gyro camera, the cached
BlazePose keypoints), records what it hands the trajectory filter each frame (each
person's motion, height and camera-frame pelvis, the camera's rotation) and the body
relative to its pelvis, then replays only the filter under each setting of a small grid
and scores the world joints as ``livehmr bench accuracy`` does (W-MPJPE100, RTE), per
camera family. Replaying takes milliseconds per sequence, so the grid is cheap; the
suites must be of training subjects (``livehmr studio make --suite detector``): the test
suite is never tuned on.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from livehmr.eval import metrics as M


@dataclass
class Recorded:
    """One sequence as the filter saw it. frames (N,) indices; dt (N,); R_world_cam (N, 3, 3);
    observations: N dicts {person: PelvisObservation}; rel_joints: N arrays (24, 3) of the
    first person's joints minus its pelvis (world axes); truth joints (T, 24, 3); family;
    camera_translates and floor_shifts: N of what the camera stage said (see
    :meth:`~livehmr.models.motion.trajectory.TrajectoryFilter.step`)."""

    name: str
    family: str
    frames: np.ndarray
    dt: np.ndarray
    R_world_cam: np.ndarray
    observations: list
    rel_joints: list
    truth: np.ndarray
    camera_translates: list = field(default_factory=list)
    floor_shifts: list = field(default_factory=list)


def record(folder: Path, spec, truth, body, motion_model: str | None = None, far_search: bool = True) -> Recorded:
    """Run the pipeline on a sequence, keeping what the trajectory filter is given."""
    from livehmr.eval.accuracy import ReplayedKeypoints
    from livehmr.eval.keypoint_cache import cached_keypoints
    from livehmr.stream import registry
    from livehmr.stream.runtime import Pipeline
    from livehmr.stream.sources.files import VideoFileSource

    source = VideoFileSource(folder / "video.mp4")
    from livehmr.stream.estimators.learned import LearnedEstimator

    estimator = registry.make_estimator("learned", body, spec.hfov_deg, motion_model, "fixed")
    assert isinstance(estimator, LearnedEstimator)
    rows: dict = {"frames": [], "dt": [], "R": [], "obs": [], "rel": [], "translates": [], "floor": []}
    inner_step = estimator.trajectory.step
    current = {"frame": 0}

    def step(dt, R_world_cam, observations, camera_translates=None, floor_shift=None):
        placed = inner_step(dt, R_world_cam, observations, camera_translates, floor_shift)
        if observations:
            rows["frames"].append(current["frame"])
            rows["dt"].append(dt)
            rows["R"].append(R_world_cam.copy())
            rows["obs"].append(dict(observations))
            rows["translates"].append(camera_translates)
            rows["floor"].append(floor_shift)
        return placed

    estimator.trajectory.step = step
    inner_estimate = estimator.estimate

    def estimate(frame, camera, persons):
        current["frame"] = frame.index
        states = inner_estimate(frame, camera, persons)
        if rows["frames"] and rows["frames"][-1] == frame.index:
            first = states[0] if states else None
            rows["rel"].append(None if first is None else first.joints_world - first.joints_world[0])
        return states

    estimator.estimate = estimate
    pipeline = Pipeline(source=source, keypoints=ReplayedKeypoints(cached_keypoints(folder, truth, far_search=far_search)),
                        camera=registry.make_camera("gyro", source, str(folder / "gyro.csv"), spec.imu),
                        estimator=estimator)  # fmt: skip
    try:
        pipeline.run()
    finally:
        pipeline.close()
    return Recorded(spec.name, spec.camera, np.array(rows["frames"]), np.array(rows["dt"]), np.array(rows["R"]),
                    rows["obs"], rows["rel"], truth.joints_world, rows["translates"], rows["floor"])  # fmt: skip


def replay(rec: Recorded, mode: str, config) -> dict[str, float]:
    """The filter alone on a recording; W-MPJPE100 and RTE of the first person (as the bench)
    and the camera's drift (cm: the farthest its published position strays from the first)."""
    from livehmr.models.motion.trajectory import TrajectoryFilter

    filt = TrajectoryFilter(mode, config)
    T = len(rec.truth)
    pred = np.full((T, 24, 3), np.nan)
    cameras = []
    for i, frame in enumerate(rec.frames):
        said = (rec.camera_translates[i], rec.floor_shifts[i]) if rec.floor_shifts else (None, None)
        placed = filt.step(rec.dt[i], rec.R_world_cam[i], rec.observations[i], *said)
        cameras.append(np.array(filt.camera_position, dtype=np.float64))
        if placed and rec.rel_joints[i] is not None and frame < T:
            pred[frame] = placed[min(placed)] + rec.rel_joints[i]
    drift = float(100 * np.linalg.norm(np.array(cameras) - cameras[0], axis=1).max()) if cameras else np.nan
    ok = np.isfinite(pred).all(axis=(1, 2))
    w, r = [], []
    for run in M.runs(ok, min_length=4):
        w.append(M.w_mpjpe(pred[run], rec.truth[run]))
        r.append(M.rte(pred[run, 0], rec.truth[run, 0]))
    if not w:
        return {"W-MPJPE100": np.nan, "RTE": np.nan, "drift": drift}
    return {"W-MPJPE100": float(np.concatenate(w).mean()), "RTE": float(np.concatenate(r).mean()), "drift": drift}


#: the auto mode's switching (``--imm``): when does it believe the camera translates
IMM_GRID = {
    "prior_moving": (0.1, 0.01),
    "switch_probability": (1e-3, 1e-5),
    "believe_moving": (0.95, 0.999),
}


def imm_table(recordings: list[Recorded]) -> None:
    """fixed and moving as references, then auto under each IMM setting: per family the
    mean W-MPJPE100, and for the static and pan families (cameras that do not translate)
    the worst camera drift."""
    from livehmr.models.motion.trajectory import TrajectoryConfig

    families = sorted({r.family for r in recordings})
    print("setting" + " " * 50 + "  ".join(f"{f:>9s}" for f in families) + "   drift static/pan (cm, max)   all W")
    settings = [("fixed", {}), ("moving", {})] + [("auto", dict(zip(IMM_GRID, v))) for v in itertools.product(*IMM_GRID.values())]
    for mode, values in settings:
        config = replace(TrajectoryConfig(), **values)
        scores = [replay(rec, mode, config) for rec in recordings]
        w = {f: np.nanmean([s["W-MPJPE100"] for s, r in zip(scores, recordings) if r.family == f]) for f in families}
        drift = max((s["drift"] for s, r in zip(scores, recordings) if r.family in ("static", "pan")), default=np.nan)
        label = f"{mode} " + " ".join(f"{k}={v}" for k, v in values.items())
        print(f"{label:57s}" + "  ".join(f"{w[f]:9.0f}" for f in families) + f"   {drift:10.0f}"
              + f"   {np.nanmean([s['W-MPJPE100'] for s in scores]):6.0f}", flush=True)  # fmt: skip


GRID = {
    "lateral_sigma": (0.03, 0.08),
    "depth_scale": (1.0, 2.5),  # multiplies each observation's depth_sigma
    "camera_accel_sigma": (0.1, 0.4, 1.5),
}


def main() -> None:
    from livehmr.models.anny_body import AnnyBody
    from livehmr.models.motion.trajectory import TrajectoryConfig
    from livehmr.studio.suite import SequenceTruth, load_suite

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--suite-dir", action="append", required=True, help="a suite of training subjects (repeatable)")
    parser.add_argument("--motion-model", default=None)
    parser.add_argument("--no-far-search", action="store_true", help="the keypoint solution alone (its caches)")
    parser.add_argument("--imm", action="store_true", help="sweep the auto mode's switching instead of the noise levels")
    args = parser.parse_args()
    body = AnnyBody()
    recordings = []
    for folder in args.suite_dir:
        for spec, seq in load_suite(folder):
            recordings.append(record(seq, spec, SequenceTruth.load(seq / "truth.npz"), body, args.motion_model,
                                     far_search=not args.no_far_search))  # fmt: skip
            print(f"recorded {spec.name} ({spec.camera})", flush=True)
    if args.imm:
        imm_table(recordings)
        return
    families = sorted({r.family for r in recordings})
    print("mode    " + " ".join(f"{k}={{}}" for k in GRID).format(*["" for _ in GRID]) + "  " +
          "  ".join(f"{f:>14s}" for f in families) + "   all (W-MPJPE100 mm / RTE %)")  # fmt: skip
    for mode in ("fixed", "moving", "auto"):
        for values in itertools.product(*GRID.values()):
            if mode == "fixed" and values[2] != GRID["camera_accel_sigma"][0]:
                continue  # a fixed camera has no acceleration
            setting = dict(zip(GRID, values))
            config = replace(TrajectoryConfig(), lateral_sigma=setting["lateral_sigma"],
                             camera_accel_sigma=setting["camera_accel_sigma"])  # fmt: skip
            scale = setting["depth_scale"]
            scores = []
            for rec in recordings:
                scaled = replace(rec, observations=[{k: replace(o, depth_sigma=o.depth_sigma * scale) for k, o in obs.items()}
                                                    for obs in rec.observations])  # fmt: skip
                scores.append(replay(scaled, mode, config))
            by_family = {f: np.nanmean([[s["W-MPJPE100"], s["RTE"]] for s, r in zip(scores, recordings) if r.family == f], 0)
                         for f in families}  # fmt: skip
            overall = np.nanmean([[s["W-MPJPE100"], s["RTE"]] for s in scores], 0)
            print(f"{mode:7s} " + " ".join(f"{k}={v}" for k, v in setting.items()) + "  " +
                  "  ".join(f"{w:6.0f} /{r:5.1f}" for w, r in by_family.values()) + f"   {overall[0]:6.0f} /{overall[1]:5.1f}",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
