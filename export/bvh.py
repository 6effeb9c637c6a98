"""SMPL-24 motion -> BVH (Blender, MotionBuilder, Unity and Unreal read it).

The hierarchy is the SMPL-24 tree with the body's own rest offsets (T-pose, so every
joint's rest frame is the canon frame); leaves get an End Site 10 cm along their bone.
Axes: the file is **Y up** (the BVH custom) with the body facing +Z at rest; our Z-up
world maps to it by a +90 deg turn about X's inverse (world +Z -> file +Y, world -Y ->
file +Z). Units: centimetres. Channels: root Xposition Yposition Zposition, then every
joint Zrotation Yrotation Xrotation (intrinsic, so ``R = Rz @ Ry @ Rx``), degrees.
``livehmr corpus import`` reads these files back (tested as a round trip).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from livehmr.core.geometry import R_WORLD_CANON
from livehmr.models.skeleton import JOINT_NAMES, NUM_JOINTS, PARENTS

# file (Y up) <- world (Z up): the inverse of the import's Y-up turn
R_FILE_WORLD = R_WORLD_CANON.T
CM = 100.0
_LEAF_END = 0.1  # m


def write_bvh(path: str | Path, rotmats: np.ndarray, transl: np.ndarray, rest_joints: np.ndarray, fps: float) -> None:
    """Write SMPL-24 motion as BVH.

    Args:
        rotmats: (T, 24, 3, 3) local rotations, ``rotmats[:, 0]`` canon -> world.
        transl: (T, 3) SMPL translation, metres (pelvis = rest_joints[0] + transl).
        rest_joints: (24, 3) the body's rest joints in canon, metres.
        fps: frames per second.
    """
    T = len(rotmats)
    children = {j: [c for c in range(NUM_JOINTS) if PARENTS[c] == j] for j in range(NUM_JOINTS)}
    lines = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        pad = "  " * depth
        offset = np.zeros(3) if j == 0 else rest_joints[j] - rest_joints[PARENTS[j]]
        lines.append(f"{pad}{'ROOT' if j == 0 else 'JOINT'} {JOINT_NAMES[j]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {' '.join(f'{v * CM:.4f}' for v in offset)}")
        chans = "Xposition Yposition Zposition Zrotation Yrotation Xrotation" if j == 0 else "Zrotation Yrotation Xrotation"
        lines.append(f"{pad}  CHANNELS {6 if j == 0 else 3} {chans}")
        for c in children[j]:
            emit(c, depth + 1)
        if not children[j]:
            bone = rest_joints[j] - rest_joints[PARENTS[j]]
            end = _LEAF_END * bone / np.linalg.norm(bone)
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {' '.join(f'{v * CM:.4f}' for v in end)}",
                          f"{pad}  }}"])  # fmt: skip
        lines.append(f"{pad}}}")

    emit(0, 0)
    order = [j for j in _depth_first()]
    local = rotmats.copy()
    local[:, 0] = R_FILE_WORLD @ rotmats[:, 0]
    euler = Rotation.from_matrix(local[:, order].reshape(-1, 3, 3)).as_euler("ZYX", degrees=True).reshape(T, -1)
    root = (rest_joints[0] + transl) @ R_FILE_WORLD.T * CM
    lines += ["MOTION", f"Frames: {T}", f"Frame Time: {1.0 / fps:.8f}"]
    for i in range(T):
        lines.append(" ".join(f"{v:.5f}" for v in (*root[i], *euler[i])))
    Path(path).write_text("\n".join(lines) + "\n")


def _depth_first() -> list[int]:
    """Joint order as the hierarchy lists them (the channel order of each frame line)."""
    children = {j: [c for c in range(NUM_JOINTS) if PARENTS[c] == j] for j in range(NUM_JOINTS)}
    out: list[int] = []

    def visit(j: int) -> None:
        out.append(j)
        for c in children[j]:
            visit(c)

    visit(0)
    return out
