"""The wire format of published states (see docs/protocol.md). No pickle: a UTF-8
JSON header and one raw little-endian buffer of named arrays.

A message is three ZeroMQ frames:

1. topic, ASCII: ``state`` (one per person per frame, or a ``no_person`` heartbeat), or
   ``frame`` (the camera image of a frame, JPEG, with its intrinsics and 2D keypoints; only
   from a publisher started with ``--publish-frames``), or ``status`` (the pipeline's
   health once a second, all in the header: :mod:`livehmr.stream.health`), or ``refined``
   (with ``--refine``: states like ``state``'s, a fixed lag later, after windowed refinement);
2. header, JSON: ``schema``, ``version``, stream and frame metadata, ``flags``, and
   ``arrays``: a list of ``{"name", "dtype", "shape", "offset"}`` into frame 3;
3. payload: the arrays' bytes, concatenated.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SCHEMA = "livehmr.state"
VERSION = 1
TOPIC_STATE = b"state"
TOPIC_FRAME = b"frame"
TOPIC_STATUS = b"status"
TOPIC_REFINED = b"refined"
_DTYPES = {"<f4": np.dtype("<f4"), "<f8": np.dtype("<f8"), "<i4": np.dtype("<i4"), "|u1": np.dtype("|u1")}
MAX_HEADER_BYTES = 64 * 1024
MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
#: the largest ZeroMQ frame a receiving socket accepts (``ZMQ_MAXMSGSIZE``, which libzmq checks
#: per frame before allocating it): the payload is a message's largest frame
MAX_FRAME_BYTES = MAX_PAYLOAD_BYTES

#: Arrays of a person state: name -> shape (float32 on the wire).
STATE_ARRAYS: dict[str, tuple[int, ...]] = {
    "global_orient": (3,),
    "body_pose": (69,),
    "betas": (10,),
    "transl": (3,),
    "joints_world": (24, 3),
    "T_world_cam": (4, 4),
    "contacts": (4,),
    "joint_confidence": (24,),
}


class WireError(ValueError):
    """A message that does not follow the protocol."""


@dataclass
class Message:
    """A decoded message: ``header`` (dict) and ``arrays`` (name -> ndarray)."""

    topic: str
    header: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def encode(topic: bytes, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> list[bytes]:
    """Encode a message: uint8 arrays as bytes, everything else as float32. Raises WireError
    if any float array holds NaN or Inf."""
    specs, chunks, offset = [], [], 0
    for name, value in arrays.items():
        raw = np.asarray(value)
        a = np.ascontiguousarray(raw, dtype="|u1" if raw.dtype == np.uint8 else "<f4")
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise WireError(f"array {name!r} holds non-finite values; refusing to publish it")
        specs.append({"name": name, "dtype": a.dtype.str, "shape": list(a.shape), "offset": offset})
        chunks.append(a.tobytes())
        offset += a.nbytes
    head = {"schema": SCHEMA, "version": VERSION, **header, "arrays": specs}
    return [topic, json.dumps(head, separators=(",", ":"), allow_nan=False).encode("utf-8"), b"".join(chunks)]


def decode(frames: list[bytes]) -> Message:
    """Decode and validate a message. Raises WireError with the reason on anything malformed."""
    if len(frames) != 3:
        raise WireError(f"expected 3 frames (topic, header, payload), got {len(frames)}")
    topic_b, header_b, payload = frames
    if len(header_b) > MAX_HEADER_BYTES or len(payload) > MAX_PAYLOAD_BYTES:
        raise WireError("message too large")
    try:
        topic = topic_b.decode("ascii")
        header = json.loads(header_b.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise WireError(f"unreadable header: {exc}") from None
    if not isinstance(header, dict):
        raise WireError("header is not a JSON object")
    if header.get("schema") != SCHEMA:
        raise WireError(f"not a livehmr state (schema {header.get('schema')!r})")
    if header.get("version") != VERSION:
        raise WireError(f"protocol version {header.get('version')!r} is not supported (this SDK reads {VERSION})")
    specs = header.get("arrays")
    if not isinstance(specs, list):
        raise WireError("header has no 'arrays' list")
    arrays = {}
    for spec in specs:
        try:
            name, dtype, shape, offset = spec["name"], _DTYPES[spec["dtype"]], tuple(spec["shape"]), int(spec["offset"])
            if not isinstance(name, str) or not all(isinstance(s, int) and 0 <= s < 1 << 20 for s in shape):
                raise TypeError
        except (KeyError, TypeError, ValueError):
            raise WireError(f"bad array spec {spec!r}") from None
        count = math.prod(shape)
        end = offset + count * dtype.itemsize
        if offset < 0 or end > len(payload):
            raise WireError(f"array {name!r} runs past the payload")
        a = np.frombuffer(payload, dtype=dtype, count=count, offset=offset).reshape(shape)
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise WireError(f"array {name!r} holds non-finite values")
        arrays[name] = a
    return Message(topic, header, arrays)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed in a header")
