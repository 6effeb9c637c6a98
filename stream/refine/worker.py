"""The refinement beside the live pipeline, never in the fast path's way.

It runs in its own **process** by default (``mode="process"``): the optimiser is many
small torch calls, and in a thread they would hold the GIL against the back and keypoint
threads (measured: the fast path fell from 24 to ~10 fps). The process is also made
nicer than the pipeline, so when the two cores are short the fast path wins and the
refined stream lags. ``mode="thread"`` keeps it in this process (tests, debugging).

The back thread hands each causal result over with :meth:`RefineWorker.submit` (never
blocks: when the bounded inbox is full the result is dropped for the refinement,
counted, and the person's window restarts there) and, each frame, collects what the
refinement has finished with :meth:`take_ready`, which it publishes itself (ZeroMQ
sockets are not shared between threads). A refinement error is logged and counted; the
frames it held go out unrefined, and refinement goes on from the next frame.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import queue
import threading
import time
from typing import Callable

from livehmr.core.types import FrameResult
from livehmr.stream.refine.refiner import FixedLagRefiner, RefineConfig

log = logging.getLogger(__name__)


def _serve(make_refiner: Callable[[], FixedLagRefiner], inbox, outbox, niceness: int = 0) -> None:
    """The refinement loop (a thread's or a process's): ``None`` in the inbox ends it."""
    import torch

    if niceness:
        os.nice(niceness)
    torch.set_num_threads(1)
    try:
        refiner = make_refiner()
    except Exception as exc:  # a bad prior file or body: say so to the pipeline, which stops
        outbox.put(("failed", [], {"solves": 0, "failed": 0, "solve_ms": []}, f"{type(exc).__name__}: {exc}"))
        return
    outbox.put(("started", [], {"solves": 0, "failed": 0, "solve_ms": []}, ""))
    reported = 0

    def stats() -> dict:
        nonlocal reported
        times = list(refiner.solve_ms)[reported:]
        reported += len(times)
        return {"solves": refiner.solves, "failed": refiner.failed_solves, "solve_ms": times}

    while True:
        item = inbox.get()
        if item is None:
            outbox.put(("done", refiner.flush(), stats(), ""))
            return
        try:
            outbox.put(("ready", refiner.push(item), stats(), ""))
        except Exception as exc:  # the refinement must never take the stream down
            message = f"refinement failed at frame {item.frame_index} ({type(exc).__name__}: {exc}); its frames go out unrefined"
            outbox.put(("error", refiner.abandon(), stats(), message))


class RefineWorker:
    """Runs a refiner made by ``make_refiner`` (a picklable callable in process mode)."""

    def __init__(self, make_refiner: Callable[[], FixedLagRefiner], config: RefineConfig, mode: str = "process",
                 max_pending: int = 300, niceness: int = 10):  # fmt: skip
        self.config = config
        self.dropped = self.errors = self.published = self.solves = self.failed_solves = 0
        self.solve_ms: list[float] = []
        self._ready: list[FrameResult] = []
        self._started = self._done = False
        self._failure = ""
        if mode == "process":
            ctx = multiprocessing.get_context("spawn")  # never fork a process that runs threads
            self._inbox, self._outbox = ctx.Queue(maxsize=max_pending), ctx.Queue()
            self._runner = ctx.Process(target=_serve, args=(make_refiner, self._inbox, self._outbox, niceness),
                                       name="livehmr-refine", daemon=True)  # fmt: skip
        elif mode == "thread":
            self._inbox, self._outbox = queue.Queue(maxsize=max_pending), queue.Queue()
            self._runner = threading.Thread(target=_serve, args=(make_refiner, self._inbox, self._outbox),
                                            name="livehmr-refine", daemon=True)  # fmt: skip
        else:
            raise ValueError(f"unknown refinement mode {mode!r}: process or thread")
        self._runner.start()

    def wait_started(self, timeout_s: float = 120.0) -> None:
        """Block until the refiner is loaded (torch imported, prior read), so that a live
        source is not read while the refinement still starts (that cost ~5 s of refined
        lag on the first frames). Raises :class:`LivehmrError` when it could not start."""
        from livehmr.core.errors import LivehmrError

        deadline = time.monotonic() + timeout_s
        while not (self._started or self._failure):
            try:
                self._take(self._outbox.get(timeout=0.5))
            except queue.Empty:
                if not self._runner.is_alive():
                    try:  # what it said before it ended may still be on its way
                        self._take(self._outbox.get(timeout=1.0))
                    except queue.Empty:  # it died without a word (killed, a crash in torch)
                        self._failure = f"its worker ended (exit code {getattr(self._runner, 'exitcode', None)})"
                        self._done = True
                elif time.monotonic() > deadline:
                    raise LivehmrError(f"the refinement did not start within {timeout_s:.0f} s") from None
        if self._failure:
            raise LivehmrError(f"the refinement could not start: {self._failure}")

    def submit(self, result: FrameResult) -> None:
        try:
            self._inbox.put_nowait(dataclasses.replace(result, image=None))  # the image is not needed: do not send it
        except queue.Full:
            self.dropped += 1

    def take_ready(self) -> list[FrameResult]:
        while True:
            try:
                self._take(self._outbox.get_nowait())
            except queue.Empty:
                break
        out, self._ready = self._ready, []
        self.published += len(out)
        return out

    def _take(self, message) -> None:
        kind, results, stats, text = message
        self._ready.extend(results)
        self.solves, self.failed_solves = stats["solves"], stats["failed"]
        self.solve_ms.extend(stats["solve_ms"])
        if kind == "error":
            self.errors += 1
            log.warning(text)
        self._started |= kind == "started"
        if kind == "failed":
            self._failure = self._failure or text
            self._done = True  # nothing more will come
        self._done |= kind == "done"

    def close(self, timeout_s: float = 30.0) -> list[FrameResult]:
        """Finish: solve what is left, wait for it (up to ``timeout_s``), return what is ready."""
        try:
            self._inbox.put(None, timeout=timeout_s)
        except queue.Full:
            log.warning("refinement did not keep up; its last frames are dropped")
        while not self._done:
            try:
                self._take(self._outbox.get(timeout=timeout_s))
            except queue.Empty:
                log.warning("refinement did not finish within %.0f s; its last frames are dropped", timeout_s)
                break
        self._runner.join(timeout=5.0)
        if not isinstance(self._runner, threading.Thread) and self._runner.is_alive():
            self._runner.terminate()  # a process that would not stop
        return self.take_ready()
