"""A HuMoR-style conditional VAE of one-frame motion transitions (Rempe et al., 2021),
sized for a CPU.

With ``x`` the normalised motion features of :mod:`.representation`:

- conditional prior ``p(z | x_prev) = N(mu_p, sigma_p)``;
- encoder ``q(z | x_prev, x) = N(mu_q, sigma_q)``;
- decoder ``x = x_prev + f(x_prev, z)``.

Trained on the ELBO (reconstruction + beta * KL(q || p)). As a prior term, a transition
costs the negative log-likelihood of its encoding under the conditional prior plus how
badly the decoder reproduces it from that encoding (:meth:`TransitionCVAE.energy`):
plausible transitions have likely latents that explain them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from livehmr.models.priors.representation import NUM_FEATURES, Normaliser


@dataclass
class CvaeConfig:
    latent: int = 32
    hidden: int = 256
    layers: int = 2


def _mlp(n_in: int, hidden: int, n_out: int, layers: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [nn.Linear(n_in if i == 0 else hidden, hidden), nn.GELU()]
    mods.append(nn.Linear(hidden, n_out))
    return nn.Sequential(*mods)


class TransitionCVAE(nn.Module):
    def __init__(self, config: CvaeConfig | None = None, normaliser: Normaliser | None = None):
        super().__init__()
        self.config = c = config or CvaeConfig()
        self.normaliser = normaliser or Normaliser()
        self.prior = _mlp(NUM_FEATURES, c.hidden, 2 * c.latent, c.layers)
        self.encoder = _mlp(2 * NUM_FEATURES, c.hidden, 2 * c.latent, c.layers)
        self.decoder = _mlp(NUM_FEATURES + c.latent, c.hidden, NUM_FEATURES, c.layers)

    @staticmethod
    def _gaussian(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_sigma = out.chunk(2, -1)
        return mu, log_sigma.clamp(-6.0, 3.0)

    def losses(self, prev: torch.Tensor, cur: torch.Tensor, beta: float = 0.5) -> dict[str, torch.Tensor]:
        """ELBO terms for raw feature pairs (B, 77) (normalised here)."""
        a, b = self.normaliser(prev), self.normaliser(cur)
        mu_p, ls_p = self._gaussian(self.prior(a))
        mu_q, ls_q = self._gaussian(self.encoder(torch.cat([a, b], -1)))
        z = mu_q + torch.randn_like(mu_q) * ls_q.exp()
        rec = ((a + self.decoder(torch.cat([a, z], -1)) - b) ** 2).sum(-1).mean()
        kl = (ls_p - ls_q + (ls_q.exp() ** 2 + (mu_q - mu_p) ** 2) / (2 * (2 * ls_p).exp()) - 0.5).sum(-1).mean()
        return {"rec": rec, "kl": kl, "total": rec + beta * kl}

    def energy(self, features: torch.Tensor) -> torch.Tensor:
        """Prior cost of a motion: mean over its transitions of ``-log p(mu_q | x_prev)``
        (per latent dimension) plus the decoder's reconstruction error from ``mu_q``.
        ``features`` (T, 77) raw, as :func:`~.representation.motion_features` gives them."""
        x = self.normaliser(features.float())
        a, b = x[:-1], x[1:]
        mu_p, ls_p = self._gaussian(self.prior(a))
        mu_q, _ = self._gaussian(self.encoder(torch.cat([a, b], -1)))
        nll = (ls_p + 0.5 * ((mu_q - mu_p) / ls_p.exp()) ** 2 + 0.5 * math.log(2 * math.pi)).mean(-1)
        rec = ((a + self.decoder(torch.cat([a, mu_q], -1)) - b) ** 2).mean(-1)
        return (nll + rec).mean()

    def to_dict(self) -> dict:
        return asdict(self.config)
