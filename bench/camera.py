"""Camera-motion front ends against the studio's true camera.

    python -m livehmr.bench.camera --suite-dir suites/test [--limit N]

Every sequence's frames go through each backend in time order, exactly as the pipeline
calls them (people's boxes, which VO masks, come from the truth's joints here so every
backend sees the same boxes). Orientation is compared relative to the first frame (each
backend's world is anchored there). Per backend and camera family: rotation error mean
and p95 (deg), drift (deg/min, slope of the error over time), ms per frame p50. The
gyro rows read the studio's simulated phone gyro (bias, noise, dropouts, a clock offset of
up to +-50 ms that ``gyro`` is not told and ``gyro+vo`` estimates). DPVO runs only where
the ``dpvo`` package and CUDA exist; otherwise its row says so.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np

from livehmr.core.errors import LivehmrError
from livehmr.core.types import PersonKeypoints
from livehmr.eval.metrics import rotation_error_deg
from livehmr.studio.suite import SequenceTruth, load_suite

BACKENDS = ("static", "gyro", "vo", "gyro+vo", "dpvo")


def _boxes(truth: SequenceTruth, i: int) -> list[PersonKeypoints]:
    vis = truth.visible[i]
    if vis.sum() < 2:
        return []
    p = truth.joints_2d[i, vis]
    return [PersonKeypoints(keypoints=np.zeros((23, 3)), box=np.array([*p.min(0) - 20, *p.max(0) + 20]))]


def evaluate(suite_dir: str, limit: int | None = None) -> dict:
    from tqdm import tqdm

    from livehmr.stream import registry
    from livehmr.stream.sources.files import VideoFileSource

    rows: dict[tuple[str, str], dict[str, list]] = defaultdict(lambda: defaultdict(list))
    unavailable: dict[str, str] = {}
    for spec, folder in tqdm(load_suite(suite_dir)[:limit], desc="bench camera", unit="seq"):
        truth = SequenceTruth.load(folder / "truth.npz")
        source = VideoFileSource(folder / "video.mp4")
        cams = {}
        for name in BACKENDS:
            if name in unavailable:
                continue
            try:
                gyro = str(folder / "gyro.csv") if "gyro" in name else None
                cams[name] = registry.make_camera(name, source, gyro, spec.imu, None, spec.hfov_deg, floor_motion=False)
            except LivehmrError as exc:
                unavailable[name] = str(exc)
        R = {n: [] for n in cams}
        ms = {n: [] for n in cams}
        for frame in source:
            if frame.index >= truth.num_frames:
                break
            frame.K = truth.K
            persons = _boxes(truth, frame.index)
            for name, cam in cams.items():
                t0 = time.perf_counter()
                R[name].append(cam.update(frame, persons).R_world_cam)
                ms[name].append((time.perf_counter() - t0) * 1e3)
        source.close()
        R_true = truth.T_world_cam[:, :3, :3]
        for name in cams:
            Rs = np.array(R[name])
            n = len(Rs)
            err = rotation_error_deg(np.swapaxes(Rs[:1], 1, 2) @ Rs, np.swapaxes(R_true[:1], 1, 2) @ R_true[:n])
            minutes = np.arange(n) / truth.fps / 60
            slope = float(np.polyfit(minutes, err, 1)[0]) if n > 10 else np.nan
            for key in ((name, spec.camera), (name, "all")):
                rows[key]["err"].append(err)
                rows[key]["drift"].append(slope)
                rows[key]["ms"].append(np.array(ms[name]))
            if hasattr(cams[name], "close"):
                cams[name].close()
    return {"rows": rows, "unavailable": unavailable}


def table(result: dict) -> str:
    lines = ["| backend | camera family | rot. error mean (deg) | p95 (deg) | drift (deg/min) | ms/frame p50 |",
             "|---|---|---:|---:|---:|---:|"]  # fmt: skip
    rows = result["rows"]
    for name in BACKENDS:
        if name in result["unavailable"]:
            lines.append(f"| {name} | – | not measured here | | | ({result['unavailable'][name]}) |")
            continue
        for (backend, family), r in sorted(rows.items(), key=lambda kv: (kv[0][1] == "all", kv[0][1])):
            if backend != name:
                continue
            err = np.concatenate(r["err"])
            label = f"**{family}**" if family == "all" else family
            lines.append(f"| {name} | {label} | {err.mean():.2f} | {np.percentile(err, 95):.2f} | "
                         f"{np.nanmedian(r['drift']):.2f} | {np.median(np.concatenate(r['ms'])):.1f} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--suite-dir", required=True)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    print(table(evaluate(args.suite_dir, args.limit)))


if __name__ == "__main__":
    main()
