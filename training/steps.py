"""What both trainers (the motion model's, the priors') share: resumable checkpoints, the
loss history and its plot, and the tail of each training step (validate, checkpoint, stop
when out of time)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch


def config_dict(cfg) -> dict:
    """A training config dataclass as plain JSON data (what checkpoints compare)."""
    return json.loads(json.dumps(asdict(cfg)))


def resume_checkpoint(out: Path, model, opt, sched, cfg) -> tuple[int, dict]:
    """Restore model, optimiser and schedule from ``out/checkpoint.pt`` (written by
    :func:`save_progress`, with the same config ``cfg``); its (step, history), or
    (0, an empty history) for a new run. Shared by every trainer here."""
    ckpt = out / "checkpoint.pt"
    if not ckpt.exists():
        return 0, {"step": [], "train": [], "val_step": [], "val": [], "seconds": 0.0}
    state = torch.load(ckpt, weights_only=True)
    if state["config"] != config_dict(cfg):
        raise ValueError(f"{ckpt} was made with another config; use a new --out or the same config")
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    sched.load_state_dict(state["sched"])
    return state["step"], state["history"]


def save_progress(out: Path, model, opt, sched, step: int, history: dict, cfg) -> None:
    """A resumable checkpoint (``checkpoint.pt``, replaced atomically), ``history.json``
    and the loss plot ``loss.png`` in ``out``."""
    tmp = out / "checkpoint.tmp"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "step": step,
                "history": history, "config": config_dict(cfg)}, tmp)  # fmt: skip
    tmp.replace(out / "checkpoint.pt")
    (out / "history.json").write_text(json.dumps(history))
    plot_history(history, out / "loss.png")


class StepTail:
    """The end of every optimiser step: record the loss; validate every ``cfg.val_every``
    steps (``validate()`` returns named numbers; ``report(step, numbers)`` shows them);
    checkpoint every ``cfg.checkpoint_every`` steps, on the last one and when out of time;
    say to stop after ``max_minutes`` (a run resumes from its checkpoint)."""

    def __init__(self, out: Path, model, opt, sched, cfg, history: dict, bar, max_minutes: float | None,
                 validate: Callable[[], dict], report: Callable[[int, dict], None]):  # fmt: skip
        self.out, self.model, self.opt, self.sched, self.cfg = out, model, opt, sched, cfg
        self.history, self.bar, self.max_minutes = history, bar, max_minutes
        self.validate, self.report = validate, report
        self.started, self.seconds0 = time.time(), history["seconds"]

    def __call__(self, step: int, loss: float) -> bool:
        """After step ``step`` with training loss ``loss``; True: stop now."""
        cfg, history = self.cfg, self.history
        history["step"].append(step)
        history["train"].append(loss)
        self.bar.update(1)
        if step % cfg.val_every == 0 or step == cfg.steps:
            numbers = self.validate()
            history["val_step"].append(step)
            history["val"].append(numbers)
            self.report(step, numbers)
        out_of_time = self.max_minutes is not None and time.time() - self.started > 60 * self.max_minutes
        if step % cfg.checkpoint_every == 0 or step == cfg.steps or out_of_time:
            history["seconds"] = self.seconds0 + time.time() - self.started
            save_progress(self.out, self.model, self.opt, self.sched, step, history, cfg)
        if out_of_time:
            self.bar.write(f"stopping at step {step} after {self.max_minutes} min; run again to resume")
        return out_of_time


def plot_history(history: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    steps = np.array(history["step"])
    train = np.array(history["train"])
    if len(train):
        k = max(1, len(train) // 100)
        smooth = np.convolve(train, np.ones(k) / k, mode="valid")
        ax[0].plot(steps[: len(smooth)] + k // 2, smooth, label="train (smoothed)")
    if history["val"]:
        ax[0].plot(history["val_step"], [v["total"] for v in history["val"]], "o-", label="val")
        for key in ("joints", "pelvis", "velocity", "height"):  # the motion model's terms, where logged
            if key in history["val"][0]:
                ax[1].plot(history["val_step"], [v[key] for v in history["val"]], label=f"val {key}")
    for a in ax:
        a.set_xlabel("step")
        a.set_yscale("log")
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=8)
    ax[0].set_title("total loss")
    ax[1].set_title("validation terms (m, m/s)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
