"""The SMPL 24-joint skeleton: names, tree and forward kinematics.

This parameterisation is the state everywhere in livehmr, whichever body model
(Anny or SMPL) turns it into a mesh. Conventions follow SMPL:

- joint rotations are *local*: ``G[j] = G[parent[j]] @ R[j]`` with ``G[0] = R[0]``, the
  root's rotation being ``global_orient``;
- in the rest pose (all rotations identity) every joint frame is aligned with the
  **canon** frame (``+Y`` up, ``+Z`` forward) and the body stands in a T-pose;
- ``p[j] = p[parent] + G[parent] @ (J[j] - J[parent])`` with ``p[0] = J[0] + transl``,
  ``J`` (24, 3) being the body's rest joint positions.
"""

from __future__ import annotations

from typing import overload

import numpy as np
import roma
import torch

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee",
    "spine2", "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot",
    "neck", "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)  # fmt: skip
PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)  # fmt: skip
NUM_JOINTS = 24
JOINT = {name: i for i, name in enumerate(JOINT_NAMES)}
FOOT_JOINTS = (JOINT["left_ankle"], JOINT["left_foot"], JOINT["right_ankle"], JOINT["right_foot"])


def _xp(x):
    return torch if isinstance(x, torch.Tensor) else np


@overload
def forward_kinematics(rotmats: torch.Tensor, rest_joints, transl=None) -> tuple[torch.Tensor, torch.Tensor]: ...


@overload
def forward_kinematics(rotmats: np.ndarray, rest_joints, transl=None) -> tuple[np.ndarray, np.ndarray]: ...


def forward_kinematics(rotmats, rest_joints, transl=None):
    """SMPL forward kinematics, on torch tensors or numpy arrays alike (the result is of the
    kind ``rotmats`` is).

    Args:
        rotmats: (..., 24, 3, 3) local joint rotations, ``rotmats[..., 0]`` = global_orient.
        rest_joints: (..., 24, 3) rest joint positions ``J`` in metres.
        transl: (..., 3) root translation in metres, or None for zero.

    Returns:
        joints: (..., 24, 3) posed joint positions.
        global_rotmats: (..., 24, 3, 3) world rotations ``G`` of every joint frame.
    """
    xp = _xp(rotmats)
    if xp is torch:
        rest_joints = torch.as_tensor(rest_joints, dtype=rotmats.dtype)
    rest_joints = xp.broadcast_to(rest_joints, (*rotmats.shape[:-3], NUM_JOINTS, 3))
    G: list = [rotmats[..., 0, :, :]]  # of rotmats' kind (numpy or torch)
    p: list = [rest_joints[..., 0, :]]
    for j in range(1, NUM_JOINTS):
        parent = PARENTS[j]
        G.append(G[parent] @ rotmats[..., j, :, :])
        offset = rest_joints[..., j, :] - rest_joints[..., parent, :]
        p.append(p[parent] + (G[parent] @ offset[..., None])[..., 0])
    joints = xp.stack(p, -2)
    if transl is not None:
        joints = joints + transl[..., None, :]
    return joints, xp.stack(G, -3)


def pose_to_rotmats(global_orient: np.ndarray, body_pose: np.ndarray) -> torch.Tensor:
    """Axis-angle ``global_orient`` (..., 3) and ``body_pose`` (..., 69) -> (..., 24, 3, 3)."""
    go = torch.as_tensor(np.asarray(global_orient, dtype=np.float64))
    bp = torch.as_tensor(np.asarray(body_pose, dtype=np.float64)).reshape(*go.shape[:-1], 23, 3)
    return roma.rotvec_to_rotmat(torch.cat([go.unsqueeze(-2), bp], dim=-2))


def rotmats_to_pose(rotmats: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(..., 24, 3, 3) -> axis-angle ``global_orient`` (..., 3), ``body_pose`` (..., 69)."""
    rv = roma.rotmat_to_rotvec(rotmats).numpy()
    return rv[..., 0, :], rv[..., 1:, :].reshape(*rv.shape[:-2], 69)


@overload
def global_to_local(global_rotmats: torch.Tensor) -> torch.Tensor: ...


@overload
def global_to_local(global_rotmats: np.ndarray) -> np.ndarray: ...


def global_to_local(global_rotmats):
    """World joint rotations ``G`` (..., 24, 3, 3) -> local rotations ``R`` (inverse of FK).
    Torch tensors or numpy arrays."""
    parents_G = global_rotmats[..., [0, *PARENTS[1:]], :, :]
    local = parents_G.swapaxes(-1, -2) @ global_rotmats
    local[..., 0, :, :] = global_rotmats[..., 0, :, :]
    return local
