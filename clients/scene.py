"""One frame of the stream as a scene, for the viewers and bridges that draw or republish it.

:func:`scene_frame` turns a frame's messages (its optional image message, then one state
per person or a ``no_person`` heartbeat) into a :class:`SceneFrame`; :func:`transforms`
writes the frame tree every bridge publishes (Foxglove ``FrameTransforms``, ROS 2 ``/tf``):

- ``world``: livehmr's world frame (right-handed, Z up, gravity-aligned, metres).
- ``camera``: the camera, OpenCV axes (X right, Y down, Z forward), parent ``world``
  (``T_world_cam``). Foxglove and ROS draw images in this optical convention.
- ``body_<id>`` (``<id>``: :func:`body_name`, ``b`` and the track id): REP-155's body frame, REP-103 axes (X forward, Y left, Z up), at the
  pelvis, parent ``world``.
- ``<joint>_<id>``: each SMPL-24 joint frame (``pelvis_<id>``, ``left_knee_<id>``, ...),
  SMPL's canonical axes (X the body's left, Y up, Z forward at rest), each a child of its
  parent joint; ``pelvis_<id>`` is a child of ``body_<id>``. Composing the chain gives
  the published ``joints_world`` exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from livehmr.clients.sdk import FrameImage, State
from livehmr.core.geometry import rotvec_to_rotmat
from livehmr.models.skeleton import JOINT_NAMES, PARENTS, forward_kinematics

#: REP-103 body axes (X forward, Y left, Z up) -> SMPL canon axes (X left, Y up, Z forward)
R_CANON_BODY = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
CONTACT_NAMES = ("left_ankle", "left_toes", "right_ankle", "right_toes")
#: 2D skeleton drawn over the image (indices into ``livehmr.core.types.KEYPOINT_NAMES``).
KEYPOINT_EDGES = ((5, 7), (7, 9), (6, 8), (8, 10), (5, 6), (5, 11), (6, 12), (11, 12), (11, 13), (13, 15),
                  (12, 14), (14, 16), (15, 19), (15, 17), (17, 18), (16, 22), (16, 20), (20, 21), (0, 1), (0, 2),
                  (1, 3), (2, 4))  # fmt: skip


def person_colour(person: int) -> tuple[int, int, int]:
    """RGB 0-255 colour of a track id, the same in every viewer."""
    palette = ((230, 120, 50), (60, 160, 230), (120, 200, 90), (220, 80, 160), (240, 200, 60), (150, 110, 230))
    return palette[person % len(palette)]


def quat_xyzw(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation -> (..., 4) quaternion x, y, z, w (w >= 0)."""
    q = Rotation.from_matrix(R).as_quat()
    return np.where(q[..., 3:4] < 0, -q, q)


@dataclass
class Body:
    """One person in one frame.

    Attributes:
        id: track id.
        joints_world: (24, 3) metres, world.
        R_parent_joint: (24, 3, 3) each joint frame's rotation in its parent's (joint 0: in world).
        R_world_joint: (24, 3, 3) each joint frame's rotation in world.
        contacts: (4,) probabilities, :data:`CONTACT_NAMES`.
        confidence: (24,) per joint in [0, 1].
        keypoints: (23, 3) pixel x, y, confidence, when the frame's image message came too.
    """

    id: int
    joints_world: np.ndarray
    R_parent_joint: np.ndarray
    R_world_joint: np.ndarray
    contacts: np.ndarray
    confidence: np.ndarray
    keypoints: np.ndarray | None = None

    @property
    def R_world_body(self) -> np.ndarray:
        """(3, 3) the REP-155 body frame (X forward, Y left, Z up) in world."""
        return self.R_world_joint[0] @ R_CANON_BODY


@dataclass
class SceneFrame:
    """One frame. ``stamp_ns``: capture time, Unix nanoseconds (the publish time less the
    frame's glass-to-publish latency); ``T_world_cam`` (4, 4) or None (no camera pose)."""

    frame: int
    stamp_ns: int
    t_source: float
    T_world_cam: np.ndarray | None
    bodies: list[Body]
    flags: list[str]
    image: FrameImage | None = None


def capture_stamp_ns(state: State) -> int:
    header = state.header
    return int(round((float(header["t_publish"]) - float(header.get("latency_ms", 0.0)) / 1e3) * 1e9))


def _body(state: State, keypoints: np.ndarray | None) -> Body:
    R_local = rotvec_to_rotmat(np.concatenate([state.global_orient, state.body_pose]).astype(np.float64).reshape(24, 3))
    _, R_world = forward_kinematics(R_local, np.zeros((24, 3)))  # only the joint frames' rotations
    return Body(state.person, state.joints_world.astype(np.float64), R_local, R_world,
                state.contacts.astype(np.float64), state.joint_confidence.astype(np.float64), keypoints)  # fmt: skip


def scene_frame(messages: list[State | FrameImage]) -> SceneFrame:
    """The :class:`SceneFrame` of one frame's messages (as :class:`~livehmr.clients.sdk.FrameGrouper` gives them)."""
    image = next((m for m in messages if isinstance(m, FrameImage)), None)
    states = [m for m in messages if isinstance(m, State)]
    if not states:
        raise ValueError("a frame needs at least one state message (a person or a heartbeat)")
    rows = {} if image is None else {p: i for i, p in enumerate(image.persons)}
    bodies = []
    for s in states:
        if s.has_body:
            kp = image.keypoints[rows[s.person]].astype(np.float64) if image is not None and s.person in rows else None
            bodies.append(_body(s, kp))
    first = states[0]
    T = first.T_world_cam.astype(np.float64) if "T_world_cam" in first.message.arrays else None
    return SceneFrame(first.frame, capture_stamp_ns(first), first.t_source, T, bodies, first.flags, image)


@dataclass
class Transform:
    """``child``'s pose in ``parent``: p_parent = rotation @ p_child + translation (metres)."""

    parent: str
    child: str
    translation: np.ndarray
    rotation: np.ndarray


def body_name(track_id: int) -> str:
    """REP-155's body id of a track: ``b<id>`` (a ROS name token cannot start with a digit)."""
    return f"b{track_id}"


def body_frame(track_id: int) -> str:
    return f"body_{body_name(track_id)}"


def joint_frame(joint: int, track_id: int) -> str:
    return f"{JOINT_NAMES[joint]}_{body_name(track_id)}"


def transforms(scene: SceneFrame) -> list[Transform]:
    """The frame tree of one frame (see the module docstring)."""
    out = []
    if scene.T_world_cam is not None:
        out.append(Transform("world", "camera", scene.T_world_cam[:3, 3], scene.T_world_cam[:3, :3]))
    for b in scene.bodies:
        out.append(Transform("world", body_frame(b.id), b.joints_world[0], b.R_world_body))
        out.append(Transform(body_frame(b.id), joint_frame(0, b.id), np.zeros(3), R_CANON_BODY.T))
        for j in range(1, len(JOINT_NAMES)):
            parent = PARENTS[j]
            offset = b.R_world_joint[parent].T @ (b.joints_world[j] - b.joints_world[parent])
            out.append(Transform(joint_frame(parent, b.id), joint_frame(j, b.id), offset, b.R_parent_joint[j]))
    return out


def skeleton_segments(body: Body) -> np.ndarray:
    """(23, 2, 3) world line segments, each joint to its parent."""
    return np.stack([body.joints_world[[PARENTS[j], j]] for j in range(1, len(JOINT_NAMES))])
