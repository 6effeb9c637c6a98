"""Does the camera stand still? The accelerometer's answer, frame by frame.

A camera on a tripod (panning or not) reads gravity alone: its specific force, turned
into the world with the camera's orientation, is constant up to the sensor's noise. A
walking operator's steps, a robot's chassis, a hand's shake, a dolly's or a drone's
accelerations all add to it. Over the last ``window_s`` seconds each frame's samples are
averaged (which cuts the noise), turned into the world with the camera's orientation,
and their spread about a straight-line trend (a gyro's bias turns the estimated world
slowly: the gravity it leaks is a trend) is compared with ``still_spread``. Chosen on
the studio's validation suite, with the gyro camera's own orientation: tripods (static,
pan) spread 0.016 m/s^2 at most but for a few windows of one pan (0.027), the moving
families' least-moving windows (orbit, drone: a steady circle) 0.030 and more;
``still_spread`` 0.02 errs toward "cannot tell".

A camera cruising at a constant velocity (a dolly on rails at one speed) reads as still
too: no accelerometer can tell it from a tripod; nor, in a 2 s window, one whose speed
only changes over 8 s or more (the trend takes it). Cameras that keep pace with a person
change speed with them every few seconds and do not (the studio's dolly: 0.2 m/s^2 at
the least).

Only stillness is concluded. A large spread does not say the camera *travels* (a hand
shakes in place; a walking operator's steps average out over a stride), so a moving
answer is ``None``: "cannot tell", left to the trajectory filter's own evidence. This
is why the answer is the :class:`~livehmr.core.types.CameraState` field ``translates``:
False (still) or None.

Units: m/s^2, seconds. Work per frame: a mean over the frame's samples and a spread over
``window_s`` of frame means.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class AccelStillness:
    """Frame-by-frame stillness from accelerometer samples (see the module docstring).

    Args:
        R_cam_imu: (3, 3) IMU -> camera rotation.
        window_s: how long a stretch of readings is judged, s.
        still_spread: largest per-axis spread (m/s^2, world axes, of frame means about
            their trend) that still counts as a camera standing still.
        min_span_s: the least time the judged samples must span (s): a stream's first
            answer comes after this long, and sample dropouts may shorten a window down to
            it. (An answer after 0.5 s held orbiting cameras still at their start: on the
            validation suite orbit RTE 5.8 -> 16.5 %.)
    """

    def __init__(self, R_cam_imu: np.ndarray, window_s: float = 2.0, still_spread: float = 0.02,
                 min_span_s: float = 1.8):  # fmt: skip
        self.R_cam_imu = np.asarray(R_cam_imu, dtype=np.float64)
        self.window_s, self.still_spread, self.min_span_s = window_s, still_spread, min_span_s
        self._means: deque[tuple[float, np.ndarray | None]] = deque()  # (frame t, world specific force or None)
        self.seen_any = False  # whether any sample has come (a feed without an accelerometer never sends one)

    def update(self, t: float, R_world_cam: np.ndarray, samples: np.ndarray) -> bool | None:
        """Take one frame: its time ``t`` (s), the camera's orientation ``R_world_cam``
        (3, 3) and the accelerometer samples (N, 4) = (t, ax, ay, az) in IMU axes since the
        last frame. Returns False when the camera has stood still over the last
        ``window_s`` (or, at a stream's start, over the ``min_span_s`` or more read so far:
        it does not translate), else None (cannot tell)."""
        mean = None
        if len(samples):
            self.seen_any = True
            mean = R_world_cam @ (self.R_cam_imu @ samples[:, 1:4].mean(axis=0))
        self._means.append((t, mean))
        while self._means and self._means[0][0] < t - self.window_s:
            self._means.popleft()
        return False if self.still() else None

    def still(self) -> bool:
        """Whether the window's readings span ``min_span_s`` and spread as a still camera's."""
        return self.spread() <= self.still_spread

    def spread(self) -> float:
        """The window's largest per-axis spread (m/s^2) of frame means about their straight-line
        trend (a gyro's bias turns the world slowly: the gravity it leaks is a trend, not a
        spread); inf while the readings span less than ``min_span_s``."""
        seen = [(t, m) for t, m in self._means if m is not None]
        if len(seen) < 3 or seen[-1][0] - seen[0][0] < self.min_span_s:
            return float("inf")
        t = np.array([t for t, _ in seen])
        f = np.array([m for _, m in seen])
        A = np.column_stack([np.ones_like(t), t - t.mean()])
        residual = f - A @ np.linalg.lstsq(A, f, rcond=None)[0]
        return float(np.sqrt((residual**2).mean(axis=0)).max())

    def reset(self) -> None:
        self._means.clear()
