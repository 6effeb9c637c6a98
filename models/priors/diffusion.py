"""A small motion diffusion model (DDPM, epsilon prediction) over short windows of motion
features, used as a prior through score distillation as in DiffOpt.

A window is ``L`` consecutive rows of normalised features (:mod:`.representation`),
flattened. The denoiser is an MLP with residual blocks conditioned on the noise level.
As a prior term (:meth:`MotionDiffusion.sds_loss`), each of a motion's windows is noised
to a random level ``k``, the denoiser predicts the noise, and the motion is pulled along
``w(k) (eps_hat - eps)``, the score of the noised data distribution, without
differentiating through the network (score distillation sampling, Poole et al. 2022).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from livehmr.models.priors.representation import NUM_FEATURES, Normaliser


@dataclass
class DiffusionConfig:
    window: int = 16
    hidden: int = 256
    blocks: int = 4
    steps: int = 100  # noise levels


def _cosine_alpha_bar(steps: int) -> torch.Tensor:
    s = 0.008
    t = torch.linspace(0, steps, steps + 1, dtype=torch.float64) / steps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    return (f[1:] / f[0]).clamp(1e-5, 0.9999).float()


class _Block(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.ff = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.level = nn.Linear(hidden, hidden)

    def forward(self, h: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        return h + self.ff(self.norm(h) + self.level(level))


class MotionDiffusion(nn.Module):
    alpha_bar: torch.Tensor  # (steps,) buffer: the cumulative noise schedule

    def __init__(self, config: DiffusionConfig | None = None, normaliser: Normaliser | None = None):
        super().__init__()
        self.config = c = config or DiffusionConfig()
        self.normaliser = normaliser or Normaliser()
        size = c.window * NUM_FEATURES
        self.inp = nn.Linear(size, c.hidden)
        self.blocks = nn.ModuleList(_Block(c.hidden) for _ in range(c.blocks))
        self.out = nn.Sequential(nn.LayerNorm(c.hidden), nn.Linear(c.hidden, size))
        self.register_buffer("alpha_bar", _cosine_alpha_bar(c.steps))

    def _level_embedding(self, k: torch.Tensor) -> torch.Tensor:
        half = self.config.hidden // 2
        freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=torch.float32) / half)
        angle = k.float()[:, None] * freqs[None]
        return torch.cat([angle.sin(), angle.cos()], -1)

    def denoise(self, noisy: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Predicted noise (B, L * 77) of flattened noisy windows at levels ``k`` (B,)."""
        level = self._level_embedding(k)
        h = self.inp(noisy)
        for block in self.blocks:
            h = block(h, level)
        return self.out(h)

    def windows(self, features: torch.Tensor, stride: int = 1) -> torch.Tensor:
        """Normalised, flattened windows (B, L * 77) of raw features (T, 77), T >= L."""
        x = self.normaliser(features.float())
        return x.unfold(0, self.config.window, stride).transpose(1, 2).flatten(1)

    def loss(self, clean: torch.Tensor) -> torch.Tensor:
        """DDPM training loss on flattened normalised windows (B, L * 77)."""
        k = torch.randint(0, self.config.steps, (len(clean),))
        eps = torch.randn_like(clean)
        ab = self.alpha_bar[k][:, None]
        return ((self.denoise(ab.sqrt() * clean + (1 - ab).sqrt() * eps, k) - eps) ** 2).mean()

    def sds_loss(self, features: torch.Tensor, levels: tuple[int, int] = (10, 60), stride: int = 4,
                 generator: torch.Generator | None = None) -> torch.Tensor:  # fmt: skip
        """A loss whose gradient w.r.t. ``features`` (T, 77) is the score-distillation pull
        towards likely motion (its value means nothing; T >= the window)."""
        x = self.windows(features, stride)
        k = torch.randint(levels[0], levels[1], (len(x),), generator=generator)
        eps = torch.randn(x.shape, generator=generator)
        ab = self.alpha_bar[k][:, None]
        with torch.no_grad():
            eps_hat = self.denoise(ab.sqrt() * x + (1 - ab).sqrt() * eps, k)
        grad = (1 - ab).sqrt() * (eps_hat - eps)  # w(k) (eps_hat - eps), w = sigma_k
        return (grad * x).sum() / len(x)

    def to_dict(self) -> dict:
        return asdict(self.config)
