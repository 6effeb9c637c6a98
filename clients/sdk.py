"""Subscriber SDK: decoded livehmr states from a ZeroMQ stream, in three forms.

    from livehmr.clients import Subscriber, AsyncSubscriber, subscribe

    with Subscriber("tcp://127.0.0.1:5557") as sub:          # a blocking iterator
        for state in sub:
            if state.has_body:
                print(state.frame, state.person, state.joints_world[15])  # head, metres, world

    async with AsyncSubscriber("tcp://127.0.0.1:5557") as sub:   # asyncio
        async for state in sub: ...

    handle = subscribe("tcp://127.0.0.1:5557", print)          # a callback on a background thread
    handle.stop()

``conflate=True`` gives a "latest only" reader (older waiting messages are dropped).
``frames=True`` also yields :class:`FrameImage` messages (the camera image, intrinsics and
2D keypoints) from a publisher started with ``--publish-frames``; ``status=True`` the
pipeline's :class:`Status` once a second.
Subscribers reconnect by themselves: a publisher that restarts on the same endpoint is
picked up again (retries every 0.1 s, backing off to 0.25 s, so a subscriber started
before its publisher misses at most a quarter of a second). Messages that are malformed
or of another protocol version are skipped and counted (``rejected``); the first reason
is logged.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import AsyncIterator, Callable, Iterator

import numpy as np
import zmq

from livehmr.core.endpoints import check_endpoint
from livehmr.core.errors import LivehmrError
from livehmr.stream.publish.security import CurveClient
from livehmr.stream.publish.wire import (
    MAX_FRAME_BYTES,
    STATE_ARRAYS,
    TOPIC_FRAME,
    TOPIC_REFINED,
    TOPIC_STATE,
    TOPIC_STATUS,
    Message,
    WireError,
    decode,
)

log = logging.getLogger(__name__)


@dataclass
class State:
    """One published state (see docs/protocol.md for every field and unit)."""

    message: Message

    @property
    def header(self) -> dict:
        return self.message.header

    @property
    def frame(self) -> int:
        return int(self.header["frame"])

    @property
    def person(self) -> int:
        return int(self.header["person"])

    @property
    def flags(self) -> list[str]:
        return list(self.header.get("flags", []))

    @property
    def stream(self) -> str:
        """The stream this state is of (``livehmr serve``: the STREAMS.toml id)."""
        return str(self.header.get("stream", ""))

    @property
    def topic(self) -> str:
        """``state`` (the causal stream) or ``refined`` (the refined stream, ``--refine``)."""
        return self.message.topic

    @property
    def t_source(self) -> float:
        return float(self.header["t_source"])

    @property
    def has_body(self) -> bool:
        return "joints_world" in self.message.arrays

    def __getattr__(self, name: str) -> np.ndarray:
        arrays = self.__dict__["message"].arrays
        if name in arrays:
            return arrays[name]
        raise AttributeError(name)


@dataclass
class FrameImage:
    """A ``frame`` message: the camera image of frame ``frame`` (docs/protocol.md)."""

    message: Message

    @property
    def frame(self) -> int:
        return int(self.message.header["frame"])

    @property
    def t_source(self) -> float:
        return float(self.message.header["t_source"])

    @property
    def K(self) -> np.ndarray:
        """(3, 3) intrinsics, pixels."""
        return self.message.arrays["K"].astype(np.float64)

    @property
    def persons(self) -> list[int]:
        """Track ids of the rows of ``keypoints``."""
        return [int(p) for p in self.message.header.get("persons", [])]

    @property
    def keypoints(self) -> np.ndarray:
        """(P, 23, 3) pixel x, y, confidence (``livehmr.core.types.KEYPOINT_NAMES``)."""
        return self.message.arrays["keypoints"]

    @property
    def jpeg(self) -> bytes:
        return self.message.arrays["image"].tobytes()

    def image(self) -> np.ndarray:
        """(H, W, 3) uint8 BGR; WireError if the bytes are not a JPEG image of the header's size."""
        import cv2

        # the size a JPEG claims is checked before decoding: a forged one must not make us allocate gigabytes
        size = jpeg_size(self.jpeg)
        header = (self.message.header["width"], self.message.header["height"])
        if size != header:
            raise WireError(f"frame {self.frame}: the image is not a JPEG of the header's {header[0]}x{header[1]} pixels")
        image = cv2.imdecode(self.message.arrays["image"], cv2.IMREAD_COLOR)
        if image is None:
            raise WireError(f"frame {self.frame}: the image is not a decodable JPEG")
        return image


