"""Subscriber SDK: iterate decoded livehmr states from a ZeroMQ stream.

    from livehmr.clients import Subscriber

    with Subscriber("tcp://127.0.0.1:5557") as sub:
        for state in sub:
            if state.has_body:
                print(state.frame, state.person, state.joints_world[15])  # head, metres, world

Messages that are malformed or of another protocol version are skipped and counted
(``sub.rejected``); the first reason is logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import zmq

from livehmr.stream.wire import TOPIC_STATE, Message, WireError, decode

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


class Subscriber:
    """Blocking iterator over states.

    Args:
        url: the publisher's endpoint (``tcp://127.0.0.1:5557`` by default).
        timeout_s: ``recv`` gives None after this long without a message; iteration ends.
        conflate: keep only the newest message (a "latest only" reader).
    """

    def __init__(self, url: str = "tcp://127.0.0.1:5557", timeout_s: float | None = None, conflate: bool = False):
        self.context = zmq.Context.instance()
        self.socket = self.context.socket(zmq.SUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.RCVHWM, 1000)
        self.socket.setsockopt(zmq.SUBSCRIBE, TOPIC_STATE)
        self.conflate = conflate
        self.socket.connect(url)
        self.timeout_s = timeout_s
        self.rejected = 0
        self._last: State | None = None

    def recv(self, timeout_s: float | None = None) -> State | None:
        """The next valid state, or None on timeout (``timeout_s`` or the constructor's)."""
        timeout = self.timeout_s if timeout_s is None else timeout_s
        poll_ms = None if timeout is None else int(timeout * 1000)
        while True:
            if not self.socket.poll(poll_ms):
                return None
            frames = self.socket.recv_multipart()
            if self.conflate:  # drain to the newest
                while self.socket.poll(0):
                    frames = self.socket.recv_multipart()
            try:
                return State(decode(frames))
            except WireError as exc:
                if self.rejected == 0:
                    log.warning("skipping malformed message: %s", exc)
                self.rejected += 1

    def __iter__(self) -> Iterator[State]:
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
