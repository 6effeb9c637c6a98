"""BVH motion files -> the corpus format (``livehmr corpus import``).

Hand-written because the format is small and the conversion is the point: every
joint's Euler channels in its own order, units to metres, the file's up axis to our
Z-up world, end sites kept as ``<joint>_end`` joints, the floor put at z = 0 and the
clip resampled to 30 fps, exactly like ``../shared/motion``.

Conventions read: rotation channels compose in the order listed (intrinsic, degrees),
``R_local = R_c1 @ R_c2 @ R_c3``; the root's position is its OFFSET plus its position
channels; child positions follow ``p = p_parent + R_world_parent @ OFFSET``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation
from tqdm import tqdm

from livehmr.core.errors import LivehmrError
from livehmr.studio.corpus import TARGET_FPS, MotionClip

# Our world is Z up; a Y-up file is turned by +90 deg about X (its +Y -> our +Z, +Z -> -Y).
_R_UP = {"z": np.eye(3), "y": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])}


@dataclass
class BvhMotion:
    """A parsed BVH file: joints (end sites included), offsets in file units, per-frame
    local rotations (T, J, 3, 3) and root positions (T, 3) in file units and axes."""

    names: list[str]
    parents: np.ndarray
    offsets: np.ndarray
    rotations: np.ndarray
    root: np.ndarray
    fps: float


def read_bvh(path: str | Path) -> BvhMotion:
    text = Path(path).read_text(errors="replace")
    head, sep, motion = text.partition("MOTION")
    if not sep:
        raise LivehmrError(f"{path}: not a BVH file (no MOTION section)")
    tokens = re.findall(r"[^\s{}]+|[{}]", head)
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    stack: list[int] = []
    i = 0
    try:
        while i < len(tokens):
            tok = tokens[i]
            if tok in ("ROOT", "JOINT"):
                names.append(tokens[i + 1])
                parents.append(stack[-1] if stack else -1)
                channels.append([])
                offsets.append([0.0, 0.0, 0.0])
                i += 2
            elif tok == "End":
                names.append(f"{names[stack[-1]]}_end")
                parents.append(stack[-1])
                channels.append([])
                offsets.append([0.0, 0.0, 0.0])
                i += 2
            elif tok == "{":
                stack.append(len(names) - 1)
                i += 1
            elif tok == "}":
                stack.pop()
                i += 1
            elif tok == "OFFSET":
                offsets[stack[-1]] = [float(v) for v in tokens[i + 1 : i + 4]]
                i += 4
            elif tok == "CHANNELS":
                n = int(tokens[i + 1])
                channels[stack[-1]] = tokens[i + 2 : i + 2 + n]
                i += 2 + n
            else:
                i += 1
        lines = [ln for ln in motion.strip().splitlines() if ln.strip()]
        frames = int(lines[0].split(":")[1])
        frame_time = float(lines[1].split(":")[1])
        values = np.array([[float(v) for v in ln.split()] for ln in lines[2 : 2 + frames]])
    except (IndexError, ValueError) as exc:
        raise LivehmrError(f"{path}: malformed BVH ({exc})") from exc
    width = sum(len(c) for c in channels)
    if values.ndim != 2 or values.shape != (frames, width):
        raise LivehmrError(f"{path}: expected {frames} frames of {width} channels, got {values.shape}")
    T, J = frames, len(names)
    rotations = np.tile(np.eye(3), (T, J, 1, 1))
    root = np.tile(np.array(offsets[0]), (T, 1))
    col = 0
    for j, chans in enumerate(channels):
        rot_axes = ""
        rot_cols = []
        for c in chans:
            axis = c[0].lower()
            if c.lower().endswith("position"):
                if j == 0:
                    root[:, "xyz".index(axis)] += values[:, col]
            else:
                rot_axes += axis.upper()  # upper case = intrinsic, in the order listed
                rot_cols.append(col)
            col += 1
        if rot_axes:
            rotations[:, j] = Rotation.from_euler(rot_axes, values[:, rot_cols], degrees=True).as_matrix()
    return BvhMotion(names, np.array(parents), np.array(offsets), rotations, root, 1.0 / frame_time)


def bvh_to_clip(bvh: BvhMotion, clip_id: str, subject: str, source: str, scale: float, up: str,
                foot_joints: list[str]) -> MotionClip:  # fmt: skip
    """A corpus clip: metres, Z up, floor at the clip's lowest ``foot_joints`` height, 30 fps."""
    R_up = _R_UP[up]
    rotations = bvh.rotations.copy()
    rotations[:, 0] = R_up @ rotations[:, 0]
    quats = Rotation.from_matrix(rotations.reshape(-1, 3, 3)).as_quat().reshape(*rotations.shape[:2], 4)
    clip = MotionClip(clip_id, subject, source, bvh.fps, bvh.names, bvh.parents, bvh.offsets * scale,
                      quats.astype(np.float32), (bvh.root * scale) @ R_up.T)  # fmt: skip
    clip = clip.resampled(TARGET_FPS)
    feet = [bvh.names.index(n) for n in foot_joints if n in bvh.names]
    if feet:
        clip.root = clip.root - [0.0, 0.0, clip.joint_positions()[:, feet, 2].min()]
    return clip


