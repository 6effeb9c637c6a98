"""Gyroscope feeds: timestamped angular velocity on the gyro's own clock.

A sample is ``t, wx, wy, wz``: seconds on the gyro clock and rad/s about the
**imu** axes. ``R_cam_imu`` (see :data:`livehmr.core.geometry.IMU_PRESETS`) maps them into **cam**.
Formats are documented in docs/protocol.md. Feeds keep samples sorted and
de-duplicated whatever order they arrive in; a malformed sample in a file is an
error, a malformed message on a socket is logged and skipped (counted in ``rejected``).
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import threading
import time
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from livehmr.core.endpoints import check_endpoint
from livehmr.core.errors import GyroFormatError, LivehmrError

MAX_GYRO_MESSAGE_BYTES = 64 * 1024  # one sample is a few dozen bytes; a longer frame is refused by ZeroMQ

log = logging.getLogger(__name__)

def parse_sample_line(line: str, where: str = "", widths: tuple[int, ...] = (4,)) -> tuple[float, ...] | None:
    """Parse ``t,wx,wy,wz`` (comma, semicolon or whitespace separated; ``widths=(4, 7)``
    also takes ``t,wx,wy,wz,ax,ay,az``). Blank lines and ``#`` comments give None. Raises
    GyroFormatError on anything else."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    parts = text.replace(";", ",").replace("\t", ",").replace(" ", ",").split(",")
    parts = [p for p in parts if p]
    if len(parts) not in widths:
        expected = " or ".join({4: "4 numbers 't,wx,wy,wz'", 7: "7 numbers 't,wx,wy,wz,ax,ay,az'"}[w] for w in widths)
        raise GyroFormatError(f"gyro sample {where}: expected {expected}, got {text[:80]!r}")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise GyroFormatError(f"gyro sample {where}: not numbers: {text[:80]!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise GyroFormatError(f"gyro sample {where}: non-finite value in {text[:80]!r}")
    return values  # type: ignore[return-value]


#: Sensor ids of the "Sensor Stream IMU+GPS" Android app (Axel Lorenz) in its UDP/CSV lines.
SENSORSTREAM_ACCEL, SENSORSTREAM_GYRO = 3, 4


def parse_sensorstream_line(text: str) -> tuple[float, np.ndarray | None, np.ndarray | None]:
    """One line of the "Sensor Stream IMU+GPS" app: ``t, id, x, y, z[, id, x, y, z ...]``
    (t in seconds; id 3 accelerometer m/s^2, 4 gyroscope rad/s, others ignored; phone
    sensor axes). Returns (t, gyro or None, accel or None)."""
    parts = [p.strip() for p in text.strip().split(",") if p.strip()]
    try:
        t = float(parts[0])
        gyro = accel = None
        i = 1
        while i + 3 < len(parts):
            sensor = int(float(parts[i]))
            xyz = np.array([float(v) for v in parts[i + 1 : i + 4]])
            if sensor == SENSORSTREAM_GYRO:
                gyro = xyz
            elif sensor == SENSORSTREAM_ACCEL:
                accel = xyz
            i += 4
    except (ValueError, IndexError, OverflowError):
        raise GyroFormatError(f"not a Sensor Stream IMU+GPS line: {text[:80]!r}") from None
    if not math.isfinite(t) or any(v is not None and not np.all(np.isfinite(v)) for v in (gyro, accel)):
        raise GyroFormatError(f"non-finite value in {text[:80]!r}")
    return t, gyro, accel


def parse_sample_message(payload: bytes) -> tuple[float, float, float, float]:
    """One network message: a CSV line, or JSON ``{"t": s, "w": [wx, wy, wz]}``."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise GyroFormatError("gyro message is not UTF-8") from None
    if text.lstrip().startswith("{"):
        try:
            obj = json.loads(text)
            values = (float(obj["t"]), *(float(v) for v in obj["w"]))
        except (ValueError, KeyError, TypeError):
            raise GyroFormatError(f"gyro JSON message needs 't' and 'w' (3 numbers): {text[:80]!r}") from None
        if len(values) != 4 or not all(math.isfinite(v) for v in values):
            raise GyroFormatError(f"gyro JSON message needs 't' and 'w' (3 finite numbers): {text[:80]!r}")
        return values  # type: ignore[return-value]
    sample = parse_sample_line(text, "message")
    if sample is None:
        raise GyroFormatError("empty gyro message")
    t, wx, wy, wz = sample  # one width only: 4
    return t, wx, wy, wz


class ClockJumpDetector:
    """Tells a jump of a live feed's clock from late or bursty delivery.

    It watches ``c = stamp - arrival`` (gyro clock minus this machine's clock, s) of each
    sample as it arrives. A steady clock keeps ``c`` steady whatever the transport delay:
    the freshest samples set the reference, and late ones only lower ``c`` (a burst of
    held-back samples climbs back to it as it catches up). A jump moves ``c`` for good.
    It is declared once arrivals spanning ``confirm_s`` of this machine's time all sit
    over ``jump_s`` from the reference, each within ``spread_s`` of the one before; a burst
    arrives within an instant, so it never spans ``confirm_s``. A move *back* counts only
    when the new stamps are older than ones already received: a feed that merely falls
    behind keeps stamping forwards, and its late samples stay late (``gyro_gap``) rather
    than being taken for another clock.
    """

    def __init__(self, jump_s: float = 1.0, confirm_s: float = 0.3, spread_s: float = 0.1):
        self.jump_s, self.confirm_s, self.spread_s = jump_s, confirm_s, spread_s
        self.reference: float | None = None
        self.newest_stamp = -math.inf
        self._away: list[tuple[float, float]] = []  # (arrival, c) of candidate arrivals of a new clock

    def add(self, stamp: float, arrival: float) -> float:
        """Take one arrival; returns the clock's jump in seconds when one is confirmed, else 0."""
        c = stamp - arrival
        if self.reference is None or abs(c - self.reference) <= self.jump_s:
            self._away.clear()
            # the freshest samples set the reference; it follows slow drift of either clock
            if self.reference is None or c > self.reference:
                self.reference = c
            else:
                self.reference += 0.01 * (c - self.reference)
            self.newest_stamp = max(self.newest_stamp, stamp)
            return 0.0
        if c < self.reference and stamp > self.newest_stamp:
            return 0.0  # late, not another clock
        if self._away and abs(c - self._away[-1][1]) > self.spread_s:
            self._away.clear()  # not one steady new clock (yet)
        self._away.append((arrival, c))
        if self._away[-1][0] - self._away[0][0] < self.confirm_s:
            return 0.0
        new_reference = max(v for _, v in self._away)
        jump = new_reference - self.reference
        self.reference, self.newest_stamp, self._away = new_reference, stamp, []
        return jump


class GyroBuffer:
    """Thread-safe, time-sorted, de-duplicated store of samples (bounded: oldest dropped)."""

    def __init__(self, max_samples: int = 20000):
        self._t: list[float] = []
        self._w: list[tuple[float, float, float]] = []
        self._lock = threading.Condition()
        self.max_samples = max_samples
        self.duplicates = 0
        self.rejected = 0
        self.clock_watch = ClockJumpDetector()
        self._clock_jump = 0.0  # jumps confirmed and not yet taken, s
        self.last_arrival_t: float | None = None

    def add(self, t: float, wx: float, wy: float, wz: float, arrival: float | None = None) -> None:
        """Take a sample; ``arrival``: when it arrived on this machine's clock (s; default now)."""
        with self._lock:
            self._clock_jump += self.clock_watch.add(t, time.perf_counter() if arrival is None else arrival)
            self.last_arrival_t = t
            i = bisect.bisect_left(self._t, t)
            if i < len(self._t) and self._t[i] == t:
                self.duplicates += 1
                return
            self._t.insert(i, t)
            self._w.insert(i, (wx, wy, wz))
            if len(self._t) > self.max_samples:
                del self._t[: len(self._t) - self.max_samples]
                del self._w[: len(self._w) - self.max_samples]
            self._lock.notify_all()

    def wait_until(self, t: float, timeout: float) -> bool:
        """Block up to ``timeout`` s until a sample at or after ``t`` exists."""
        with self._lock:
            return self._lock.wait_for(lambda: bool(self._t) and self._t[-1] >= t, timeout=timeout)

    def take_clock_jump(self) -> float:
        """The clock jumps (s) seen since the last call (0.0 if none). When there was one,
        the samples of the old clock are dropped: they would mix with the new clock's."""
        with self._lock:
            jump, self._clock_jump = self._clock_jump, 0.0
            if jump and self.last_arrival_t is not None:
                keep = [i for i, ti in enumerate(self._t) if abs(ti - self.last_arrival_t) <= abs(jump) / 2]
                self._t = [self._t[i] for i in keep]
                self._w = [self._w[i] for i in keep]
            return jump

    def window(self, t0: float, t1: float) -> np.ndarray:
        """Samples (N, 4) with t in [t0, t1], plus the last sample before t0 if any."""
        with self._lock:
            i0 = max(bisect.bisect_left(self._t, t0) - 1, 0)
            i1 = bisect.bisect_right(self._t, t1)
            if i1 <= i0:
                return np.zeros((0, 4))
            return np.column_stack([self._t[i0:i1], self._w[i0:i1]])


class GyroFeed:
    """Base of the feeds: a buffer, and ``close``. ``live`` feeds are waited for briefly."""

    live = False

    def __init__(self):
        self.buffer = GyroBuffer()
        #: accelerometer samples (t, ax, ay, az) m/s^2, IMU axes, where the feed carries them
        self.accel = GyroBuffer(max_samples=2000)

    def close(self) -> None:
        pass


@runtime_checkable
class GyroSource(Protocol):
    """A frame source that carries its own gyroscope on the frames' clock (the synthetic
    scene); ``--camera auto`` uses it when no ``--gyro`` is given."""

    def gyro_feed(self) -> GyroFeed: ...


class ArrayGyroFeed(GyroFeed):
    """Samples given as an array (N, 4): the synthetic scene's simulated gyro."""

    def __init__(self, samples: np.ndarray):
        super().__init__()
        samples = np.asarray(samples, dtype=np.float64)
        self.buffer.max_samples = max(self.buffer.max_samples, len(samples))  # a file is held whole, not its last 100 s
        for row in samples:
            self.buffer.add(*row)


class CsvGyroFeed(ArrayGyroFeed):
    """A CSV file of ``t,wx,wy,wz`` rows, or ``t,wx,wy,wz,ax,ay,az`` rows with the
    accelerometer's specific force (m/s^2, IMU axes, +g up at rest: what phones report) on
    the same clock (a header line is allowed; every row has the first row's width).
    Malformed rows are errors."""

    def __init__(self, path: str | Path):
        path = Path(path)
        if not path.is_file():
            raise GyroFormatError(f"gyro file {path} does not exist")
        rows = []
        with path.open("r", encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, start=1):
                if number == 1 and line.strip() and line.strip()[0].isalpha():
                    continue  # header
                sample = parse_sample_line(line, f"{path.name}:{number}", widths=(len(rows[0]),) if rows else (4, 7))
                if sample is not None:
                    rows.append(sample)
        if not rows:
            raise GyroFormatError(f"gyro file {path} holds no samples")
        samples = np.array(rows)
        super().__init__(samples[:, :4])
        if samples.shape[1] == 7:
            self.accel.max_samples = max(self.accel.max_samples, len(samples))  # (its default holds 10 s of a live feed)
            for row in samples[:, [0, 4, 5, 6]]:
                self.accel.add(*row)


class ZmqGyroFeed(GyroFeed):
    """Samples arriving on a ZeroMQ SUB socket (one sample per message, any topic)."""

    live = True

    def __init__(self, url: str):
        import zmq

        super().__init__()
        self._ctx = zmq.Context.instance()
        check_endpoint(url, "--gyro")
        self._socket = self._ctx.socket(zmq.SUB)
        self._socket.setsockopt(zmq.SUBSCRIBE, b"")
        self._socket.setsockopt(zmq.RCVHWM, 10000)
        self._socket.setsockopt(zmq.MAXMSGSIZE, MAX_GYRO_MESSAGE_BYTES)  # a sample is a few dozen bytes
        try:
            self._socket.connect(url)
        except zmq.ZMQError as exc:
            self._socket.close(linger=0)
            raise LivehmrError(f"--gyro: cannot connect to {url}: {exc}") from None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="gyro-zmq", daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        import zmq

        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        while not self._stop.is_set():
            if not poller.poll(100):
                continue
            parts = self._socket.recv_multipart()
            try:
                self.buffer.add(*parse_sample_message(parts[-1]))
            except GyroFormatError as exc:
                self.buffer.rejected += 1
                log.warning("%s", exc)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)
        self._socket.close(linger=0)


class UdpGyroFeed(GyroFeed):
    """Datagrams on a UDP port (``udp://HOST:PORT``, e.g. ``udp://0.0.0.0:5555``), one sample
    per datagram, in any of: our CSV line ``t,wx,wy,wz``, our JSON ``{"t", "w"}``, or a line
    of the "Sensor Stream IMU+GPS" Android app (gyroscope and accelerometer read from it)."""

    live = True

    def __init__(self, url: str):
        import socket

        super().__init__()
        host, _, port = url.removeprefix("udp://").rpartition(":")
        try:
            self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._socket.bind((host or "0.0.0.0", int(port)))
        except (OSError, ValueError) as exc:
            raise GyroFormatError(f"cannot listen for gyro datagrams on {url!r}: {exc}") from None
        self._socket.settimeout(0.1)
        self.port = self._socket.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="gyro-udp", daemon=True)
        self._thread.start()

    def handle(self, payload: bytes) -> None:
        """Parse one datagram into the buffers (malformed ones are counted and logged)."""
        try:
            text = payload.decode("utf-8")
            fields = text.split(",")
            if len(fields) >= 5 and not text.lstrip().startswith("{"):
                t, gyro, accel = parse_sensorstream_line(text)
                if gyro is not None:
                    self.buffer.add(t, *gyro)
                if accel is not None:
                    self.accel.add(t, *accel)
            else:
                self.buffer.add(*parse_sample_message(payload))
        except (GyroFormatError, UnicodeDecodeError) as exc:
            self.buffer.rejected += 1
            log.warning("gyro datagram rejected: %s", exc)

    def _receive(self) -> None:
        import socket

        while not self._stop.is_set():
            try:
                payload = self._socket.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            self.handle(payload)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)
        self._socket.close()


def open_gyro(spec: str) -> GyroFeed:
    """``tcp://...``/``ipc://...`` -> ZeroMQ feed; ``udp://HOST:PORT`` -> UDP listener;
    anything else -> CSV file path."""
    if spec.startswith(("tcp://", "ipc://", "inproc://")):
        return ZmqGyroFeed(spec)
    if spec.startswith("udp://"):
        return UdpGyroFeed(spec)
    return CsvGyroFeed(spec)


def centred_hold(samples: np.ndarray) -> np.ndarray:
    """Samples (N, 4) with times moved back half a sample period: a sample is the rate *at*
    its timestamp, so it best holds over the interval centred on it (midpoint rule); holding
    it forward from its timestamp would delay the gyro by half a period (2.5 ms at 200 Hz)."""
    if len(samples) < 2:
        return samples
    out = samples.copy()
    out[:, 0] -= 0.5 * float(np.median(np.diff(samples[:, 0])))
    return out
