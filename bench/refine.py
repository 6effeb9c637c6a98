"""Does the refinement keep up live, and does it leave the fast path alone?

    python -m livehmr.bench.refine [--frames 600] [--priors noprior,humor,diffusion]

The embedded scene is rendered once to an MP4 and played back paced at 30 fps as a live
source (a camera costs nothing to render, so the render must not compete with the
pipeline), through BlazePose, the gyro camera and the learned estimator; once without
refinement and once per prior with ``--refine``. Printed per run: the causal stream's
throughput, dropped frames and glass-to-publish latency (p50 / p99), and for the refined
stream its publish lag while the stream runs (capture to refined publish, ms, and in
frames; the last frames, published when the stream ends, are counted apart), the window
solve time, and frames the refinement had to drop because it fell behind.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from livehmr.bench.latency import encode_scene
from livehmr.stream.sources.files import PacedVideoSource


def run(video: Path, gyro: np.ndarray, body, prior: str | None) -> dict:
    from livehmr.stream import registry
    from livehmr.stream.camera.gyro import GyroCamera
    from livehmr.stream.keypoints.blazepose import BlazePoseDetector
    from livehmr.stream.runtime import Pipeline
    from livehmr.stream.sources.gyro_feeds import ArrayGyroFeed

    refiner = registry.make_refiner(prior, body)
    pipeline = Pipeline(PacedVideoSource(video), BlazePoseDetector(), GyroCamera(ArrayGyroFeed(gyro)),
                        registry.make_estimator("learned", body, 70.0), refiner=refiner)  # fmt: skip
    lag_ms, lag_frames, at_end = [], [], []

    def on_refined(result):
        lag_ms.append((time.perf_counter() - result.t_captured) * 1e3)
        lag_frames.append(result.lag_frames)
        at_end.append(pipeline.stop_event.is_set())  # published by the final flush, after the stream ended

    pipeline.on_refined.append(on_refined)
    summary = pipeline.run()
    pipeline.close()
    out: dict[str, object] = {"summary": summary}
    if refiner is not None:
        live = ~np.array(at_end, dtype=bool)
        out.update(lag_ms=np.array(lag_ms)[live], lag_frames=np.array(lag_frames)[live], at_end=int((~live).sum()),
                   solve_ms=np.array(refiner.solve_ms), dropped=refiner.dropped, errors=refiner.errors,
                   published=len(lag_ms), config=refiner.config)  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--priors", default="noprior,humor,diffusion")
    args = parser.parse_args()
    from livehmr.studio.scene import default_scene

    console = Console()
    scene = default_scene(duration=args.frames / 30)
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "scene.mp4"
        encode_scene(video, args.frames, keep_images=False)
        runs = {"causal only": run(video, scene.gyro(), scene.body, None)}
        for prior in args.priors.split(","):
            runs[f"--refine {prior}"] = run(video, scene.gyro(), scene.body, prior)
    table = Table(title=f"refinement live ({args.frames} frames at 30 fps, BlazePose, gyro, learned estimator; ms p50 / p99)")
    for column in ("run", "fps", "dropped", "causal glass-to-publish", "refined lag (ms)", "refined lag (frames)",
                   "window solve (ms)", "solves", "refine drops"):  # fmt: skip
        table.add_column(column, justify="right")
    for name, r in runs.items():
        s = r["summary"]
        g = s.latency.get("glass_to_publish", (np.nan, np.nan))
        row = [name, f"{s.fps:.1f}", str(s.dropped), f"{g[0]:.1f} / {g[1]:.1f}"]
        if "lag_ms" in r and len(r["lag_ms"]):
            pct = lambda a: f"{np.percentile(a, 50):.0f} / {np.percentile(a, 99):.0f}"  # noqa: E731
            row += [pct(r["lag_ms"]), pct(r["lag_frames"]), pct(r["solve_ms"]), str(len(r["solve_ms"])),
                    f"{r['dropped']} (+{r['errors']} errors)"]  # fmt: skip
        else:
            row += ["-"] * 5
        table.add_row(*row)
    console.print(table)
    for name, r in runs.items():
        if "config" in r:
            c = r["config"]
            console.print(f"{name}: window {c.window}, lag {c.lag}, every {c.every}, {c.iterations} L-BFGS evaluations; "
                          f"{r['published']} refined frames of {r['summary'].frames} "
                          f"({r['at_end']} of them published when the stream ended, left out of the lag)")  # fmt: skip


if __name__ == "__main__":
    main()