@dataclass
class Status:
    """A ``status`` message: the pipeline's health over the last second
    (fields in :mod:`livehmr.stream.health`)."""

    message: Message

    @property
    def status(self) -> dict:
        return self.message.header["status"]

    @property
    def t_publish(self) -> float:
        return float(self.message.header["t_publish"])

    @property
    def stream(self) -> str:
        """The stream this status is of (``livehmr serve``: the STREAMS.toml id)."""
        return str(self.message.header.get("stream", ""))


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's start-of-frame marker, or None if it has none
    (hand-written: OpenCV and Pillow read a header only by starting a decode)."""
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # SOF0..SOF15
            height, width = int.from_bytes(data[i + 5 : i + 7], "big"), int.from_bytes(data[i + 7 : i + 9], "big")
            return width, height
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_state_message(message: Message) -> None:
    """Every header field a State reads, of its type; body arrays all there, of their shapes."""
    h, a = message.header, message.arrays
    flags = h.get("flags")
    ok = (isinstance(h.get("frame"), int) and isinstance(h.get("person"), int) and _is_number(h.get("t_source"))
          and isinstance(flags, list) and all(isinstance(f, str) for f in flags))  # fmt: skip
    if not ok:
        raise WireError("malformed state header: needs int 'frame' and 'person', number 't_source', 'flags' strings")
    for name, shape in STATE_ARRAYS.items():
        if name in a and a[name].shape != shape:
            raise WireError(f"state array {name!r} has shape {a[name].shape}, not {shape}")
    if "joints_world" in a and not set(STATE_ARRAYS) <= set(a):
        raise WireError(f"a state with a body needs every array: {', '.join(sorted(set(STATE_ARRAYS) - set(a)))} missing")


#: status fields and their types (:mod:`livehmr.stream.health`)
_STATUS_FIELDS = {"uptime_s": _is_number, "frames": lambda v: isinstance(v, int), "fps": _is_number,
                  "persons": lambda v: isinstance(v, int), "dropped": lambda v: isinstance(v, int),
                  "stage_errors": lambda v: isinstance(v, int), "latency_ms": lambda v: isinstance(v, dict),
                  "flags": lambda v: isinstance(v, dict), "camera": lambda v: isinstance(v, str),
                  "stalled": lambda v: isinstance(v, bool), "restarts": lambda v: isinstance(v, dict)}  # fmt: skip


def _check_status_message(message: Message) -> None:
    status = message.header.get("status")
    if not isinstance(status, dict) or not _is_number(message.header.get("t_publish")):
        raise WireError("a status message needs a 'status' object and a number 't_publish'")
    bad = [k for k, ok in _STATUS_FIELDS.items() if not ok(status.get(k))]
    latency = status.get("latency_ms", {})
    if not bad and not all(isinstance(v, list) and len(v) == 2 and all(map(_is_number, v)) for v in latency.values()):
        bad = ["latency_ms"]
    if bad:
        raise WireError(f"malformed status: {', '.join(bad)}")


MAX_IMAGE_SIDE = 8192  # pixels: a frame image larger than this is refused


def _check_frame_message(message: Message) -> None:
    a, h = message.arrays, message.header
    if not {"image", "K", "keypoints"} <= set(a):
        raise WireError("a frame message needs 'image', 'K' and 'keypoints'")
    persons = h.get("persons")
    ok = (isinstance(h.get("frame"), int) and isinstance(h.get("width"), int) and isinstance(h.get("height"), int)
          and 0 < h["width"] <= MAX_IMAGE_SIDE and 0 < h["height"] <= MAX_IMAGE_SIDE
          and isinstance(h.get("t_source"), (int, float)) and isinstance(persons, list)
          and all(isinstance(p, int) for p in persons) and a["image"].dtype == np.uint8 and a["image"].ndim == 1
          and a["K"].shape == (3, 3) and a["keypoints"].shape == (len(persons), 23, 3))  # fmt: skip
    if not ok:
        raise WireError("malformed frame message (see docs/protocol.md, 'Frame images')")


def parse(message: Message) -> State | FrameImage | Status:
    """A decoded message as what its topic says it is."""
    if message.topic == TOPIC_STATUS.decode():
        _check_status_message(message)
        return Status(message)
    if message.topic == TOPIC_FRAME.decode():
        _check_frame_message(message)
        return FrameImage(message)
    if message.topic in (TOPIC_STATE.decode(), TOPIC_REFINED.decode()):
        _check_state_message(message)
        return State(message)
    raise WireError(f"unknown topic {message.topic!r}")


class FrameGrouper:
    """Gathers messages into frames. A publisher sends all of a frame's messages (its image,
    then one state per person) before the next frame's, so a frame is complete once a
    message of another frame arrives, or the stream pauses (``flush``)."""

    def __init__(self):
        self._pending: list = []

    def add(self, message: State | FrameImage) -> list | None:
        """Take a message; returns the frame it completes (its messages), if any."""
        done = None
        if self._pending and message.frame != self._pending[0].frame:
            done, self._pending = self._pending, []
        self._pending.append(message)
        return done

    def flush(self) -> list | None:
        """The frame being gathered (None if there is none)."""
        done, self._pending = self._pending or None, []
        return done


class _Decoding:
    """Decodes messages into states, skipping (and counting in ``rejected``) malformed ones."""

    rejected: int = 0
    stream: str | None = None  # keep only this stream's messages (``livehmr serve``'s one endpoint)

    def _decode(self, frames: list[bytes]) -> State | FrameImage | Status | None:
        try:
            message = decode(frames)
        except WireError as exc:
            if self.rejected == 0:
                log.warning("skipping malformed message: %s", exc)
            self.rejected += 1
            return None
        if self.stream is not None and message.header.get("stream") != self.stream:
            return None
        try:
            return parse(message)
        except WireError as exc:
            if self.rejected == 0:
                log.warning("skipping malformed message: %s", exc)
            self.rejected += 1
            return None


class Subscriber(_Decoding):
    """Blocking iterator over states.

    Args:
        url: the publisher's endpoint (``tcp://127.0.0.1:5557`` by default).
        timeout_s: ``recv`` gives None after this long without a message; iteration ends.
        conflate: keep only the newest message (a "latest only" reader).
        frames: also receive :class:`FrameImage` messages.
        status: also receive :class:`Status` messages (the pipeline's health, 1 Hz).
        states: receive :class:`State` messages (default; off for a health monitor).
        refined: receive the refined stream's states (topic ``refined``; ``State.topic``
            tells them apart, ``State.header["lag_frames"]`` gives their lag).
        curve: CURVE keys, for a publisher that authenticates its subscribers.
        stream: keep only the messages of this stream id (``livehmr serve`` publishes every
            stream on one endpoint, each header naming its ``stream``).
    """

    def __init__(self, url: str = "tcp://127.0.0.1:5557", timeout_s: float | None = None, conflate: bool = False,
                 frames: bool = False, curve: CurveClient | None = None, status: bool = False,
                 states: bool = True, refined: bool = False, stream: str | None = None):  # fmt: skip
        self.stream = stream
        self.context = zmq.Context.instance()
        self.socket = sub_socket(self.context, url, _topics(states, frames, status, refined), curve=curve)
        self.conflate = conflate
        self.timeout_s = timeout_s
        self.rejected = 0

    def recv(self, timeout_s: float | None = None) -> State | FrameImage | Status | None:
        """The next valid state (or frame image, with ``frames``), or None on timeout
        (``timeout_s`` or the constructor's)."""
        timeout = self.timeout_s if timeout_s is None else timeout_s
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:  # skipped messages (malformed, another stream's) do not extend the wait
            poll_ms = None if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            if not self.socket.poll(poll_ms):
                return None
            frames = self.socket.recv_multipart()
            if self.conflate:  # drain to the newest
                while self.socket.poll(0):
                    frames = self.socket.recv_multipart()
            state = self._decode(frames)
            if state is not None:
                return state

    def __iter__(self) -> Iterator[State | FrameImage | Status]:
        while True:
            state = self.recv()
            if state is None:
                return
            yield state

    def close(self) -> None:
        self.socket.close(linger=0)

    def __enter__(self) -> "Subscriber":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def sub_socket(context, url: str, topics: tuple[bytes, ...] = (TOPIC_STATE,), hwm: int = 1000,
               curve: CurveClient | None = None):  # fmt: skip
    """A connected SUB socket on ``topics`` (prefixes; ``b""``: everything) that reconnects by
    itself; with ``curve``, it authenticates to a CURVE publisher."""
    check_endpoint(url, "subscriber endpoint")
    socket = context.socket(zmq.SUB)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.RCVHWM, hwm)
    # a peer's oversized message is refused by ZeroMQ before it is allocated whole
    socket.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)
    socket.setsockopt(zmq.RECONNECT_IVL, 100)  # ms; ZeroMQ reconnects by itself
    socket.setsockopt(zmq.RECONNECT_IVL_MAX, 250)  # a subscriber started first misses <= 0.25 s
    for topic in topics:
        socket.setsockopt(zmq.SUBSCRIBE, topic)
    if curve is not None:
        from livehmr.stream.publish.security import make_curve_client

        make_curve_client(socket, curve)
    try:
        socket.connect(url)
    except zmq.ZMQError as exc:
        socket.close(linger=0)
        raise LivehmrError(f"cannot connect to {url}: {exc}") from None
    return socket


