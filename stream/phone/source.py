"""A phone page as a live source: JPEG frames and gyroscope samples on the page's one clock.

The server (:mod:`livehmr.stream.phone.server`) hands every parsed message here; the
pipeline's reader iterates :class:`PhoneSource`, and the gyro camera reads
:class:`PhoneGyroFeed` with a clock offset of zero: frames and samples share the page's
clock. The samples are turned into the camera's axes as they arrive, with the
orientation the page had then (:func:`~livehmr.stream.phone.protocol.R_cam_device`), so
turning the phone to landscape mid-stream is followed.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Iterator

import cv2
import numpy as np

from livehmr.core.types import Frame
from livehmr.stream.phone.protocol import FrameMessage, ImuMessage, R_cam_device
from livehmr.stream.sources.gyro_feeds import GyroFeed


class PhoneGyroFeed(GyroFeed):
    """Gyroscope (and accelerometer) samples of the page, in **cam** axes, seconds on the page clock."""

    live = True

    def __init__(self):
        super().__init__()
        self.last_arrival: float | None = None  # perf_counter when the newest sample arrived
        self.first_t: float | None = None  # page clock (s) of the first and newest gyro samples
        self.last_t: float | None = None

    def add(self, message: ImuMessage) -> None:
        R = R_cam_device(message.orientation)
        arrival = time.perf_counter()
        if len(message.gyro):
            self.last_arrival = arrival
            self.first_t = message.gyro[0, 0] / 1e3 if self.first_t is None else self.first_t
            self.last_t = max(self.last_t or -np.inf, float(message.gyro[:, 0].max()) / 1e3)
        for buffer, samples in ((self.buffer, message.gyro), (self.accel, message.accel)):
            for t, x, y, z in np.column_stack([samples[:, 0] / 1e3, samples[:, 1:] @ R.T]):
                buffer.add(t, x, y, z, arrival=arrival)

    def disagreement_s(self, t: float, fresh_s: float = 0.5) -> float:
        """How far (s) a frame stamped ``t`` is from the newest gyro sample, when samples are
        flowing (the newest arrived within ``fresh_s``); 0 otherwise (a gap is not a clock)."""
        if self.last_t is None or self.last_arrival is None or time.perf_counter() - self.last_arrival > fresh_s:
            return 0.0
        return t - self.last_t


class PhoneSource:
    """Frames from one phone, newest first when the pipeline falls behind: at most
    ``backlog`` wait; an older one is dropped (counted in ``dropped``; the pipeline sees the
    gap in frame numbers and flags ``frame_missing``). Iteration ends on :meth:`close`."""

    live = True

    def __init__(self, backlog: int = 2):
        self._frames: queue.Queue[tuple[FrameMessage, float]] = queue.Queue(maxsize=backlog)
        self._gyro = PhoneGyroFeed()
        self._closed = threading.Event()
        self.dropped = 0
        self.undecodable = 0

    def gyro_feed(self) -> PhoneGyroFeed:
        return self._gyro

    def put(self, message: FrameMessage) -> None:
        """Queue a frame (never blocks: the WebSocket's loop calls this); its arrival time
        starts the frame's glass-to-publish clock on this machine."""
        item = (message, time.perf_counter())
        while True:
            try:
                self._frames.put_nowait(item)
                return
            except queue.Full:
                try:
                    self._frames.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def __iter__(self) -> Iterator[Frame]:
        while not self._closed.is_set():
            try:
                message, t_captured = self._frames.get(timeout=0.1)
            except queue.Empty:
                continue
            image = cv2.imdecode(np.frombuffer(message.jpeg, np.uint8), cv2.IMREAD_COLOR)
            if image is None:
                self.undecodable += 1
                continue
            yield Frame(index=message.seq, t=message.t_ms / 1e3, image=image, t_captured=t_captured)

    def close(self) -> None:
        self._closed.set()
