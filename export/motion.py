"""A stream's motion, per person, out to the files other tools read.

``livehmr export motion REC --to bvh|gltf|npz|csv --out PATH`` (the recording is read by
:func:`livehmr.clients.recording.export_recording`). One file per person
(``PATH`` gets ``_person<ID>`` before its suffix when the recording has several).

- **npz** (AMASS layout): ``poses`` (T, 72) SMPL axis-angle (global orient + 23 body
  joints), ``trans`` (T, 3) metres, ``betas`` (10,), ``mocap_framerate``, ``gender``
  ("neutral"), ``surface_model_type`` (the body model the betas belong to: ``smpl``
  or ``anny``, whose betas are its phenotype). Axes as AMASS: Z up, metres; livehmr's
  world is already that frame, so nothing is rotated. Extra keys ``joints`` (T, 24, 3),
  ``rest_joints`` (24, 3), ``frame`` (T,) and ``t`` (T,) keep what the stream said.
- **bvh**: :mod:`livehmr.export.bvh` (SMPL-24 hierarchy, Y up, centimetres).
- **gltf** (written as binary ``.glb``): :mod:`livehmr.export.gltf`, the Anny mesh of the
  stream's phenotype skinned to the SMPL-24 skeleton and animated (Y up, metres).
- **csv**: one row per frame: frame, t, flags, then x, y, z of the 24 joints (metres,
  world), 4 contact probabilities, 24 joint confidences.

The rest skeleton is recovered from the stream itself (the published joints are forward
kinematics of the published rotations on the body's rest skeleton, so bone offsets are
``G_parent^T (j_child - j_parent)``), so any body model exports without loading it.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from livehmr.core.errors import LivehmrError
from livehmr.core.geometry import rotmat_to_rotvec, rotvec_to_rotmat
from livehmr.core.outputs import check_output
from livehmr.models.skeleton import JOINT_NAMES, NUM_JOINTS, PARENTS, forward_kinematics
from livehmr.stream.publish.wire import Message

log = logging.getLogger(__name__)

FORMATS = ("bvh", "gltf", "npz", "csv")


@dataclass
class PersonMotion:
    """One person's frames from a recording (those with a body). Shapes: T frames."""

    person: int
    body_model: str
    frame: np.ndarray  # (T,) int
    t: np.ndarray  # (T,) source seconds
    rotmats: np.ndarray  # (T, 24, 3, 3) local; [:, 0] canon -> world
    transl: np.ndarray  # (T, 3)
    joints: np.ndarray  # (T, 24, 3) world metres
    betas: np.ndarray  # (10,) the last frame's
    contacts: np.ndarray  # (T, 4)
    confidence: np.ndarray  # (T, 24)
    flags: list[list[str]] = field(default_factory=list)

    @property
    def fps(self) -> float:
        dt = np.diff(self.t)
        dt = dt[dt > 0]
        return float(1.0 / np.median(dt)) if len(dt) else 30.0


def motions_from_messages(messages: Iterable[Message]) -> dict[int, PersonMotion]:
    """Every person of these ``state`` messages (each with a body, already checked: see
    :func:`livehmr.clients.recording.motions_from_recording`), by id, frames in order; a
    frame given twice keeps its last message."""
    rows: dict[int, dict[int, Message]] = {}
    for m in messages:
        rows.setdefault(int(m.header["person"]), {})[int(m.header["frame"])] = m
    motions = {}
    for person, by_frame in rows.items():
        msgs = [by_frame[f] for f in sorted(by_frame)]
        a = lambda name: np.stack([m.arrays[name] for m in msgs]).astype(np.float64)  # noqa: E731
        pose = np.concatenate([a("global_orient"), a("body_pose")], axis=1).reshape(-1, NUM_JOINTS, 3)
        motions[person] = PersonMotion(
            person, str(msgs[-1].header.get("body_model", "unknown")), np.array(sorted(by_frame)),
            np.array([float(m.header["t_source"]) for m in msgs]), rotvec_to_rotmat(pose), a("transl"),
            a("joints_world"), a("betas")[-1], a("contacts"), a("joint_confidence"),
            [list(m.header.get("flags", [])) for m in msgs],
        )  # fmt: skip
    return motions


