"""Foxglove bridge: the stream as a live Foxglove WebSocket server and/or an MCAP file.

    livehmr bridge foxglove [URL] --port 8765        (open ws://localhost:8765 in Foxglove)
    livehmr record [URL] --format mcap --out run.mcap

Channels (Foxglove's own schemas, protobuf-encoded by ``foxglove-sdk``), every message
stamped with the frame's capture time (:func:`~livehmr.clients.scene.capture_stamp_ns`):

- ``/tf`` (``foxglove.FrameTransforms``): ``world → camera``, ``world → body_<id>`` and
  every joint frame (:func:`~livehmr.clients.scene.transforms`).
- ``/scene`` (``foxglove.SceneUpdate``): the ground grid (every second, so a late viewer
  sees it), the camera frustum, each person's skeleton and root trail (they fade 0.5 s
  after the person leaves).
- ``/camera/image`` (``foxglove.CompressedImage``, JPEG), ``/camera/calibration``
  (``foxglove.CameraCalibration``) and ``/camera/annotations`` (``foxglove.ImageAnnotations``:
  each person's 2D keypoints and limbs), when the pipeline runs with ``--publish-frames``.
- ``/bodies/b<id>`` (JSON, for the Plot panel): pelvis height and speed, the four foot
  contact probabilities, mean joint confidence.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import numpy as np

from livehmr.clients.scene import (
    CONTACT_NAMES,
    KEYPOINT_EDGES,
    SceneFrame,
    body_frame,
    body_name,
    person_colour,
    quat_xyzw,
    scene_frame,
    skeleton_segments,
    transforms,
)
from livehmr.clients.sdk import FrameImage, State
from livehmr.core.endpoints import is_loopback
from livehmr.core.errors import LivehmrError
from livehmr.core.outputs import check_output

DEFAULT_PORT = 8765
TRAIL_FRAMES = 150
GROUND_EVERY = 30  # frames between ground-grid messages
#: JSON schema of the ``/bodies/<id>`` plot channels
BODY_SCHEMA = {
    "type": "object",
    "properties": {
        "pelvis_height_m": {"type": "number"},
        "speed_m_s": {"type": "number"},
        "confidence": {"type": "number"},
        **{f"contact_{name}": {"type": "number"} for name in CONTACT_NAMES},
    },
}


def _sdk():
    try:
        import foxglove
        import foxglove.channels as channels
        import foxglove.messages as messages
    except ImportError as exc:
        raise LivehmrError(f"the Foxglove bridge needs foxglove-sdk: pip install 'livehmr[bridges]' ({exc})") from exc
    return foxglove, channels, messages


class FoxgloveBridge:
    """Logs each frame to Foxglove channels; sinks: a WebSocket server, an MCAP file, or both.

    Args:
        port: serve live on ``ws://host:port`` (None: no server; 0: any free port, see ``self.port``).
        mcap: write an MCAP file here (None: none); an existing file is refused unless ``force``.
        insecure: allow serving beyond loopback (the WebSocket has no login).
    """

    def __init__(self, port: int | None = DEFAULT_PORT, host: str = "127.0.0.1", mcap: str | Path | None = None,
                 insecure: bool = False, force: bool = False):  # fmt: skip
        if port is None and mcap is None:
            raise ValueError("FoxgloveBridge needs a port, an MCAP path, or both")
        if port is not None and not is_loopback(f"tcp://{host}:{port}") and not insecure:
            raise LivehmrError(f"serving on {host} shows the stream to anyone who can reach it; add --insecure to do so")
        foxglove, channels, self.m = _sdk()
        self.context = foxglove.Context()
        self.server = self.writer = None
        if mcap is not None:
            check_output(mcap, force, "--mcap" if port is not None else "--out")
            self.writer = foxglove.open_mcap(str(mcap), allow_overwrite=force, context=self.context)
        if port is not None:
            try:
                self.server = foxglove.start_server(name="livehmr", host=host, port=port, context=self.context)
            except Exception as exc:  # the SDK raises its own error types
                self.close()
                raise LivehmrError(f"cannot serve Foxglove on {host}:{port}: {exc}") from None
        self.port = None if self.server is None else self.server.port
        ctx = self.context
        self.tf = channels.FrameTransformsChannel("/tf", context=ctx)
        self.scene = channels.SceneUpdateChannel("/scene", context=ctx)
        self.image = channels.CompressedImageChannel("/camera/image", context=ctx)
        self.calibration = channels.CameraCalibrationChannel("/camera/calibration", context=ctx)
        self.annotations = channels.ImageAnnotationsChannel("/camera/annotations", context=ctx)
        self._foxglove = foxglove
        self._body_channels: dict[int, Any] = {}  # foxglove SDK channels
        self._trails: dict[int, collections.deque] = {}
        self._last_pelvis: dict[int, tuple[float, np.ndarray]] = {}  # id -> (t_source, pelvis)
        self.frames = 0

    # -- message builders ------------------------------------------------------------
    def _time(self, ns: int):
        return self.m.Timestamp(ns // 1_000_000_000, ns % 1_000_000_000)

    def _vector(self, p):
        return self.m.Vector3(x=float(p[0]), y=float(p[1]), z=float(p[2]))

    def _quaternion(self, R):
        q = quat_xyzw(R)
        return self.m.Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3]))

    def _pose(self, p=(0.0, 0.0, 0.0)):
        return self.m.Pose(position=self._vector(p), orientation=self._quaternion(np.eye(3)))

    def _points(self, xyz: np.ndarray) -> list:
        return [self.m.Point3(x=float(x), y=float(y), z=float(z)) for x, y, z in xyz]

    def _color(self, rgb, a: float = 1.0):
        return self.m.Color(r=rgb[0] / 255, g=rgb[1] / 255, b=rgb[2] / 255, a=a)

    def _ground(self, stamp):
        ticks = np.arange(-10.0, 10.5, 1.0)
        segments = [[(x, -10, 0), (x, 10, 0)] for x in ticks] + [[(-10, y, 0), (10, y, 0)] for y in ticks]
        line = self.m.LinePrimitive(type=self.m.LinePrimitiveLineType.LineList, pose=self._pose(), thickness=1.0,
                                    scale_invariant=True, points=self._points(np.array(segments).reshape(-1, 3)),
                                    color=self._color((150, 150, 150), 0.6))  # fmt: skip
        return self.m.SceneEntity(timestamp=stamp, frame_id="world", id="ground", lines=[line])

    def _frustum(self, stamp, image: FrameImage | None):
        w, h = (640, 480) if image is None else (image.message.header["width"], image.message.header["height"])
        K = np.array([[500.0, 0, w / 2], [0, 500.0, h / 2], [0, 0, 1]]) if image is None else image.K
        depth = 0.3
        corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
        rays = np.c_[(corners - K[:2, 2]) / np.diag(K)[:2], np.ones(4)] * depth
        segments = [p for c in rays for p in ((0, 0, 0), c)] + [p for i in range(4) for p in (rays[i], rays[(i + 1) % 4])]
        line = self.m.LinePrimitive(type=self.m.LinePrimitiveLineType.LineList, pose=self._pose(), thickness=2.0,
                                    scale_invariant=True, points=self._points(np.array(segments, float)),
                                    color=self._color((255, 255, 255)))  # fmt: skip
        return self.m.SceneEntity(timestamp=stamp, frame_id="camera", id="camera", frame_locked=True, lines=[line])

    def _person(self, stamp, body, trail: np.ndarray):
        colour = person_colour(body.id)
        bones = self.m.LinePrimitive(type=self.m.LinePrimitiveLineType.LineList, pose=self._pose(), thickness=4.0,
                                     scale_invariant=True, points=self._points(skeleton_segments(body).reshape(-1, 3)),
                                     color=self._color(colour))  # fmt: skip
        path = self.m.LinePrimitive(type=self.m.LinePrimitiveLineType.LineStrip, pose=self._pose(), thickness=2.0,
                                    scale_invariant=True, points=self._points(trail), color=self._color(colour, 0.7))  # fmt: skip
        joints = [self.m.SpherePrimitive(pose=self._pose(p), size=self.m.Vector3(x=0.05, y=0.05, z=0.05),
                                         color=self._color(colour)) for p in body.joints_world]  # fmt: skip
        return self.m.SceneEntity(timestamp=stamp, frame_id="world", id=body_frame(body.id), lines=[bones, path],
                                  spheres=joints, lifetime=self.m.Duration(sec=0, nsec=500_000_000))  # fmt: skip

    def _annotations(self, stamp, scene: SceneFrame):
        points = []
        for body in scene.bodies:
            if body.keypoints is None:
                continue
            kp, colour = body.keypoints, self._color(person_colour(body.id))
            seen = kp[:, 2] >= 0.3
            pts = [self.m.Point2(x=float(x), y=float(y)) for x, y in kp[seen, :2]]
            points.append(self.m.PointsAnnotation(timestamp=stamp, type=self.m.PointsAnnotationType.Points, points=pts,
                                                  outline_color=colour, fill_color=colour, thickness=4.0))  # fmt: skip
            limbs = [self.m.Point2(x=float(kp[i, 0]), y=float(kp[i, 1])) for a, b in KEYPOINT_EDGES if seen[a] and seen[b]
                     for i in (a, b)]  # fmt: skip
            points.append(self.m.PointsAnnotation(timestamp=stamp, type=self.m.PointsAnnotationType.LineList, points=limbs,
                                                  outline_color=colour, thickness=2.0))  # fmt: skip
        return self.m.ImageAnnotations(timestamp=stamp, points=points)

    # -- Bridge protocol ---------------------------------------------------------------
    def send(self, frame: list[State | FrameImage]) -> None:
        scene = scene_frame(frame)
        ns, stamp = scene.stamp_ns, self._time(scene.stamp_ns)
        m = self.m
        tfs = [m.FrameTransform(timestamp=stamp, parent_frame_id=t.parent, child_frame_id=t.child,
                                translation=self._vector(t.translation), rotation=self._quaternion(t.rotation))
               for t in transforms(scene)]  # fmt: skip
        self.tf.log(m.FrameTransforms(transforms=tfs), log_time=ns)
        entities = [self._frustum(stamp, scene.image)] if scene.T_world_cam is not None else []
        if self.frames % GROUND_EVERY == 0:
            entities.append(self._ground(stamp))
        for body in scene.bodies:
            trail = self._trails.setdefault(body.id, collections.deque(maxlen=TRAIL_FRAMES))
            trail.append(body.joints_world[0].copy())
            entities.append(self._person(stamp, body, np.array(trail)))
            self._log_plot(body, scene.t_source, ns)
        self.scene.log(m.SceneUpdate(entities=entities), log_time=ns)
        if scene.image is not None:
            image = scene.image
            w, h = image.message.header["width"], image.message.header["height"]
            self.image.log(m.CompressedImage(timestamp=stamp, frame_id="camera", data=image.jpeg, format="jpeg"), log_time=ns)
            K = image.K
            P = np.c_[K, np.zeros(3)]
            self.calibration.log(m.CameraCalibration(timestamp=stamp, frame_id="camera", width=int(w), height=int(h),
                                                     distortion_model="plumb_bob", D=[0.0] * 5,
                                                     K=[float(v) for v in K.ravel()], R=[float(v) for v in np.eye(3).ravel()],
                                                     P=[float(v) for v in P.ravel()]), log_time=ns)  # fmt: skip
            self.annotations.log(self._annotations(stamp, scene), log_time=ns)
        self.frames += 1

    def _log_plot(self, body, t_source: float, ns: int) -> None:
        channel = self._body_channels.get(body.id)
        if channel is None:
            schema = self._foxglove.Schema(name="livehmr.BodyPlot", encoding="jsonschema",
                                           data=json.dumps(BODY_SCHEMA).encode())  # fmt: skip
            channel = self._foxglove.Channel(f"/bodies/{body_name(body.id)}", schema=schema, message_encoding="json",
                                             context=self.context)  # fmt: skip
            self._body_channels[body.id] = channel
        pelvis = body.joints_world[0]
        last = self._last_pelvis.get(body.id)
        speed = 0.0 if last is None else float(np.linalg.norm(pelvis - last[1]) / max(t_source - last[0], 1e-3))
        self._last_pelvis[body.id] = (t_source, pelvis.copy())
        channel.log({"pelvis_height_m": float(pelvis[2]), "speed_m_s": speed, "confidence": float(body.confidence.mean()),
                     **{f"contact_{n}": float(c) for n, c in zip(CONTACT_NAMES, body.contacts)}}, log_time=ns)  # fmt: skip

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.server is not None:
            self.server.stop()
            self.server = None
