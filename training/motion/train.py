"""``livehmr train motion``: trains :class:`MotionNet` on synthesised batches.

Batches come from :class:`livehmr.training.motion.synth.Synthesizer` in a worker process
(seeded, so a run is reproducible given its config and seed); checkpoints every
``checkpoint_every`` steps hold the model, optimiser, step and loss history, and a run
resumes from its checkpoint. The validation loss is measured on a fixed set of batches
from the **val** split. Losses (per frame, all frames, also those the detector missed:
the network must predict through them):

- local pose and root-in-cam orientation: squared Frobenius distance of rotation matrices;
- joints: L1 (m) of the body's joints relative to the pelvis in cam (forward kinematics
  on the true rest skeleton), which weights the rotations by what they move;
- pelvis in cam: L1 (m) of the position and of log-depth;
- root velocity in the heading frame (m/s), pelvis height (m): L1;
- contacts: binary cross-entropy; shape (phenotype): L1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from livehmr.models.motion.features import input_columns
from livehmr.models.motion.network import DEFAULT_WEIGHTS, MotionNet, NetConfig, decode, load_motion_net  # noqa: F401  (re-exported)
from livehmr.models.skeleton import forward_kinematics
from livehmr.training.steps import StepTail, config_dict, resume_checkpoint

#: named starting points of a fine-tune (``TrainConfig.init``)
INIT_WEIGHTS = {"shipped": DEFAULT_WEIGHTS, "v2": DEFAULT_WEIGHTS.parent / "candidates" / "motion_v2.pt",
                "v3-candidate": DEFAULT_WEIGHTS.parent / "candidates" / "motion_v3_candidate.pt",
                "v3-more": DEFAULT_WEIGHTS.parent / "candidates" / "motion_v3_more.pt"}  # fmt: skip
WEIGHTS = {"pose": 1.0, "root": 1.0, "joints": 5.0, "pelvis": 1.0, "depth": 1.0, "velocity": 1.0,
           "height": 2.0, "contact": 0.3, "shape": 0.3}  # fmt: skip


@dataclass
class TrainConfig:
    """``cpu``: the v2 model, <= 2 h on a 2-core CPU (3D landmarks in, 256 units, 14,000
    steps). ``cpu-v1``: the first model's recipe (2D only, 192 units, 5,000 steps).
    ``cpu-v3``: v2's weights trained 3,000 more steps with 40 % of sequences covering
    ground (looped gaits, travelling cameras): the v3 candidate. ``cpu-v3-more``: the
    candidate trained 3,000 steps more, 60 % covering ground, the velocity loss weighted
    twice: the first v3. ``cpu-v3-gait3d``: that one 2,500 steps more on 6-s windows, a
    runner's 3D landmarks synthesised as BlazePose reads them (the gait error model).
    ``cpu-v3-long``: the shipped weights (cpu-v3-gait3d's) 1,200 steps more on 9-s windows
    (tried, not shipped: no gain on the validation suite). ``gpu``: a larger one."""

    steps: int = 14000
    batch: int = 32
    frames: int = 90
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int = 1
    val_batches: int = 8
    val_every: int = 250
    checkpoint_every: int = 250
    no_landmarks_rate: float = 0.3  # sequences made without 3D landmarks (a 2D-only backend), when the net reads them
    gait_rate: float = 0.0  # sequences of a looped gait that covers ground, mostly with travelling cameras (v3)
    init: str | None = None  # start from these weights: a motion.pt, or a name of INIT_WEIGHTS
    velocity_weight: float = 1.0  # of the root velocity loss in training (validation losses keep WEIGHTS)
    net: NetConfig = field(default_factory=lambda: NetConfig(hidden=256, landmarks=True))

    @classmethod
    def preset(cls, name: str) -> TrainConfig:
        if name == "cpu":
            return cls()
        if name == "cpu-v1":
            return cls(steps=5000, net=NetConfig(hidden=192, landmarks=False))
        if name == "cpu-v3":  # v2 fine-tuned on ground-covering gaits and travelling cameras as well
            return cls(steps=3000, lr=3e-4, gait_rate=0.4, init="v2", seed=3)
        if name == "cpu-v3-more":  # the candidate, trained on: more ground covered, speed weighted
            return cls(steps=3000, lr=3e-4, gait_rate=0.6, init="v3-candidate", velocity_weight=2.0, seed=4)
        # cpu-v3-more's weights trained on with the gait 3D error model (runners' legs as BlazePose reads them),
        # on 6-s windows (on 3-s ones a runner's speed read decays over a longer clip)
        if name == "cpu-v3-gait3d":
            return cls(steps=2500, frames=180, lr=3e-4, gait_rate=0.6, init="v3-more", velocity_weight=2.0, seed=5)
        if name == "cpu-v3-long":  # the shipped (cpu-v3-gait3d) weights on 9-s windows: its read fades after 6 s
            return cls(steps=1200, frames=270, lr=2e-4, gait_rate=0.6, init="shipped", velocity_weight=2.0, seed=6)
        if name == "gpu":
            return cls(steps=60000, batch=128, frames=120, net=NetConfig(hidden=512, layers=2, landmarks=True))
        if name == "smoke":
            return cls(steps=4, batch=2, frames=16, val_batches=1, val_every=2, checkpoint_every=2,
                       net=NetConfig(hidden=32, landmarks=True))  # fmt: skip
        raise ValueError(f"unknown config {name!r}; choose cpu, cpu-v1, cpu-v3, cpu-v3-more, cpu-v3-gait3d, cpu-v3-long, gpu or smoke")


def losses(net_out: torch.Tensor, batch, weights: dict[str, float] = WEIGHTS) -> dict[str, torch.Tensor]:
    d = decode(net_out, batch.box)
    front = (batch.pelvis_cam[..., 2] > 0.5).float()  # a person right at or behind the camera has no depth
    out = {
        "pose": ((d.local_rotmats - batch.local_rotmats) ** 2).sum((-1, -2)).mean(),
        "root": ((d.R_cam_root - batch.R_cam_root) ** 2).sum((-1, -2)).mean(),
        "pelvis": ((d.pelvis_cam - batch.pelvis_cam).abs().sum(-1) * front).sum() / front.sum().clamp_min(1),
        "depth": ((torch.log(d.pelvis_cam[..., 2].clamp_min(0.1)) - torch.log(batch.pelvis_cam[..., 2].clamp_min(0.1))).abs()
                  * front).sum() / front.sum().clamp_min(1),
        "velocity": (d.v_heading - batch.v_heading).abs().sum(-1).mean(),
        "height": (d.height - batch.height).abs().mean(),
        "contact": F.binary_cross_entropy_with_logits(d.contact_logits, batch.contacts),
        "shape": (d.phenotype - batch.phenotype[:, None]).abs().mean(),
    }
    rest = batch.rest_joints[:, None].expand(-1, net_out.shape[1], -1, -1)
    j_pred, _ = forward_kinematics(torch.cat([d.R_cam_root[..., None, :, :], d.local_rotmats], -3), rest)
    true_rot = torch.cat([batch.R_cam_root[..., None, :, :], batch.local_rotmats], -3)
    j_true, _ = forward_kinematics(true_rot, rest)
    out["joints"] = ((j_pred - j_pred[..., :1, :]) - (j_true - j_true[..., :1, :])).abs().sum(-1).mean()
    out["total"] = sum(weights[k] * v for k, v in out.items())
    return out


class _Batches(torch.utils.data.IterableDataset):
    def __init__(self, split: str, cfg: TrainConfig, seed: int):
        self.split, self.cfg, self.seed = split, cfg, seed

    def __iter__(self):

        torch.set_num_threads(1)
        synth = make_synthesizer(self.split, self.cfg, self.seed)
        while True:
            yield synth.batch(self.cfg.batch, self.cfg.frames)


def make_synthesizer(split: str, cfg: TrainConfig, seed: int):
    """The batch synthesiser of a split for a config (with 3D landmarks when its network reads them)."""
    from livehmr.training.detector_errors import load_detector_errors
    from livehmr.training.landmark_errors import load_landmark_errors
    from livehmr.training.motion.data import load_or_build
    from livehmr.training.motion.synth import Synthesizer

    landmark_errors = load_landmark_errors() if cfg.net.landmarks else None
    return Synthesizer(load_or_build(split), load_detector_errors(), seed=seed, landmark_errors=landmark_errors,
                       no_landmarks_rate=cfg.no_landmarks_rate, gait_rate=cfg.gait_rate)  # fmt: skip


def inputs(batch, net: MotionNet) -> torch.Tensor:
    """The columns of a batch's full feature vector that ``net`` reads."""
    return batch.features[..., torch.as_tensor(input_columns(net.config.landmarks))]


def _loader(split: str, cfg: TrainConfig, seed: int, workers: int):
    return iter(torch.utils.data.DataLoader(_Batches(split, cfg, seed), batch_size=None, num_workers=workers,
                                            persistent_workers=workers > 0))  # fmt: skip


def evaluate(model: MotionNet, batches: list) -> dict[str, float]:
    model.eval()
    with torch.no_grad():
        parts = [losses(model(inputs(b, model))[0], b) for b in batches]
    model.train()
    return {k: float(np.mean([float(p[k]) for p in parts])) for k in parts[0]}


def train(out: str | Path, config: str | TrainConfig = "cpu", workers: int = 1, progress: bool = True,
          max_minutes: float | None = None) -> Path:  # fmt: skip
    """Train (or resume) into folder ``out``: ``checkpoint.pt``, ``history.json``,
    ``loss.png`` and, at the end, ``motion.pt`` (weights + configs, what livehmr ships)."""
    from tqdm import tqdm

    cfg = TrainConfig.preset(config) if isinstance(config, str) else config
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    model = MotionNet(cfg.net)
    if cfg.init is not None:  # a fine-tune: the starting weights (the checkpoint, if any, then replaces them)
        model.load_state_dict(load_motion_net(INIT_WEIGHTS.get(cfg.init, cfg.init)).state_dict())
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.05)
    step, history = resume_checkpoint(out, model, opt, sched, cfg)
    val_synth = make_synthesizer("val", cfg, seed=10_000 + cfg.seed)
    val = [val_synth.batch(cfg.batch, cfg.frames) for _ in range(cfg.val_batches)]
    # a resumed run continues the batch stream from a new seed offset, so it never repeats batches
    batches = _loader("train", cfg, seed=cfg.seed * 1000 + step, workers=workers)
    bar = tqdm(total=cfg.steps, initial=step, desc="train motion", unit="step", disable=not progress)
    tail = StepTail(out, model, opt, sched, cfg, history, bar, max_minutes, validate=lambda: evaluate(model, val),
                    report=lambda s, v: bar.write(f"step {s}: val " + " ".join(f"{k} {x:.4f}" for k, x in v.items())))  # fmt: skip
    running = None
    train_weights = {**WEIGHTS, "velocity": cfg.velocity_weight}
    while step < cfg.steps:
        batch = next(batches)
        parts = losses(model(inputs(batch, model))[0], batch, train_weights)
        opt.zero_grad()
        parts["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        total = float(parts["total"].detach())
        running = total if running is None else 0.98 * running + 0.02 * total
        bar.set_postfix(loss=f"{running:.3f}")
        if tail(step, total):
            break
    bar.close()
    if step >= cfg.steps:
        save_weights(model, cfg, history, out / "motion.pt")
    return out


def save_weights(model: MotionNet, cfg: TrainConfig, history: dict, path: Path) -> None:
    """What ships: fp32 weights, the network and training configs and a training summary."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    summary = {"steps": history["step"][-1] if history["step"] else 0, "train_seconds": history["seconds"],
               "final_val": history["val"][-1] if history["val"] else None}  # fmt: skip
    torch.save({"model": state, "net": cfg.net.to_dict(), "train": config_dict(cfg), "summary": summary}, path)
