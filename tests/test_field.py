"""The EMDB and 3DPW evaluators (issue 25) on fixtures in each dataset's released layout,
written from a studio sequence with known truth and a synthetic SMPL-format model whose
rest skeleton is the sequence's: the evaluators must reproduce the studio's own metrics."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from livehmr.core.errors import LivehmrError
from livehmr.core.geometry import invert_T
from livehmr.eval.datasets import gt_gyro, read_3dpw, read_emdb, smpl_joints
from livehmr.models.skeleton import PARENTS

pytest.importorskip("smplx", reason="the smpl extra is not installed")
COMPARED = ("PA-MPJPE", "MPJPE", "W-MPJPE100", "WA-MPJPE100", "RTE", "jitter", "foot sliding", "coverage")


def write_smpl_models(folder: Path, rest_joints: np.ndarray) -> Path:
    """SMPL-format model files (as SMPL ships: a pickled dict) whose skeleton at rest is
    ``rest_joints`` exactly: every vertex sits on its joint and the regressor averages them;
    shape and pose correctives are zero. Written as NEUTRAL, MALE and FEMALE."""
    n = 6890
    owner = np.arange(n) % 24
    V = rest_joints[owner].astype(np.float64)
    weights = np.eye(24)[owner]
    data = dict(v_template=V, shapedirs=np.zeros((n, 3, 10)), posedirs=np.zeros((n, 3, 207)),
                J_regressor=weights.T / weights.sum(0)[:, None], weights=weights,
                kintree_table=np.array([[4294967295, *PARENTS[1:]], range(24)]), f=np.arange(n - n % 3).reshape(-1, 3))  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    for gender in ("NEUTRAL", "MALE", "FEMALE"):
        (folder / f"SMPL_{gender}.pkl").write_bytes(pickle.dumps(data))
    return folder


def _frames_as_png(video: Path, folder: Path, pattern: str) -> int:
    """The sequence's video decoded once and kept lossless, so both runs see the same pixels."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    capture = cv2.VideoCapture(str(video))
    i = 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        cv2.imwrite(str(folder / pattern.format(i)), image)
        i += 1
    capture.release()
    return i


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """One smoke-suite sequence, its truth, and the studio's own score of the pipeline on it."""
    from livehmr.eval.accuracy import run_sequence, score
    from livehmr.models.body import load_body_model
    from livehmr.studio.corpus import default_corpus_dir
    from livehmr.studio.suite import SequenceTruth, load_suite, make_suite

    if not (default_corpus_dir() / "index.json").is_file():
        pytest.skip("needs ../shared/motion beside the checkout")
    suite = make_suite("smoke", tmp_path_factory.mktemp("suite"), limit=1)
    spec, folder = load_suite(suite)[0]
    truth = SequenceTruth.load(folder / "truth.npz")
    body = load_body_model("anny")
    studio_score = score(run_sequence(folder, spec, truth, "learned", "static", body), truth)
    return folder, truth, studio_score


def _emdb_fixture(root: Path, folder: Path, truth, valid=None, **overrides) -> Path:
    seq = root / "P9" / "01_studio_walk"
    n = _frames_as_png(folder / "video.mp4", seq / "images", "{:05d}.png")
    data = {"gender": "neutral", "name": "P9_01_studio_walk", "emdb1": True, "emdb2": True, "n_frames": n,
            "good_frames_mask": np.ones(n, bool) if valid is None else valid,
            "camera": {"intrinsics": truth.K, "extrinsics": invert_T(truth.T_world_cam), "width": int(truth.size[0]),
                       "height": int(truth.size[1])},
            "smpl": {"poses_root": truth.global_orient, "poses_body": truth.body_pose, "trans": truth.transl,
                     "betas": np.zeros(10)}}  # fmt: skip
    data.update(overrides)
    (seq / "P9_01_studio_walk_data.pkl").write_bytes(pickle.dumps(data))
    return root


def _3dpw_fixture(root: Path, folder: Path, truth) -> Path:
    n = _frames_as_png(folder / "video.mp4", root / "imageFiles" / "studio_walk_01", "image_{:05d}.png")
    data = {"sequence": "studio_walk_01", "genders": ["m"], "poses": [np.hstack([truth.global_orient, truth.body_pose])],
            "trans": [truth.transl], "betas": [np.zeros(10)], "campose_valid": [np.ones(n, bool)],
            "cam_poses": invert_T(truth.T_world_cam), "cam_intrinsics": truth.K, "img_frame_ids": np.arange(n)}  # fmt: skip
    (root / "sequenceFiles" / "test").mkdir(parents=True)
    (root / "sequenceFiles" / "test" / "studio_walk_01.pkl").write_bytes(pickle.dumps(data, protocol=2))
    return root


def _assert_same(ours: dict, studio: dict) -> None:
    for metric in COMPARED:
        assert metric in ours and np.isfinite(studio[metric]), metric
        assert ours[metric] == pytest.approx(studio[metric], abs=0.05), (metric, ours[metric], studio[metric])


