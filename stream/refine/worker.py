"""The refinement beside the live pipeline: its own thread, never in the fast path's way.

The back thread hands each causal result over with :meth:`RefineWorker.submit` (never
blocks: when the bounded inbox is full the result is dropped for the refinement, counted,
and the person's window restarts there) and, each frame, collects what the refinement has
finished with :meth:`take_ready`, which it publishes itself (ZeroMQ sockets are not shared
between threads). A refinement error is logged and counted; the frames it held go out
unrefined, and refinement goes on from the next frame.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from collections import deque

from livehmr.stream.refine.refiner import FixedLagRefiner
from livehmr.stream.types import FrameResult

log = logging.getLogger(__name__)
_END = object()


class RefineWorker:
    def __init__(self, refiner: FixedLagRefiner, max_pending: int | None = None, threads: int = 1):
        self.refiner = refiner
        self.threads = threads
        self._inbox: queue.Queue = queue.Queue(maxsize=max_pending or 2 * refiner.config.window)
        self._ready: deque[FrameResult] = deque()
        self.dropped = 0
        self.errors = 0
        self.published = 0
        self._thread = threading.Thread(target=self._loop, name="livehmr-refine", daemon=True)
        self._thread.start()

    def submit(self, result: FrameResult) -> None:
        try:
            self._inbox.put_nowait(dataclasses.replace(result, image=None))  # the image is not needed: do not hold it
        except queue.Full:
            self.dropped += 1

    def take_ready(self) -> list[FrameResult]:
        out = []
        while self._ready:
            out.append(self._ready.popleft())
        self.published += len(out)
        return out

    def close(self, timeout_s: float = 30.0) -> list[FrameResult]:
        """Finish: solve what is left, wait for it (up to ``timeout_s``), return what is ready."""
        try:
            self._inbox.put(_END, timeout=timeout_s)
        except queue.Full:
            log.warning("refinement did not keep up; its last frames are dropped")
        self._thread.join(timeout=timeout_s)
        return self.take_ready()

    def _loop(self) -> None:
        import torch

        torch.set_num_threads(self.threads)
        while True:
            item = self._inbox.get()
            try:
                if item is _END:
                    self._ready.extend(self.refiner.flush())
                    return
                self._ready.extend(self.refiner.push(item))
            except Exception as exc:  # the refinement must never take the stream down
                self.errors += 1
                log.warning("refinement failed at frame %s (%s: %s); its frames go out unrefined",
                            getattr(item, "frame_index", "?"), type(exc).__name__, exc)  # fmt: skip
                self._ready.extend(self.refiner.abandon())
                if item is _END:
                    return
