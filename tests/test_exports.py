"""The skinned body and the glTF export: the 24-joint skin draws Anny's own mesh, and a
GLB read back the way a glTF viewer reads it gives the published joints and mesh."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from livehmr.clients.recording import RecordingWriter
from livehmr.core.errors import LivehmrError
from livehmr.core.types import FrameResult, PersonState
from livehmr.models.body import SmplParams
from livehmr.models.skeleton import JOINT, NUM_JOINTS, forward_kinematics, pose_to_rotmats

STRAIGHT = ("left_hand", "right_hand", "left_foot", "right_foot")


def _random_params(rng, betas, straight_ends: bool = True) -> SmplParams:
    body_pose = rng.normal(0, 0.3, (23, 3))
    if straight_ends:  # where Anny's per-toe / per-finger pivots and SMPL's one joint agree
        body_pose[[JOINT[n] - 1 for n in STRAIGHT]] = 0.0
    return SmplParams(rng.normal(0, 0.5, 3), body_pose.ravel(), rng.normal(0, 1, 3), betas)


@pytest.fixture(scope="module")
def skinned(anny_body):
    from livehmr.models.skinned import skinned_anny

    return skinned_anny(anny_body)


def test_the_24_joint_skin_draws_annys_own_mesh(anny_body, skinned):
    """Four influences per vertex: max 15 mm, 99% within 1 mm; all influences: exact."""
    from livehmr.models.skinned import top_influences

    rng = np.random.default_rng(3)
    assert np.allclose(skinned.joint_weights.sum(1), 1.0, atol=1e-6)
    for _ in range(3):
        params = _random_params(rng, anny_body.betas)
        reference, faces = anny_body.mesh(params)
        rotmats = pose_to_rotmats(params.global_orient, params.body_pose)[None]
        error = np.linalg.norm(skinned.skin(rotmats, params.transl[None])[0] - reference, axis=1)
        assert error.max() < 0.015 and np.quantile(error, 0.99) < 0.001, (error.max(), np.quantile(error, 0.99))
        np.testing.assert_array_equal(faces, skinned.faces)
    # The same construction with every influence kept is exact: the approximation is the truncation alone.
    weights = anny_body.model.dense_vertex_bone_weights.double().numpy()
    per_joint = np.zeros((weights.shape[1], NUM_JOINTS))
    per_joint[np.arange(weights.shape[1]), anny_body.bone_joint] = 1.0
    idx, w = top_influences(weights @ per_joint, k=NUM_JOINTS)
    full = type(skinned)(**{**vars(skinned), "joint_indices": idx, "joint_weights": w})
    params = _random_params(rng, anny_body.betas)
    rotmats = pose_to_rotmats(params.global_orient, params.body_pose)[None]
    np.testing.assert_allclose(full.skin(rotmats, params.transl[None])[0], anny_body.mesh(params)[0], atol=1e-4)


def _anny_motion(body, T: int, rng):
    """T frames of a smooth motion of ``body``: local rotmats, transl, joints (world)."""
    phase = rng.uniform(0, 2 * np.pi, (NUM_JOINTS, 3))
    rotvecs = 0.4 * np.sin(2 * np.pi * 0.8 * np.arange(T)[:, None, None] / 30 + phase)
    rotvecs[:, 0] = [np.pi / 2, 0, 0]  # canon Y up -> world Z up
    rotvecs[:, [JOINT[n] for n in STRAIGHT]] = 0.0
    rotmats = Rotation.from_rotvec(rotvecs.reshape(-1, 3)).as_matrix().reshape(T, NUM_JOINTS, 3, 3)
    transl = np.stack([np.linspace(0, 1.5, T), np.zeros(T), np.full(T, 0.02)], axis=1)
    joints, _ = forward_kinematics(rotmats, body.rest_joints, transl)
    return rotmats, transl, joints


def _record(path, body, motion, body_model: str = "anny"):
    """Write a recording of one person's motion, as `livehmr record` would have."""
    from livehmr.stream.publish.publisher import state_messages
    from livehmr.stream.publish.wire import TOPIC_STATE, encode

    rotmats, transl, joints = motion
    with RecordingWriter(path) as writer:
        for i in range(len(rotmats)):
            rv = Rotation.from_matrix(rotmats[i]).as_rotvec()
            params = SmplParams(rv[0], rv[1:].ravel(), transl[i], body.betas)
            result = FrameResult(i, 10.0 + i / 30, time.perf_counter(), np.eye(4),
                                 [PersonState(0, params, joints[i], np.zeros(4), np.ones(24))])  # fmt: skip
            for header, arrays in state_messages(result, "t", body_model):
                writer.write(encode(TOPIC_STATE, header, arrays))


def test_glb_export_reads_back_to_the_published_joints_and_mesh(tmp_path, anny_body):
    """`export motion --to gltf`: joints by the file's own node hierarchy and animation within
    1 mm of the published ones (in glTF's Y-up axes), key times from the source clock, and
    the mesh skinned by the file's own weights within Anny's mesh as the skin test allows."""
    from livehmr.clients.recording import export_recording
    from livehmr.export.gltf import R_GLTF_WORLD, read_glb_joints, read_glb_skin

    motion = _anny_motion(anny_body, 24, np.random.default_rng(5))
    _record(tmp_path / "anny.lhmr", anny_body, motion)
    (path,) = export_recording(tmp_path / "anny.lhmr", "gltf", tmp_path / "walk.glb")
    assert path.read_bytes()[:4] == b"glTF"
    times, joints = read_glb_joints(path)
    np.testing.assert_allclose(times, np.arange(24) / 30, atol=1e-5)
    np.testing.assert_allclose(joints, motion[2] @ R_GLTF_WORLD.T, atol=1e-3)
    assert np.allclose(R_GLTF_WORLD @ [0, 0, 1], [0, 1, 0])  # world up is glTF's +Y

    key = 17
    vertices, faces = read_glb_skin(path, key)
    rv = Rotation.from_matrix(motion[0][key]).as_rotvec()
    reference, _ = anny_body.mesh(SmplParams(rv[0], rv[1:].ravel(), motion[1][key], anny_body.betas))
    error = np.linalg.norm(vertices - reference @ R_GLTF_WORLD.T, axis=1)
    assert error.max() < 0.015 and np.quantile(error, 0.99) < 0.001
    np.testing.assert_array_equal(faces, anny_body.faces)


def test_glb_export_refuses_a_body_it_cannot_draw(tmp_path, anny_body):
    from livehmr.clients.recording import export_recording

    _record(tmp_path / "smpl.lhmr", anny_body, _anny_motion(anny_body, 3, np.random.default_rng(1)), body_model="smpl")
    with pytest.raises(LivehmrError, match="glTF export draws the Anny mesh"):
        export_recording(tmp_path / "smpl.lhmr", "gltf", tmp_path / "x.glb")
