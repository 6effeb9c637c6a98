"""ROS 2 bridge without a ROS install: messages in ROS 2's own encoding, over Zenoh the
way ``rmw_zenoh`` carries them, and into ROS 2 MCAP bags.

    livehmr bridge ros2 [URL] [--connect tcp/localhost:7447] [--domain 0] [--bag run.mcap] [--gyro SPEC]

Messages are built and CDR-encoded by ``rosbags`` (its ROS 2 Jazzy type store; the four
``hri_msgs`` types REP-155 needs are registered from their definitions below). Topics:

- ``/tf`` (``tf2_msgs/msg/TFMessage``): the frame tree of :func:`livehmr.clients.scene.transforms`
  (``world → camera``, ``world → body_<id>``, every SMPL joint frame).
- ``/humans/bodies/tracked`` (``hri_msgs/msg/IdsList``): the ids in view (REP-155).
- ``/humans/bodies/<id>/roi`` (``hri_msgs/msg/NormalizedRegionOfInterest2D``) and
  ``/humans/bodies/<id>/skeleton2d`` (``hri_msgs/msg/Skeleton2D``), when the pipeline
  publishes its frames (``--publish-frames``) and so the 2D keypoints.
- ``/livehmr/skeletons`` (``visualization_msgs/msg/MarkerArray``): each person's bones and
  joints in ``world`` (RViz: add a MarkerArray display).
- ``/livehmr/imu`` (``sensor_msgs/msg/Imu``): the gyroscope's angular velocity when the
  bridge is given the gyro feed (``--gyro``, as ``livehmr run`` takes it), frame ``imu``.

Body ids are REP-155 strings, ``b<track id>`` (a ROS name token cannot start with a digit).
Stamps are the frame's capture time (:func:`~livehmr.clients.scene.capture_stamp_ns`).

**Zenoh, as rmw_zenoh (Jazzy) expects it**: a sample's key is
``<domain>/<topic>/<type>/<type hash>`` (``0/tf/tf2_msgs::msg::dds_::TFMessage_/RIHS01_…``),
its payload the CDR bytes, its attachment the sequence number, source time and 16-byte
publisher id; a liveliness token per node and publisher
(``@ros2_lv/<domain>/<session id>/<node id>/<entity id>/MP/%/%/livehmr/%tf/<type>/<hash>/<qos>``)
lets ``ros2 topic list`` see the topics. This follows rmw_zenoh's design and source; it was
tested here against Zenoh on loopback, not against a ROS 2 installation.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from livehmr.clients.scene import (
    SceneFrame,
    body_name,
    person_colour,
    quat_xyzw,
    scene_frame,
    skeleton_segments,
    transforms,
)
from livehmr.clients.sdk import FrameImage, State
from livehmr.core.errors import LivehmrError
from livehmr.core.outputs import open_output
from livehmr.core.types import KP
from livehmr.stream.sources.gyro_feeds import GyroFeed

log = logging.getLogger(__name__)
DEFAULT_ROUTER = "tcp/localhost:7447"  # rmw_zenohd's default endpoint
NODE_NAME = "livehmr"

#: The REP-155 messages livehmr publishes (hri_msgs, ROS4HRI), as their .msg files declare them.
HRI_MSGS = {
    "hri_msgs/msg/IdsList": "std_msgs/Header header\nstring[] ids\n",
    "hri_msgs/msg/NormalizedPointOfInterest2D": "float32 x\nfloat32 y\nfloat32 c\n",
    "hri_msgs/msg/NormalizedRegionOfInterest2D": (
        "std_msgs/Header header\nfloat32 xmin\nfloat32 ymin\nfloat32 xmax\nfloat32 ymax\nfloat32 c\n"),
    "hri_msgs/msg/Skeleton2D": (
        "std_msgs/Header header\n"
        "uint8 NOSE=0\nuint8 NECK=1\nuint8 RIGHT_SHOULDER=2\nuint8 RIGHT_ELBOW=3\nuint8 RIGHT_WRIST=4\n"
        "uint8 LEFT_SHOULDER=5\nuint8 LEFT_ELBOW=6\nuint8 LEFT_WRIST=7\nuint8 RIGHT_HIP=8\nuint8 RIGHT_KNEE=9\n"
        "uint8 RIGHT_ANKLE=10\nuint8 LEFT_HIP=11\nuint8 LEFT_KNEE=12\nuint8 LEFT_ANKLE=13\nuint8 LEFT_EYE=14\n"
        "uint8 RIGHT_EYE=15\nuint8 LEFT_EAR=16\nuint8 RIGHT_EAR=17\n"
        "NormalizedPointOfInterest2D[18] skeleton\n"),
}  # fmt: skip
#: Skeleton2D's 18 points from livehmr's keypoints (NECK: the shoulders' midpoint)
SKELETON2D_FROM_KEYPOINTS = (
    ("nose",), ("left_shoulder", "right_shoulder"), ("right_shoulder",), ("right_elbow",), ("right_wrist",),
    ("left_shoulder",), ("left_elbow",), ("left_wrist",), ("right_hip",), ("right_knee",), ("right_ankle",),
    ("left_hip",), ("left_knee",), ("left_ankle",), ("left_eye",), ("right_eye",), ("left_ear",), ("right_ear",),
)  # fmt: skip
MARKER_LIFETIME_NS = 500_000_000  # a person's markers vanish 0.5 s after they leave


def typestore():
    """rosbags' ROS 2 Jazzy type store with the hri_msgs types registered."""
    try:
        from rosbags.typesys import Stores, get_types_from_msg, get_typestore
    except ImportError as exc:
        raise LivehmrError(f"the ROS 2 bridge needs rosbags: pip install 'livehmr[bridges]' ({exc})") from exc
    store = get_typestore(Stores.ROS2_JAZZY)
    types = {}
    for name, text in HRI_MSGS.items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
    return store


