"""Per-stage latency, throughput and glass-to-publish latency of the live pipeline.

    livehmr bench latency [--frames 300] [--people 4]

Four runs, one process, same machine:
1. the keypoint model alone over pre-decoded frames (its own throughput);
2. the full pipeline on a video file (the embedded scene encoded to MP4, so decoding is real);
3. the same MP4 played as a live camera at 30 fps (``PacedVideoSource``: decoding is what
   a camera costs; stale frames dropped), for glass-to-publish latency;
4. the embedded scene rendered live at 30 fps, whose renderer shares the two cores with
   the pipeline (what ``livehmr demo`` does).

``overhead`` is everything the back thread does per frame outside the keypoint model
(camera motion, estimator, publishing). Targets of the foundation issue: overhead p50
<= 10 ms; pipeline throughput >= 0.9 x the keypoint model's own. ``--people N`` (2-4): the
crowd scene (tripod) through ``blazepose-multi`` and the learned estimator instead
(issue 26: 4 people >= 30 fps end to end, glass-to-publish p99 <= 66 ms paced at 30 fps).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from livehmr.core.types import Frame
from livehmr.stream.camera.gyro import GyroCamera
from livehmr.stream.camera.static import StaticCamera
from livehmr.stream.estimators.baseline import BaselineEstimator
from livehmr.stream.keypoints.blazepose import BlazePoseDetector
from livehmr.stream.publish.publisher import ZmqPublisher
from livehmr.stream.registry import make_estimator, make_keypoints
from livehmr.stream.runtime import Pipeline, RunSummary
from livehmr.stream.sources.files import PacedVideoSource, VideoFileSource
from livehmr.stream.sources.synthetic import SyntheticSource
from livehmr.studio.scene import crowd_scene, default_scene

STAGES = ("source", "keypoints", "camera", "estimator", "publish", "overhead", "glass_to_publish")


def _scene(people: int, frames: int):
    """The embedded scene (one person) or the crowd scene, ``frames`` long at 30 fps."""
    return default_scene(duration=frames / 30) if people == 1 else crowd_scene(people, duration=frames / 30)


def encode_scene(path: Path, frames: int, keep_images: bool = True, people: int = 1) -> list[np.ndarray]:
    """Render the embedded scene's first ``frames`` frames (``people`` > 1: the crowd scene)
    into an MP4 at ``path``; returns the images (none with ``keep_images=False``: 600 frames
    hold 550 MB)."""
    scene = _scene(people, frames)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 30.0, scene.size)
    images = []
    for i in tqdm(range(frames), desc="rendering the scene to MP4", leave=False):
        image = scene.render(scene.truth(i))
        writer.write(image)
        if keep_images:
            images.append(image)
    writer.release()
    return images


def keypoint_throughput(images: list[np.ndarray], people: int = 1) -> float:
    detector = make_keypoints("blazepose-multi", people) if people > 1 else BlazePoseDetector()
    detector.detect(Frame(0, 0.0, images[0]))  # warm-up
    t0 = time.perf_counter()
    for i, image in enumerate(images):
        detector.detect(Frame(i, i / 30, image))
    fps = len(images) / (time.perf_counter() - t0)
    detector.close()
    return fps


def run_pipeline(source, camera, body, people: int = 1) -> RunSummary:
    publisher = ZmqPublisher("tcp://127.0.0.1:0")
    if people > 1:
        keypoints, estimator = make_keypoints("blazepose-multi", people), make_estimator("learned", body, 70.0)
    else:
        keypoints, estimator = BlazePoseDetector(), BaselineEstimator(body)
    pipeline = Pipeline(source, keypoints, camera, estimator, publishers=[publisher])
    summary = pipeline.run()
    pipeline.close()
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--people", type=int, default=1, choices=(1, 2, 3, 4))
    args = parser.parse_args()
    people = args.people
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "scene.mp4"
        images = encode_scene(video, args.frames, people=people)
        kp_fps = keypoint_throughput(images, people)
        synthetic = SyntheticSource(_scene(people, args.frames), max_frames=args.frames)
        body = synthetic.scene.body
        runs = {
            "video file": run_pipeline(VideoFileSource(video), StaticCamera(), body, people),
            "clip paced at 30 fps (live)": run_pipeline(PacedVideoSource(video), GyroCamera(synthetic.gyro_feed()), body, people),
            "embedded scene, live 30 fps": run_pipeline(
                SyntheticSource(synthetic.scene, realtime=True, max_frames=args.frames), GyroCamera(synthetic.gyro_feed()),
                body, people,
            ),
        }
    what = "BlazePose full, baseline estimator" if people == 1 else f"{people} people, blazepose-multi, learned estimator"
    table = Table(title=f"livehmr pipeline latency, ms p50 / p99 ({args.frames} frames, 640x480, {what})")
    table.add_column("stage")
    for name in runs:
        table.add_column(name, justify="right")
    for stage in STAGES:
        row = [stage]
        for summary in runs.values():
            p = summary.latency.get(stage)
            row.append(f"{p[0]:.1f} / {p[1]:.1f}" if p else "-")
        table.add_row(*row)
    table.add_row("frames processed", *[str(s.frames) for s in runs.values()])
    table.add_row("frames dropped (live)", *[str(s.dropped) for s in runs.values()])
    table.add_row("throughput, fps", *[f"{s.fps:.1f}" for s in runs.values()])
    console.print(table)
    video_run = runs["video file"]
    console.print(f"keypoint model alone: {kp_fps:.1f} fps")
    console.print(f"video-file pipeline / keypoint model throughput: {video_run.fps / kp_fps:.2f} (target >= 0.9)")
    console.print(f"overhead outside the keypoint model, p50: {video_run.latency['overhead'][0]:.1f} ms (target <= 10)")


if __name__ == "__main__":
    main()
