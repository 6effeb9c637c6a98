"""Baseline estimator pieces on exact synthetic evidence."""

import numpy as np

from livehmr.core.geometry import intrinsics_from_fov, project, rotvec_to_rotmat
from livehmr.models.skeleton import JOINT, forward_kinematics, global_to_local
from livehmr.stream.estimators.baseline import _BP, ik_from_landmarks, solve_translation
from livehmr.studio.walk import CircleWalk


def test_translation_is_recovered_exactly_from_projections(rng=np.random.default_rng(0)):
    K = intrinsics_from_fov(640, 480, 60)
    pts = rng.normal(size=(12, 3)) * 0.4
    t = np.array([0.3, -0.2, 4.0])
    px = project(pts + t, K)
    assert np.allclose(solve_translation(pts, px, np.ones(12), K), t, atol=1e-9)
    assert solve_translation(pts, px, np.zeros(12), K) is None  # no confident evidence


def _landmarks_from_joints(j):
    """BlazePose-like landmarks placed on SMPL joints (what the IK reads)."""
    lm = np.zeros((33, 3))
    pairs = dict(l_sh="left_shoulder", r_sh="right_shoulder", l_el="left_elbow", r_el="right_elbow",
                 l_wr="left_wrist", r_wr="right_wrist", l_hip="left_hip", r_hip="right_hip", l_kn="left_knee",
                 r_kn="right_knee", l_an="left_ankle", r_an="right_ankle", l_toe="left_foot", r_toe="right_foot",
                 l_index="left_hand", l_pinky="left_hand", r_index="right_hand", r_pinky="right_hand")  # fmt: skip
    for bp, name in pairs.items():
        lm[_BP[bp]] = j[JOINT[name]]
    lm[_BP["l_ear"]] = lm[_BP["r_ear"]] = j[JOINT["head"]]
    return lm


def test_ik_recovers_limb_positions_of_a_walking_pose(anny_body):
    J = anny_body.rest_joints
    walk = CircleWalk()
    for t in (0.0, 0.3, 0.7):
        local = walk.local_pose(t)
        local[0] = rotvec_to_rotmat(np.array([2.9, 0.3, -0.2]))  # some camera-facing orientation
        joints, _ = forward_kinematics(local, J)
        G = ik_from_landmarks(_landmarks_from_joints(joints), J)
        est, _ = forward_kinematics(global_to_local(G), J)
        limbs = [JOINT[n] for n in ("left_knee", "right_knee", "left_ankle", "right_ankle", "left_elbow",
                                    "right_elbow", "left_wrist", "right_wrist", "left_foot", "right_foot")]  # fmt: skip
        err = np.linalg.norm((est - est[0]) - (joints - joints[0]), axis=1)[limbs]
        # the spine's bend is not observed (only hips and shoulders): a few cm at most
        assert err.max() < 0.06, err
