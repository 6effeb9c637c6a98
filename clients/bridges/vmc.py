"""VMC protocol bridge: one person's bones as a Unity humanoid, over OSC/UDP.

    livehmr bridge vmc [URL] --host 127.0.0.1 --port 39539 [--person ID]

Per frame it sends, in one OSC bundle (the VMC protocol, "Performer" side):
``/VMC/Ext/Root/Pos`` ("root", position, rotation), ``/VMC/Ext/Bone/Pos`` for each of
the 22 Unity humanoid bones SMPL's 24 joints stand for (the two SMPL hand joints have
no Unity counterpart: fingers stay at rest), ``/VMC/Ext/OK`` (1 while the person is
seen, 0 otherwise) and ``/VMC/Ext/T`` (the source time, s).

Frames, written down once (tests check known poses against expected quaternions):

- livehmr **world**: right-handed, Z up, X the first camera's heading, Y its left.
  **Unity world**: left-handed, Y up, Z forward, X right. ``p_unity = A p_world`` with
  ``A`` taking world X to Unity Z, world Z to Unity Y and world Y (left) to Unity -X;
  ``det A = -1`` (the change of handedness).
- SMPL **canon** (a body at rest): X the body's left, Y up, Z forward. A Unity humanoid
  at rest faces +Z with its right along +X, so ``v_canon = M v_avatar`` with
  ``M = diag(-1, 1, 1)``.
- A local joint rotation ``R`` (canon, relative to the parent, identity = T-pose)
  becomes ``M R M`` (as a quaternion: x, -y, -z, w), the bone's local rotation in a
  normalised humanoid (VRM), whose T-pose is the identity too.
- The hips' rotation in Unity's world is ``A R_world_root M``; the root carries no
  rotation and sits at the Unity origin; the hips' position is the pelvis, ``A p``.
- Bone positions are the published skeleton's offsets from each parent, in the parent's
  avatar frame (receivers usually keep their own avatar's bone lengths).
"""

from __future__ import annotations

import logging

import numpy as np

from livehmr.clients.scene import quat_xyzw
from livehmr.clients.sdk import FrameImage, State
from livehmr.core.geometry import rotvec_to_rotmat
from livehmr.models.skeleton import JOINT, PARENTS, forward_kinematics

log = logging.getLogger(__name__)
DEFAULT_PORT = 39539

#: livehmr world -> Unity world (a reflection: right- to left-handed)
A_UNITY_WORLD = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
#: Unity avatar axes -> SMPL canon axes (and back: it is its own inverse)
M_CANON_AVATAR = np.diag([-1.0, 1.0, 1.0])

#: SMPL-24 joint -> Unity HumanBodyBones name (SMPL's hand joints have none)
UNITY_BONES: dict[str, str] = {
    "pelvis": "Hips", "left_hip": "LeftUpperLeg", "right_hip": "RightUpperLeg", "spine1": "Spine",
    "left_knee": "LeftLowerLeg", "right_knee": "RightLowerLeg", "spine2": "Chest", "left_ankle": "LeftFoot",
    "right_ankle": "RightFoot", "spine3": "UpperChest", "left_foot": "LeftToes", "right_foot": "RightToes",
    "neck": "Neck", "left_collar": "LeftShoulder", "right_collar": "RightShoulder", "head": "Head",
    "left_shoulder": "LeftUpperArm", "right_shoulder": "RightUpperArm", "left_elbow": "LeftLowerArm",
    "right_elbow": "RightLowerArm", "left_wrist": "LeftHand", "right_wrist": "RightHand",
}  # fmt: skip


def unity_bones(global_orient: np.ndarray, body_pose: np.ndarray, joints_world: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Unity bone name -> (local position (3,) m, local rotation (4,) x, y, z, w) of one
    person; the Hips' position and rotation are in Unity's world (see the module doc)."""
    rotmats = rotvec_to_rotmat(np.concatenate([global_orient, body_pose]).reshape(24, 3))
    _, global_R = forward_kinematics(rotmats, np.zeros((24, 3)))  # only the joint frames' rotations
    M, A = M_CANON_AVATAR, A_UNITY_WORLD
    bones = {}
    for name, bone in UNITY_BONES.items():
        j = JOINT[name]
        if j == 0:
            bones[bone] = (A @ joints_world[0], quat_xyzw(A @ rotmats[0] @ M))
            continue
        parent = PARENTS[j]
        offset_canon = global_R[parent].T @ (joints_world[j] - joints_world[parent])
        bones[bone] = (M @ offset_canon, quat_xyzw(M @ rotmats[j] @ M))
    return bones


class VmcBridge:
    """Sends one person's bones as VMC messages to ``host:port``.

    Args:
        person: the track id to send; None: the lowest id in view (VMC drives one avatar).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT, person: int | None = None):
        from pythonosc.udp_client import SimpleUDPClient

        self.client = SimpleUDPClient(host, port)
        self.person = person
        self.sent = 0

    def _choose(self, frame: list[State | FrameImage]) -> State | None:
        bodies = [s for s in frame if isinstance(s, State) and s.has_body]
        if self.person is not None:
            bodies = [s for s in bodies if s.person == self.person]
        return min(bodies, key=lambda s: s.person) if bodies else None

    def send(self, frame: list[State | FrameImage]) -> None:
        from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
        from pythonosc.osc_message import OscMessage
        from pythonosc.osc_message_builder import OscMessageBuilder

        def message(address: str, *args) -> OscMessage:
            builder = OscMessageBuilder(address=address)
            for arg in args:
                builder.add_arg(arg)
            return builder.build()

        state = self._choose(frame)
        bundle = OscBundleBuilder(IMMEDIATELY)
        if state is not None:
            bundle.add_content(message("/VMC/Ext/Root/Pos", "root", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0))
            bones = unity_bones(state.global_orient.astype(np.float64), state.body_pose.astype(np.float64),
                                state.joints_world.astype(np.float64))  # fmt: skip
            for bone, (p, q) in bones.items():
                bundle.add_content(message("/VMC/Ext/Bone/Pos", bone, *map(float, p), *map(float, q)))
        bundle.add_content(message("/VMC/Ext/OK", 1 if state is not None else 0))
        bundle.add_content(message("/VMC/Ext/T", float(frame[0].t_source)))
        self.client.send(bundle.build())
        self.sent += 1

    def close(self) -> None:
        self.client.close()
