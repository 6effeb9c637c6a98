"""A body mesh skinned directly to the SMPL-24 skeleton: what viewers and glTF files draw.

Anny skins its mesh to 104 bones, and each of them turns with one SMPL joint
(:mod:`livehmr.models.anny_body`: every bone of segment ``j`` turns by ``G[j] @ C[j] @ A.T``).
Summing Anny's weights per SMPL joint skins the same mesh to 24 joints, with two
differences, both measured in ``tests/test_exports.py``:

- Anny turns each toe (and each finger's metacarpal) about its own base, SMPL about the
  one ``*_foot`` (``*_hand``) joint; the two agree while foot and hand are straight on the
  ankle and wrist, and part by centimetres when they bend.
- Only the :data:`INFLUENCES` largest weights per vertex are kept (glTF's ``JOINTS_0`` and
  three.js read four): ``python -m livehmr.bench.skin`` measures max 13.6 mm, p99
  0.55 mm, mean 0.02 mm over 20 random poses.

Linear blend skinning in glTF's form (canon frame, metres)::

    v_posed = sum_j w[v, j] * N_j @ inverse_bind[j] @ v_bind

with ``N_j = [G_j | p_j]`` the world transform of joint ``j`` under SMPL forward kinematics
and ``inverse_bind[j] = [C_j | -C_j a_j]`` (``a_j``: joint ``j`` in the bind mesh). The
bind mesh is Anny's rest (A-pose) mesh in canon; the skeleton's rest is SMPL's T-pose
(``rest_joints``), so a viewer that sets SMPL's local rotations on the joints draws the body.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from livehmr.models.skeleton import JOINT_NAMES, NUM_JOINTS, forward_kinematics

#: Joint influences kept per vertex (glTF's JOINTS_0 / WEIGHTS_0; three.js reads these four).
INFLUENCES = 4


@dataclass
class SkinnedBody:
    """A mesh skinned to SMPL-24 joints. Canon frame (Y up, Z forward), metres.

    Attributes:
        name: the body model it comes from (``anny``).
        betas: (10,) the shape it was built for, as published.
        bind_vertices: (V, 3) the mesh in its bind pose.
        faces: (F, 3) int32 triangles, counter-clockwise seen from outside.
        rest_joints: (24, 3) the skeleton's rest (T-pose) joint positions.
        inverse_bind: (24, 4, 4) maps bind-mesh points into each joint's frame.
        joint_indices: (V, INFLUENCES) uint8 joints that move each vertex.
        joint_weights: (V, INFLUENCES) float32 their weights, summing to 1.
    """

    name: str
    betas: np.ndarray
    bind_vertices: np.ndarray
    faces: np.ndarray
    rest_joints: np.ndarray
    inverse_bind: np.ndarray
    joint_indices: np.ndarray
    joint_weights: np.ndarray

    @property
    def joint_names(self) -> tuple[str, ...]:
        return JOINT_NAMES

    def skin(self, rotmats: np.ndarray, transl: np.ndarray) -> np.ndarray:
        """Posed vertices (T, V, 3), world metres, for local rotations ``rotmats`` (T, 24, 3, 3)
        (``[:, 0]``: canon -> world) and ``transl`` (T, 3) (SMPL convention)."""
        rotmats = np.asarray(rotmats, dtype=np.float64).reshape(-1, NUM_JOINTS, 3, 3)
        joints, G = forward_kinematics(rotmats, self.rest_joints, np.asarray(transl, dtype=np.float64).reshape(-1, 3))
        N = np.zeros((len(rotmats), NUM_JOINTS, 4, 4))
        N[..., :3, :3] = G
        N[..., :3, 3] = joints
        N[..., 3, 3] = 1.0
        M = N @ self.inverse_bind  # (T, 24, 4, 4): bind mesh -> world, per joint
        v = np.concatenate([self.bind_vertices, np.ones((len(self.bind_vertices), 1))], axis=1)
        blended = np.einsum("vk,tvkij->tvij", self.joint_weights, M[:, self.joint_indices])  # (T, V, 4, 4)
        return np.einsum("tvij,vj->tvi", blended[..., :3, :], v)

    def vertex_normals(self, vertices: np.ndarray | None = None) -> np.ndarray:
        """Unit area-weighted vertex normals (V, 3) of ``vertices`` (default the bind mesh)."""
        v = self.bind_vertices if vertices is None else vertices
        tri = v[self.faces]
        face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # (F, 3), length = 2 x area
        corners = self.faces.ravel()
        n = np.stack([np.bincount(corners, np.repeat(face_n[:, k], 3), len(v)) for k in range(3)], axis=1)
        return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def top_influences(weights: np.ndarray, k: int = INFLUENCES) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest of each row of dense weights (V, J), renormalised: indices (V, k)
    uint8 and weights (V, k) float32 (unused slots: joint 0, weight 0)."""
    order = np.argsort(-weights, axis=1)[:, :k]
    w = np.take_along_axis(weights, order, axis=1)
    w = np.where(w > 1e-6, w, 0.0)
    w = w / w.sum(axis=1, keepdims=True)
    order = np.where(w > 0, order, 0)
    return order.astype(np.uint8), w.astype(np.float32)


def skinned_anny(body) -> SkinnedBody:
    """The :class:`~livehmr.models.anny_body.AnnyBody` ``body`` (its phenotype) skinned to SMPL-24."""
    import torch

    from livehmr.models.anny_body import A_ANNY_CANON, smpl_joint_position

    with torch.no_grad():
        rest = body.model(pose_parameters=None, phenotype_kwargs=body._phenotype_kwargs)
    bind_vertices = rest["rest_vertices"][0].double().numpy() @ A_ANNY_CANON  # Anny rest -> canon, row-wise A.T @ x
    heads = rest["rest_bone_heads"][0].double().numpy() @ A_ANNY_CANON
    bind_joints = np.stack([smpl_joint_position(name, heads, body._index) for name in JOINT_NAMES])

    inverse_bind = np.tile(np.eye(4), (NUM_JOINTS, 1, 1))
    inverse_bind[:, :3, :3] = body.C
    inverse_bind[:, :3, 3] = -np.einsum("jab,jb->ja", body.C, bind_joints)

    dense = body.model.dense_vertex_bone_weights.double().numpy()  # (V, 104)
    per_joint = np.zeros((dense.shape[1], NUM_JOINTS))
    per_joint[np.arange(dense.shape[1]), body.bone_joint] = 1.0
    indices, weights = top_influences(dense @ per_joint)
    return SkinnedBody("anny", body.betas.copy(), bind_vertices, body.faces.astype(np.int32), body.rest_joints.copy(),
                       inverse_bind, indices, weights)  # fmt: skip


@functools.lru_cache(maxsize=8)
def skinned_anny_of(phenotype: tuple[float, ...]) -> SkinnedBody:
    """The skinned Anny body of a published phenotype (``betas[:6]``: gender, age, muscle,
    weight, height, proportions, clipped to [0, 1]; see docs/protocol.md). The last 8
    phenotypes asked for are kept: viewers ask once per frame and person."""
    from livehmr.models.anny_body import PHENOTYPES, AnnyBody

    values = (float(np.clip(v, 0.0, 1.0)) for v in phenotype[: len(PHENOTYPES)])
    return skinned_anny(AnnyBody(dict(zip(PHENOTYPES, values))))
