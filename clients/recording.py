"""Recordings of a published stream: every message as it arrived, timestamps intact.

File layout (``.lhmr``), all little-endian::

    b"LIVEHMR-REC\\x00" + u16 version (1)                       file header, 14 bytes
    then records, each:
      b"RC"  u32 body_length  body  u32 crc32(body)
      body = f64 t_received (s, Unix time)  u16 n_frames  n × (u32 length + bytes)

A record is appended and flushed whole, so a recording cut at any byte (a crash,
``kill -9``, a full disk) still reads back every complete message before the cut:
:func:`read_recording` stops at the first record that is short or fails its CRC and
says so (``RecordingReader.truncated``). Messages are stored as the ZeroMQ frames they
were (topic, JSON header, payload): no pickle, and a replay republishes them
byte for byte.
"""

from __future__ import annotations

import logging
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from livehmr.core.errors import LivehmrError
from livehmr.core.outputs import check_output, open_output
from livehmr.export.motion import FORMATS, PersonMotion, motions_from_messages, write_motions

log = logging.getLogger(__name__)
MAGIC = b"LIVEHMR-REC\x00"
VERSION = 1
_FILE_HEADER = MAGIC + struct.pack("<H", VERSION)
_RECORD_MARK = b"RC"
MAX_RECORD_BYTES = 32 * 1024 * 1024


@dataclass
class Record:
    t_received: float  # seconds, Unix time, when the recorder got the message
    frames: list[bytes]  # the message's ZeroMQ frames


def encode_record(record: Record) -> bytes:
    body = struct.pack("<dH", record.t_received, len(record.frames))
    body += b"".join(struct.pack("<I", len(f)) + f for f in record.frames)
    return _RECORD_MARK + struct.pack("<I", len(body)) + body + struct.pack("<I", zlib.crc32(body))


