"""The keypoint detector's error model, measured on studio renders.

For every frame of a suite the detector runs as in the pipeline (tracking mode, frame
after frame); its keypoints are compared with the ground-truth projections of the SMPL
joints they correspond to. Errors are expressed in units of the person's 2D scale (the
diagonal of the true joints' bounding box), so they carry over between image sizes and
distances. Per keypoint the file records the mean offset (a systematic shift: BlazePose's
hip is not SMPL's hip joint), the spread, percentiles, the miss rate (truth visible,
nothing reported or confidence < 0.3) and the calibration of its confidence (error per
confidence bin). The motion model's training synthesises keypoints from these numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from livehmr.core.types import KP
from livehmr.models.motion.features import PAIRS
from livehmr.models.skeleton import JOINT
from livehmr.studio.suite import SequenceTruth, load_suite

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "models" / "data" / "blazepose_errors.json"
MISS_CONFIDENCE = 0.3
CONF_BINS = (0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1.01)


def _collect(suite_dir, keypoints):
    from livehmr.stream.registry import make_keypoints
    from livehmr.stream.sources.files import VideoFileSource

    kp_index = np.array([KP[k] for k in PAIRS])
    joint_index = np.array([JOINT[j] for j in PAIRS.values()])
    rows = []  # per (frame, keypoint): dx, dy (scale units), conf, visible, detected
    sequences = load_suite(suite_dir)
    for spec, folder in tqdm(sequences, desc="detector errors", unit="seq"):
        truth = SequenceTruth.load(folder / "truth.npz")
        # the solution's own errors (what the shipped model was measured on), without the far-person fallback
        detector = make_keypoints(keypoints, far_search=False) if isinstance(keypoints, str) else keypoints(truth)
        source = VideoFileSource(folder / "video.mp4")
        try:
            for frame in source:
                i = frame.index
                if i >= truth.num_frames:
                    break
                gt = truth.joints_2d[i, joint_index]
                vis = truth.visible[i, joint_index]
                all_vis = truth.visible[i]
                if all_vis.sum() < 4:
                    continue
                pts = truth.joints_2d[i, all_vis]
                scale = float(np.linalg.norm(pts.max(0) - pts.min(0)))
                persons = detector.detect(frame)
                if persons:
                    kp = persons[0].keypoints[kp_index]
                    d = (kp[:, :2] - gt) / scale
                    rows.append(np.column_stack([d, kp[:, 2], vis, np.ones(len(kp_index)), np.full(len(kp_index), scale)]))
                else:
                    rows.append(np.column_stack([np.zeros((len(kp_index), 3)), vis, np.zeros(len(kp_index)),
                                                 np.full(len(kp_index), scale)]))  # fmt: skip
        finally:
            source.close()
            detector.close()
    return np.stack(rows), sequences  # (frames, K, 6)


def measure_detector_errors(suite_dir: str | Path, out: str | Path | None = None, keypoints="blazepose") -> Path:
    """Measure and write the error model; returns the file written. ``keypoints``: a backend
    name, or a callable making a detector for a sequence's truth (tests)."""
    data, sequences = _collect(suite_dir, keypoints)
    model: dict = {
        "detector": keypoints if isinstance(keypoints, str) else "custom",
        "suite": str(suite_dir),
        "sequences": len(sequences),
        "frames": int(data.shape[0]),
        "units": "offsets in person scales (diagonal of the true 2D joints' box); scale_px gives pixels",
        "miss_confidence": MISS_CONFIDENCE,
        "scale_px_median": float(np.median(data[:, 0, 5])),
        "keypoints": {},
    }
    for k, (name, joint) in enumerate(PAIRS.items()):
        d = data[:, k]
        visible = d[:, 3] > 0
        detected = (d[:, 4] > 0) & (d[:, 2] >= MISS_CONFIDENCE)
        hit = visible & detected
        offsets = d[hit, :2]
        err = np.linalg.norm(offsets, axis=1)
        calib = []
        for lo, hi in zip(CONF_BINS[:-1], CONF_BINS[1:]):
            sel = visible & (d[:, 4] > 0) & (d[:, 2] >= lo) & (d[:, 2] < hi)
            e = np.linalg.norm(d[sel, :2], axis=1)
            calib.append({"conf": [lo, min(hi, 1.0)], "n": int(sel.sum()),
                          "median_error": float(np.median(e)) if sel.any() else None,
                          "within_0.05": float((e < 0.05).mean()) if sel.any() else None})  # fmt: skip
        model["keypoints"][name] = {
            "truth_joint": joint,
            "n_visible": int(visible.sum()),
            "miss_rate": float(1 - hit.sum() / max(visible.sum(), 1)),
            "reported_when_hidden": float(((~visible) & detected).sum() / max((~visible).sum(), 1)),
            "mean_offset": offsets.mean(0).round(5).tolist() if len(offsets) else None,
            "cov": np.cov(offsets.T).round(6).tolist() if len(offsets) > 2 else None,
            "error_p50": float(np.percentile(err, 50)) if len(err) else None,
            "error_p90": float(np.percentile(err, 90)) if len(err) else None,
            "error_p99": float(np.percentile(err, 99)) if len(err) else None,
            "outlier_rate_0.2": float((err > 0.2).mean()) if len(err) else None,
            "confidence_calibration": calib,
        }
    return write_error_model(model, out, DEFAULT_PATH)


def write_error_model(model: dict, out: str | Path | None, default: Path) -> Path:
    """Write a measured error model as JSON to ``out`` (None: ``default``, the shipped file)."""
    path = Path(out) if out else default
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(model, indent=1))
    return path


def load_detector_errors(path: str | Path | None = None) -> dict:
    """The saved error model (see :func:`measure_detector_errors`)."""
    return json.loads(Path(path or DEFAULT_PATH).read_text())
