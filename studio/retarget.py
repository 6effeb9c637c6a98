"""Retarget corpus clips (any source skeleton) onto SMPL-24 rotations of a body.

Method (rotations carry the twist, positions fix the directions):

1. Forward kinematics of the source gives every source joint's world frame
   ``G_src`` and position; ``smpl24_maps.json`` names the source joint ``m(k)`` of each
   SMPL joint ``k``.
2. **Calibration**, once per source skeleton kind: SMPL joint ``k``'s frame is rigidly
   attached to the same bone as ``m(k)``'s, so ``G[k] = G_src[m(k)] @ A_k`` with a
   constant ``A_k``. We estimate ``A_k`` as the rotation average of
   ``G_src[m(k)]^T @ G_ik[k]`` over walking clips, where ``G_ik`` is a position-only IK
   (pelvis/chest frames from the hip and shoulder lines, swing for limbs). Position IK
   alone cannot see twist (forearm roll, head yaw); averaged over ordinary walking its
   twist error averages out, and ``A_k`` then restores each frame's true twist.
3. Per frame, ``G[k] = G_src[m(k)] @ A_k`` is corrected by the smallest rotation that
   lays its rest bone(s) onto the source's bone direction(s) (Procrustes for the pelvis
   and chest, which have several children), so joint *directions* match exactly.
4. Root: the source's hip midpoint scaled by the leg-length ratio (stride scales with
   the legs, so feet do not slide), then the body is lowered or raised so its soles touch
   z = 0 in the frames where the source's feet are on its floor.

The test (``tests/test_studio_corpus.py``) retargets onto the source figure's own
proportions and checks the source joint positions are reproduced.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livehmr.core.geometry import rotations_between, rotmat_to_rotvec, rotvec_to_rotmat, special_procrustes
from livehmr.models.body import BodySkeleton, SmplParams, sole_offsets
from livehmr.models.skeleton import FOOT_JOINTS, JOINT, NUM_JOINTS, PARENTS, forward_kinematics, global_to_local
from livehmr.studio.corpus import TARGET_FPS, Corpus, MotionClip

_CHILDREN = {k: [c for c in range(NUM_JOINTS) if PARENTS[c] == k] for k in range(NUM_JOINTS)}
# The child whose bone a limb joint's swing lays onto (position IK).
_PRIMARY_CHILD = {
    JOINT[a]: JOINT[b] for a, b in [
        ("left_hip", "left_knee"), ("right_hip", "right_knee"), ("left_knee", "left_ankle"),
        ("right_knee", "right_ankle"), ("left_ankle", "left_foot"), ("right_ankle", "right_foot"),
        ("left_collar", "left_shoulder"), ("right_collar", "right_shoulder"),
        ("left_shoulder", "left_elbow"), ("right_shoulder", "right_elbow"),
        ("left_elbow", "left_wrist"), ("right_elbow", "right_wrist"),
        ("left_wrist", "left_hand"), ("right_wrist", "right_hand"), ("neck", "head"),
    ]
}  # fmt: skip
CONTACT_HEIGHT_M = 0.03  # a sole this close to the floor ...
CONTACT_SPEED_MPS = 0.3  # ... and moving slower than this is in contact


@dataclass
class SmplMotion:
    """SMPL-24 motion of one body in the world (Z up, floor z = 0), ``fps`` frames per second.

    Attributes: global_orient (T, 3), body_pose (T, 69) axis-angle radians; transl (T, 3)
    metres; betas (10,) of the body it was retargeted onto.
    """

    fps: float
    global_orient: np.ndarray
    body_pose: np.ndarray
    transl: np.ndarray
    betas: np.ndarray
    clip_id: str = ""

    @property
    def num_frames(self) -> int:
        return len(self.transl)

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    def params_at(self, index: int) -> SmplParams:
        i = int(np.clip(index, 0, self.num_frames - 1))
        return SmplParams(self.global_orient[i].copy(), self.body_pose[i].copy(), self.transl[i].copy(), self.betas.copy())

    def params(self, t: float, body: BodySkeleton | None = None) -> SmplParams:
        """Parameters at time ``t`` seconds (nearest frame; clips are already at the render rate)."""
        return self.params_at(int(round(t * self.fps)))

    def rotmats(self) -> np.ndarray:
        """(T, 24, 3, 3) local rotations (root: world orientation)."""
        pose = np.concatenate([self.global_orient, self.body_pose], axis=1).reshape(-1, NUM_JOINTS, 3)
        return rotvec_to_rotmat(pose)

    def joints(self, rest_joints: np.ndarray) -> np.ndarray:
        """(T, 24, 3) world joints by SMPL forward kinematics on ``rest_joints`` (24, 3)."""
        joints, _ = forward_kinematics(self.rotmats(), rest_joints, self.transl)
        return joints

    def segment(self, start: int, stop: int) -> SmplMotion:
        s = slice(start, stop)
        return SmplMotion(self.fps, self.global_orient[s], self.body_pose[s], self.transl[s], self.betas, self.clip_id)


def _frame_from(x_axis: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Rotations (T, 3, 3) with columns left (x), up (y), forward (z): the canon axes."""
    x = x_axis / np.linalg.norm(x_axis, axis=-1, keepdims=True)
    y = up - np.sum(up * x, axis=-1, keepdims=True) * x
    y /= np.linalg.norm(y, axis=-1, keepdims=True)
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def position_ik(P: np.ndarray, rest_joints: np.ndarray) -> np.ndarray:
    """World joint frames ``G`` (T, 24, 3, 3) from SMPL joint positions ``P`` (T, 24, 3) alone.

    Pelvis and chest frames come from the hip and shoulder lines; spine1/2 interpolate
    between them; limbs swing their rest bone onto the observed one; leaves copy their
    parent. Twist about a limb is unobservable from positions and comes out as the
    parent's.
    """
    T = len(P)
    G = np.zeros((T, NUM_JOINTS, 3, 3))
    up = P[:, JOINT["neck"]] - P[:, JOINT["pelvis"]]
    G[:, 0] = _frame_from(P[:, JOINT["left_hip"]] - P[:, JOINT["right_hip"]], up)
    chest = _frame_from(P[:, JOINT["left_shoulder"]] - P[:, JOINT["right_shoulder"]], up)
    twist = rotmat_to_rotvec(np.swapaxes(G[:, 0], 1, 2) @ chest)
    for name, w in (("spine1", 1 / 3), ("spine2", 2 / 3), ("spine3", 1.0)):
        G[:, JOINT[name]] = G[:, 0] @ rotvec_to_rotmat(twist * w)
    for j in range(1, NUM_JOINTS):
        if j in (JOINT["spine1"], JOINT["spine2"], JOINT["spine3"]):
            continue
        G_parent = G[:, PARENTS[j]]
        if j in _PRIMARY_CHILD:
            c = _PRIMARY_CHILD[j]
            rest_dir = G_parent @ (rest_joints[c] - rest_joints[j])
            G[:, j] = rotations_between(rest_dir, P[:, c] - P[:, j]) @ G_parent
        else:
            G[:, j] = G_parent
    return G


