"""The field's datasets as the user holds them: EMDB and 3DPW, read from their released layouts.

Neither can be downloaded here, and both need SMPL (licensed) for their ground truth:
``livehmr bench emdb`` and ``livehmr bench 3dpw`` read a user's copies. Both ship their
annotations as Python pickles, so reading them runs ``pickle`` — on the user's own files
only, in these two commands only; nothing received over a network is ever unpickled.

Layouts read (as released):

* EMDB: ``ROOT/P<k>/<sequence>/<subject>_<sequence>_data.pkl`` beside ``images/00000.jpg ...``;
  the pickle holds ``gender``, ``emdb1`` / ``emdb2`` (split flags), ``n_frames``,
  ``good_frames_mask`` (n,), ``camera`` {``intrinsics`` (3, 3), ``extrinsics`` (n, 4, 4)
  world -> camera}, ``smpl`` {``poses_root`` (n, 3), ``poses_body`` (n, 69), ``trans`` (n, 3),
  ``betas`` (10,)}. 30 fps.
* 3DPW: ``ROOT/sequenceFiles/test/<sequence>.pkl`` beside ``ROOT/imageFiles/<sequence>/image_00000.jpg ...``;
  the pickle (Python 2, latin-1) holds per person ``poses`` (n, 72), ``trans`` (n, 3),
  ``betas`` (10+,), ``genders`` ('m' / 'f'), ``campose_valid`` (n,), and ``cam_poses``
  (n, 4, 4) world -> camera, ``cam_intrinsics`` (3, 3), ``img_frame_ids`` (n,). 30 fps.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from livehmr.core.errors import LivehmrError
from livehmr.core.geometry import invert_T
from livehmr.core.types import Frame

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class DatasetSequence:
    """One evaluated person track: its frames, camera and SMPL ground truth.

    Attributes:
        name: ``EMDB P0/09_outdoor_walk`` or ``3DPW downtown_walkBridge_01 person 1``.
        images: frame files in order; fps.
        K: (3, 3) intrinsics, pixels. T_world_cam: (T, 4, 4) the true camera (world from camera).
        global_orient (T, 3), body_pose (T, 69), transl (T, 3), betas (10,), gender: SMPL's.
        valid: (T,) the frames the dataset scores (EMDB's good frames, 3DPW's valid poses).
    """

    name: str
    images: list[Path]
    fps: float
    K: np.ndarray
    T_world_cam: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    transl: np.ndarray
    betas: np.ndarray
    gender: str
    valid: np.ndarray

    @property
    def num_frames(self) -> int:
        return len(self.images)


def _unpickle(path: Path) -> dict:
    """A dataset annotation file (the user's own; see the module's docstring)."""
    try:
        with open(path, "rb") as f:
            data = pickle.load(f, encoding="latin1")
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, ImportError, AttributeError) as exc:
        raise LivehmrError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise LivehmrError(f"{path} does not hold a dict of annotations")
    return data


def _get(data: dict, key: str, path: Path, shape: tuple | None = None) -> np.ndarray:
    if key not in data:
        raise LivehmrError(f"{path} has no {key!r}: not the released layout")
    value = np.asarray(data[key], dtype=np.float64)
    if shape is not None and (value.ndim != len(shape) or any(s not in (-1, v) for s, v in zip(shape, value.shape))):
        raise LivehmrError(f"{path}: {key!r} has shape {value.shape}, expected {shape} (-1: any)")
    return value


def _images(folder: Path, n: int | None, where: str) -> list[Path]:
    if not folder.is_dir():
        raise LivehmrError(f"{where}: no image folder {folder}")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise LivehmrError(f"{where}: {folder} holds no images")
    if n is not None and len(images) != n:
        raise LivehmrError(f"{where}: {folder} holds {len(images)} images for {n} annotated frames")
    return images


def read_emdb(root: str | Path, split: int) -> list[DatasetSequence]:
    """The sequences of EMDB's split 1 or 2 under ``root`` (see the module's docstring)."""
    root = Path(root)
    if split not in (1, 2):
        raise LivehmrError(f"--split {split}: EMDB has splits 1 and 2")
    if not root.is_dir():
        raise LivehmrError(f"--root {root} is not a folder")
    files = sorted(root.glob("P*/*/*_data.pkl"))
    if not files:
        raise LivehmrError(f"--root {root}: no P*/<sequence>/*_data.pkl: not EMDB's released layout")
    sequences = []
    for path in files:
        data = _unpickle(path)
        if not data.get(f"emdb{split}", False):
            continue
        where = f"EMDB {path.parent.parent.name}/{path.parent.name}"
        camera, smpl = data.get("camera"), data.get("smpl")
        if not isinstance(camera, dict) or not isinstance(smpl, dict):
            raise LivehmrError(f"{path}: 'camera' and 'smpl' must be dicts: not the released layout")
        extrinsics = _get(camera, "extrinsics", path, (-1, 4, 4))
        n = len(extrinsics)
        valid = np.asarray(data.get("good_frames_mask", np.ones(n)), dtype=bool)
        if len(valid) != n:
            raise LivehmrError(f"{path}: good_frames_mask has {len(valid)} frames for {n}")
        if not valid.any():
            raise LivehmrError(f"{where} has no good frames (good_frames_mask is all false)")
        sequences.append(DatasetSequence(
            name=where, images=_images(path.parent / "images", n, where), fps=30.0,
            K=_get(camera, "intrinsics", path, (3, 3)), T_world_cam=invert_T(extrinsics),
            global_orient=_get(smpl, "poses_root", path, (n, 3)), body_pose=_get(smpl, "poses_body", path, (n, 69)),
            transl=_get(smpl, "trans", path, (n, 3)), betas=_get(smpl, "betas", path)[:10],
            gender=str(data.get("gender", "neutral")), valid=valid))  # fmt: skip
    if not sequences:
        raise LivehmrError(f"--root {root}: no sequence is flagged emdb{split}")
    return sequences


def read_3dpw(root: str | Path, split: str = "test") -> list[DatasetSequence]:
    """One track per person of 3DPW's ``split`` under ``root`` (see the module's docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise LivehmrError(f"--root {root} is not a folder")
    files = sorted((root / "sequenceFiles" / split).glob("*.pkl"))
    if not files:
        raise LivehmrError(f"--root {root}: no sequenceFiles/{split}/*.pkl: not 3DPW's released layout")
    tracks = []
    for path in files:
        data = _unpickle(path)
        name = str(data.get("sequence", path.stem))
        where = f"3DPW {name}"
        extrinsics = _get(data, "cam_poses", path, (-1, 4, 4))
        n = len(extrinsics)
        images = _images(root / "imageFiles" / name, None, where)
        frame_ids = np.asarray(data.get("img_frame_ids", np.arange(n)), dtype=int)
        if len(frame_ids) != n or frame_ids.max() >= len(images):
            raise LivehmrError(f"{path}: img_frame_ids do not match the {len(images)} images of {where}")
        poses, trans, betas = data.get("poses"), data.get("trans"), data.get("betas")
        if not isinstance(poses, list) or not isinstance(trans, list) or not isinstance(betas, list) or not poses:
            raise LivehmrError(f"{path}: 'poses', 'trans' and 'betas' must be per-person lists")
        genders = list(data.get("genders", ["neutral"] * len(poses)))
        valid_all = data.get("campose_valid", [np.ones(n)] * len(poses))
        for p in range(len(poses)):
            pose = np.asarray(poses[p], dtype=np.float64)
            if pose.shape != (n, 72):
                raise LivehmrError(f"{path}: person {p} poses have shape {pose.shape}, expected ({n}, 72)")
            valid = np.asarray(valid_all[p], dtype=bool)
            if not valid.any():
                raise LivehmrError(f"{where} person {p} has no valid frame (campose_valid is all false)")
            gender = {"m": "male", "f": "female"}.get(str(genders[p]), "neutral")
            tracks.append(DatasetSequence(
                name=f"{where} person {p}", images=[images[i] for i in frame_ids], fps=30.0,
                K=_get(data, "cam_intrinsics", path, (3, 3)), T_world_cam=invert_T(extrinsics),
                global_orient=pose[:, :3], body_pose=pose[:, 3:], transl=np.asarray(trans[p], dtype=np.float64),
                betas=np.asarray(betas[p], dtype=np.float64)[:10], gender=gender, valid=valid))  # fmt: skip
    return tracks