def rest_joints_from_motion(rotmats: np.ndarray, transl: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(24, 3) rest skeleton (canon, metres) that makes FK(rotmats, rest) + transl = joints, median over frames."""
    _, G = forward_kinematics(rotmats, np.zeros((NUM_JOINTS, 3)))
    rest = np.zeros((NUM_JOINTS, 3))
    rest[0] = np.median(joints[:, 0] - transl, axis=0)
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        offsets = np.einsum("tji,tj->ti", G[:, p], joints[:, j] - joints[:, p])
        rest[j] = rest[p] + np.median(offsets, axis=0)
    return rest


def write_npz(motion: PersonMotion, path: str | Path) -> Path:
    path = Path(path)
    poses = rotmat_to_rotvec(motion.rotmats).reshape(len(motion.frame), 72)
    np.savez(path, poses=poses, trans=motion.transl, betas=motion.betas, mocap_framerate=np.array(motion.fps),
             gender=np.array("neutral"), surface_model_type=np.array(motion.body_model), joints=motion.joints,
             rest_joints=rest_joints_from_motion(motion.rotmats, motion.transl, motion.joints),
             frame=motion.frame, t=motion.t)  # fmt: skip
    return path


def read_npz_joints(path: str | Path) -> np.ndarray:
    """Joint positions (T, 24, 3) of an AMASS-layout npz by forward kinematics of ``poses``
    and ``trans`` on its ``rest_joints`` (what a reader with the body model does)."""
    data = np.load(path, allow_pickle=False)
    rotmats = rotvec_to_rotmat(data["poses"].reshape(len(data["poses"]), NUM_JOINTS, 3))
    joints, _ = forward_kinematics(rotmats, data["rest_joints"], data["trans"])
    return joints


def write_csv(motion: PersonMotion, path: str | Path) -> Path:
    path = Path(path)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["frame", "t", "flags", *(f"{n}_{ax}" for n in JOINT_NAMES for ax in "xyz"),
                    "contact_left_ankle", "contact_left_toes", "contact_right_ankle", "contact_right_toes",
                    *(f"conf_{n}" for n in JOINT_NAMES)])  # fmt: skip
        for i in range(len(motion.frame)):
            w.writerow([int(motion.frame[i]), f"{motion.t[i]:.6f}", "|".join(motion.flags[i]),
                        *(f"{v:.6f}" for v in motion.joints[i].ravel()), *(f"{v:.4f}" for v in motion.contacts[i]),
                        *(f"{v:.4f}" for v in motion.confidence[i])])  # fmt: skip
    return path


def write_bvh_motion(motion: PersonMotion, path: str | Path) -> Path:
    from livehmr.export.bvh import write_bvh

    rest = rest_joints_from_motion(motion.rotmats, motion.transl, motion.joints)
    write_bvh(path, motion.rotmats, motion.transl, rest, motion.fps)
    return Path(path)


def write_gltf_motion(motion: PersonMotion, path: str | Path) -> Path:
    from livehmr.export.gltf import write_glb

    body = skinned_body_for(motion)
    return write_glb(path, body, motion.rotmats, motion.transl, motion.t, name=f"person{motion.person}")


def skinned_body_for(motion: PersonMotion):
    """The skinned Anny body of the phenotype a person's stream published."""
    import logging

    from livehmr.models.skinned import skinned_anny_of

    if motion.body_model != "anny":
        raise LivehmrError(f"glTF export draws the Anny mesh, and person {motion.person}'s betas are "
                           f"{motion.body_model!r} shape coefficients; export bvh or npz instead")  # fmt: skip
    body = skinned_anny_of(tuple(float(v) for v in motion.betas[:6]))
    gap = np.abs(body.rest_joints - rest_joints_from_motion(motion.rotmats, motion.transl, motion.joints)).max()
    if gap > 0.01:
        logging.getLogger(__name__).warning("person %d: the stream's skeleton differs from Anny's of its phenotype "
                                            "by up to %.0f mm; the glTF uses Anny's", motion.person, gap * 1e3)  # fmt: skip
    return body


def write_motions(motions: dict[int, PersonMotion], fmt: str, out: str | Path, force: bool = False) -> list[Path]:
    """Write each person's motion in ``fmt``; returns the files written (``out``, or one
    ``<stem>_person<ID><suffix>`` per person when there are several). Existing files are
    refused, before any is written, unless ``force``."""
    if fmt not in FORMATS:
        raise LivehmrError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = {"npz": write_npz, "csv": write_csv, "bvh": write_bvh_motion, "gltf": write_gltf_motion}[fmt]
    paths = {pid: out if len(motions) == 1 else out.with_name(f"{out.stem}_person{pid}{out.suffix}") for pid in motions}
    for path in paths.values():
        check_output(path, force)
    return [writer(motions[pid], paths[pid]) for pid in sorted(motions)]