@dataclass
class RosMessage:
    topic: str
    typename: str  # e.g. tf2_msgs/msg/TFMessage
    message: object  # a rosbags message instance
    stamp_ns: int


class RosMessages:
    """Builds the ROS 2 messages of a frame (and of gyro samples) with one type store."""

    def __init__(self, store=None):
        self.store = store or typestore()
        #: message classes by type name (rosbags builds them at run time, so they are untyped here)
        self.t: dict[str, Any] = self.store.types

    def time(self, ns: int):
        return self.t["builtin_interfaces/msg/Time"](sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))

    def header(self, ns: int, frame_id: str):
        return self.t["std_msgs/msg/Header"](stamp=self.time(ns), frame_id=frame_id)

    def vector3(self, v):
        return self.t["geometry_msgs/msg/Vector3"](x=float(v[0]), y=float(v[1]), z=float(v[2]))

    def quaternion(self, R):
        q = quat_xyzw(R)
        return self.t["geometry_msgs/msg/Quaternion"](x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3]))

    def point(self, p):
        return self.t["geometry_msgs/msg/Point"](x=float(p[0]), y=float(p[1]), z=float(p[2]))

    def frame(self, scene: SceneFrame) -> list[RosMessage]:
        t, ns = self.t, scene.stamp_ns
        out = []
        tfs = [t["geometry_msgs/msg/TransformStamped"](
            header=self.header(ns, tf.parent), child_frame_id=tf.child,
            transform=t["geometry_msgs/msg/Transform"](translation=self.vector3(tf.translation), rotation=self.quaternion(tf.rotation)))
            for tf in transforms(scene)]  # fmt: skip
        out.append(RosMessage("/tf", "tf2_msgs/msg/TFMessage", t["tf2_msgs/msg/TFMessage"](transforms=tfs), ns))
        ids = [body_name(b.id) for b in scene.bodies]
        out.append(RosMessage("/humans/bodies/tracked", "hri_msgs/msg/IdsList",
                              t["hri_msgs/msg/IdsList"](header=self.header(ns, "camera"), ids=ids), ns))  # fmt: skip
        if scene.image is not None:
            w, h = float(scene.image.message.header["width"]), float(scene.image.message.header["height"])
            for body in scene.bodies:
                if body.keypoints is not None:
                    out += self._body_2d(body.id, body.keypoints, w, h, ns)
        out.append(RosMessage("/livehmr/skeletons", "visualization_msgs/msg/MarkerArray", self._markers(scene), ns))
        return out

    def _body_2d(self, track_id: int, kp: np.ndarray, w: float, h: float, ns: int) -> list[RosMessage]:
        t, prefix = self.t, f"/humans/bodies/{body_name(track_id)}"
        seen = kp[:, 2] >= 0.3
        if not seen.any():
            return []
        lo, hi = kp[seen, :2].min(0), kp[seen, :2].max(0)
        roi = t["hri_msgs/msg/NormalizedRegionOfInterest2D"](
            header=self.header(ns, "camera"), xmin=float(np.clip(lo[0] / w, 0, 1)), ymin=float(np.clip(lo[1] / h, 0, 1)),
            xmax=float(np.clip(hi[0] / w, 0, 1)), ymax=float(np.clip(hi[1] / h, 0, 1)), c=float(kp[seen, 2].mean()))  # fmt: skip
        points = []
        for names in SKELETON2D_FROM_KEYPOINTS:
            rows = kp[[KP[n] for n in names]]
            x, y = rows[:, :2].mean(0)
            points.append(t["hri_msgs/msg/NormalizedPointOfInterest2D"](x=float(x / w), y=float(y / h), c=float(rows[:, 2].min())))
        skeleton = t["hri_msgs/msg/Skeleton2D"](header=self.header(ns, "camera"), skeleton=points)
        return [RosMessage(f"{prefix}/roi", "hri_msgs/msg/NormalizedRegionOfInterest2D", roi, ns),
                RosMessage(f"{prefix}/skeleton2d", "hri_msgs/msg/Skeleton2D", skeleton, ns)]  # fmt: skip

    def _markers(self, scene: SceneFrame):
        t, ns = self.t, scene.stamp_ns
        Marker = t["visualization_msgs/msg/Marker"]
        identity = t["geometry_msgs/msg/Pose"](position=self.point((0, 0, 0)), orientation=self.quaternion(np.eye(3)))
        lifetime = t["builtin_interfaces/msg/Duration"](sec=0, nanosec=MARKER_LIFETIME_NS)
        markers = []
        for body in scene.bodies:
            r, g, b = (c / 255 for c in person_colour(body.id))
            colour = t["std_msgs/msg/ColorRGBA"](r=r, g=g, b=b, a=1.0)
            common = dict(header=self.header(ns, "world"), id=int(body.id), action=Marker.ADD, pose=identity,
                          color=colour, lifetime=lifetime, frame_locked=False, colors=[], texture_resource="",
                          texture=t["sensor_msgs/msg/CompressedImage"](header=self.header(0, ""), format="", data=np.zeros(0, np.uint8)),
                          uv_coordinates=[], text="", mesh_resource="",
                          mesh_file=t["visualization_msgs/msg/MeshFile"](filename="", data=np.zeros(0, np.uint8)),
                          mesh_use_embedded_materials=False)  # fmt: skip
            bones = [self.point(p) for p in skeleton_segments(body).reshape(-1, 3)]
            markers.append(Marker(ns="bones", type=Marker.LINE_LIST, scale=self.vector3((0.03, 0, 0)), points=bones, **common))
            joints = [self.point(p) for p in body.joints_world]
            markers.append(Marker(ns="joints", type=Marker.SPHERE_LIST, scale=self.vector3((0.06, 0.06, 0.06)), points=joints,
                                  **common))  # fmt: skip
        return t["visualization_msgs/msg/MarkerArray"](markers=markers)

    def imu(self, stamp_ns: int, omega: np.ndarray) -> RosMessage:
        """``omega`` (3,) rad/s about the IMU's axes; orientation and acceleration unknown (covariance[0] = -1, REP-145)."""
        t = self.t
        unknown = np.zeros(9)
        unknown[0] = -1.0
        imu = t["sensor_msgs/msg/Imu"](
            header=self.header(stamp_ns, "imu"), orientation=self.quaternion(np.eye(3)), orientation_covariance=unknown.copy(),
            angular_velocity=self.vector3(omega), angular_velocity_covariance=np.zeros(9),
            linear_acceleration=self.vector3((0, 0, 0)), linear_acceleration_covariance=unknown.copy())  # fmt: skip
        return RosMessage("/livehmr/imu", "sensor_msgs/msg/Imu", imu, stamp_ns)

    def cdr(self, message: RosMessage) -> bytes:
        return bytes(self.store.serialize_cdr(message.message, message.typename))


