"""A predicted Anny shape (phenotype) as a skeleton, fast: what the live estimator and the
refinement use. Fitted once on a bank of Anny bodies (``data.fit_rest_regressor``) and
shipped in ``models/data/anny_rest_from_phenotype.npz``; loading it builds no Anny body.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

REST_REGRESSOR_PATH = Path(__file__).resolve().parents[1] / "data" / "anny_rest_from_phenotype.npz"


class RestJointsFromPhenotype:
    """Anny's rest joints (24, 3) as a quadratic function of its phenotype (6,), fitted on
    a body bank: what the live estimator uses to turn a predicted shape into a skeleton
    without building an Anny body per frame (that costs ~0.1 s)."""

    def __init__(self, coef: np.ndarray):
        self.coef = coef  # (28, 72)

    @staticmethod
    def features(phenotype: np.ndarray) -> np.ndarray:
        p = np.atleast_2d(phenotype)
        iu = np.triu_indices(p.shape[1])
        quad = (p[:, :, None] * p[:, None, :])[:, iu[0], iu[1]]
        return np.concatenate([np.ones((len(p), 1)), p, quad], axis=1)

    @classmethod
    def fit(cls, bank) -> RestJointsFromPhenotype:
        """Least squares on a :class:`~livehmr.training.motion.data.BodyBank` (phenotypes, rest joints)."""
        X = cls.features(bank.phenotypes)
        coef, *_ = np.linalg.lstsq(X, bank.rest_joints.reshape(len(X), -1), rcond=None)
        return cls(coef)

    def __call__(self, phenotype: np.ndarray) -> np.ndarray:
        out = self.features(phenotype) @ self.coef
        return out.reshape(-1, 24, 3)[0] if np.ndim(phenotype) == 1 else out.reshape(-1, 24, 3)


def load_rest_regressor(path: Path = REST_REGRESSOR_PATH) -> RestJointsFromPhenotype:
    return RestJointsFromPhenotype(np.load(path)["coef"])