def _topics(states: bool, frames: bool, status: bool, refined: bool = False) -> tuple[bytes, ...]:
    chosen = tuple(t for t, on in ((TOPIC_STATE, states), (TOPIC_FRAME, frames), (TOPIC_STATUS, status),
                                   (TOPIC_REFINED, refined)) if on)  # fmt: skip
    if not chosen:
        raise ValueError("subscribe to at least one of states, frames, status, refined")
    return chosen


class AsyncSubscriber(_Decoding):
    """``async for state in AsyncSubscriber(url)``: the asyncio form of :class:`Subscriber`
    (same arguments; ``timeout_s`` ends the iteration after that long without a message)."""

    def __init__(self, url: str = "tcp://127.0.0.1:5557", timeout_s: float | None = None, conflate: bool = False,
                 frames: bool = False, curve: CurveClient | None = None, status: bool = False,
                 states: bool = True, refined: bool = False, stream: str | None = None):  # fmt: skip
        import zmq.asyncio

        self.stream = stream
        self.context = zmq.asyncio.Context.instance()
        self.socket = sub_socket(self.context, url, _topics(states, frames, status, refined), curve=curve)
        self.timeout_s = timeout_s
        self.conflate = conflate
        self.rejected = 0

    async def recv(self) -> State | FrameImage | Status | None:
        deadline = None if self.timeout_s is None else time.monotonic() + self.timeout_s
        while True:  # skipped messages (malformed, another stream's) do not extend the wait
            poll_ms = -1 if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            if not await self.socket.poll(poll_ms):
                return None
            frames = await self.socket.recv_multipart()
            if self.conflate:
                while await self.socket.poll(0):
                    frames = await self.socket.recv_multipart()
            state = self._decode(frames)
            if state is not None:
                return state

    async def __aiter__(self) -> AsyncIterator[State | FrameImage | Status]:
        while True:
            state = await self.recv()
            if state is None:
                return
            yield state

    def close(self) -> None:
        self.socket.close(linger=0)

    async def __aenter__(self) -> "AsyncSubscriber":
        return self

    async def __aexit__(self, *exc) -> None:
        self.close()


class CallbackHandle:
    """A running :func:`subscribe`: ``stop()`` ends it; ``errors`` counts callback exceptions."""

    def __init__(self, subscriber: Subscriber, callback: Callable[[State], None]):
        self.subscriber = subscriber
        self.callback = callback
        self.errors = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="livehmr-subscriber", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            state = self.subscriber.recv(timeout_s=0.1)
            if not isinstance(state, State):  # nothing yet (its Subscriber asks for states only)
                continue
            try:
                self.callback(state)
            except Exception:  # a failing callback must not end the subscription
                if self.errors == 0:
                    log.exception("subscriber callback failed")
                self.errors += 1
        self.subscriber.close()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        self.thread.join(timeout_s)


def subscribe(url: str, callback: Callable[[State], None], conflate: bool = False) -> CallbackHandle:
    """Call ``callback(state)`` for every state, on a background thread, until ``handle.stop()``."""
    return CallbackHandle(Subscriber(url, conflate=conflate), callback)
