"""The motion-capture corpus: clips of a source skeleton, their index and the subject split.

A corpus is a folder in the format of ``../shared/motion`` (see its README):
``index.json`` (``fps``, ``clips``: id, subject, description, source, file, frames, ...),
``clips/<id>.npz`` (``names``, ``parents``, ``offsets`` (J, 3) m, ``quats_xyzw`` (T, J, 4)
local rotations, ``root`` (T, 3) m, ``fps``) and ``smpl24_maps.json`` (for each source
skeleton kind, the source joint nearest each SMPL-24 joint). World: Z up, metres,
floor at z = 0. Any folder in this format drops in (``livehmr corpus import`` makes
one from BVH files).

The split is by **subject**, so no person's clips are in two splits; it is written
into the project (``studio/splits/<corpus>.txt``) and never re-drawn silently.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from livehmr.core.errors import LivehmrError

#: Default corpus location: ``../shared/motion`` beside the checkout (or $LIVEHMR_MOTION).
SPLITS_DIR = Path(__file__).parent / "splits"
SPLIT_NAMES = ("train", "val", "test")
TARGET_FPS = 30.0


def default_corpus_dir() -> Path:
    import os

    env = os.environ.get("LIVEHMR_MOTION")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "motion"


@dataclass
class MotionClip:
    """One clip of a source skeleton with J joints over T frames.

    Attributes:
        id, subject, source: clip id, subject id, skeleton kind (key into the SMPL-24 maps).
        fps: frames per second.
        names (J,), parents (J,) (-1 for the root), offsets (J, 3) metres in the parent frame.
        quats_xyzw: (T, J, 4) float32 local rotations (root: world orientation), unit.
        root: (T, 3) root position in the world, metres.
    """

    id: str
    subject: str
    source: str
    fps: float
    names: list[str]
    parents: np.ndarray
    offsets: np.ndarray
    quats_xyzw: np.ndarray
    root: np.ndarray
    description: str = ""

    @property
    def num_frames(self) -> int:
        return len(self.root)

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    def global_rotmats(self) -> np.ndarray:
        """(T, J, 3, 3) world rotation of every joint frame."""
        T, J = self.quats_xyzw.shape[:2]
        local = Rotation.from_quat(self.quats_xyzw.reshape(-1, 4)).as_matrix().reshape(T, J, 3, 3)
        G = np.empty_like(local)
        for j in range(J):  # parents precede children in the file's order
            p = self.parents[j]
            G[:, j] = local[:, j] if p < 0 else G[:, p] @ local[:, j]
        return G

    def joint_positions(self, G: np.ndarray | None = None) -> np.ndarray:
        """(T, J, 3) world joint positions by the corpus' forward kinematics."""
        G = self.global_rotmats() if G is None else G
        P = np.empty(G.shape[:2] + (3,))
        for j in range(len(self.names)):
            p = self.parents[j]
            P[:, j] = self.root if p < 0 else P[:, p] + G[:, p] @ self.offsets[j]
        return P

    def resampled(self, fps: float = TARGET_FPS) -> MotionClip:
        """The clip at ``fps``: positions linearly, rotations by slerp (as the corpus was made)."""
        if abs(fps - self.fps) < 1e-3 * fps:  # a file's "Frame Time: 0.0333333" is 30 fps
            return replace(self, fps=fps)
        t_src = np.arange(self.num_frames) / self.fps
        t_new = np.arange(0.0, t_src[-1] + 1e-9, 1.0 / fps)
        root = np.stack([np.interp(t_new, t_src, self.root[:, i]) for i in range(3)], axis=1)
        quats = np.empty((len(t_new), len(self.names), 4), np.float32)
        for j in range(len(self.names)):
            quats[:, j] = Slerp(t_src, Rotation.from_quat(self.quats_xyzw[:, j]))(t_new).as_quat()
        return MotionClip(self.id, self.subject, self.source, fps, self.names, self.parents, self.offsets,
                          quats, root.astype(np.float32), self.description)  # fmt: skip

    def save(self, path: Path) -> None:
        np.savez_compressed(path, fps=np.float32(self.fps), names=np.array(self.names), parents=self.parents.astype(np.int16),
                            offsets=self.offsets.astype(np.float32), quats_xyzw=self.quats_xyzw.astype(np.float16),
                            root=self.root.astype(np.float32), dropped_tpose=False)  # fmt: skip