def dds_type_name(typename: str) -> str:
    """``tf2_msgs/msg/TFMessage`` -> ``tf2_msgs::msg::dds_::TFMessage_`` (the name rmw_zenoh keys on)."""
    package, kind, name = typename.split("/")
    return f"{package}::{kind}::dds_::{name}_"


def mangle(name: str) -> str:
    """rmw_zenoh's liveliness-token form of a ROS name: ``/`` -> ``%``."""
    return name.replace("/", "%")


#: rmw_zenoh's QoS field of a liveliness token, for reliable, volatile, keep-last ``depth``
#: (an empty field means ROS's default profile: reliable, volatile, keep last 10)
def qos_token(depth: int = 10) -> str:
    return f"::,{'' if depth == 10 else depth}:,:,:,,"


def zenoh_config(connect: list[str], listen: list[str] | None = None):
    """A Zenoh peer configuration that connects to / listens on exactly these endpoints
    (no multicast scouting: explicit endpoints work where multicast does not, as on CI)."""
    import json

    import zenoh

    config = zenoh.Config()
    config.insert_json5("mode", json.dumps("peer"))
    config.insert_json5("connect/endpoints", json.dumps(connect))
    config.insert_json5("listen/endpoints", json.dumps(listen or []))
    config.insert_json5("scouting/multicast/enabled", "false")
    return config


