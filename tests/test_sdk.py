"""The subscriber SDK's forms: blocking iterator, asyncio, callback; reconnection and conflation."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np

from livehmr.clients import AsyncSubscriber, Subscriber, subscribe
from livehmr.core.types import FrameResult
from livehmr.stream.publish.publisher import ZmqPublisher


def _heartbeats(pub: ZmqPublisher, frames: range, pause: float = 0.01) -> None:
    for i in frames:
        pub.publish(FrameResult(i, i / 30, time.perf_counter(), np.eye(4), []))
        time.sleep(pause)


def test_asyncio_iterator_and_callback_see_the_stream():
    url = "tcp://127.0.0.1:5621"
    pub = ZmqPublisher(url)
    seen_by_callback = []
    handle = subscribe(url, lambda s: seen_by_callback.append(s.frame))

    async def read() -> list[int]:
        out = []
        async with AsyncSubscriber(url, timeout_s=1.0) as sub:
            async for state in sub:
                out.append(state.frame)
        return out

    feeder = threading.Thread(target=lambda: (time.sleep(0.5), _heartbeats(pub, range(50))))
    feeder.start()
    frames = asyncio.run(read())
    feeder.join()
    handle.stop()
    pub.close()
    assert frames == list(range(50))
    assert seen_by_callback == list(range(50))


def test_a_failing_callback_does_not_end_the_subscription():
    url = "tcp://127.0.0.1:5622"
    pub = ZmqPublisher(url)
    got = []

    def callback(state):
        got.append(state.frame)
        if state.frame % 2:
            raise RuntimeError("user code failed")

    handle = subscribe(url, callback)
    time.sleep(0.5)
    _heartbeats(pub, range(10))
    time.sleep(0.3)
    handle.stop()
    pub.close()
    assert got == list(range(10)) and handle.errors == 5


def test_subscriber_reconnects_to_a_restarted_publisher():
    url = "tcp://127.0.0.1:5623"
    pub = ZmqPublisher(url)
    with Subscriber(url, timeout_s=3.0) as sub:
        time.sleep(0.5)
        _heartbeats(pub, range(3))
        assert [sub.recv().frame for _ in range(3)] == [0, 1, 2]
        pub.close()  # the publisher goes away ...
        time.sleep(0.5)
        pub = ZmqPublisher(url)  # ... and comes back on the same endpoint
        feeder = threading.Thread(target=_heartbeats, args=(pub, range(100, 200), 0.02))
        feeder.start()
        state = sub.recv()
        feeder.join()
        assert state is not None and 100 <= state.frame < 200
    pub.close()


def test_conflating_subscriber_gets_only_the_latest():
    url = "tcp://127.0.0.1:5624"
    pub = ZmqPublisher(url)
    with Subscriber(url, timeout_s=1.0, conflate=True) as sub:
        time.sleep(0.5)
        _heartbeats(pub, range(100), pause=0.0)  # a burst while the reader is busy
        time.sleep(0.3)
        first = sub.recv()
        assert first is not None and first.frame == 99
        assert sub.recv(timeout_s=0.2) is None
    pub.close()