class Retargeter:
    """Retargets clips of one corpus onto SMPL-24 (see the module docstring).

    ``calibration_clips``: how many walking clips of each skeleton kind estimate the
    frame offsets ``A_k`` (cached per kind).
    """

    def __init__(self, corpus: Corpus, calibration_clips: int = 6):
        self.corpus = corpus
        self.calibration_clips = calibration_clips
        self._offsets: dict[str, np.ndarray] = {}

    def source_indices(self, clip: MotionClip) -> np.ndarray:
        names = self.corpus.smpl24_map(clip.source)
        index = {n: i for i, n in enumerate(clip.names)}
        missing = [n for n in names if n not in index]
        if missing:
            raise ValueError(f"clip {clip.id}: skeleton {clip.source!r} lacks mapped joints {missing}")
        return np.array([index[n] for n in names])

    def frame_offsets(self, source: str, rest_joints: np.ndarray) -> np.ndarray:
        """``A`` (24, 3, 3): SMPL joint frame in the mapped source joint's frame."""
        if source not in self._offsets:
            kind = sorted(c for c, e in self.corpus.entries.items() if e.get("source", "") == source)
            walking = [c for c in kind if "walk" in self.corpus.entries[c].get("description", "").lower()]
            chosen = (walking or kind)[: self.calibration_clips]
            M = np.zeros((NUM_JOINTS, 3, 3))
            for cid in chosen:
                clip = self.corpus.load(cid).resampled(TARGET_FPS)
                G_src = clip.global_rotmats()
                m = self.source_indices(clip)
                G_ik = position_ik(clip.joint_positions(G_src)[:, m], rest_joints)
                M += np.einsum("tkji,tkjl->kil", G_src[:, m], G_ik)
            self._offsets[source] = special_procrustes(M)
        return self._offsets[source]

    def global_frames(self, clip: MotionClip, rest_joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """SMPL world joint frames (T, 24, 3, 3) and the mapped source positions (T, 24, 3)."""
        G_src = clip.global_rotmats()
        m = self.source_indices(clip)
        P = clip.joint_positions(G_src)[:, m]
        G = G_src[:, m] @ self.frame_offsets(clip.source, rest_joints)
        for k in range(NUM_JOINTS):
            children = [c for c in _CHILDREN[k] if np.linalg.norm(P[0, c] - P[0, k]) > 1e-4]
            if not children:
                continue
            targets = np.stack([P[:, c] - P[:, k] for c in children], axis=1)  # (T, C, 3)
            rests = np.stack([G[:, k] @ (rest_joints[c] - rest_joints[k]) for c in children], axis=1)
            if len(children) == 1:
                correction = rotations_between(rests[:, 0], targets[:, 0])
            else:
                unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)  # noqa: E731
                correction = special_procrustes(np.einsum("tci,tcj->tij", unit(targets), unit(rests)))
            G[:, k] = correction @ G[:, k]
        return G, P

    def source_rest_skeleton(self, clip: MotionClip, reference_rest: np.ndarray) -> np.ndarray:
        """The source figure's own proportions as an SMPL rest skeleton (24, 3) in canon:
        each bone is the source bone seen from its joint's SMPL frame, averaged over the clip."""
        G, P = self.global_frames(clip.resampled(TARGET_FPS), reference_rest)
        J = np.zeros((NUM_JOINTS, 3))
        for k in range(1, NUM_JOINTS):
            p = PARENTS[k]
            bone = np.einsum("tji,tj->ti", G[:, p], P[:, k] - P[:, p]).mean(axis=0)
            J[k] = J[p] + bone
        return J

    def retarget(self, clip: MotionClip, body: BodySkeleton) -> SmplMotion:
        """``clip`` as SMPL-24 motion of ``body`` at 30 fps, feet on the floor."""
        clip = clip.resampled(TARGET_FPS)
        rest = np.asarray(body.rest_joints, dtype=np.float64)
        G, P = self.global_frames(clip, rest)
        local = global_to_local(G)
        zero_joints, _ = forward_kinematics(local, rest, np.zeros((len(G), 3)))
        hips = [JOINT["left_hip"], JOINT["right_hip"]]
        leg = [("left_hip", "left_knee"), ("left_knee", "left_ankle")]
        src_leg = sum(np.linalg.norm(P[:, JOINT[b]] - P[:, JOINT[a]], axis=-1).mean() for a, b in leg)
        body_leg = sum(np.linalg.norm(rest[JOINT[b]] - rest[JOINT[a]]) for a, b in leg)
        scale = body_leg / src_leg
        transl = scale * P[:, hips].mean(axis=1) - zero_joints[:, hips].mean(axis=1)
        joints = zero_joints + transl[:, None]
        # Ground: the source's feet are on its floor where its lowest foot joint is near its minimum.
        src_feet_z = P[:, list(FOOT_JOINTS), 2].min(axis=1)
        on_floor = src_feet_z < src_feet_z.min() + CONTACT_HEIGHT_M
        soles = (joints[:, list(FOOT_JOINTS), 2] - sole_offsets(body)).min(axis=1)
        transl[:, 2] -= np.median(soles[on_floor])
        global_orient = rotmat_to_rotvec(local[:, 0])
        body_pose = rotmat_to_rotvec(local[:, 1:]).reshape(len(G), 69)
        return SmplMotion(TARGET_FPS, global_orient, body_pose, transl, np.asarray(body.betas, dtype=np.float64).copy(), clip.id)


def foot_contacts(joints: np.ndarray, body: BodySkeleton, fps: float) -> np.ndarray:
    """Contact labels (T, 4) bool for the FOOT_JOINTS: sole within 3 cm of the floor and
    the joint moving slower than 0.3 m/s (central differences)."""
    feet = joints[:, list(FOOT_JOINTS)]
    gaps = feet[..., 2] - sole_offsets(body)
    speed = np.linalg.norm(np.gradient(feet, axis=0), axis=-1) * fps
    return (gaps < CONTACT_HEIGHT_M) & (speed < CONTACT_SPEED_MPS)