class DatasetFrames:
    """A dataset sequence's images as a source: every frame, in order, with the dataset's intrinsics."""

    live = False

    def __init__(self, sequence: DatasetSequence):
        self.sequence = sequence

    def __iter__(self) -> Iterator[Frame]:
        import cv2

        for i, path in enumerate(self.sequence.images):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise LivehmrError(f"{self.sequence.name}: cannot read the image {path}")
            yield Frame(index=i, t=i / self.sequence.fps, image=image, K=self.sequence.K.copy())

    def close(self) -> None:
        pass


def gt_gyro(T_world_cam: np.ndarray, fps: float) -> np.ndarray:
    """A gyroscope simulated from the true camera rotation, as WHAM's and GVHMR's "GT gyro"
    rows are: (T - 1, 4) samples ``t, wx, wy, wz`` (s, rad/s about the camera's axes), one
    between each pair of frames, at its midpoint, noise-free."""
    from scipy.spatial.transform import Rotation

    R = T_world_cam[:, :3, :3]
    relative = np.swapaxes(R[:-1], 1, 2) @ R[1:]  # R_cam(i)_cam(i+1)
    w = Rotation.from_matrix(relative).as_rotvec() * fps
    t = (np.arange(len(relative)) + 0.5) / fps
    return np.column_stack([t, w])