class Corpus:
    """A corpus folder: ``Corpus(dir).load(clip_id)``, ``.ids(split)``, ``.smpl24_map(kind)``."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_corpus_dir()
        index_path = self.root / "index.json"
        if not index_path.is_file():
            raise LivehmrError(f"no motion corpus at {self.root}: expected {index_path} (see ../shared/motion/README.md)")
        index = json.loads(index_path.read_text())
        self.fps = float(index.get("fps", TARGET_FPS))
        self.entries = {c["id"]: c for c in index["clips"]}
        self.name = self.root.resolve().name if self.root.resolve().name != "motion" else "cmu"

    def __len__(self) -> int:
        return len(self.entries)

    @cached_property
    def maps(self) -> dict[str, list[str]]:
        path = self.root / "smpl24_maps.json"
        if not path.is_file():
            raise LivehmrError(f"{path} is missing: a corpus needs the source joint of every SMPL-24 joint")
        return {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_")}

    def smpl24_map(self, source: str) -> list[str]:
        if source not in self.maps:
            raise LivehmrError(f"{self.root / 'smpl24_maps.json'} has no map for skeleton kind {source!r}")
        return self.maps[source]

    def load(self, clip_id: str) -> MotionClip:
        if clip_id not in self.entries:
            raise LivehmrError(f"clip {clip_id!r} is not in {self.root / 'index.json'}")
        e = self.entries[clip_id]
        with np.load(self.root / e["file"]) as d:
            quats = d["quats_xyzw"].astype(np.float32)
            quats /= np.linalg.norm(quats, axis=-1, keepdims=True)
            clip = MotionClip(clip_id, e["subject"], e.get("source", ""), float(d["fps"]), [str(n) for n in d["names"]],
                              d["parents"].astype(int), d["offsets"].astype(np.float64), quats,
                              d["root"].astype(np.float64), e.get("description", ""))  # fmt: skip
        return clip

    # -- the subject split -------------------------------------------------------------
    def split_path(self) -> Path:
        return SPLITS_DIR / f"{self.name}.txt"

    def make_split(self, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> dict[str, str]:
        """clip id -> split, by a stable hash of the subject id (reproducible, order-free)."""
        split = {}
        for cid, e in self.entries.items():
            u = zlib.crc32(e["subject"].encode()) / 2**32
            split[cid] = "train" if u < fractions[0] else ("val" if u < fractions[0] + fractions[1] else "test")
        return split

    def write_split(self) -> Path:
        path = self.split_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        split = self.make_split()
        lines = [f"# livehmr subject split of corpus {self.name!r}: <clip id> <split>; by subject (crc32), never by clip"]
        lines += [f"{cid} {split[cid]}" for cid in sorted(split)]
        path.write_text("\n".join(lines) + "\n")
        return path

    @cached_property
    def split(self) -> dict[str, str]:
        """clip id -> train/val/test, read from the project's split file (written by ``livehmr corpus split``)."""
        path = self.split_path()
        if not path.is_file():
            return self.make_split()
        split = {}
        for line in path.read_text().splitlines():
            if line and not line.startswith("#"):
                cid, name = line.split()
                split[cid] = name
        return split

    def ids(self, selection: str | list[str] | None = None) -> list[str]:
        """Clip ids of a split name (train/val/test), a comma list of ids, or all."""
        if selection is None or selection == "all":
            return sorted(self.entries)
        if isinstance(selection, str) and selection in SPLIT_NAMES:
            return sorted(c for c, s in self.split.items() if s == selection and c in self.entries)
        ids = selection.split(",") if isinstance(selection, str) else list(selection)
        missing = [c for c in ids if c not in self.entries]
        if missing:
            raise LivehmrError(f"clips not in the corpus: {', '.join(missing[:5])}")
        return ids
