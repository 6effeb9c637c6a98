"""Keypoint throughput with several people in view, and ViTPose latency per batch.

    python -m livehmr.bench.keypoints [--frames 60] [--vitpose-frames 10] [--device cpu|cuda]

1. **CPU, people in frame**: the rendered crowd scene with 1, 2 and 4 people (frames
   rendered first, not timed); ``blazepose-multi`` runs over them. Prints ms per frame
   (p50), people found per frame and persons per second.
2. **ViTPose per batch** of person crops (random weights: the cost does not depend on
   them). ``--device cuda`` on a GPU machine: ViTPose-B and -H for batches of 1/2/4/8 in
   PyTorch fp16, PyTorch fp16 + CUDA graphs and ONNX Runtime (CUDA provider), and the
   share of a 33 ms frame that 4 people cost. On a CPU: ViTPose-S and -B in PyTorch and
   ONNX Runtime, with persons per second at a batch of 4.
3. **Agreement** (``--agreement``): ViTPose-S and -B in ONNX Runtime vs PyTorch (max
   |Δ| of the heatmaps, random weights), and livehmr's LiteRT BlazePose vs MediaPipe's
   own Pose solution on the embedded scene (median pixel and world-landmark distance).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _render(people: int, frames: int) -> list:
    from livehmr.stream.sources.synthetic import SyntheticSource
    from livehmr.studio.scene import crowd_scene

    return list(SyntheticSource(crowd_scene(people, duration=frames / 30 + 0.1), max_frames=frames))


def _persons_per_second(detector, frames: list, warmup: int = 10) -> tuple[float, float, float]:
    """(ms per frame p50, people per frame, persons per second) after ``warmup`` frames."""
    ms, found = [], []
    for i, frame in enumerate(frames):
        t0 = time.perf_counter()
        persons = detector.detect(frame)
        if i >= warmup:
            ms.append((time.perf_counter() - t0) * 1e3)
            found.append(len(persons))
    return float(np.median(ms)), float(np.mean(found)), float(np.sum(found) / (np.sum(ms) / 1e3))


def bench_people(frames: int) -> None:
    import torch

    from livehmr.stream.keypoints.blazepose_multi import MultiBlazePose

    torch.set_num_threads(2)
    print("CPU, people in frame (640x480, crowd scene)")
    print(f"{'people':>6} | {'backend':<22} | {'ms/frame p50':>12} | {'found/frame':>11} | {'persons/s':>9}")
    for people in (1, 2, 4):
        ms, found, pps = _persons_per_second(MultiBlazePose(max_people=4), _render(people, frames + 10))
        print(f"{people:>6} | {'blazepose-multi':<22} | {ms:12.1f} | {found:11.2f} | {pps:9.1f}")


def _onnx_vitpose(variant: str, tmp: Path) -> Path:
    import torch

    from livehmr.export.vitpose_onnx import export_vitpose_onnx
    from livehmr.models.vitpose import ViTPose, ViTPoseConfig

    torch.manual_seed(0)
    return export_vitpose_onnx(ViTPose(ViTPoseConfig(variant)), tmp / f"vitpose_{variant}.onnx")


def bench_batches(device: str, repeats: int = 20) -> None:
    import torch

    from livehmr.models.vitpose import ViTPose, ViTPoseConfig
    from livehmr.models.vitpose_runtime import OrtRunner, TorchRunner

    variants = ("b", "h") if device == "cuda" else ("s", "b")
    batches = (1, 2, 4, 8) if device == "cuda" else (1, 2, 4)
    repeats = repeats if device == "cuda" else 3
    print(f"\nViTPose latency per batch of 256x192 crops, {device} (ms p50; random weights)")
    print(f"{'model':<10} | {'backend':<28} | " + " | ".join(f"B={b:<3}" for b in batches)
          + " | 4 people / 33 ms | persons/s at B=4")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for variant in variants:
            torch.manual_seed(0)
            model = ViTPose(ViTPoseConfig(variant)).eval()
            onnx_path = _onnx_vitpose(variant, Path(tmp))
            runners = {}
            if device == "cuda":
                runners["pytorch fp16"] = TorchRunner(model, "cuda", cuda_graphs=False)
                runners["pytorch fp16 + CUDA graphs"] = TorchRunner(ViTPose(ViTPoseConfig(variant)).eval(), "cuda", cuda_graphs=True)
                try:
                    runners["onnxruntime cuda (fp32)"] = OrtRunner(onnx_path, "cuda")
                except Exception as exc:  # noqa: BLE001 - report, do not fail the benchmark
                    print(f"  onnxruntime cuda: not measured ({exc})")
            else:
                runners["pytorch cpu fp32"] = TorchRunner(model, "cpu")
                runners["onnxruntime cpu"] = OrtRunner(onnx_path, "cpu")
            for name, runner in runners.items():
                cells, four = [], float("nan")
                for b in batches:
                    x = np.random.default_rng(b).normal(size=(b, 3, 256, 192)).astype(np.float32)
                    runner(x)
                    runner(x)
                    ms = []
                    for _ in range(repeats):
                        t0 = time.perf_counter()
                        runner(x)
                        ms.append((time.perf_counter() - t0) * 1e3)
                    p50 = float(np.median(ms))
                    cells.append(f"{p50:5.1f}")
                    if b == 4:
                        four = p50
                print(f"{'ViTPose-' + variant.upper():<10} | {name:<28} | " + " | ".join(cells)
                      + f" | {100 * four / 33.3:.0f} % | {4000 / four:.1f}")  # fmt: skip


def bench_agreement(frames: int = 60) -> None:
    import torch

    from livehmr.models.vitpose import ViTPose, ViTPoseConfig
    from livehmr.models.vitpose_runtime import OrtRunner
    from livehmr.stream.keypoints.blazepose import BlazePoseDetector
    from livehmr.stream.keypoints.blazepose_multi import MultiBlazePose
    from livehmr.stream.keypoints.tracker import TrackerConfig
    from livehmr.stream.sources.synthetic import SyntheticSource

    print("\nAgreement")
    x = np.random.default_rng(0).normal(size=(4, 3, 256, 192)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        for variant in ("s", "b"):
            torch.manual_seed(0)
            model = ViTPose(ViTPoseConfig(variant)).eval()
            with torch.no_grad():
                expected = model(torch.from_numpy(x)).numpy()
            got = OrtRunner(_onnx_vitpose(variant, Path(tmp)))(x)
            print(f"ViTPose-{variant.upper()} ONNX Runtime vs PyTorch, batch 4: max |delta| {np.abs(got - expected).max():.2e}"
                  f" (heatmaps up to {np.abs(expected).max():.2f})")  # fmt: skip
    solution = BlazePoseDetector(static_image_mode=True)
    ours = MultiBlazePose(max_people=1, tracker=TrackerConfig(confirm_hits=1))
    pixel, world = [], []
    for frame in SyntheticSource(max_frames=frames):
        a, b = solution.detect(frame), ours.detect(frame)
        if a and b:
            both = (a[0].keypoints[:, 2] > 0.5) & (b[0].keypoints[:, 2] > 0.5)
            pixel.append(np.median(np.linalg.norm(a[0].keypoints[both, :2] - b[0].keypoints[both, :2], axis=1)))
            la, lb = a[0].landmarks_3d, b[0].landmarks_3d
            if la is not None and lb is not None:
                world.append(np.median(np.linalg.norm(la - lb, axis=1)))
    print(f"blazepose-multi vs MediaPipe's Pose solution, embedded scene, {len(pixel)} of {frames} frames: "
          f"median {np.median(pixel):.1f} px (p90 {np.percentile(pixel, 90):.1f}), "
          f"world landmarks median {100 * np.median(world):.1f} cm")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=60, help="timed frames per people count (blazepose-multi)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--skip-people", action="store_true", help="only the per-batch table")
    parser.add_argument("--agreement", action="store_true", help="only the agreement figures")
    args = parser.parse_args()
    if args.agreement:
        bench_agreement()
        return
    if not args.skip_people:
        bench_people(args.frames)
    bench_batches(args.device)


if __name__ == "__main__":
    main()
