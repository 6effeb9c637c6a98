"""The embedded default source: :func:`livehmr.studio.scene.default_scene` rendered on the fly.

It also carries the scene's simulated gyroscope (``gyro_feed()``) and, like a phone's
accelerometer at start-up, the true gravity direction in the camera at every frame.
"""

from __future__ import annotations

import time
from typing import Iterator

import numpy as np

from livehmr.core.types import Flag, Frame
from livehmr.stream.sources.gyro_feeds import ArrayGyroFeed
from livehmr.studio.scene import SyntheticScene, default_scene


class SyntheticSource:
    """Frames of a synthetic scene. ``realtime``: paced at the scene's fps (live-like,
    late frames dropped and flagged); otherwise every frame as fast as it renders."""

    def __init__(self, scene: SyntheticScene | None = None, realtime: bool = False, max_frames: int | None = None,
                 duration: float = 20.0):  # fmt: skip
        self.scene = scene if scene is not None else default_scene(duration=duration)
        self.live = realtime
        n = self.scene.num_frames
        self.num_frames = min(n, max_frames) if max_frames else n
        self._gyro = None

    def gyro_feed(self) -> ArrayGyroFeed:
        if self._gyro is None:
            self._gyro = ArrayGyroFeed(self.scene.gyro())
        return self._gyro

    def __iter__(self) -> Iterator[Frame]:
        start = time.perf_counter()
        index, last = 0, -1
        while index < self.num_frames:
            if self.live:
                # the frame "in front of the lens" now; skip what we are late for
                now_index = int((time.perf_counter() - start) * self.scene.fps)
                if now_index < index:
                    time.sleep((index - now_index) / self.scene.fps)
                index = max(index, min(now_index, self.num_frames - 1))
            truth = self.scene.truth(index)
            image = self.scene.render(truth)
            gravity_cam = truth.T_world_cam[:3, :3].T @ np.array([0.0, 0.0, -1.0])
            flags: set[str] = {Flag.FRAME_DROPPED} if last >= 0 and index > last + 1 else set()
            yield Frame(index=index, t=truth.t, image=image, K=self.scene.K, t_captured=time.perf_counter(),
                        gravity_cam=gravity_cam, flags=flags, truth=truth)  # fmt: skip
            last = index
            index += 1

    def close(self) -> None:
        pass