class ZenohSink:
    """Puts ROS 2 messages on Zenoh as rmw_zenoh does (see the module docstring).

    Args:
        connect: Zenoh endpoints to connect to (rmw_zenohd's ``tcp/localhost:7447`` by default).
        listen: endpoints to listen on (e.g. for a peer on loopback, as the tests do).
        domain: the ROS domain id.
    """

    def __init__(self, connect: list[str] | None = None, listen: list[str] | None = None, domain: int = 0,
                 store=None):  # fmt: skip
        try:
            import zenoh
        except ImportError as exc:
            raise LivehmrError(f"the ROS 2 bridge needs eclipse-zenoh: pip install 'livehmr[bridges]' ({exc})") from exc
        self.store = store or typestore()
        try:
            self.session = zenoh.open(zenoh_config([DEFAULT_ROUTER] if connect is None else connect, listen))
        except Exception as exc:  # zenoh raises its own ZError
            raise LivehmrError(f"cannot open a Zenoh session: {exc}") from None
        self.domain = domain
        self.zid = str(self.session.zid())
        self.tokens = [self.session.liveliness().declare_token(self._token(0, "NN"))]
        self.publishers: dict[str, tuple[Any, bytes]] = {}  # zenoh publishers  # topic -> (publisher, source gid)
        self.sequence: dict[str, int] = {}  # per publisher, from 1 (rmw_zenoh counts gaps as lost messages)

    def _token(self, entity: int, kind: str, topic: str | None = None, typename: str | None = None) -> str:
        token = f"@ros2_lv/{self.domain}/{self.zid}/0/{entity}/{kind}/%/%/{NODE_NAME}"
        if topic is not None and typename is not None:
            hash_ = self.store.hash_rihs01(typename)
            depth = 100 if topic == "/tf" else 10  # tf2's own publishers keep 100
            token += f"/{mangle(topic)}/{dds_type_name(typename)}/{hash_}/{qos_token(depth)}"
        return token

    def key(self, topic: str, typename: str) -> str:
        return f"{self.domain}/{topic.strip('/')}/{dds_type_name(typename)}/{self.store.hash_rihs01(typename)}"

    def put(self, message: RosMessage, payload: bytes) -> None:
        from zenoh.ext import Int64, z_serialize

        entry = self.publishers.get(message.topic)
        if entry is None:
            token = self._token(len(self.publishers) + 1, "MP", message.topic, message.typename)
            self.tokens.append(self.session.liveliness().declare_token(token))
            gid = hashlib.sha256(token.encode()).digest()[:16]
            entry = (self.session.declare_publisher(self.key(message.topic, message.typename)), gid)
            self.publishers[message.topic] = entry
        publisher, gid = entry
        self.sequence[message.topic] = number = self.sequence.get(message.topic, 0) + 1
        attachment = z_serialize(("sequence_number", Int64(number), "source_timestamp", Int64(time.time_ns()),
                                  "source_gid", gid))  # fmt: skip
        publisher.put(payload, attachment=attachment)

    def close(self) -> None:
        for publisher, _ in self.publishers.values():
            publisher.undeclare()
        for token in self.tokens:
            token.undeclare()
        self.session.close()


