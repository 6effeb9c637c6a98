"""``livehmr train prior --kind humor|diffusion``: the refinement's motion priors.

Data: the corpus' **train** split retargeted onto the Anny body bank (the motion model's
cache, :mod:`livehmr.training.motion.data`), turned into world joints by forward kinematics
and then into motion features (:mod:`livehmr.models.priors.representation`), cached once; validation on the
**val** split. Batches are random transitions (``humor``) or windows (``diffusion``)
inside single clips. Checkpoints every ``checkpoint_every`` steps; a run resumes from its
checkpoint; seeded. The shipped weights come from the ``cpu`` config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import roma
import torch

from livehmr.models.priors.diffusion import DiffusionConfig, MotionDiffusion
from livehmr.models.priors.humor import CvaeConfig, TransitionCVAE
from livehmr.models.priors.load import KINDS, Prior
from livehmr.models.priors.representation import Normaliser, motion_features


@dataclass
class PriorTrainConfig:
    kind: str = "humor"
    steps: int = 20000
    batch: int = 256
    lr: float = 1e-3
    seed: int = 0
    threads: int = 1
    val_every: int = 1000
    checkpoint_every: int = 1000
    beta: float = 0.5  # humor: KL weight
    humor: CvaeConfig = field(default_factory=CvaeConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)

    @classmethod
    def preset(cls, kind: str, name: str) -> PriorTrainConfig:
        if kind not in KINDS:
            raise ValueError(f"unknown prior {kind!r}; choose {', '.join(KINDS)}")
        if name == "cpu":
            return cls(kind=kind) if kind == "humor" else cls(kind=kind, steps=8000, batch=128, val_every=500, checkpoint_every=500)
        if name == "gpu":
            return cls(kind=kind, steps=200000, batch=1024, humor=CvaeConfig(latent=48, hidden=512, layers=3),
                       diffusion=DiffusionConfig(hidden=1024, blocks=8))  # fmt: skip
        if name == "smoke":
            return cls(kind=kind, steps=4, batch=8, val_every=2, checkpoint_every=2,
                       humor=CvaeConfig(latent=4, hidden=16, layers=1), diffusion=DiffusionConfig(hidden=16, blocks=1))  # fmt: skip
        raise ValueError(f"unknown config {name!r}; choose cpu, gpu or smoke")

    def model(self, normaliser: Normaliser | None = None) -> Prior:
        if self.kind == "humor":
            return TransitionCVAE(self.humor, normaliser)
        return MotionDiffusion(self.diffusion, normaliser)


@dataclass
class FeatureSet:
    """Motion features (N, 77) float32 of a split's clips, concatenated; ``clip_start`` (C + 1,)."""

    features: np.ndarray
    clip_start: np.ndarray

    def sampler(self, span: int, seed: int):
        """Random start rows of ``span`` consecutive rows inside one clip, ``batch`` at a time."""
        lengths = np.diff(self.clip_start)
        ok = np.flatnonzero(lengths >= span)
        weights = (lengths[ok] - span + 1).astype(np.float64)
        rng = np.random.default_rng(seed)

        def draw(batch: int) -> np.ndarray:
            clips = ok[rng.choice(len(ok), size=batch, p=weights / weights.sum())]
            return self.clip_start[clips] + (rng.random(batch) * (lengths[clips] - span + 1)).astype(int)

        return draw

    def take(self, starts: np.ndarray, span: int) -> torch.Tensor:
        """(B, span, 77) rows from each start."""
        return torch.from_numpy(self.features[starts[:, None] + np.arange(span)])


def feature_set(split: str, limit: int | None = None) -> FeatureSet:
    """A split's motion features, computed from the motion cache once and kept beside it."""
    from livehmr.models.skeleton import forward_kinematics
    from livehmr.training.motion.data import cache_dir, load_or_build

    path = cache_dir() / f"prior_features_{split}{f'_{limit}' if limit else ''}.npz"
    if path.exists():
        d = np.load(path)
        return FeatureSet(d["features"], d["clip_start"])
    cache = load_or_build(split, limit=limit)
    rows, starts = [], [0]
    for c in range(len(cache.clip_body)):
        a, b = cache.clip_start[c], cache.clip_start[c + 1]
        rv = torch.from_numpy(cache.rotvecs[a:b]).double()
        joints, _ = forward_kinematics(roma.rotvec_to_rotmat(rv), torch.from_numpy(cache.bank.rest_joints[cache.clip_body[c]]),
                                       torch.from_numpy(cache.transl[a:b]).double())  # fmt: skip
        rows.append(motion_features(joints).float().numpy())
        starts.append(starts[-1] + len(rows[-1]))
    fs = FeatureSet(np.concatenate(rows), np.array(starts))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, features=fs.features, clip_start=fs.clip_start)
    tmp.replace(path)
    return fs


def _span(cfg: PriorTrainConfig) -> int:
    return 2 if cfg.kind == "humor" else cfg.diffusion.window


def _loss(model: Prior, x: torch.Tensor, cfg: PriorTrainConfig) -> torch.Tensor:
    if isinstance(model, TransitionCVAE):
        return model.losses(x[:, 0], x[:, 1], beta=cfg.beta)["total"]
    return model.loss(model.normaliser(x).flatten(1))


def train_prior(out: str | Path, kind: str = "humor", config: str | PriorTrainConfig = "cpu", progress: bool = True,
                limit: int | None = None, max_minutes: float | None = None) -> Path:  # fmt: skip
    """Train (or resume) into ``out``: ``checkpoint.pt``, ``history.json``, ``loss.png`` and,
    when done, ``prior_<kind>.pt`` (what livehmr ships)."""
    from tqdm import tqdm

    from livehmr.training.steps import StepTail, config_dict, resume_checkpoint

    cfg = PriorTrainConfig.preset(kind, config) if isinstance(config, str) else config
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    train_set, val_set = feature_set("train", limit), feature_set("val", limit)
    span = _span(cfg)
    model = cfg.model(Normaliser.fit(torch.from_numpy(train_set.features)))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.05)
    step, history = resume_checkpoint(out, model, opt, sched, cfg)
    draw = train_set.sampler(span, seed=cfg.seed * 1000 + step)  # a resumed run draws new batches
    val_draw = val_set.sampler(span, seed=10_000)
    val_batches = [val_set.take(val_draw(cfg.batch), span) for _ in range(8)]
    bar = tqdm(total=cfg.steps, initial=step, desc=f"train prior {cfg.kind}", unit="step", disable=not progress)

    def validate() -> dict:
        torch.manual_seed(1)  # the same noise every validation: comparable numbers
        with torch.no_grad():
            return {"total": float(np.mean([float(_loss(model, b, cfg)) for b in val_batches]))}

    tail = StepTail(out, model, opt, sched, cfg, history, bar, max_minutes, validate,
                    report=lambda s, v: bar.set_postfix(val=f"{v['total']:.4f}"))  # fmt: skip
    while step < cfg.steps:
        loss = _loss(model, train_set.take(draw(cfg.batch), span), cfg)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        if tail(step, float(loss.detach())):
            break
    bar.close()
    if step >= cfg.steps:
        summary = {"steps": step, "train_seconds": history["seconds"], "final_val": history["val"][-1]["total"],
                   "train_rows": len(train_set.features), "val_rows": len(val_set.features)}  # fmt: skip
        torch.save({"kind": cfg.kind, "model": model.state_dict(), "net": model.to_dict(), "train": config_dict(cfg),
                    "summary": summary}, out / f"prior_{cfg.kind}.pt")  # fmt: skip
    return out
