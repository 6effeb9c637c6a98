"""SMPL-24 forward kinematics and the SMPL-24 -> Anny driver."""

import numpy as np

from livehmr.models.body import SmplParams, body_joints, sole_gaps
from livehmr.models.skeleton import JOINT, forward_kinematics, global_to_local, pose_to_rotmats


def test_fk_hand_computed_two_joint_case():
    J = np.zeros((24, 3))
    J[JOINT["left_shoulder"]] = [0.2, 0.5, 0.0]
    J[JOINT["left_elbow"]] = [0.5, 0.5, 0.0]
    J[JOINT["left_wrist"]] = [0.75, 0.5, 0.0]
    for j in range(24):  # unused joints sit on their parents, anywhere
        if not J[j].any() and j:
            J[j] = J[0]
    pose = np.zeros(69)
    pose[(JOINT["left_elbow"] - 1) * 3 + 1] = -np.pi / 2  # elbow -90 deg about +Y: forearm -> +Z (forward)
    joints, G = forward_kinematics(pose_to_rotmats(np.zeros(3), pose).numpy(), J, np.array([1.0, 0.0, 0.0]))
    assert np.allclose(joints[JOINT["left_elbow"]], [1.5, 0.5, 0.0])
    assert np.allclose(joints[JOINT["left_wrist"]], [1.5, 0.5, 0.25], atol=1e-12)


def test_global_to_local_inverts_fk(rng=np.random.default_rng(0)):
    R = pose_to_rotmats(rng.normal(size=3), rng.normal(size=69) * 0.5).numpy()
    _, G = forward_kinematics(R, np.zeros((24, 3)))
    assert np.allclose(global_to_local(G), R, atol=1e-12)


def test_anny_rest_skeleton_is_a_t_pose(anny_body):
    J = anny_body.rest_joints
    for side, sign in (("left", 1), ("right", -1)):
        arm = J[[JOINT[f"{side}_shoulder"], JOINT[f"{side}_elbow"], JOINT[f"{side}_wrist"]]]
        assert np.allclose(arm[:, 1:], arm[0, 1:], atol=1e-6)  # horizontal, along X
        assert np.all(np.diff(arm[:, 0]) * sign > 0.15)
    assert J[JOINT["head"], 1] > J[JOINT["neck"], 1] > J[JOINT["spine3"], 1] > J[JOINT["pelvis"], 1] > J[JOINT["left_knee"], 1]
    height = J[JOINT["head"], 1] - J[JOINT["left_ankle"], 1]
    assert 1.2 < height < 1.7


def test_anny_posed_skeleton_matches_smpl_fk(anny_body, rng=np.random.default_rng(1)):
    """SMPL-24 rotations drive Anny: its own posed bones land on SMPL FK of rest_joints."""
    for scale in (0.0, 0.4, 0.8):
        p = SmplParams(global_orient=rng.normal(size=3), body_pose=rng.normal(size=69) * scale,
                       transl=rng.normal(size=3), betas=anny_body.betas)  # fmt: skip
        fk = body_joints(anny_body, p)
        anny = anny_body.mesh_joints(p)
        err = np.linalg.norm(fk - anny, axis=1)
        hands = [JOINT["left_hand"], JOINT["right_hand"]]
        assert np.delete(err, hands).max() < 1e-4  # float32 skinning
        assert err[hands].max() < 0.04  # fingers pivot at the wrist in Anny, at the knuckles in SMPL


def test_anny_mesh_follows_the_pose(anny_body):
    upright = SmplParams(global_orient=np.array([np.pi / 2, 0, 0]), betas=anny_body.betas)  # canon up -> world +Z
    v, f = anny_body.mesh(upright)
    assert f.shape[1] == 3 and v.shape[1] == 3
    assert v[:, 2].max() - v[:, 2].min() > 1.4  # stands tall along world Z
    assert np.abs(sole_gaps(anny_body, body_joints(anny_body, upright)).min() - v[:, 2].min()) < 0.02
