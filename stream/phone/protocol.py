"""What the phone page and ``livehmr phone`` say to each other over the WebSocket.

All times are milliseconds on **the page's one clock** (``performance.now()``'s time
origin), which stamps camera frames and sensor readings alike: no offset to estimate.

Page -> server:

* text ``{"type": "hello", "version": 1, "orientation": 0|90|180|270}`` first;
* binary frame: ``b"LHF1"``, u32 little-endian header length, a JSON header
  ``{"seq": int, "t_ms": float, "orientation": int, "skipped": int}`` (``skipped``: frames
  the page did not send since the last one, its own back-pressure), then the JPEG;
* text ``{"type": "imu", "orientation": int, "gyro": [[t_ms, x, y, z], ...],
  "accel": [[t_ms, x, y, z], ...]}``: rad/s and m/s^2 about the **device** axes
  (W3C: x right, y up along the screen in its natural orientation, z out of the screen).

Server -> page: text ``{"type": "welcome", "version": 1}``; ``{"type": "result", "seq",
"frame", "width", "height", "persons": [{"id", "joints": [[u, v], ...24]}], "flags"}``
(SMPL-24 joints projected into the frame, pixels, for the overlay); ``{"type": "error",
"message"}``. Close code 4001: the page's version is not the server's (reload the page).
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass

import numpy as np

PHONE_PROTOCOL = 1
FRAME_MAGIC = b"LHF1"
MAX_MESSAGE_BYTES = 2 * 1024 * 1024  # a 640x480 JPEG is ~50 kB; a 4K one ~2 MB
MAX_HEADER_BYTES = 4096
MAX_SAMPLES_PER_MESSAGE = 500
ORIENTATIONS = (0, 90, 180, 270)
CLOSE_VERSION = 4001


class PhoneMessageError(ValueError):
    """A message that does not follow the protocol (dropped and counted, never fatal)."""


@dataclass(frozen=True)
class FrameMessage:
    seq: int
    t_ms: float
    orientation: int
    skipped: int
    jpeg: bytes


@dataclass(frozen=True)
class ImuMessage:
    orientation: int
    gyro: np.ndarray  # (N, 4) t_ms, x, y, z (rad/s, device axes)
    accel: np.ndarray  # (M, 4) t_ms, x, y, z (m/s^2, device axes)


def parse_frame(data: bytes) -> FrameMessage:
    """A binary frame message; raises PhoneMessageError on anything malformed."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise PhoneMessageError(f"frame message of {len(data)} bytes is over {MAX_MESSAGE_BYTES}")
    if len(data) < 8 or data[:4] != FRAME_MAGIC:
        raise PhoneMessageError("not a frame message (no LHF1 magic)")
    (length,) = struct.unpack_from("<I", data, 4)
    if length > MAX_HEADER_BYTES or 8 + length > len(data):
        raise PhoneMessageError(f"frame header length {length} is out of bounds")
    header = _json_object(data[8 : 8 + length])
    seq, t_ms = header.get("seq"), header.get("t_ms")
    orientation, skipped = header.get("orientation", 0), header.get("skipped", 0)
    if not (isinstance(seq, int) and _int(seq) and seq >= 0 and isinstance(t_ms, (int, float)) and _finite(t_ms)
            and orientation in ORIENTATIONS and isinstance(skipped, int) and _int(skipped) and skipped >= 0):  # fmt: skip
        raise PhoneMessageError(f"bad frame header {str(header)[:120]}")
    jpeg = bytes(data[8 + length :])
    if not jpeg.startswith(b"\xff\xd8"):
        raise PhoneMessageError("the frame is not a JPEG")
    return FrameMessage(int(seq), float(t_ms), int(orientation), int(skipped), jpeg)


def parse_text(text: str) -> dict:
    """A text message as a dict with a known ``type``; raises PhoneMessageError."""
    if len(text) > MAX_MESSAGE_BYTES:
        raise PhoneMessageError("text message too large")
    message = _json_object(text.encode("utf-8", "replace"))
    if message.get("type") not in ("hello", "imu"):
        raise PhoneMessageError(f"unknown message type {str(message.get('type'))[:40]!r}")
    return message


def parse_imu(message: dict) -> ImuMessage:
    """An ``imu`` message's samples as arrays; raises PhoneMessageError."""
    orientation = message.get("orientation", 0)
    if orientation not in ORIENTATIONS:
        raise PhoneMessageError(f"orientation {str(orientation)[:20]} is not one of {ORIENTATIONS}")
    return ImuMessage(int(orientation), _samples(message.get("gyro", [])), _samples(message.get("accel", [])))


def _samples(value) -> np.ndarray:
    if not isinstance(value, list) or len(value) > MAX_SAMPLES_PER_MESSAGE:
        raise PhoneMessageError(f"samples must be a list of at most {MAX_SAMPLES_PER_MESSAGE}")
    if not all(isinstance(s, list) and len(s) == 4 and all(_finite(v) for v in s) for s in value):
        raise PhoneMessageError("each sample is [t_ms, x, y, z], finite numbers")
    return np.array(value, dtype=np.float64).reshape(-1, 4)


def _json_object(raw: bytes) -> dict:
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise PhoneMessageError(f"unreadable JSON: {str(exc)[:80]}") from None
    if not isinstance(value, dict):
        raise PhoneMessageError("the JSON is not an object")
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number")


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v < 1 << 53


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def R_cam_device(orientation: int) -> np.ndarray:
    """Rotation from the phone's device axes (W3C: x right, y up, z out of the screen, in
    its natural portrait orientation) to the rear camera's OpenCV axes (x right, y down,
    z forward) **of the image the page sends**, for the screen rotated by ``orientation``
    degrees (the browser turns the picture with the screen). Portrait (0) is
    ``android-portrait`` of :data:`livehmr.core.geometry.IMU_PRESETS`."""
    a = math.radians(orientation)
    c, s = round(math.cos(a)), round(math.sin(a))
    # screen axes from device axes: a turn of the screen by +a about z is a turn of -a of its axes
    R_screen_device = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    R_cam_screen = np.diag([1.0, -1.0, -1.0])  # screen x right, y up, z toward the viewer
    return R_cam_screen @ R_screen_device
