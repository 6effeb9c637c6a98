"""The frame-synchronous pipeline, read top to bottom in :meth:`Pipeline.run`.

Three threads share the two cores: the *reader* decodes (or renders) frame t+2,
the *front* thread runs the keypoint model on frame t+1, and the *back* thread runs
camera motion, the estimator and publishing on frame t. They meet in bounded
queues: for file sources a thread waits when the next one is behind (every frame
is processed); for live sources each queue holds one item and a newer one replaces
a waiting one (flagged ``frame_dropped``), so latency never grows. The heavy
stages (MediaPipe, OpenCV decoding, the numba renderer) release the GIL, which is
what lets the threads overlap.

A stage that raises or returns non-finite values on a frame does not stop the
stream: the :class:`~livehmr.stream.supervisor.Supervisor` restarts it, the frame is
published flagged ``stage_error`` (a heartbeat when there is no body to publish), and
the fault is logged and counted. A frame whose image is not an (H, W, 3) uint8 array
is skipped, and the next one is flagged ``frame_missing``.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from livehmr.core.geometry import R_WORLD_CAM_LEVEL
from livehmr.core.stages import CameraMotion, Estimator, KeypointDetector, Publisher, Source
from livehmr.core.types import CameraState, Flag, Frame, FrameResult, PersonKeypoints
from livehmr.stream.health import HealthMonitor
from livehmr.stream.supervisor import Supervisor, camera_ok, keypoints_ok, restart_stage, states_ok

log = logging.getLogger(__name__)
_END = object()


def image_problem(image) -> str:
    """Why an image cannot be processed ("" when it can): livehmr takes (H, W, 3) uint8 BGR
    of at least 16 x 16 pixels."""
    if not isinstance(image, np.ndarray):
        return f"image is {type(image).__name__}, not an array"
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        return f"image is {image.dtype} {image.shape}, not (H, W, 3) uint8"
    if image.shape[0] < 16 or image.shape[1] < 16:
        return f"image of {image.shape[1]}x{image.shape[0]} pixels is too small"
    return ""


class LatencyStats:
    """Recent per-stage latencies (ms), bounded, with percentiles."""

    def __init__(self, keep: int = 20000):
        self._values: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=keep))
        self._lock = threading.Lock()

    def add(self, stage: str, ms: float) -> None:
        with self._lock:
            self._values[stage].append(ms)

    def percentiles(self, q: tuple[float, ...] = (50, 99)) -> dict[str, tuple[float, ...]]:
        with self._lock:
            return {k: tuple(float(np.percentile(v, p)) for p in q) for k, v in self._values.items() if v}

    def values(self, stage: str) -> np.ndarray:
        with self._lock:
            return np.array(self._values.get(stage, ()))


@dataclass
class RunSummary:
    frames: int = 0
    published_states: int = 0
    dropped: int = 0
    stage_errors: int = 0
    skipped: int = 0  # frames whose image was unusable
    restarts: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    latency: dict[str, tuple[float, ...]] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0


def _one_torch_thread() -> None:
    """PyTorch's intra-op pool down to one thread for this (live) process. The back thread's
    torch calls are a few small tensors each, and a second thread only fights the keypoint
    thread's LiteRT/MediaPipe for the other core: `livehmr bench latency --people 4` with it
    went from 23.8 to 32.6 fps on a video file, glass-to-publish p99 212 -> 88 ms paced at
    30 fps. Set only when torch is already loaded (a pipeline without it has nothing to set)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


