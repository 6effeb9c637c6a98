"""``livehmr serve STREAMS.toml``: many live streams on a Ray cluster, one endpoint.

The driver (this process) starts the hub (:mod:`livehmr.cluster.hub`), one
:class:`~livehmr.cluster.stream_actor.StreamActor` per stream with the stream's resources,
and supervises: when a worker dies (a crashed process, a lost node), Ray restarts the
actor (``max_restarts``) and the driver runs the stream again from where it was — a
video file played live resumes at the position its clock has reached, an unpaced file
after the last frame it published, a camera or URL from now — with ``restarted`` on its
first second of frames. Nothing else is restarted: the other streams do not notice.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from livehmr.cluster.config import ServeConfig, StreamSpec
from livehmr.cluster.ray_runtime import cluster_cpus, describe_ray_error, start_ray
from livehmr.cluster.stream_actor import Resume, StreamActor
from livehmr.core.errors import LivehmrError
from livehmr.stream.publish.hub import Hub
from livehmr.stream.publish.security import CurveServer

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 1.0
#: Ray runs its workers at niceness 15, as background work; a live stream is the foreground:
#: at 15 any other busy process on the node starves it (its paced source drops frames, a
#: restarted worker takes minutes to load). Ray reads this variable when a worker starts (its
#: job manager does the same for job drivers), so no privilege is needed.
LIVE_WORKER_ENV = {"env_vars": {"RAY_worker_niceness": "0"}}
MAX_CALLS_WHILE_RESTARTING = 30  # runs refused while Ray restarts a worker, before the stream is given up


@dataclass
class StreamTrack:
    """What the driver knows of one stream: its state (``starting``, ``running``,
    ``restarting``, ``done``, ``failed``), restarts, last progress report and failure."""

    spec: StreamSpec
    state: str = "starting"
    restarts: int = 0
    progress: dict = field(default_factory=dict)
    error: str = ""
    summary: dict = field(default_factory=dict)
    failures_since_restart: int = 0
    last_t: float | None = None  # source time of the last frame published (s), across workers
    source_t0_wall: float | None = None  # Unix time of the source's t = 0, across workers

    def resume(self) -> Resume:
        """Where a restarted run starts (see the module's docstring)."""
        last_t, t0_wall = self.last_t, self.source_t0_wall
        if self.spec.choices.realtime and t0_wall is not None:
            start_s = max(0.0, time.time() - t0_wall)  # a live clip has gone on playing meanwhile
        elif last_t is not None:
            start_s = last_t + 1e-3  # the frame after the last one published
        else:
            start_s = 0.0
        return Resume(start_s=start_s, restarts=self.restarts)


@dataclass
class ServeResult:
    """How each stream ended, by id."""

    streams: dict[str, StreamTrack]

    @property
    def failed(self) -> list[str]:
        return [i for i, t in self.streams.items() if t.state == "failed"]


class Server:
    """The driver of ``livehmr serve``: :meth:`start`, then :meth:`supervise` until every
    stream has ended or :meth:`stop` is called (from a signal handler, say)."""

    def __init__(self, config: ServeConfig, address: str | None = None, say: Callable[[str], None] = print):
        self.config = config
        self.address = address
        self.say = say
        self.tracks = {s.id: StreamTrack(s) for s in config.streams}
        self._stopping = False
        self._resubmit: dict[str, float] = {}  # stream id -> when to run it again (monotonic s)
        self.hub: Hub | None = None

    def start(self) -> None:
        """Join or start Ray, check the streams fit, open the hub and start every actor."""
        self.ray = ray = start_ray(self.address)
        need, have = sum(s.num_cpus for s in self.config.streams), cluster_cpus(ray)
        if need > have:
            raise LivehmrError(f"{self.config.path}: the streams ask for {need:g} CPUs and the cluster has {have:g}; "
                               "lower num_cpus or add nodes")  # fmt: skip
        internal_host = "127.0.0.1" if self.address is None else ray.util.get_node_ip_address()
        curve = (CurveServer(self.config.curve_secret, self.config.curve_clients)
                 if self.config.curve_secret and self.config.curve_clients else None)  # fmt: skip
        self.hub = Hub(self.config.publish, internal_host, self.config.insecure, curve)
        remote = ray.remote(StreamActor)
        self.actors = {
            s.id: remote.options(num_cpus=s.num_cpus, num_gpus=s.num_gpus, max_restarts=self.config.max_restarts,
                                 max_task_retries=0, max_concurrency=3, runtime_env=LIVE_WORKER_ENV).remote(s, self.hub.link)  # fmt: skip
            for s in self.config.streams
        }
        self.runs = {i: a.run.remote(Resume()) for i, a in self.actors.items()}
        self.say(f"serving {len(self.actors)} streams on {self.hub.url}  (watch: livehmr echo {self.hub.url}; "
                 f"status: livehmr serve --status {self.config.path})")  # fmt: skip

    def supervise(self) -> ServeResult:
        """Wait on the streams, restarting the runs of restarted workers, until all end."""
        ray = self.ray
        from ray.exceptions import RayActorError, RayTaskError

        next_progress = 0.0
        while self.runs or self._resubmit:
            refs = list(self.runs.values())
            ready, _ = ray.wait(refs, num_returns=1, timeout=0.25) if refs else ([], [])
            if not refs:
                time.sleep(0.1)
            for ref in ready:
                stream_id = next(i for i, r in self.runs.items() if r == ref)
                track = self.tracks[stream_id]
                try:
                    track.summary = ray.get(ref)
                    track.state = "done"
                    del self.runs[stream_id]
                    self.say(f"stream {stream_id}: ended after {track.summary.get('frames', 0)} frames")
                except RayTaskError as exc:  # the stream's own error (a bad source): not a crash, not retried
                    track.state, track.error = "failed", describe_ray_error(exc)
                    del self.runs[stream_id]
                    self.say(f"stream {stream_id}: failed: {track.error}")
                except RayActorError as exc:  # the worker died; Ray restarts the actor within max_restarts
                    if self._stopping:
                        del self.runs[stream_id]
                        continue
                    self._worker_lost(stream_id, exc)
            if self._stopping:
                self._resubmit.clear()
            for stream_id, due in list(self._resubmit.items()):
                if time.monotonic() >= due:
                    del self._resubmit[stream_id]
                    self.runs[stream_id] = self.actors[stream_id].run.remote(self.tracks[stream_id].resume())
            if time.monotonic() >= next_progress:
                next_progress = time.monotonic() + PROGRESS_EVERY_S
                self._poll_progress()
        return ServeResult(self.tracks)

    def _worker_lost(self, stream_id: str, exc: Exception) -> None:
        """A run ended with its worker: count one restart per death (a call that fails while
        Ray is still restarting the actor is the same death), and run again shortly."""
        track = self.tracks[stream_id]
        del self.runs[stream_id]
        if track.state != "restarting":
            track.restarts += 1
            track.failures_since_restart = 0
            track.state = "restarting"
            if track.restarts > self.config.max_restarts:
                track.state, track.error = "failed", f"its worker died {track.restarts} times"
                self.say(f"stream {stream_id}: down for good ({track.error}): {describe_ray_error(exc)}")
                return
            self.say(f"stream {stream_id}: worker on {track.progress.get('node', '?')} pid "
                     f"{track.progress.get('pid', '?')} died; restart {track.restarts}, resuming at "
                     f"{track.resume().start_s:.1f} s")  # fmt: skip
        else:
            track.failures_since_restart += 1
            if track.failures_since_restart > MAX_CALLS_WHILE_RESTARTING:
                track.state, track.error = "failed", f"its worker did not come back: {describe_ray_error(exc)}"
                self.say(f"stream {stream_id}: down for good ({track.error})")
                return
        self._resubmit[stream_id] = time.monotonic() + 0.5

    def _poll_progress(self) -> None:
        from ray.exceptions import RayActorError

        refs = {self.actors[i].progress.remote(): i for i in self.runs}
        # one 2 s bound for all streams together (a restarting one does not hold up the others)
        ready, _ = self.ray.wait(list(refs), num_returns=len(refs), timeout=2.0) if refs else ([], [])
        for ref in ready:
            stream_id = refs[ref]
            try:
                report: dict = self.ray.get(ref)
            except RayActorError:
                continue  # restarting: the next poll tells
            track = self.tracks[stream_id]
            if track.state == "restarting" and report.get("pid") == track.progress.get("pid"):
                continue  # the dead worker's last words
            track.progress = report
            if report.get("last_t") is not None:
                track.last_t, track.source_t0_wall = report["last_t"], report["source_t0_wall"]
            if report.get("frames"):
                track.state = "running"

    def stop(self) -> None:
        """Ask every stream to stop (their runs then return); safe from a signal handler."""
        self._stopping = True
        for actor in getattr(self, "actors", {}).values():
            actor.stop.remote()

    def close(self) -> None:
        """Stop what is left, kill the actors, close the hub, leave Ray."""
        ray = getattr(self, "ray", None)
        if ray is not None and getattr(self, "actors", None):
            self.stop()
            if self.runs:
                ray.wait(list(self.runs.values()), num_returns=len(self.runs), timeout=10)
            for actor in self.actors.values():
                ray.kill(actor, no_restart=True)
        if self.hub is not None:
            self.hub.close()
        if ray is not None:
            ray.shutdown()


def status_table(url: str, streams: list[str], listen_s: float = 2.5, curve=None) -> list[dict]:
    """The latest ``status`` message of each served stream heard on ``url`` within
    ``listen_s`` (streams are announced once a second); a stream not heard is listed as
    such. Each row: stream, node, pid, fps, glass-to-publish p50/p99 (ms), restarts."""
    from livehmr.clients.sdk import Status, Subscriber

    latest: dict[str, Status] = {}
    deadline = time.monotonic() + listen_s
    with Subscriber(url, status=True, states=False, curve=curve) as sub:
        while time.monotonic() < deadline:
            message = sub.recv(timeout_s=max(0.05, deadline - time.monotonic()))
            if isinstance(message, Status):
                latest[message.stream] = message
    rows = []
    for stream_id in streams:
        message = latest.get(stream_id)
        if message is None:
            rows.append({"stream": stream_id, "heard": False})
            continue
        s = message.status
        glass = s.get("latency_ms", {}).get("glass_to_publish", [float("nan")] * 2)
        rows.append({"stream": stream_id, "heard": True, "node": s.get("node", "-"), "pid": s.get("pid", "-"),
                     "fps": s.get("fps", 0.0), "p50_ms": glass[0], "p99_ms": glass[1], "frames": s.get("frames", 0),
                     "restarts": s.get("worker_restarts", 0), "stalled": s.get("stalled", False),
                     "nice": s.get("nice", "-")})  # fmt: skip
    return rows
