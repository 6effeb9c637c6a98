"""What every bridge shares: read the stream frame by frame, hand each frame to the
bridge, measure the latency it adds.

A bridge is anything with ``send(frame)`` (``frame``: the messages of one frame: its
:class:`~livehmr.clients.sdk.FrameImage` first when the bridge asked for images and the
pipeline publishes them, then the :class:`~livehmr.clients.sdk.State` of each person or a
single ``no_person`` heartbeat) and ``close()``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from livehmr.clients.sdk import FrameGrouper, FrameImage, State, Status, Subscriber

FRAME_QUIET_S = 0.002


class Bridge(Protocol):
    def send(self, frame: list[State | FrameImage]) -> None: ...

    def close(self) -> None: ...


@dataclass
class BridgeStats:
    """Frames handed over, and the latency the bridge adds: from the publisher's
    ``t_publish`` to the bridge's output being sent, ms (same-machine clocks)."""

    frames: int = 0
    latency_ms: list[float] = field(default_factory=list)

    def percentiles(self) -> tuple[float, float]:
        """p50, p99 of the added latency, ms."""
        if not self.latency_ms:
            return float("nan"), float("nan")
        return float(np.percentile(self.latency_ms, 50)), float(np.percentile(self.latency_ms, 99))


def run_bridge(url: str, bridge: Bridge, idle_s: float | None = None, count: int | None = None, curve=None,
               ready=None, images: bool = False, seconds: float | None = None) -> BridgeStats:  # fmt: skip
    """Feed ``bridge`` every frame of the stream at ``url`` until ``count`` frames, ``seconds``,
    ``idle_s`` seconds without a message (once messages have come), or Ctrl-C. ``ready()`` is called
    once subscribed; ``images``: also hand over the frames' image messages."""
    stats = BridgeStats()
    grouper = FrameGrouper()

    def hand_over(frame: list[State | FrameImage] | None) -> None:
        states = [m for m in frame or () if isinstance(m, State)]
        if not states:  # an image whose states never came (a frame the pipeline withheld)
            return
        bridge.send(frame or [])
        stats.frames += 1
        stats.latency_ms.append((time.time() - float(states[-1].header.get("t_publish", time.time()))) * 1e3)

    with Subscriber(url, timeout_s=0.1, curve=curve, frames=images) as sub:
        if ready is not None:
            ready()
        last, has_state = None, False  # has_state: the frame being gathered has a state already
        end = None if seconds is None else time.monotonic() + seconds
        try:
            while (count is None or stats.frames < count) and (end is None or time.monotonic() < end):
                # A publisher sends a frame's messages back to back, image first: once a state
                # has come, 2 ms of quiet ends the frame (waiting for the next frame's first
                # message would add a frame of latency); an image alone waits for its states,
                # which the publisher encodes after sending it.
                message = sub.recv(timeout_s=FRAME_QUIET_S if has_state else 0.1)
                if message is None:  # a pause: the frame being gathered is complete
                    hand_over(grouper.flush())
                    has_state = False
                    if idle_s is not None and last is not None and time.monotonic() - last > idle_s:
                        break
                    continue
                last = time.monotonic()
                if isinstance(message, Status):
                    continue  # not asked for (status=False); a bridge carries frames
                done = grouper.add(message)
                if done is not None:  # the message opened the next frame
                    hand_over(done)
                    has_state = False
                has_state = has_state or isinstance(message, State)
        except KeyboardInterrupt:
            pass
        finally:
            bridge.close()
    return stats
