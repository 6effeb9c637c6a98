"""The per-frame translation fit (issue 21, part 3): known bodies, known answers."""

import numpy as np

from livehmr.core.geometry import intrinsics_from_fov
from livehmr.models.motion.fit import fit_pelvis_cam


def _body(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.35, (14, 3)) * [1.0, 2.0, 0.5]  # a person-sized spread of joints around the pelvis


def _project(points, K):
    return np.column_stack([points[:, :2] / points[:, 2:] * [K[0, 0], K[1, 1]] + K[:2, 2], np.full(len(points), 0.9)])


def test_exact_keypoints_give_the_true_pelvis_despite_a_wrong_prior():
    K = intrinsics_from_fov(640, 480, 60.0)
    for seed, truth in enumerate([np.array([0.4, 0.2, 4.0]), np.array([-1.0, 0.5, 7.5]), np.array([0.0, 0.0, 2.5])]):
        J = _body(seed)
        kp = _project(J + truth, K)
        t = fit_pelvis_cam(J, kp, K, prior=truth * [1.1, 0.9, 1.25])
        assert np.abs(t - truth).max() < 0.02 * truth[2], (t, truth)


def test_noisy_keypoints_stay_near_and_too_few_or_behind_gives_none():
    K = intrinsics_from_fov(640, 480, 60.0)
    J = _body(3)
    truth = np.array([0.2, 0.1, 5.0])
    kp = _project(J + truth, K)
    kp[:, :2] += np.random.default_rng(0).normal(0, 3.0, (14, 2))  # 3 px
    t = fit_pelvis_cam(J, kp, K, prior=truth * [1, 1, 1.2])
    assert np.abs(t[:2] - truth[:2]).max() < 0.05 and abs(t[2] - truth[2]) < 0.1 * truth[2]
    few = kp.copy()
    few[5:, 2] = 0.1
    assert fit_pelvis_cam(J, few, K, prior=truth) is None
    assert fit_pelvis_cam(J, kp, K, prior=np.array([0.0, 0.0, -2.0])) is None
