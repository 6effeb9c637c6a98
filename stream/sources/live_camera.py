"""A live camera (index or URL) read by ``cv2.VideoCapture`` on its own thread.

The grabber keeps only the newest frame: when the pipeline is slower than the
camera, stale frames are dropped (counted, and flagged ``frame_dropped`` on the
next delivered frame) instead of queueing. A camera that stops delivering is
reopened every ``retry_s``; the first frame after it comes back is flagged
``frame_missing``. After ``give_up_s`` without a frame the source ends with an error.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Iterator, Protocol

import cv2

from livehmr.core.errors import SourceError
from livehmr.core.types import Flag, Frame

log = logging.getLogger(__name__)


class Capture(Protocol):
    """What the source uses of ``cv2.VideoCapture``."""

    def isOpened(self) -> bool: ...
    def read(self) -> tuple[bool, Any]: ...  # (got a frame, the BGR image (H, W, 3) uint8)
    def get(self, prop: int, /) -> float: ...
    def release(self) -> Any: ...


def _video_capture(target: int | str) -> Capture:
    return cv2.VideoCapture(target)


class CameraSource:
    live = True

    def __init__(self, target: int | str, max_frames: int | None = None, give_up_s: float = 5.0,
                 retry_s: float = 0.5, open_capture: Callable[[int | str], Capture] | None = None):  # fmt: skip
        """``open_capture(target)`` opens the device (``cv2.VideoCapture``; fault tests pass a scripted one)."""
        self.target = target
        self.max_frames = max_frames
        self.give_up_s = give_up_s
        self.retry_s = retry_s
        self._open = open_capture or _video_capture
        self.capture = self._open(target)
        if not self.capture.isOpened():
            raise SourceError(f"cannot open camera {target!r}: no such device or stream")
        self.dropped = 0
        self._latest: Frame | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._failed: str | None = None
        self._thread = threading.Thread(target=self._grab, name="camera-grab", daemon=True)
        self._thread.start()

    def _grab(self) -> None:
        index, t0, last_ok = 0, time.perf_counter(), time.perf_counter()
        stalled_since: float | None = None
        t_prev, t_shift = -float("inf"), 0.0  # frame times never go back
        while not self._stop.is_set():
            ok, image = self.capture.read()
            now = time.perf_counter()
            if not ok or image is None:
                if now - last_ok > self.give_up_s:
                    with self._cond:
                        self._failed = f"camera {self.target!r} delivered no frame for {self.give_up_s:g} s"
                        self._cond.notify_all()
                    return
                if stalled_since is None:
                    log.warning("camera %r stalled; reopening it every %g s", self.target, self.retry_s)
                    stalled_since = last_ok
                self.capture.release()
                self._stop.wait(self.retry_s)
                self.capture = self._open(self.target)
                continue
            pos_ms = self.capture.get(cv2.CAP_PROP_POS_MSEC)
            t = (pos_ms / 1000.0 if pos_ms and pos_ms > 0 else now - t0) + t_shift
            if t <= t_prev:  # the stream's clock restarted (a reopened URL): go on in wall time
                t_shift += t_prev + (now - last_ok) - t
                t = t_prev + (now - last_ok)
            t_prev = t
            frame = Frame(index=index, t=t, image=image, t_captured=now,
                          flags={Flag.FRAME_MISSING} if stalled_since is not None else set())  # fmt: skip
            if stalled_since is not None:
                log.warning("camera %r is back after %.1f s without frames", self.target, now - stalled_since)
                stalled_since = None
            last_ok = now
            with self._cond:
                if self._latest is not None:
                    self.dropped += 1
                self._latest = frame
                self._cond.notify_all()
            index += 1

    def __iter__(self) -> Iterator[Frame]:
        delivered, last_index = 0, -1
        while self.max_frames is None or delivered < self.max_frames:
            with self._cond:
                while self._latest is None and self._failed is None and not self._stop.is_set():
                    self._cond.wait(timeout=0.5)
                if self._failed is not None and self._latest is None:
                    raise SourceError(self._failed)
                if self._latest is None:
                    return
                frame, self._latest = self._latest, None
            if last_index >= 0 and frame.index > last_index + 1:
                frame.flags.add(Flag.FRAME_DROPPED)
            last_index = frame.index
            delivered += 1
            yield frame

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self.capture.release()