def smpl_joints(sequence: DatasetSequence, smpl_dir: str | Path) -> np.ndarray:
    """(T, 24, 3) the true SMPL joints in the dataset's world, through ``smplx`` with the
    user's SMPL model of the sequence's gender (``SMPL_MALE`` / ``SMPL_FEMALE`` /
    ``SMPL_NEUTRAL`` .pkl or .npz, in ``smpl_dir`` or ``smpl_dir/smpl``; neutral if the
    gendered one is missing)."""
    return smpl_forward(sequence, smpl_dir).joints[:, :24].double().numpy()


def smpl_model_file(smpl_dir: str | Path, gender: str = "neutral") -> Path:
    """``SMPL_<GENDER>`` (.pkl or .npz) in ``smpl_dir`` or ``smpl_dir/smpl``, else the neutral model."""
    folder = Path(smpl_dir)
    if not folder.is_dir():
        raise LivehmrError(f"--smpl-model {folder} is not a folder")
    candidates = [folder / sub / f"SMPL_{g}.{ext}" for g in (gender.upper(), "NEUTRAL")
                  for sub in ("", "smpl") for ext in ("pkl", "npz")]  # fmt: skip
    model_file = next((c for c in candidates if c.is_file()), None)
    if model_file is None:
        raise LivehmrError(f"--smpl-model {folder}: no SMPL_{gender.upper()} or SMPL_NEUTRAL .pkl/.npz")
    return model_file


def smpl_forward(sequence: DatasetSequence, smpl_dir: str | Path, frames: np.ndarray | None = None):
    """``smplx``'s SMPL output (``joints``, ``vertices``) of the sequence's ground truth, on
    ``frames`` (default all), with the model of its gender."""
    try:
        import smplx
        import torch
    except ImportError:
        raise LivehmrError("the dataset benchmarks need smplx: pip install 'livehmr[smpl]'") from None
    model = smplx.SMPL(model_path=str(smpl_model_file(smpl_dir, sequence.gender)))
    pick = np.arange(sequence.num_frames) if frames is None else np.asarray(frames)
    with torch.no_grad():
        return model(global_orient=torch.as_tensor(sequence.global_orient[pick], dtype=torch.float32),
                     body_pose=torch.as_tensor(sequence.body_pose[pick], dtype=torch.float32),
                     transl=torch.as_tensor(sequence.transl[pick], dtype=torch.float32),
                     betas=torch.as_tensor(np.tile(sequence.betas, (len(pick), 1)), dtype=torch.float32))  # fmt: skip