def test_emdb_evaluator_reproduces_the_studio_metrics(studio, tmp_path):
    from livehmr.eval import field

    folder, truth, studio_score = studio
    root = _emdb_fixture(tmp_path / "emdb", folder, truth)
    smpl_dir = write_smpl_models(tmp_path / "smpl", truth.rest_joints)
    (sequence,) = read_emdb(root, split=2)
    # the fixture's SMPL ground truth is the studio's truth, joint for joint
    assert np.abs(smpl_joints(sequence, smpl_dir) - truth.joints_world).max() < 1e-4
    results = field.evaluate([sequence], smpl_dir, ("learned",))
    _assert_same(results[sequence.name]["learned"], studio_score)
    text = field.markdown(field.table(results, "emdb2"), "emdb2", gyro_note=True)
    assert "| livehmr learned |" in text and "| GVHMR |" in text and "wizwand" in text


def test_3dpw_evaluator_reproduces_the_studio_metrics(studio, tmp_path):
    from livehmr.eval import field

    folder, truth, studio_score = studio
    root = _3dpw_fixture(tmp_path / "3dpw", folder, truth)
    smpl_dir = write_smpl_models(tmp_path / "smpl", truth.rest_joints)
    (track,) = read_3dpw(root)
    assert track.gender == "male" and np.abs(smpl_joints(track, smpl_dir) - truth.joints_world).max() < 1e-4
    results = field.evaluate([track], smpl_dir, ("learned",))
    _assert_same(results[track.name]["learned"], studio_score)


def test_good_frames_mask_limits_what_is_scored_and_the_gt_gyro_runs(studio, tmp_path):
    from livehmr.eval import field

    folder, truth, _ = studio
    n = len(truth.times)
    valid = np.ones(n, bool)
    valid[: n // 2] = False
    root = _emdb_fixture(tmp_path / "emdb", folder, truth, valid=valid)
    smpl_dir = write_smpl_models(tmp_path / "smpl", truth.rest_joints)
    (sequence,) = read_emdb(root, split=2)
    results = field.evaluate([sequence], smpl_dir, ("learned+gyro",))[sequence.name]["learned+gyro"]
    assert results["frames"] == valid.sum()
    assert all(np.isfinite(results[m]) for m in ("W-MPJPE100", "PA-MPJPE", "RTE"))


def test_gt_gyro_integrates_back_to_the_true_camera_rotation(rng=np.random.default_rng(3)):
    from scipy.spatial.transform import Rotation

    rotvecs = np.cumsum(rng.normal(scale=0.05, size=(60, 3)), axis=0)
    T = np.tile(np.eye(4), (60, 1, 1))
    T[:, :3, :3] = Rotation.from_rotvec(rotvecs).as_matrix()
    samples = gt_gyro(T, fps=30.0)
    R = T[0, :3, :3]
    for i, (_, *w) in enumerate(samples):
        R = R @ Rotation.from_rotvec(np.array(w) / 30.0).as_matrix()
        assert np.abs(R - T[i + 1, :3, :3]).max() < 1e-9


def test_missing_files_wrong_layout_and_no_good_frames_are_clear_errors(studio, tmp_path):
    folder, truth, _ = studio
    with pytest.raises(LivehmrError, match="is not a folder"):
        read_emdb(tmp_path / "nowhere", 2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(LivehmrError, match="not EMDB's released layout"):
        read_emdb(tmp_path / "empty", 2)
    with pytest.raises(LivehmrError, match="not 3DPW's released layout"):
        read_3dpw(tmp_path / "empty")
    wrong = _emdb_fixture(tmp_path / "wrong", folder, truth, smpl={"poses_root": truth.global_orient})
    with pytest.raises(LivehmrError, match="has no 'poses_body'"):
        read_emdb(wrong, 2)
    none_good = _emdb_fixture(tmp_path / "none", folder, truth, valid=np.zeros(len(truth.times), bool))
    with pytest.raises(LivehmrError, match="has no good frames"):
        read_emdb(none_good, 2)
    short = _emdb_fixture(tmp_path / "short", folder, truth)
    next((short / "P9" / "01_studio_walk" / "images").iterdir()).unlink()
    with pytest.raises(LivehmrError, match="images for"):
        read_emdb(short, 2)
    proc = subprocess.run([sys.executable, "-m", "livehmr", "bench", "emdb", "--root", str(tmp_path / "empty"),
                           "--smpl-model", str(tmp_path)], capture_output=True, text=True, timeout=120)  # fmt: skip
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode != 0 and len(lines) == 1 and "not EMDB's released layout" in lines[0], proc.stderr


def test_pve_on_smpl_meshes_with_the_smpl_body(studio, tmp_path):
    """``--body smpl``: the pipeline on the user's SMPL, PVE against the truth's SMPL meshes."""
    from livehmr.eval import field

    folder, truth, _ = studio
    root = _emdb_fixture(tmp_path / "emdb", folder, truth)
    smpl_dir = write_smpl_models(tmp_path / "smpl", truth.rest_joints)
    (sequence,) = read_emdb(root, split=1)
    result = field.evaluate([sequence], smpl_dir, ("baseline",), body_name="smpl")[sequence.name]["baseline"]
    assert np.isfinite(result["PVE"]) and np.isfinite(result["PA-MPJPE"])
    # the meshes are rigid copies of the skeleton here, so PVE and MPJPE measure nearly the same thing
    assert 0.5 < result["PVE"] / result["MPJPE"] < 2.0
