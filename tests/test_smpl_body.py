"""SMPL support through smplx, on a small synthetic model file in SMPL's format
(the real SMPL is licensed and never shipped)."""

import pickle

import numpy as np
import pytest

from livehmr.core.errors import LivehmrError
from livehmr.models.body import SmplParams, body_joints, load_body_model
from livehmr.models.skeleton import PARENTS

pytest.importorskip("smplx", reason="the smpl extra is not installed")


def make_fake_smpl(path, rng=np.random.default_rng(0)):
    """An SMPL-format .pkl (a pickled dict of arrays, as SMPL ships) with SMPL's 6890
    vertices (smplx reads extra joints off fixed vertex ids), each rigidly bound to one
    of 24 random joints."""
    n = 6890
    J = rng.normal(size=(24, 3)) * 0.3
    owner = np.arange(n) % 24
    V = J[owner] + rng.normal(size=(n, 3)) * 0.02
    weights = np.eye(24)[owner]
    J_regressor = weights.T / weights.sum(0)[:, None]
    data = dict(v_template=V, shapedirs=rng.normal(size=(n, 3, 10)).astype(np.float32) * 1e-3,
             posedirs=np.zeros((n, 3, 207), np.float32),
             J_regressor=J_regressor, weights=weights, kintree_table=np.array([[4294967295, *PARENTS[1:]], range(24)]),
             f=np.arange(n - n % 3).reshape(-1, 3))  # fmt: skip
    path.write_bytes(pickle.dumps(data))
    return path


def test_livehmr_fk_matches_smplx(tmp_path, rng=np.random.default_rng(1)):
    body = load_body_model("smpl", str(make_fake_smpl(tmp_path / "SMPL_FAKE.pkl")))
    for _ in range(3):
        p = SmplParams(global_orient=rng.normal(size=3), body_pose=rng.normal(size=69) * 0.5, transl=rng.normal(size=3))
        assert np.abs(body_joints(body, p) - body.smplx_joints(p)).max() < 1e-4
    vertices, faces = body.mesh(SmplParams())
    assert vertices.shape == (6890, 3) and faces.shape[1] == 3


def test_bad_smpl_paths_are_clear_errors(tmp_path):
    with pytest.raises(LivehmrError, match="--smpl-model"):
        load_body_model("smpl", None)
    with pytest.raises(LivehmrError, match="does not exist"):
        load_body_model("smpl", str(tmp_path / "missing.pkl"))
    bad = tmp_path / "SMPL_BAD.pkl"
    bad.write_bytes(pickle.dumps({"nothing": np.zeros(3)}))
    with pytest.raises(LivehmrError, match="cannot load SMPL"):
        load_body_model("smpl", str(bad))
