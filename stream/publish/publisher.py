"""ZeroMQ publishing of frame results (wire format in :mod:`livehmr.stream.publish.wire`).

The PUB socket never blocks the pipeline: sends are non-blocking and each
subscriber has a bounded queue (``hwm`` messages). Once a slow subscriber's queue is
full, ZeroMQ drops the newest messages for that subscriber alone; everyone else,
and the pipeline, are unaffected.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import zmq

from livehmr.core.endpoints import is_loopback  # noqa: F401  (re-exported: it lived here)
from livehmr.core.errors import LivehmrError
from livehmr.core.types import Flag, FrameResult, PersonState
from livehmr.stream.publish.security import CurveAuthenticator, CurveServer, check_bind, make_curve_server
from livehmr.stream.publish.wire import TOPIC_FRAME, TOPIC_REFINED, TOPIC_STATE, TOPIC_STATUS, WireError, encode

log = logging.getLogger(__name__)
DEFAULT_URL = "tcp://127.0.0.1:5557"


class PubSocket:
    """A bound ZeroMQ PUB socket (or XPUB, ``kind``, for a proxy's subscriber side) that never
    blocks, behind the bind rules of :mod:`livehmr.stream.publish.security` (loopback,
    CURVE, or ``insecure``)."""

    def __init__(self, url: str, hwm: int, insecure: bool = False, curve: CurveServer | None = None,
                 linger_ms: int = 0, kind: int = zmq.PUB):  # fmt: skip
        check_bind(url, curve, insecure)
        # A CURVE socket gets a context of its own: ZeroMQ's authenticator serves a whole context.
        self.context = zmq.Context() if curve else zmq.Context.instance()
        try:
            self.authenticator = CurveAuthenticator(self.context, curve) if curve else None
        except LivehmrError:
            self.context.term()
            raise
        self.socket = self.context.socket(kind)
        self.socket.setsockopt(zmq.SNDHWM, hwm)
        self.socket.setsockopt(zmq.LINGER, linger_ms)
        try:
            if curve:
                make_curve_server(self.socket, curve)
            self.socket.bind(url)
        except (zmq.ZMQError, LivehmrError) as exc:
            self.close()
            raise LivehmrError(f"cannot bind {url}: {exc}") from None
        self.url = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)

    def close(self) -> None:
        self.socket.close()
        if self.authenticator:
            self.authenticator.stop()
            self.context.term()


def state_messages(result: FrameResult, stream_id: str, body_model: str) -> list[tuple[dict, dict[str, np.ndarray]]]:
    """The (header, arrays) of every message a frame result publishes: one per person, or a
    ``no_person`` heartbeat (docs/protocol.md)."""
    T = result.T_world_cam

    def header(person: PersonState | None, flags: set[str]) -> dict:
        return {
            "stream": stream_id,
            "frame": result.frame_index,
            "t_source": result.t_source,
            "t_publish": time.time(),
            "latency_ms": round((time.perf_counter() - result.t_captured) * 1e3, 3),
            "person": person.person_id if person else -1,
            "body_model": body_model,
            "flags": sorted(flags),
            **({} if result.lag_frames is None else {"lag_frames": result.lag_frames}),
        }

    if not result.persons:
        return [(header(None, result.flags | {Flag.NO_PERSON}), {"T_world_cam": T})]
    messages = []
    for person in result.persons:
        p = person.params
        arrays = {
            "global_orient": p.global_orient, "body_pose": p.body_pose, "betas": p.betas, "transl": p.transl,
            "joints_world": person.joints_world, "T_world_cam": T, "contacts": person.contacts,
            "joint_confidence": person.joint_confidence,
        }  # fmt: skip
        messages.append((header(person, result.flags | person.flags), arrays))
    return messages


def frame_message(result: FrameResult, stream_id: str, jpeg_quality: int = 80) -> tuple[dict, dict[str, np.ndarray]]:
    """The (header, arrays) of a ``frame`` message: the image as JPEG, ``K`` (3, 3) and
    ``keypoints`` (P, 23, 3) pixel x, y, confidence of the persons in ``header["persons"]``."""
    import cv2

    if result.image is None:
        raise WireError("this frame result carries no image to publish")
    ok, jpeg = cv2.imencode(".jpg", result.image, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    if not ok:
        raise WireError("the frame's image could not be JPEG-encoded")
    h, w = result.image.shape[:2]
    header = {"stream": stream_id, "frame": result.frame_index, "t_source": result.t_source, "width": w, "height": h,
              "encoding": "jpeg", "persons": [int(k.track_id) for k in result.keypoints], "flags": []}  # fmt: skip
    keypoints = np.array([k.keypoints for k in result.keypoints], dtype=np.float64).reshape(-1, 23, 3)
    K = result.K if result.K is not None else np.eye(3)
    return header, {"image": jpeg.reshape(-1), "K": K, "keypoints": np.nan_to_num(keypoints)}


def encode_or_withhold(topic: bytes, header: dict, arrays: dict[str, np.ndarray]) -> tuple[list[bytes], bool]:
    """The wire frames of a message, and whether its arrays were withheld: anything the
    wire refuses (non-finite values) goes out as an ``invalid`` heartbeat without arrays."""
    try:
        return encode(topic, header, arrays), False
    except WireError as exc:  # never put NaN on the wire
        log.warning("frame %s person %s: %s", header.get("frame"), header.get("person"), exc)
        return encode(topic, {**header, "flags": sorted({*header["flags"], Flag.INVALID})}, {}), True


class ZmqPublisher:
    """Publishes one message per person per frame, or a ``no_person`` heartbeat; with
    ``publish_frames``, each frame's image first (topic ``frame``, JPEG).

    Args:
        url: where to bind. Anything but loopback needs ``curve`` keys, or ``insecure=True``.
        stream_id: names this stream in every header.
        body_model: name of the body model whose ``betas`` are published.
        hwm: per-subscriber queue bound, in messages.
        publish_frames: also publish each frame's image (costs a JPEG encoding per frame).
        curve: CURVE keys: only subscribers whose public key is allowed receive anything.
    """

    def __init__(self, url: str = DEFAULT_URL, stream_id: str = "livehmr", body_model: str = "anny",
                 insecure: bool = False, hwm: int = 200, publish_frames: bool = False,
                 curve: CurveServer | None = None, socket: zmq.Socket | None = None):  # fmt: skip
        """``socket``: publish on this connected PUB socket instead of binding ``url`` (a stream
        of ``livehmr serve`` sends into its hub; the publisher then owns and closes it)."""
        if socket is None:
            self._pub = PubSocket(url, hwm, insecure, curve)
            self.socket = self._pub.socket
            self.url = self._pub.url
        else:
            self._pub = None
            self.socket = socket
            self.url = url
        self.stream_id = stream_id
        self.body_model = body_model
        self.publish_frames = publish_frames
        self.sent = 0
        self.withheld = 0

    def publish(self, result: FrameResult) -> None:
        if self.publish_frames and result.image is not None:
            try:
                self._send(*frame_message(result, self.stream_id), topic=TOPIC_FRAME)
            except WireError as exc:  # an image that cannot be sent never holds back the states
                log.warning("frame %d: image not published: %s", result.frame_index, exc)
        for header, arrays in state_messages(result, self.stream_id, self.body_model):
            self._send(header, arrays)

    def publish_refined(self, result: FrameResult) -> None:
        """Publish a refined frame (``--refine``) on topic ``refined``, with its ``lag_frames``."""
        for header, arrays in state_messages(result, self.stream_id, self.body_model):
            self._send(header, arrays, topic=TOPIC_REFINED)

    def publish_status(self, status: dict) -> None:
        """Publish the pipeline's health (:mod:`livehmr.stream.health`) on topic ``status``."""
        header = {"stream": self.stream_id, "t_publish": time.time(), "status": status, "flags": []}
        self._send(header, {}, topic=TOPIC_STATUS)

    def _send(self, header: dict, arrays: dict, topic: bytes = TOPIC_STATE) -> None:
        frames, withheld = encode_or_withhold(topic, header, arrays)
        self.withheld += withheld
        try:
            self.socket.send_multipart(frames, flags=zmq.NOBLOCK)
            self.sent += 1
        except zmq.Again:
            pass  # no subscriber can take it now; PUB never waits

    def close(self) -> None:
        if self._pub is not None:
            self._pub.close()
        else:
            self.socket.close(linger=1000)  # the last states still reach the hub
