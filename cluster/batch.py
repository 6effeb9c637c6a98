"""``livehmr batch VIDEOS... --out DIR``: every video through the pipeline as a Ray task.

Each video gets ``DIR/<video stem>/``: ``recording.lhmr`` (every published message, as
``livehmr record`` writes them), and the motions exported from it (``motion.npz``,
``motion.bvh``, ...; ``motion_person<ID>.<ext>`` with several people), and
``summary.json``. A task writes into ``<stem>.partial/`` and renames it when everything
is written, so a folder with ``summary.json`` is finished work: a second run skips it
(resumable), and a crash leaves only a ``.partial`` that the next run redoes. A video
that cannot be read is reported and does not stop the others.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

from livehmr.clients.recording import RecordingWriter, export_recording
from livehmr.cluster.ray_runtime import cluster_cpus, describe_ray_error, start_ray
from livehmr.core.errors import LivehmrError
from livehmr.core.types import FrameResult
from livehmr.export.motion import FORMATS as MOTION_FORMATS
from livehmr.stream.publish.publisher import encode_or_withhold, state_messages
from livehmr.stream.publish.wire import TOPIC_REFINED, TOPIC_STATE, TOPIC_STATUS
from livehmr.stream.registry import StageChoices

OUTPUTS = ("recording", *MOTION_FORMATS)
DONE = "summary.json"
_SUFFIX = {"bvh": ".bvh", "gltf": ".glb", "npz": ".npz", "csv": ".csv"}


class RecordingPublisher:
    """A publisher that writes every message to a recording instead of a socket: the file
    ``livehmr record`` would have written from the same stream (no network in between)."""

    def __init__(self, writer: RecordingWriter, stream_id: str, body_model: str = "anny"):
        self.writer = writer
        self.stream_id = stream_id
        self.body_model = body_model
        self.withheld = 0

    def publish(self, result: FrameResult) -> None:
        self._write(TOPIC_STATE, result)

    def publish_refined(self, result: FrameResult) -> None:
        self._write(TOPIC_REFINED, result)

    def publish_status(self, status: dict) -> None:
        header = {"stream": self.stream_id, "t_publish": time.time(), "status": status, "flags": []}
        self.writer.write(encode_or_withhold(TOPIC_STATUS, header, {})[0])

    def _write(self, topic: bytes, result: FrameResult) -> None:
        for header, arrays in state_messages(result, self.stream_id, self.body_model):
            frames, withheld = encode_or_withhold(topic, header, arrays)
            self.withheld += withheld
            self.writer.write(frames)

    def close(self) -> None:
        pass  # the writer belongs to the caller


@dataclass(frozen=True)
class VideoJob:
    """One video of a batch: where it is, its output folder, the stages and the outputs."""

    video: str
    out_dir: str
    choices: StageChoices
    outputs: tuple[str, ...] = ("recording", "npz", "bvh")


def process_video(job: VideoJob) -> dict:
    """Run one video through the pipeline and write its outputs (see the module's
    docstring); returns its summary. Raises LivehmrError on a video that cannot be read."""
    from livehmr.stream.registry import build_pipeline

    start = time.perf_counter()
    out_dir = Path(job.out_dir)
    partial = out_dir.with_name(out_dir.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)  # an earlier run's unfinished work
    partial.mkdir(parents=True)
    try:
        recording = partial / "recording.lhmr"
        with RecordingWriter(recording) as writer:
            publisher = RecordingPublisher(writer, stream_id=Path(job.video).stem, body_model=job.choices.body)
            pipeline = build_pipeline(replace(job.choices, source=job.video), [publisher])
            try:
                summary = pipeline.run()
            finally:
                pipeline.close()
        files, notes = [], []
        for fmt in job.outputs:
            if fmt == "recording":
                continue
            try:
                files += [p.name for p in export_recording(recording, fmt, partial / f"motion{_SUFFIX[fmt]}")]
            except LivehmrError as exc:  # nobody ever seen: nothing to export, said in the summary
                notes.append(f"{fmt}: {exc}")
        if "recording" in job.outputs:
            files.insert(0, recording.name)
        else:
            recording.unlink()
        result = {"video": job.video, "frames": summary.frames, "published_states": summary.published_states,
                  "stage_errors": summary.stage_errors, "skipped": summary.skipped, "wall_s": round(time.perf_counter() - start, 2),
                  "files": files, "notes": notes, "choices": asdict(job.choices)}  # fmt: skip
        (partial / DONE).write_text(json.dumps(result, indent=2))
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # a failed video leaves nothing behind
        raise
    if out_dir.exists():  # --force: the new output replaces the finished old one only now
        shutil.rmtree(out_dir)
    partial.rename(out_dir)
    return result


@dataclass
class BatchReport:
    """What a batch did: videos done now, skipped (done before), failed (with why)."""

    done: list[str]
    skipped: list[str]
    failed: dict[str, str]
    wall_s: float

    @property
    def videos_per_minute(self) -> float:
        return 60.0 * len(self.done) / self.wall_s if self.wall_s > 0 else 0.0


def plan(videos: list[str], out: Path, force: bool) -> tuple[dict[str, Path], list[str], dict[str, str]]:
    """Each video's output folder; the videos already done (skipped unless ``force``); and
    the ones refused before anything runs (missing, or an output folder that livehmr did
    not finish, which is never overwritten)."""
    todo: dict[str, Path] = {}
    skipped: list[str] = []
    refused: dict[str, str] = {}
    stems: dict[str, str] = {}
    for video in videos:
        stem = Path(video).stem
        if stem in stems:
            raise LivehmrError(f"{video} and {stems[stem]} would share the output folder {out / stem}; rename one")
        stems[stem] = video
        folder = out / stem
        if not Path(video).is_file():
            refused[video] = "no such file"
        elif (folder / DONE).is_file() and not force:
            skipped.append(video)
        elif folder.exists() and not (folder / DONE).is_file():
            refused[video] = f"{folder} exists and is not a finished livehmr output; move it away"
        else:
            todo[video] = folder
    return todo, skipped, refused


def run_batch(videos: list[str], out: str | Path, choices: StageChoices, outputs: tuple[str, ...],
              address: str | None = None, workers: int | None = None, cpus_per_video: float = 1.0,
              force: bool = False, progress: Callable[[str, str], None] | None = None,
              show_bar: bool = True) -> BatchReport:  # fmt: skip
    """Every video of ``videos`` as a Ray task (at most ``workers`` at once; default as many
    as the cluster's CPUs hold at ``cpus_per_video`` each). ``progress(video, what)`` hears
    of each video's end (``done`` or the error)."""
    from tqdm import tqdm

    unknown = sorted(set(outputs) - set(OUTPUTS))
    if unknown or not outputs:
        raise LivehmrError(f"--outputs {','.join(outputs)}: choose from {', '.join(OUTPUTS)}")
    out = Path(out)
    todo, skipped, failed = plan(videos, out, force)
    start = time.perf_counter()
    done: list[str] = []
    if todo:
        ray = start_ray(address, num_cpus=workers if address is None and workers else None)
        try:
            slots = workers or max(1, int(cluster_cpus(ray) // cpus_per_video))
            task = ray.remote(process_video).options(num_cpus=cpus_per_video, max_retries=1)
            queue = list(todo.items())
            running: dict = {}
            bar = tqdm(total=len(todo), desc="videos", unit="video", disable=not show_bar)
            while queue or running:
                while queue and len(running) < slots:
                    video, folder = queue.pop(0)
                    running[task.remote(VideoJob(video, str(folder), choices, outputs))] = video
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    video = running.pop(ref)
                    try:
                        ray.get(ref)
                        done.append(video)
                        what = "done"
                    except Exception as exc:  # a bad video is reported; the batch goes on
                        failed[video] = what = describe_ray_error(exc)
                    bar.update(1)
                    if progress:
                        progress(video, what)
            bar.close()
        finally:
            ray.shutdown()
    return BatchReport(done, skipped, failed, time.perf_counter() - start)
