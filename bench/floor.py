"""The camera's travel over the floor, measured against the studio's truth.

    livehmr bench floor [--suite-dir suites/val] [--families follow,dolly,robot,static]
                        [--out bench_out/floor]

For each sequence the gyro camera turns the camera as live (``gyro.csv``, the suite's IMU
mounting) and :class:`~livehmr.stream.camera.floor_motion.FloorMotion` measures each
frame's travel per unit camera height, with the people masked by their recorded BlazePose
boxes (as ``bench accuracy``). Scaled by the true camera height, it is compared with the
true travel. Prints per camera family: the share of frames measured, the true and measured camera
speeds, the measured path over the true one (on measured frames), the per-frame speed
error (median and p90, m/s, the measured travel turned into the truth's world by the
first frame's heading) and the cost per frame (ms); writes ``floor.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def measure_sequence(folder: Path, spec, truth) -> dict:
    """Per-frame measured (T, 2) travel per unit height (NaN where none), and cost (T,) ms."""
    from livehmr.eval.keypoint_cache import cached_keypoints
    from livehmr.stream.camera.floor_motion import FloorMotion
    from livehmr.stream.camera.gyro import GyroCamera
    from livehmr.stream.registry import parse_imu_rotation
    from livehmr.stream.sources.files import VideoFileSource
    from livehmr.stream.sources.gyro_feeds import open_gyro

    recorded = cached_keypoints(folder, truth)
    feed = open_gyro(str(folder / "gyro.csv"))
    gyro = GyroCamera(feed, parse_imu_rotation(spec.imu))
    floor = FloorMotion()
    shifts = np.full((truth.num_frames, 2), np.nan)
    ms = np.full(truth.num_frames, np.nan)
    R_first = None
    try:
        for frame in VideoFileSource(folder / "video.mp4"):
            if frame.index >= truth.num_frames:
                break
            persons = recorded.get(frame.index, [])
            state = gyro.update(frame, persons)
            R_first = state.R_world_cam if R_first is None else R_first
            t0 = time.perf_counter()
            shift = floor.update(frame.image, frame.intrinsics(spec.hfov_deg), state.R_world_cam, [p.box for p in persons])
            ms[frame.index] = 1e3 * (time.perf_counter() - t0)
            if shift is not None:
                shifts[frame.index] = shift
    finally:
        gyro.close()
    # the gyro's world has the first frame's heading; the truth's its own: turn by the difference
    R_align = truth.T_world_cam[0, :3, :3] @ np.asarray(R_first).T
    shifts_3d = np.column_stack([shifts, np.zeros(len(shifts))]) @ R_align.T
    return {"shift": shifts_3d[:, :2], "ms": ms}


def score_sequence(measured: dict, truth) -> dict:
    c = truth.T_world_cam[:, :3, 3]
    height = c[:-1, 2]  # the studio's floor is z = 0
    true_travel = np.diff(c[:, :2], axis=0)
    travel = measured["shift"][1:] * height[:, None]
    ok = np.isfinite(travel[:, 0])
    fps = truth.fps
    error = np.linalg.norm(travel - true_travel, axis=1)[ok] * fps
    return {"frames": int(len(ok)), "measured": float(ok.mean()),
            "true_speed": float(np.linalg.norm(true_travel, axis=1).mean() * fps),
            "measured_speed": float(np.linalg.norm(travel[ok], axis=1).mean() * fps) if ok.any() else float("nan"),
            "path_measured_m": float(np.linalg.norm(travel[ok], axis=1).sum()),
            "path_true_m": float(np.linalg.norm(true_travel[ok], axis=1).sum()),
            "error_median": float(np.median(error)) if ok.any() else float("nan"),
            "error_p90": float(np.percentile(error, 90)) if ok.any() else float("nan"),
            "ms": float(np.nanmean(measured["ms"]))}  # fmt: skip


def summarize(per_sequence: dict[str, dict], families: dict[str, str]) -> dict[str, dict]:
    table = {}
    for family in sorted(set(families.values())):
        rows = [r for name, r in per_sequence.items() if families[name] == family]
        frames = np.array([r["frames"] for r in rows], dtype=float)
        table[family] = {
            "sequences": len(rows),
            "measured": float(np.average([r["measured"] for r in rows], weights=frames)),
            "true_speed": float(np.average([r["true_speed"] for r in rows], weights=frames)),
            "measured_speed": float(np.average([r["measured_speed"] for r in rows], weights=frames)),
            # a camera that hardly travels has no path to compare with (its measured speed says how still it reads)
            "path_ratio": (sum(r["path_measured_m"] for r in rows) / true_path
                           if (true_path := sum(r["path_true_m"] for r in rows)) >= 1.0 else float("nan")),
            "error_median": float(np.nanmedian([r["error_median"] for r in rows])),
            "error_p90": float(np.nanmedian([r["error_p90"] for r in rows])),
            "ms": float(np.average([r["ms"] for r in rows], weights=frames)),
        }
    return table


def report(table: dict[str, dict]) -> str:
    lines = ["| family | sequences | frames measured | camera speed true / measured (m/s) | measured / true path | "
             "speed error median / p90 (m/s) | ms / frame |", "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for family, r in table.items():
        ratio = f"{r['path_ratio']:.2f}" if np.isfinite(r["path_ratio"]) else "–"
        lines.append(f"| {family} | {r['sequences']} | {100 * r['measured']:.0f} % | {r['true_speed']:.2f} / "
                     f"{r['measured_speed']:.2f} | {ratio} | {r['error_median']:.2f} / {r['error_p90']:.2f} | {r['ms']:.1f} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="livehmr bench floor", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--suite-dir", default="suites/val")
    parser.add_argument("--families", default=None, help="camera families to run (default: all)")
    parser.add_argument("--out", default="bench_out/floor")
    args = parser.parse_args()
    from tqdm import tqdm

    from livehmr.studio.suite import SequenceTruth, load_suite

    sequences = load_suite(args.suite_dir)
    if args.families:
        sequences = [(s, f) for s, f in sequences if s.camera in args.families.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    per_sequence, families = {}, {}
    for spec, folder in tqdm(sequences, desc="bench floor", unit="seq"):
        truth = SequenceTruth.load(folder / "truth.npz")
        per_sequence[spec.name] = score_sequence(measure_sequence(folder, spec, truth), truth)
        families[spec.name] = spec.camera
    table = summarize(per_sequence, families)
    (out / "floor.json").write_text(json.dumps({"per_sequence": per_sequence, "families": families, "table": table}, indent=1))
    print(report(table))
    print(f"wrote {out / 'floor.json'}")


if __name__ == "__main__":
    main()
