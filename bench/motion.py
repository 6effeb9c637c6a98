"""Per-frame cost of the motion model on this machine.

    python -m livehmr.bench.motion [--weights motion.pt] [--frames 500]

Prints p50/p99 milliseconds of: one network step (PyTorch, 1 thread), one step in ONNX
Runtime (1 thread), and the whole live estimator call for 1, 2 and 4 people (features,
one batched step, decoding, forward kinematics, the fits and the trajectory filter), PyTorch
and ONNX backends, with what each extra person costs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np


def _percentiles(ms: list[float]) -> str:
    return f"{np.percentile(ms, 50):6.3f} / {np.percentile(ms, 99):6.3f} ms"


def main() -> None:
    import torch

    from livehmr.export.motion_onnx import export_motion_onnx
    from livehmr.models.motion.network import load_motion_net
    from livehmr.models.motion.onnx_runtime import OnnxStep
    from livehmr.stream.estimators.learned import DEFAULT_WEIGHTS, LearnedEstimator
    from livehmr.testing import walker_frames

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    parser.add_argument("--frames", type=int, default=500)
    args = parser.parse_args()
    torch.set_num_threads(1)
    net = load_motion_net(args.weights)
    x = torch.randn(1, net.config.num_inputs)
    state = net.initial_state(1)
    ms = []
    with torch.no_grad():
        for i in range(args.frames + 20):
            t0 = time.perf_counter()
            _, state = net.step(x, state)
            if i >= 20:
                ms.append((time.perf_counter() - t0) * 1e3)
    print(f"network step, PyTorch (1 thread)       {_percentiles(ms)}")
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = export_motion_onnx(args.weights, Path(tmp) / "motion.onnx")
        step = OnnxStep(onnx_path)
        s = step.initial_state()
        xn = x.numpy()
        ms = []
        for i in range(args.frames + 20):
            t0 = time.perf_counter()
            _, s = step(xn, s)
            if i >= 20:
                ms.append((time.perf_counter() - t0) * 1e3)
        print(f"network step, ONNX Runtime (1 thread)  {_percentiles(ms)}")

        class Body:
            name = "anny"
            rest_joints = np.zeros((24, 3))
            betas = np.zeros(10)

        frames = walker_frames(60)
        for backend, weights in (("torch", args.weights), ("onnx", onnx_path)):
            p50 = {}
            for people in (1, 2, 4):
                est = LearnedEstimator(Body(), weights, backend=backend)
                ms = []
                for i in range(args.frames):
                    frame, cam, person = frames[i % len(frames)]
                    # the others: the same walker shifted sideways in the image, each its own track
                    crowd = [replace(person, track_id=k, keypoints=person.keypoints + [90.0 * k, 0, 0],
                                     box=person.box + [90.0 * k, 0, 90.0 * k, 0]) for k in range(people)]  # fmt: skip
                    t0 = time.perf_counter()
                    est.estimate(frame, cam, crowd)
                    ms.append((time.perf_counter() - t0) * 1e3)
                p50[people] = float(np.percentile(ms, 50))
                print(f"estimator, {people} person{'s' if people > 1 else ' '}, {backend:5s}           {_percentiles(ms)}")
            print(f"  each extra person, {backend:5s}              {(p50[4] - p50[1]) / 3:6.3f} ms p50 (from 1 to 4 people)")


if __name__ == "__main__":
    main()