def import_bvh_folder(folder: str | Path, skeleton_map: str | Path, out: str | Path, scale: float | None = None,
                      up: str = "y") -> int:  # fmt: skip
    """Convert every ``*.bvh`` under ``folder`` into a corpus at ``out``; returns the clip count.

    ``skeleton_map``: JSON ``{"<kind>": [24 joint names, SMPL-24 order]}`` (the format of
    ``../shared/motion/smpl24_maps.json``). ``scale``: file units -> metres (None: guess
    centimetres or metres from the figure's height). Subject = the file's folder name, or
    the file name up to its first ``_`` when files sit directly in ``folder``.
    """
    folder, out = Path(folder), Path(out)
    try:
        loaded = json.loads(Path(skeleton_map).read_text())
    except OSError as exc:
        raise LivehmrError(f"--skeleton {skeleton_map}: cannot read it ({exc.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LivehmrError(f"--skeleton {skeleton_map}: not valid JSON ({exc})") from None
    if not isinstance(loaded, dict):
        raise LivehmrError(f"--skeleton {skeleton_map}: expected a JSON object {{\"<kind>\": [24 joint names]}}")
    maps = {k: v for k, v in loaded.items() if not k.startswith("_")}
    if (len(maps) != 1 or not isinstance(next(iter(maps.values())), list) or len(next(iter(maps.values()))) != 24
            or not all(isinstance(n, str) for n in next(iter(maps.values())))):  # fmt: skip
        raise LivehmrError(f"{skeleton_map}: expected one skeleton kind with 24 joint names (SMPL-24 order)")
    kind, names24 = next(iter(maps.items()))
    files = sorted(folder.rglob("*.bvh"))
    if not files:
        raise LivehmrError(f"no .bvh files under {folder}")
    (out / "clips").mkdir(parents=True, exist_ok=True)
    entries = []
    for path in tqdm(files, desc="import BVH", unit="clip"):
        bvh = read_bvh(path)
        missing = [n for n in names24 if n not in bvh.names]
        if missing:
            raise LivehmrError(f"{path}: joints named in {skeleton_map} are missing: {', '.join(missing[:5])}")
        s = scale if scale is not None else _guess_scale(bvh)
        subject = path.parent.name if path.parent != folder else path.stem.split("_")[0]
        clip_id = f"{subject}_{path.stem}" if path.parent != folder else path.stem
        clip = bvh_to_clip(bvh, clip_id, subject, kind, s, up, [names24[i] for i in (7, 8, 10, 11)])
        clip.save(out / "clips" / f"{clip_id}.npz")
        entries.append(dict(id=clip_id, subject=subject, description="", source=kind, origin=str(path),
                            file=f"clips/{clip_id}.npz", frames=clip.num_frames, seconds=round(clip.duration, 2),
                            source_fps=round(bvh.fps, 3), joints=len(clip.names)))  # fmt: skip
    (out / "index.json").write_text(json.dumps({"fps": TARGET_FPS, "clips": entries}, indent=1))
    (out / "smpl24_maps.json").write_text(json.dumps({kind: names24}, indent=1))
    return len(entries)


def _guess_scale(bvh: BvhMotion) -> float:
    """File units -> metres from the rest figure's extent (a person is ~1.7 m tall)."""
    P = np.zeros((len(bvh.names), 3))
    for j, p in enumerate(bvh.parents):
        P[j] = bvh.offsets[j] if p < 0 else P[p] + bvh.offsets[j]
    extent = float(np.ptp(P, axis=0).max())
    for scale in (1.0, 0.01, 0.0254, 0.001):  # metres, centimetres, inches, millimetres
        if 0.8 < extent * scale < 3.0:
            return scale
    raise LivehmrError(f"cannot guess the BVH units (figure extent {extent:.3g}); pass --scale")