class BagSink:
    """Writes ROS 2 messages to an MCAP bag (profile ``ros2``, schemas ``ros2msg``, CDR), as
    ``ros2 bag record`` with the MCAP storage plugin does; ``ros2 bag play`` and Foxglove read it."""

    def __init__(self, path: str | Path, store, force: bool = False):
        from mcap.writer import Writer

        self.file = open_output(path, force, "--bag")
        self.writer = Writer(self.file)
        self.writer.start(profile="ros2", library="livehmr")
        self.store = store
        self.schemas: dict[str, int] = {}
        self.channels: dict[str, int] = {}
        self.sequence = 0

    def put(self, message: RosMessage, payload: bytes) -> None:
        channel = self.channels.get(message.topic)
        if channel is None:
            schema = self.schemas.get(message.typename)
            if schema is None:
                text, _ = self.store.generate_msgdef(message.typename, ros_version=2)
                schema = self.writer.register_schema(name=message.typename, encoding="ros2msg", data=text.encode())
                self.schemas[message.typename] = schema
            channel = self.writer.register_channel(topic=message.topic, message_encoding="cdr", schema_id=schema)
            self.channels[message.topic] = channel
        self.sequence += 1
        self.writer.add_message(channel, log_time=message.stamp_ns, publish_time=message.stamp_ns, data=payload,
                                sequence=self.sequence)  # fmt: skip

    def close(self) -> None:
        self.writer.finish()
        self.file.close()


class Ros2Bridge:
    """Republishes the stream as ROS 2 messages into ``sinks`` (:class:`ZenohSink`, :class:`BagSink`).

    Args:
        gyro: a :class:`~livehmr.stream.sources.gyro_feeds.GyroFeed`; its samples go out as ``/livehmr/imu``,
            stamped on this machine's clock (the feed's clock offset measured at its first sample).
    """

    def __init__(self, sinks: list, messages: RosMessages, gyro: GyroFeed | None = None):
        self.sinks = sinks
        self.messages = messages
        self.gyro = gyro
        self._gyro_sent_t: float | None = None
        self._gyro_offset_ns: int | None = None
        self.sent: dict[str, int] = {}

    def _put(self, message: RosMessage) -> None:
        payload = self.messages.cdr(message)
        for sink in self.sinks:
            sink.put(message, payload)
        self.sent[message.topic] = self.sent.get(message.topic, 0) + 1

    def _gyro_samples(self) -> None:
        if self.gyro is None:
            return
        samples = self.gyro.buffer.window(-np.inf if self._gyro_sent_t is None else self._gyro_sent_t, np.inf)
        if self._gyro_sent_t is not None:
            samples = samples[samples[:, 0] > self._gyro_sent_t]
        if not len(samples):
            return
        if self._gyro_offset_ns is None:
            self._gyro_offset_ns = time.time_ns() - int(samples[-1, 0] * 1e9)
        for t, *omega in samples:
            self._put(self.messages.imu(int(t * 1e9) + self._gyro_offset_ns, np.array(omega)))
        self._gyro_sent_t = float(samples[-1, 0])

    def send(self, frame: list[State | FrameImage]) -> None:
        self._gyro_samples()
        for message in self.messages.frame(scene_frame(frame)):
            self._put(message)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
        if self.gyro is not None:
            self.gyro.close()
