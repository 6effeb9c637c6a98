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


def _limb_scene():
    """A T-posed body 4 m in front of a level camera (world axes as livehmr.testing's walker),
    its keypoints those of the same body with the left knee bent 40 degrees."""
    from livehmr.core.geometry import R_WORLD_CAM_LEVEL, rotvec_to_rotmat
    from livehmr.models.motion.features import KEYPOINT_JOINTS
    from livehmr.models.motion.shape import load_rest_regressor
    from livehmr.models.skeleton import JOINT, forward_kinematics

    K = intrinsics_from_fov(640, 480, 60.0)
    rest = load_rest_regressor()(np.full(6, 0.5))
    rot = np.tile(np.eye(3), (24, 1, 1))
    rot[0] = rotvec_to_rotmat(np.array([np.pi / 2, 0, 0]))  # canon Y up -> world Z up
    place = np.array([4.0, 0.0, 0.95]) - rest[0]
    joints, G = forward_kinematics(rot, rest, place)
    bent = rot.copy()
    bent[JOINT["left_knee"]] = rotvec_to_rotmat(np.array([np.radians(40), 0.0, 0.0]))
    seen, _ = forward_kinematics(bent, rest, place)
    cam = seen @ R_WORLD_CAM_LEVEL
    kp = _project(cam[KEYPOINT_JOINTS], K)
    return G, joints, kp, K, R_WORLD_CAM_LEVEL, np.zeros(3), JOINT


def test_a_planted_leg_is_left_to_the_network_and_its_turn_fades():
    """``planted`` legs keep the network's pose (the fit turns the shin toward the bent-knee
    keypoint otherwise); a turn remembered from before fades by the smoothing factor."""
    from livehmr.models.motion.fit import fit_limbs

    G, joints, kp, K, R_wc, eye, JOINT = _limb_scene()
    ankle = JOINT["left_ankle"]
    _, free = fit_limbs(G, joints, kp, K, R_wc, eye)
    assert np.linalg.norm(free[ankle] - joints[ankle]) > 0.05  # the fit moves the free shin
    legs = ("left_hip", "left_knee")
    _, pinned = fit_limbs(G, joints, kp, K, R_wc, eye, planted=legs)
    assert np.allclose(pinned[ankle], joints[ankle])
    assert np.allclose(pinned[JOINT["left_wrist"]], free[JOINT["left_wrist"]])  # the rest is fitted as before
    memory: dict = {}
    fit_limbs(G, joints, kp, K, R_wc, eye, memory=memory, smoothing=0.5)
    turn = memory["left_knee"].copy()
    _, fading = fit_limbs(G, joints, kp, K, R_wc, eye, memory=memory, smoothing=0.5, planted=legs)
    assert np.allclose(memory["left_knee"], 0.5 * turn)
    moved = np.linalg.norm(fading[ankle] - joints[ankle])
    assert 0.0 < moved < np.linalg.norm(free[ankle] - joints[ankle])
