"""The pipeline's health, published once a second on topic ``status`` (docs/protocol.md).

A status is a plain dict (it travels as the message header)::

    {"uptime_s": 12.0, "frames": 350, "fps": 29.8, "persons": 1,
     "dropped": 3, "skipped": 0, "stage_errors": 0, "withheld": 0,
     "restarts": {"camera": 1},                          # stage restarts since the start
     "latency_ms": {"keypoints": [41.2, 60.3], ...},   # p50, p99 over the last second
     "flags": {"gyro_gap": 2},                          # frames raising each flag, last second
     "camera": "ok" | "gyro_gap" | "vo_lost" | "static" | "failing",
     "stalled": false}                                  # no frame for over 2 s

It is sent even when no frame arrives (then ``fps`` is 0 and ``stalled`` turns true),
which is what makes it a liveliness signal.
"""

from __future__ import annotations

import time
from collections import Counter, deque

import numpy as np

from livehmr.core.types import Flag, FrameResult

STATUS_PERIOD_S = 1.0
STALL_S = 2.0


class HealthMonitor:
    """Watches frame results; ``due()`` once a period; ``status()`` summarises the last period."""

    def __init__(self, period_s: float = STATUS_PERIOD_S, clock=time.monotonic):
        self.clock = clock
        self.period_s = period_s
        self.start = self.last_status = clock()
        self.last_frame_at: float | None = None
        self.frames = 0
        self.stage_errors = 0
        self.persons = 0
        self._window: deque[tuple[float, FrameResult]] = deque()

    def observe(self, result: FrameResult) -> None:
        now = self.clock()
        self.frames += 1
        self.stage_errors += Flag.STAGE_ERROR in result.flags
        self.persons = len(result.persons)
        self.last_frame_at = now
        self._window.append((now, result))

    def due(self) -> bool:
        return self.clock() - self.last_status >= self.period_s

    def status(self, dropped: int = 0, withheld: int = 0, restarts: dict[str, int] | None = None, skipped: int = 0) -> dict:
        """The status of the last period (and the totals), and start a new period."""
        now = self.clock()
        while self._window and now - self._window[0][0] > self.period_s:
            self._window.popleft()
        results = [r for _, r in self._window]
        span = max(now - self.last_status, 1e-6)
        self.last_status = now
        flags = Counter(f for r in results for f in r.flags | {f for p in r.persons for f in p.flags})
        stages = sorted({k for r in results for k in r.latency_ms})
        latency = {}
        for stage in stages:
            values = np.array([r.latency_ms[stage] for r in results if stage in r.latency_ms])
            latency[stage] = [round(float(np.percentile(values, 50)), 2), round(float(np.percentile(values, 99)), 2)]
        stalled = (now - (self.last_frame_at if self.last_frame_at is not None else self.start)) > STALL_S
        return {
            "uptime_s": round(now - self.start, 2), "frames": self.frames, "fps": round(len(results) / span, 2),
            "persons": self.persons if not stalled else 0, "dropped": dropped, "skipped": skipped,
            "stage_errors": self.stage_errors, "withheld": withheld, "restarts": dict(restarts or {}),
            "latency_ms": latency, "flags": dict(flags),
            "camera": _camera_health(flags, len(results)), "stalled": stalled,
        }  # fmt: skip


def _camera_health(flags: Counter, frames: int) -> str:
    """One word for the camera-motion front end over the last period."""
    if frames == 0:
        return "ok"
    if flags[Flag.STAGE_ERROR] and flags[Flag.STAGE_ERROR] == frames:
        return "failing"
    for flag in (Flag.VO_LOST, Flag.GYRO_GAP):
        if flags[flag]:
            return flag
    return "static" if flags[Flag.CAMERA_STATIC] == frames else "ok"
