"""Training motion: the corpus retargeted onto a bank of Anny bodies, cached in one file.

Each clip of a split is retargeted once (:class:`livehmr.studio.retarget.Retargeter`) onto
a body drawn from a seeded bank of Anny phenotypes, at 30 fps, feet on the floor (z = 0,
world Z up). The cache holds, concatenated over clips: local rotations as rotation
vectors (N, 24, 3), root translation (N, 3) m, foot contacts (N, 4) and each clip's start
row and body. Building it takes a few minutes (loading the clips dominates); it lives
outside the project (``~/.cache/livehmr`` or ``$LIVEHMR_CACHE``) since it is derived data.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livehmr.models.motion.shape import REST_REGRESSOR_PATH, RestJointsFromPhenotype, load_rest_regressor  # noqa: F401

CACHE_VERSION = 1


def cache_dir() -> Path:
    return Path(os.environ.get("LIVEHMR_CACHE", Path.home() / ".cache" / "livehmr"))


@dataclass
class BodyBank:
    """Anny bodies of random phenotypes: ``phenotypes`` (B, 6) in [0, 1] (PHENOTYPES),
    ``rest_joints`` (B, 24, 3) m in canon, ``sole_offsets`` (B, 4) m."""

    phenotypes: np.ndarray
    rest_joints: np.ndarray
    sole_offsets: np.ndarray

    @classmethod
    def build(cls, size: int, seed: int = 0) -> BodyBank:
        from livehmr.models.anny_body import PHENOTYPES, AnnyBody
        from livehmr.models.body import sole_offsets

        rng = np.random.default_rng(seed)
        phen = np.clip(rng.beta(2.0, 2.0, size=(size, len(PHENOTYPES))), 0.02, 0.98)
        phen[0] = 0.5  # the default body is always in
        rest, soles = [], []
        for p in phen:
            body = AnnyBody(dict(zip(PHENOTYPES, p.tolist())))
            rest.append(np.asarray(body.rest_joints, dtype=np.float64))
            soles.append(sole_offsets(body))
        return cls(phen, np.array(rest), np.array(soles))


@dataclass
class MotionCache:
    """Concatenated training motion of one split (see the module docstring)."""

    rotvecs: np.ndarray  # (N, 24, 3) float32 local rotations, [0] = global_orient (canon -> world)
    transl: np.ndarray  # (N, 3) float32 m, world Z up
    contacts: np.ndarray  # (N, 4) bool, FOOT_JOINTS
    clip_start: np.ndarray  # (C + 1,) row offsets
    clip_body: np.ndarray  # (C,) index into the bank
    clip_ids: np.ndarray  # (C,) str
    bank: BodyBank

    @property
    def hours(self) -> float:
        return len(self.transl) / 30.0 / 3600.0

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, version=CACHE_VERSION, rotvecs=self.rotvecs, transl=self.transl, contacts=self.contacts,
                 clip_start=self.clip_start, clip_body=self.clip_body, clip_ids=self.clip_ids,
                 phenotypes=self.bank.phenotypes, rest_joints=self.bank.rest_joints,
                 sole_offsets=self.bank.sole_offsets)  # fmt: skip
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> MotionCache:
        d = np.load(path)
        if int(d["version"]) != CACHE_VERSION:
            raise ValueError(f"{path}: cache version {int(d['version'])}, expected {CACHE_VERSION}; rebuild it")
        bank = BodyBank(d["phenotypes"], d["rest_joints"], d["sole_offsets"])
        return cls(d["rotvecs"], d["transl"], d["contacts"], d["clip_start"], d["clip_body"], d["clip_ids"], bank)


class _BankBody:
    """The minimum of a BodyModel the retargeter needs, for a bank entry."""

    def __init__(self, bank: BodyBank, i: int):
        self.rest_joints = bank.rest_joints[i]
        self.betas = np.zeros(10)
        self.betas[:6] = bank.phenotypes[i]
        self._sole_offsets = bank.sole_offsets[i]


def build_motion_cache(split: str, bank: BodyBank, corpus=None, min_frames: int = 32, limit: int | None = None,
                       progress: bool = True) -> MotionCache:  # fmt: skip
    """Retarget every clip of ``split`` onto a bank body (chosen by the clip id's CRC)."""
    from tqdm import tqdm

    from livehmr.core.geometry import rotvec_to_rotmat
    from livehmr.models.skeleton import forward_kinematics
    from livehmr.studio.corpus import Corpus
    from livehmr.studio.retarget import Retargeter, foot_contacts

    corpus = corpus or Corpus()
    retargeter = Retargeter(corpus)
    rot, tr, con, starts, bodies, ids = [], [], [], [0], [], []
    for cid in tqdm(corpus.ids(split)[:limit], desc=f"retarget {split}", unit="clip", disable=not progress):
        b = zlib.crc32(cid.encode()) % len(bank.phenotypes)
        body = _BankBody(bank, b)
        try:
            m = retargeter.retarget(corpus.load(cid), body)
        except ValueError:
            continue  # a skeleton kind without the mapped joints
        if m.num_frames < min_frames:
            continue
        rv = np.concatenate([m.global_orient[:, None], m.body_pose.reshape(-1, 23, 3)], axis=1)
        joints, _ = forward_kinematics(rotvec_to_rotmat(rv), body.rest_joints, m.transl)
        rot.append(rv.astype(np.float32))
        tr.append(m.transl.astype(np.float32))
        con.append(foot_contacts(joints, body, m.fps))
        starts.append(starts[-1] + m.num_frames)
        bodies.append(b)
        ids.append(cid)
    return MotionCache(np.concatenate(rot), np.concatenate(tr), np.concatenate(con), np.array(starts),
                       np.array(bodies), np.array(ids), bank)  # fmt: skip


def load_or_build(split: str, bank_size: int = 32, seed: int = 0, limit: int | None = None) -> MotionCache:
    """The cached motion of ``split`` (built on first use)."""
    suffix = f"_{limit}" if limit else ""
    path = cache_dir() / f"motion_{split}_v{CACHE_VERSION}_b{bank_size}_s{seed}{suffix}.npz"
    if path.exists():
        return MotionCache.load(path)
    bank_path = cache_dir() / f"bodybank_b{bank_size}_s{seed}.npz"
    if bank_path.exists():
        d = np.load(bank_path)
        bank = BodyBank(d["phenotypes"], d["rest_joints"], d["sole_offsets"])
    else:
        bank = BodyBank.build(bank_size, seed)
        bank_path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(bank_path, phenotypes=bank.phenotypes, rest_joints=bank.rest_joints, sole_offsets=bank.sole_offsets)
    cache = build_motion_cache(split, bank, limit=limit)
    cache.save(path)
    return cache


def fit_rest_regressor(size: int = 96, seed: int = 1, path: Path = REST_REGRESSOR_PATH) -> Path:
    """Fit :class:`RestJointsFromPhenotype` on ``size`` random Anny bodies and save it (ships)."""
    bank = BodyBank.build(size, seed)
    reg = RestJointsFromPhenotype.fit(bank)
    np.savez(path, coef=reg.coef, bodies=size, seed=seed)
    return path
