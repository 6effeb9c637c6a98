"""One served stream: a Ray actor holding its pipeline's state (tracker, recurrent state,
camera filter), publishing into the hub.

The class is plain Python; :mod:`livehmr.cluster.serve` makes it a Ray actor with the
stream's resources and a restart budget. After Ray restarts a dead worker, the driver
calls :meth:`StreamActor.run` again with where to resume (:class:`Resume`), and the
first second of frames after it carries the ``restarted`` flag.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from dataclasses import dataclass, replace

import numpy as np

from livehmr.cluster.config import StreamSpec
from livehmr.core.types import Flag, FrameResult
from livehmr.stream.publish.hub import HubLink
from livehmr.stream.publish.publisher import ZmqPublisher

RESTARTED_FLAG_S = 1.0  # how long after a restart the stream's frames carry the flag


@dataclass(frozen=True)
class Resume:
    """Where a stream (re)starts: ``start_s`` into a video file (s, the file's own clock;
    ignored by cameras and URLs) and how many times its worker has restarted so far."""

    start_s: float = 0.0
    restarts: int = 0


class ServedPublisher(ZmqPublisher):
    """A stream's publisher into the hub: flags ``restarted`` on its first second of frames
    when the worker has restarted, and adds the worker's node, pid and restart count to the
    stream's ``status`` messages (what ``livehmr serve --status`` prints)."""

    def __init__(self, link: HubLink, stream_id: str, body_model: str, publish_frames: bool, restarts: int,
                 where: dict):  # fmt: skip
        super().__init__(link.url, stream_id=stream_id, body_model=body_model, publish_frames=publish_frames,
                         socket=link.connect())  # fmt: skip
        self.restarts = restarts
        self.where = where
        self._first_publish: float | None = None

    def publish(self, result: FrameResult) -> None:
        now = time.perf_counter()
        if self._first_publish is None:
            self._first_publish = now
        if self.restarts and now - self._first_publish < RESTARTED_FLAG_S:
            result.flags.add(Flag.RESTARTED)
        super().publish(result)

    def publish_status(self, status: dict) -> None:
        super().publish_status({**status, **self.where, "worker_restarts": self.restarts})


class StreamActor:
    """Runs one stream's pipeline in a Ray worker. Threaded (Ray ``max_concurrency``):
    :meth:`progress` and :meth:`stop` answer while :meth:`run` works."""

    def __init__(self, spec: StreamSpec, link: HubLink):
        import ray

        self.spec = spec
        self.link = link
        # nice: the worker's scheduling priority (0 as serve asks, see serve.LIVE_WORKER_ENV)
        self.where = {"node": ray.util.get_node_ip_address(), "pid": os.getpid(), "nice": os.getpriority(os.PRIO_PROCESS, 0)}
        self.pipeline = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._last_t: float | None = None
        self._first_wall: float | None = None  # Unix time of this stream's first published frame
        self._frames = 0
        self._latency = collections.deque(maxlen=300)  # glass-to-publish, ms
        self._times = collections.deque(maxlen=300)  # perf_counter of each result

    def run(self, resume: Resume) -> dict:
        """Build the pipeline and run it until the source ends or :meth:`stop`; returns the
        run's summary. Raises what the stages raise (a LivehmrError: a bad source, say)."""
        from livehmr.stream.registry import build_pipeline

        self._first_wall = None
        choices = replace(self.spec.choices, start_s=resume.start_s)
        publisher = ServedPublisher(self.link, self.spec.id, choices.body, publish_frames=False,
                                    restarts=resume.restarts, where=self.where)  # fmt: skip
        try:
            pipeline = build_pipeline(choices, [publisher])
        except BaseException:
            publisher.close()
            raise
        pipeline.on_result.append(self._seen)
        self.pipeline = pipeline
        if self._stop.is_set():
            pipeline.close()
            return {"frames": 0, "stopped": True}
        try:
            summary = pipeline.run()
        finally:
            pipeline.close()
        return {"frames": summary.frames, "fps": summary.fps, "dropped": summary.dropped,
                "stage_errors": summary.stage_errors, "stopped": self._stop.is_set()}  # fmt: skip

    def _seen(self, result: FrameResult) -> None:
        with self._lock:
            if self._first_wall is None:
                self._first_wall = time.time() - result.t_source  # when the source's t = 0 was
            self._last_t = result.t_source
            self._frames += 1
            self._latency.append(result.latency_ms.get("glass_to_publish", float("nan")))
            self._times.append(time.perf_counter())

    def progress(self) -> dict:
        """Where the stream is: ``last_t`` (s of source time published last), ``source_t0_wall``
        (Unix time of the source's t = 0), frames, recent fps and glass-to-publish p50/p99 (ms),
        and the worker's node and pid."""
        with self._lock:
            times, latency = list(self._times), np.asarray(self._latency, dtype=float)
            fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
            finite = latency[np.isfinite(latency)]
            p50, p99 = (np.percentile(finite, [50, 99]).tolist() if finite.size else [float("nan")] * 2)
            return {**self.where, "last_t": self._last_t, "source_t0_wall": self._first_wall, "frames": self._frames,
                    "fps": fps, "latency_p50_ms": p50, "latency_p99_ms": p99}  # fmt: skip

    def stop(self) -> None:
        self._stop.set()
        if self.pipeline is not None:
            self.pipeline.stop()