class RecordingWriter:
    """Appends records to a new ``.lhmr`` file, each flushed as soon as it is written. An
    existing file is refused (:class:`~livehmr.core.errors.OutputExistsError`) unless ``force``."""

    def __init__(self, path: str | Path, force: bool = False):
        self.path = Path(path)
        self._file: BinaryIO = open_output(self.path, force)
        self._file.write(_FILE_HEADER)
        self._file.flush()
        self.count = 0

    def write(self, frames: list[bytes], t_received: float | None = None) -> None:
        self._file.write(encode_record(Record(time.time() if t_received is None else t_received, list(frames))))
        self._file.flush()
        self.count += 1

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class RecordingReader:
    """Iterates the complete records of a recording; after iteration, ``truncated`` says
    whether it ended in a partial or corrupt record (everything before it was read)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise LivehmrError(f"recording not found: {self.path}")
        with open(self.path, "rb") as f:
            head = f.read(len(_FILE_HEADER))
        if head[: len(MAGIC)] != MAGIC:
            raise LivehmrError(f"{self.path} is not a livehmr recording")
        version = struct.unpack("<H", head[len(MAGIC) :])[0] if len(head) == len(_FILE_HEADER) else None
        if version != VERSION:
            raise LivehmrError(f"{self.path}: recording version {version} is not supported (this livehmr reads {VERSION})")
        self.truncated = False
        self.problem = ""

    def __iter__(self) -> Iterator[Record]:
        self.truncated, self.problem = False, ""
        with open(self.path, "rb") as f:
            f.seek(len(_FILE_HEADER))
            index = 0
            while True:
                start = f.read(6)
                if not start:
                    return
                record = self._read_one(f, start)
                if record is None:
                    self.truncated = True
                    self.problem = f"record {index} at byte {f.tell()} is incomplete or corrupt; stopped there"
                    return
                index += 1
                yield record

    @staticmethod
    def _read_one(f: BinaryIO, start: bytes) -> Record | None:
        if len(start) < 6 or start[:2] != _RECORD_MARK:
            return None
        (length,) = struct.unpack("<I", start[2:])
        if length < 10 or length > MAX_RECORD_BYTES:
            return None
        body = f.read(length)
        crc = f.read(4)
        if len(body) < length or len(crc) < 4 or struct.unpack("<I", crc)[0] != zlib.crc32(body):
            return None
        t_received, n_frames = struct.unpack_from("<dH", body)
        frames, offset = [], 10
        for _ in range(n_frames):
            if offset + 4 > length:
                return None
            (size,) = struct.unpack_from("<I", body, offset)
            offset += 4
            if offset + size > length:
                return None
            frames.append(body[offset : offset + size])
            offset += size
        return Record(t_received, frames) if offset == length else None


class RecordedMessages:
    """The messages of a recording as the subscriber SDK reads them (``State``,
    ``FrameImage``, ``Status``), through the SDK's own checks. After iteration: ``rejected``
    (messages that fail them, skipped), ``truncated`` and ``problem`` (a cut or corrupt
    tail) and :meth:`warnings` (what a reader of the result should be told)."""

    def __init__(self, path: str | Path):
        self.reader = RecordingReader(path)
        self.rejected = 0
        self.first_rejection = ""

    def __iter__(self):
        from livehmr.clients.sdk import parse
        from livehmr.stream.publish.wire import WireError, decode

        self.rejected, self.first_rejection = 0, ""
        for record in self.reader:
            try:
                yield parse(decode(record.frames))
            except WireError as exc:
                self.rejected += 1
                self.first_rejection = self.first_rejection or str(exc)

    @property
    def truncated(self) -> bool:
        return self.reader.truncated

    def warnings(self) -> list[str]:
        path = self.reader.path
        out = []
        if self.rejected:
            out.append(f"{path}: skipped {self.rejected} malformed message(s) (first: {self.first_rejection})")
        if self.reader.truncated:
            out.append(f"{path}: {self.reader.problem}; the result holds only what came before")
        return out


def read_recording(path: str | Path) -> list[Record]:
    """Every complete record of a recording (see :class:`RecordingReader`)."""
    return list(RecordingReader(path))


def record_stream(url: str, out: str | Path, count: int | None = None, seconds: float | None = None,
                  idle_s: float | None = None, curve=None, force: bool = False) -> int:  # fmt: skip
    """Subscribe to ``url`` (with ``curve`` keys if it authenticates) and write every message
    to ``out`` (an existing file only with ``force``) until ``count`` messages, ``seconds``
    of recording, ``idle_s`` without a message once messages have come (a recorder started
    before its publisher waits for it), or Ctrl-C. Returns the count."""
    import zmq

    from livehmr.clients.sdk import sub_socket

    check_output(out, force)  # an existing file is refused before anything else happens
    # every topic; a recorder keeps everything it can
    socket = sub_socket(zmq.Context.instance(), url, topics=(b"",), hwm=100_000, curve=curve)
    start = time.time()
    last: float | None = None  # no idle timeout before the first message
    with RecordingWriter(out, force) as writer:
        try:
            while count is None or writer.count < count:
                now = time.time()
                if seconds is not None and now - start >= seconds:
                    break
                if idle_s is not None and last is not None and now - last >= idle_s:
                    break
                if not socket.poll(100):
                    continue
                writer.write(socket.recv_multipart())
                last = time.time()
        except KeyboardInterrupt:
            pass
        finally:
            socket.close(linger=0)
        return writer.count


def replay(path: str | Path, url: str, speed: float = 1.0, insecure: bool = False, wait_s: float = 0.5,
           curve=None) -> int:  # fmt: skip
    """Republish a recording on ``url`` (a PUB bind, under the same rules as the pipeline's:
    beyond loopback only with ``curve`` keys or ``insecure``), paced by its receive times
    divided by ``speed`` (0: as fast as possible). Waits ``wait_s`` first so subscribers can
    join. Returns the number of messages sent; says if the file ended in a cut record."""
    from livehmr.stream.publish.publisher import PubSocket

    if speed < 0:
        raise LivehmrError("--speed must be >= 0 (0: as fast as possible)")
    reader = RecordingReader(path)
    pub = PubSocket(url, hwm=100_000, insecure=insecure, curve=curve, linger_ms=1000)
    socket = pub.socket
    time.sleep(wait_s)
    sent, t0_file, t0_wall = 0, None, time.perf_counter()
    try:
        for record in reader:
            if speed > 0:
                t0_file = record.t_received if t0_file is None else t0_file
                delay = (record.t_received - t0_file) / speed - (time.perf_counter() - t0_wall)
                if delay > 0:
                    time.sleep(delay)
            socket.send_multipart(record.frames)
            sent += 1
    finally:
        pub.close()
    if reader.truncated:
        log.warning("%s: %s", path, reader.problem)
    return sent


def motions_from_recording(path: str | Path, warnings: list[str] | None = None,
                           topic: str = "state") -> dict[int, PersonMotion]:  # fmt: skip
    """Every person with a body in a recording's ``topic`` (``state``: the causal stream;
    ``refined``: the refined one), by id, frames in order (duplicates dropped).
    Messages are read through the subscriber SDK's checks (:class:`RecordedMessages`):
    malformed ones are skipped, and what a user should hear about (skipped messages, a cut
    tail) is appended to ``warnings``."""
    from livehmr.clients.sdk import State

    messages = RecordedMessages(path)
    motions = motions_from_messages(
        item.message for item in messages if isinstance(item, State) and item.topic == topic and item.has_body
    )
    if warnings is not None:
        warnings.extend(messages.warnings())
    return motions


def export_recording(recording: str | Path, fmt: str, out: str | Path, person: int | None = None,
                     force: bool = False, topic: str = "state") -> list[Path]:  # fmt: skip
    """``livehmr export motion``: write each person's motion (or only ``person``'s) in ``fmt``
    (:mod:`livehmr.export.motion`); returns the files written. Existing files are refused,
    before any is written, unless ``force``. Skipped messages and a cut recording are logged
    as warnings (the export then holds only what could be read)."""
    if fmt not in FORMATS:
        raise LivehmrError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    warnings: list[str] = []
    motions = motions_from_recording(recording, warnings, topic)
    for warning in warnings:
        log.warning("%s", warning)
    if person is not None:
        if person not in motions:
            raise LivehmrError(f"person {person} never has a body in {recording} (persons: {sorted(motions)})")
        motions = {person: motions[person]}
    if not motions:
        raise LivehmrError(f"{recording} holds no person with a body on topic {topic!r}")
    return write_motions(motions, fmt, out, force)