class Pipeline:
    """source -> keypoints -> camera -> estimator -> publishers, with latencies recorded.

    ``on_result`` callbacks see every FrameResult (viewers, recorders, tests). ``refiner``:
    a :class:`~livehmr.stream.refine.worker.RefineWorker`; the refined results it finishes
    are published (``publish_refined``) from this thread, and ``on_refined`` callbacks see them.
    """

    def __init__(self, source: Source, keypoints: KeypointDetector, camera: CameraMotion, estimator: Estimator,
                 publishers: list[Publisher] | None = None,
                 on_result: list[Callable[[FrameResult], None]] | None = None, refiner=None):  # fmt: skip
        self.source = source
        self.keypoints = keypoints
        self.camera = camera
        self.estimator = estimator
        self.publishers = publishers or []
        self.on_result = on_result or []
        self.refiner = refiner
        self.on_refined: list[Callable[[FrameResult], None]] = []
        self.stats = LatencyStats()
        self.stop_event = threading.Event()
        self._frames: queue.Queue = queue.Queue(maxsize=1 if source.live else 2)
        self._queue: queue.Queue = queue.Queue(maxsize=1 if source.live else 2)
        self._front_error: BaseException | None = None
        self._last_camera: CameraState | None = None
        self._camera_offset = np.zeros(3)
        self.summary = RunSummary()
        self.health = HealthMonitor()
        self.supervisor = Supervisor()

    # -- reader thread: frames -------------------------------------------------------------
    def _reader(self) -> None:
        try:
            iterator = iter(self.source)
            skipped = False
            while not self.stop_event.is_set():
                t0 = time.perf_counter()
                frame = next(iterator, None)
                if frame is None:
                    break
                problem = image_problem(frame.image)
                if problem:  # a corrupt frame from a camera or decoder: skip it, flag the gap
                    log.warning("frame %d skipped: %s", frame.index, problem)
                    self.summary.skipped += 1
                    skipped = True
                    continue
                if skipped:
                    frame.flags.add(Flag.FRAME_MISSING)
                    skipped = False
                # intrinsics resolved once, here: every stage and the published K see the same
                frame.K = frame.intrinsics(self.estimator.default_hfov_deg)
                frame.latency_ms["source"] = (time.perf_counter() - t0) * 1e3
                self._hand_over(self._frames, frame, lambda f: f)
        except BaseException as exc:
            self._front_error = exc
        finally:
            self._put_end(self._frames)

    # -- front thread: keypoints -------------------------------------------------------------
    def _front(self) -> None:
        while True:
            frame = self._frames.get()
            if frame is _END:
                break
            t1 = time.perf_counter()
            persons, ok = self.supervisor.call(
                "keypoints", frame.index, lambda: self.keypoints.detect(frame), keypoints_ok,
                restart=lambda: restart_stage(self.keypoints), stand_in=list)  # fmt: skip
            if not ok:
                frame.flags.add(Flag.STAGE_ERROR)
            frame.latency_ms["keypoints"] = (time.perf_counter() - t1) * 1e3
            self._hand_over(self._queue, (frame, persons), lambda item: item[0])
        self._put_end(self._queue)

    def _estimate(self, frame: Frame, camera: CameraState, persons: list[PersonKeypoints]) -> tuple[list, np.ndarray]:
        """The estimator's states and the camera position it estimated (rotation-only front
        ends leave the position to it), (3,) metres."""
        states = self.estimator.estimate(frame, camera, persons)
        offset = self.estimator.camera_translation()
        return states, (np.asarray(offset, dtype=np.float64) if offset is not None else np.zeros(3))

    def _held_camera(self) -> CameraState:
        return self._last_camera or CameraState(R_WORLD_CAM_LEVEL.copy())

    def _put_end(self, q: queue.Queue) -> None:
        while True:
            try:
                q.put(_END, timeout=0.1)
                return
            except queue.Full:
                if self.stop_event.is_set():  # nobody reads any more: make room
                    try:
                        q.get_nowait()
                    except queue.Empty:
                        pass

    def _hand_over(self, q: queue.Queue, item, frame_of: Callable) -> None:
        if not self.source.live:
            while not self.stop_event.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue
            return
        try:
            q.put_nowait(item)
        except queue.Full:  # live: the waiting item is stale, replace it
            try:
                q.get_nowait()
                self.summary.dropped += 1
                frame_of(item).flags.add(Flag.FRAME_DROPPED)
            except queue.Empty:
                pass
            q.put_nowait(item)

    # -- back thread: camera, estimator, publishing ------------------------------------------
    def process(self, frame: Frame, persons: list[PersonKeypoints]) -> FrameResult:
        flags = set(frame.flags)
        t0 = time.perf_counter()
        camera, ok = self.supervisor.call(
            "camera", frame.index, lambda: self.camera.update(frame, persons), camera_ok,
            restart=lambda: restart_stage(self.camera, R_world_cam=self._held_camera().R_world_cam),
            stand_in=lambda: CameraState(self._held_camera().R_world_cam.copy(), self._held_camera().t_world_cam.copy(),
                                         flags={Flag.STAGE_ERROR}))  # fmt: skip
        if ok:  # hold the last good pose rather than publish a made-up one
            self._last_camera = camera
        flags |= camera.flags
        t1 = time.perf_counter()
        (states, camera_offset), ok = self.supervisor.call(
            "estimator", frame.index, lambda: self._estimate(frame, camera, persons),
            lambda out: states_ok(out[0]) and bool(np.isfinite(out[1]).all()),
            restart=self.estimator.reset, stand_in=lambda: ([], self._camera_offset))  # fmt: skip
        if ok:
            self._camera_offset = camera_offset
        else:
            flags.add(Flag.STAGE_ERROR)
        t2 = time.perf_counter()
        T_world_cam = camera.T_world_cam
        T_world_cam[:3, 3] += camera_offset
        K = frame.K  # resolved by the reader
        result = FrameResult(frame.index, frame.t, frame.t_captured, T_world_cam, states, flags, keypoints=persons,
                             image=frame.image, K=K, camera_up_to_scale=camera.t_up_to_scale)  # fmt: skip
        result.latency_ms.update(frame.latency_ms, camera=(t1 - t0) * 1e3, estimator=(t2 - t1) * 1e3)
        for publisher in self.publishers:
            publisher.publish(result)
        if self.refiner is not None:
            self.refiner.submit(result)
            self._publish_refined(self.refiner.take_ready())
        t3 = time.perf_counter()
        result.latency_ms["publish"] = (t3 - t2) * 1e3
        result.latency_ms["overhead"] = (t3 - t0) * 1e3
        result.latency_ms["glass_to_publish"] = (t3 - frame.t_captured) * 1e3
        for stage, ms in result.latency_ms.items():
            self.stats.add(stage, ms)
        return result

    def run(self, max_seconds: float | None = None) -> RunSummary:
        """Run until the source ends, ``stop()`` is called or ``max_seconds`` pass."""
        _one_torch_thread()
        if self.refiner is not None:
            self.refiner.wait_started()  # before the first frame is read: a live source would queue behind it
        threads = [threading.Thread(target=self._reader, name="livehmr-reader", daemon=True),
                   threading.Thread(target=self._front, name="livehmr-keypoints", daemon=True)]  # fmt: skip
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        try:
            while True:
                if max_seconds is not None and time.perf_counter() - start > max_seconds:
                    break
                self._publish_status_when_due()  # also while no frame comes: a liveliness signal
                try:
                    item = self._queue.get(timeout=0.2)
                except queue.Empty:
                    if self.stop_event.is_set():
                        break
                    continue
                if item is _END:
                    break
                frame, persons = item
                result = self.process(frame, persons)
                self.health.observe(result)
                self.summary.frames += 1
                self.summary.published_states += max(len(result.persons), 1)
                self.summary.stage_errors += Flag.STAGE_ERROR in result.flags
                for callback in self.on_result:
                    callback(result)
        finally:
            self.stop_event.set()
            for thread in threads:
                thread.join(timeout=5.0)
            self.summary.wall_s = time.perf_counter() - start  # the causal stream's; the refinement then finishes
            self._publish_status()  # a last one with the final counts: the periodic one may predate them
            if self.refiner is not None:
                self._publish_refined(self.refiner.close())
            self.summary.latency = self.stats.percentiles()
            self.summary.restarts = self.supervisor.restarts
        if self._front_error is not None:
            raise self._front_error
        return self.summary

    def _publish_refined(self, results: list[FrameResult]) -> None:
        for result in results:
            for publisher in self.publishers:
                publisher.publish_refined(result)
            for callback in self.on_refined:
                callback(result)

    def _publish_status_when_due(self) -> None:
        if self.health.due():
            self._publish_status()

    def _publish_status(self) -> None:
        withheld = sum(p.withheld for p in self.publishers)
        status = self.health.status(self.summary.dropped, withheld, self.supervisor.restarts, self.summary.skipped)
        for publisher in self.publishers:
            try:
                publisher.publish_status(status)
            except Exception as exc:  # health reporting must never stop the stream
                log.warning("status not published: %s", exc)

    def stop(self) -> None:
        self.stop_event.set()

    def close(self) -> None:
        for closeable in (self.source, self.keypoints, self.camera, *self.publishers):
            try:
                if hasattr(closeable, "close"):
                    closeable.close()
            except Exception as exc:  # closing must never mask the run's own outcome
                log.debug("close failed: %s", exc)
