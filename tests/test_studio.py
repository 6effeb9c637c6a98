"""Studio: renderer geometry, BVH import/export, retargeting, corpus split, suites.

Tests marked ``shared`` read ../shared/motion and skip with a reason where it is absent.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from livehmr.core.geometry import intrinsics_from_fov, make_T, rotation_angle
from livehmr.export.bvh import write_bvh
from livehmr.models.skeleton import JOINT, JOINT_NAMES, forward_kinematics
from livehmr.studio.bvh import import_bvh_folder, read_bvh
from livehmr.studio.camera_path import look_at
from livehmr.studio.corpus import Corpus, default_corpus_dir
from livehmr.studio.render import Mesh, render
from livehmr.studio.retarget import Retargeter
from livehmr.studio.walk import CircleWalk

shared = pytest.mark.skipif(not (default_corpus_dir() / "index.json").is_file(),
                            reason="needs ../shared/motion beside the checkout")  # fmt: skip

# A hand-made SMPL-like T-pose (canon: +Y up, +X the body's left, +Z forward), metres.
REST = np.array([
    [0, 0.95, 0], [0.08, 0.87, 0], [-0.08, 0.87, 0], [0, 1.05, 0], [0.09, 0.48, 0], [-0.09, 0.48, 0],
    [0, 1.18, 0], [0.09, 0.08, -0.02], [-0.09, 0.08, -0.02], [0, 1.24, 0], [0.10, 0.02, 0.12], [-0.10, 0.02, 0.12],
    [0, 1.45, 0], [0.07, 1.38, 0], [-0.07, 1.38, 0], [0, 1.55, 0.03], [0.18, 1.40, 0], [-0.18, 1.40, 0],
    [0.45, 1.40, 0], [-0.45, 1.40, 0], [0.70, 1.40, 0], [-0.70, 1.40, 0], [0.78, 1.40, 0], [-0.78, 1.40, 0],
])  # fmt: skip


class StickBody:
    """A test double of a body model: the rest skeleton, soles 2 cm under the toes."""

    name = "stick"

    def __init__(self, rest=REST):
        self.rest_joints = np.asarray(rest, float)
        self.betas = np.zeros(10)

    def mesh(self, params):
        sole = self.rest_joints[[JOINT["left_foot"]]] - [0, 0.02, 0]
        return np.concatenate([self.rest_joints, sole]), np.zeros((0, 3), np.int32)


# -- renderer ------------------------------------------------------------------------------
def test_render_triangle_lands_where_projected_with_its_depth():
    K = intrinsics_from_fov(160, 120, 60.0)
    T_world_cam = make_T(look_at(np.array([0.0, 0.0, 1.0]), np.array([5.0, 0.0, 1.0])), np.array([0.0, 0.0, 1.0]))
    # a big vertical triangle 4 m ahead, facing the camera, and a smaller one behind it
    near = Mesh(np.array([[4.0, -1.0, 0.5], [4.0, 1.0, 0.5], [4.0, 0.0, 1.6]]), np.array([[0, 1, 2]], np.int32),
                np.tile([0.0, 0.0, 1.0], (3, 1)))  # fmt: skip
    far = Mesh(near.vertices + [2.0, 0.0, 0.0], near.faces, np.tile([0.0, 1.0, 0.0], (3, 1)))
    image, depth = render(K, T_world_cam, (160, 120), [far, near])
    cx, cy = 80, 60  # the optical axis hits the near triangle at 4 m
    assert depth[cy, cx] == pytest.approx(4.0, abs=1e-4)
    assert image[cy, cx, 2] > 100 and image[cy, cx, 1] < 50  # red channel (BGR) = the near, blue mesh... in BGR
    # above the triangle's apex (z > 1.6 at 4 m): sky
    v_sky = int(cy - K[1, 1] * 0.8 / 4.0) - 2
    assert np.isinf(depth[v_sky, cx])
    # below the horizon at the bottom row: the floor, at the analytic ray distance
    v = 119
    ray = np.linalg.inv(K) @ [cx, v, 1.0]  # cam axes, unit depth
    ray_world = T_world_cam[:3, :3] @ ray
    assert depth[v, cx] == pytest.approx(-1.0 / ray_world[2], rel=1e-4)


# -- BVH and retargeting (no shared data needed) ------------------------------------------
def _walk_motion(frames=90):
    walk = CircleWalk()
    params = [walk.params(i / 30, StickBody()) for i in range(frames)]
    from livehmr.models.skeleton import pose_to_rotmats

    rotmats = pose_to_rotmats(np.stack([p.global_orient for p in params]), np.stack([p.body_pose for p in params])).numpy()
    transl = np.stack([p.transl for p in params])
    return rotmats, transl


def _write_corpus(tmp_path: Path, rotmats, transl) -> Corpus:
    (tmp_path / "bvh" / "s01").mkdir(parents=True)
    write_bvh(tmp_path / "bvh" / "s01" / "walk_01.bvh", rotmats, transl, REST, fps=30.0)
    (tmp_path / "map.json").write_text(json.dumps({"smpl-bvh": list(JOINT_NAMES)}))
    assert import_bvh_folder(tmp_path / "bvh", tmp_path / "map.json", tmp_path / "corpus") == 1
    index = json.loads((tmp_path / "corpus" / "index.json").read_text())
    index["clips"][0]["description"] = "walk"
    (tmp_path / "corpus" / "index.json").write_text(json.dumps(index))
    return Corpus(tmp_path / "corpus")


def test_bvh_export_then_import_gives_the_same_joints(tmp_path):
    rotmats, transl = _walk_motion()
    corpus = _write_corpus(tmp_path, rotmats, transl)
    clip = corpus.load("s01_walk_01")
    assert set(JOINT_NAMES) <= set(clip.names) and clip.fps == 30.0 and clip.subject == "s01"
    expected, _ = forward_kinematics(rotmats, REST, transl)
    got = clip.joint_positions()[:, [clip.names.index(n) for n in JOINT_NAMES]]
    # the importer puts the floor at the lowest foot joint; the exporter kept our world
    floor = expected[:, [7, 8, 10, 11], 2].min()
    err = np.linalg.norm(got - (expected - [0, 0, floor]), axis=-1)
    assert err.max() < 0.003  # float16 rotations in the corpus format: ~1 mm per metre of chain
    bvh = read_bvh(tmp_path / "bvh" / "s01" / "walk_01.bvh")
    assert "head_end" in bvh.names and bvh.fps == pytest.approx(30.0)


def _reframed(clip, seed=0):
    """The same motion on a skeleton whose joint frames are turned by random constant
    rotations B_j (as FBX/DAZ rigs are): G'_j = G_j B_j, offsets in the new parent frames."""
    from scipy.spatial.transform import Rotation

    B = Rotation.random(len(clip.names), random_state=seed).as_matrix()
    L = Rotation.from_quat(clip.quats_xyzw.reshape(-1, 4)).as_matrix().reshape(*clip.quats_xyzw.shape[:2], 3, 3)
    Bp = np.stack([B[p] if p >= 0 else np.eye(3) for p in clip.parents])
    L2 = np.swapaxes(Bp, -1, -2) @ L @ B
    clip.quats_xyzw = Rotation.from_matrix(L2.reshape(-1, 3, 3)).as_quat().reshape(L.shape[:2] + (4,)).astype(np.float32)
    clip.offsets = np.einsum("jik,jk->ji", np.swapaxes(Bp, -1, -2), clip.offsets)
    return clip


def test_retarget_recovers_the_source_rotations_and_positions(tmp_path):
    rotmats, transl = _walk_motion()
    corpus = _write_corpus(tmp_path, rotmats, transl)
    clip = _reframed(corpus.load("s01_walk_01"))
    corpus.load = lambda cid: _reframed(Corpus.load(corpus, cid))  # calibration sees the same rig
    motion = Retargeter(corpus).retarget(clip, StickBody())
    got = motion.rotmats()
    angle = np.degrees(rotation_angle(np.swapaxes(got, -1, -2) @ rotmats))
    # rotations (twist included) come back; the shoulders' twist carries the calibration's
    # swing-IK bias of this arms-down gait (a few degrees), everything else well under 2 deg
    shoulders = [JOINT["left_shoulder"], JOINT["right_shoulder"], JOINT["left_elbow"], JOINT["right_elbow"]]
    others = [j for j in range(24) if j not in shoulders]
    assert np.median(angle[:, others]) < 1.0 and np.percentile(angle[:, others], 99) < 3.0
    assert np.percentile(angle[:, shoulders], 99) < 10.0
    # positions: same skeleton, so the joints coincide up to the floor placement
    joints = motion.joints(REST)
    expected, _ = forward_kinematics(rotmats, REST, transl)
    rel = (joints - joints[:, :1]) - (expected - expected[:, :1])
    assert np.abs(rel).max() < 0.005
    # and the soles (2 cm under the toe joints) rest on the floor where the feet are down
    soles = joints[:, [7, 8, 10, 11], 2].min(axis=1) - 0.02
    assert np.percentile(np.abs(soles), 20) < 0.01


def test_bvh_import_rejects_bad_files(tmp_path):
    from livehmr.core.errors import LivehmrError

    (tmp_path / "a.bvh").write_text("HIERARCHY\nROOT hip\n{\n OFFSET 0 0 0\n CHANNELS 3 Xrotation Yrotation Zrotation\n}\n")
    with pytest.raises(LivehmrError, match="no MOTION"):
        read_bvh(tmp_path / "a.bvh")
    (tmp_path / "b.bvh").write_text((tmp_path / "a.bvh").read_text() + "MOTION\nFrames: 2\nFrame Time: 0.033\n1 2 3\n")
    with pytest.raises(LivehmrError, match="expected 2 frames of 3 channels"):
        read_bvh(tmp_path / "b.bvh")


# -- the shared corpus ---------------------------------------------------------------------
@shared
def test_corpus_forward_kinematics_puts_walking_feet_on_the_floor():
    corpus = Corpus()
    clip = corpus.load("cmu_02_01")
    P = clip.joint_positions()
    feet = [clip.names.index(n) for n in ("lFoot", "rFoot", "lFoot_end", "rFoot_end")]
    lowest = P[:, feet, 2].min(axis=1)
    assert abs(lowest.min()) < 0.02 and np.median(lowest) < 0.05  # floor set from these joints, to ~1 cm
    assert P[:, clip.names.index("head_end"), 2].max() > 1.5


@shared
def test_split_file_is_by_subject_and_covers_the_corpus():
    corpus = Corpus()
    assert corpus.split_path().is_file(), "run `livehmr corpus split` and commit studio/splits/"
    split = corpus.split
    assert set(split) == set(corpus.entries)
    subjects = {}
    for cid, name in split.items():
        subjects.setdefault(corpus.entries[cid]["subject"], set()).add(name)
    assert all(len(s) == 1 for s in subjects.values())
    assert split == corpus.make_split()  # the file is what the rule gives: nobody edited it by hand
    assert {"train", "val", "test"} == set(split.values())


@shared
def test_retarget_reproduces_source_positions_and_grounds_anny(anny_body):
    corpus = Corpus()
    r = Retargeter(corpus)
    for cid in ("cmu_02_01", "cmu_09_01"):  # walk, run
        clip = corpus.load(cid)
        own = r.source_rest_skeleton(clip, anny_body.rest_joints)
        G, P = r.global_frames(clip, own)
        motion = r.retarget(clip, StickBody(own))
        joints = motion.joints(own)
        err = np.linalg.norm((joints - joints[:, :1]) - (P - P[:, :1]), axis=-1)
        assert err.mean() < 0.002 and err.max() < 0.01, cid
        on_anny = r.retarget(clip, anny_body)
        from livehmr.models.body import sole_gaps

        J = on_anny.joints(anny_body.rest_joints)
        lowest = np.array([sole_gaps(anny_body, j).min() for j in J])
        assert np.percentile(lowest, 5) > -0.02 and abs(np.percentile(lowest, 25)) < 0.02, cid


# -- suites, their truth and the detector error model --------------------------------------
@pytest.fixture(scope="module")
def smoke_sequence(tmp_path_factory):
    if not (default_corpus_dir() / "index.json").is_file():
        pytest.skip("needs ../shared/motion beside the checkout")
    from livehmr.studio.suite import make_suite

    folder = make_suite("smoke", tmp_path_factory.mktemp("suite"), limit=1)
    return folder


def test_suite_truth_is_consistent_with_its_video_and_gyro(smoke_sequence):
    import cv2

    from livehmr.core.geometry import invert_T, project, transform_points
    from livehmr.stream.camera.gyro import integrate_gyro
    from livehmr.stream.sources.gyro_feeds import CsvGyroFeed
    from livehmr.studio.suite import SequenceTruth, load_suite

    [(spec, folder)] = load_suite(smoke_sequence)
    truth = SequenceTruth.load(folder / "truth.npz")
    assert truth.num_frames == spec.frames == int(cv2.VideoCapture(str(folder / "video.mp4")).get(cv2.CAP_PROP_FRAME_COUNT))
    i = spec.frames // 2
    uv = project(transform_points(invert_T(truth.T_world_cam[i]), truth.joints_world[i]), truth.K)
    assert np.allclose(uv[truth.visible[i]], truth.joints_2d[i][truth.visible[i]], atol=1e-6)
    assert truth.visible.mean() > 0.5
    # the joints are SMPL FK of the stored parameters on the stored skeleton
    from livehmr.studio.retarget import SmplMotion

    motion = SmplMotion(truth.fps, truth.global_orient, truth.body_pose, truth.transl, truth.betas)
    assert np.allclose(motion.joints(truth.rest_joints), truth.joints_world, atol=1e-6)
    # the gyro, read back with its clock offset and mounting, turns the camera as the truth does
    samples = CsvGyroFeed(folder / "gyro.csv").buffer.window(-1.0, 1e9)
    samples[:, 0] -= truth.gyro_clock_offset_s  # onto the frame clock
    R_rel, _, _ = integrate_gyro(samples, truth.times[10], truth.times[40], truth.R_cam_imu, 0.3, np.zeros(3))
    R_true = truth.T_world_cam[10, :3, :3].T @ truth.T_world_cam[40, :3, :3]
    assert np.degrees(rotation_angle(R_rel.T @ R_true)) < 0.5  # bias + noise over 1 s


def test_gyro_simulation_carries_mounting_and_clock_offset():
    """Noise-free gyro of a whip pan, on a landscape phone with a 40 ms clock offset: only
    undoing both the mounting and the offset gives back the true camera rotation."""
    from livehmr.core.geometry import IMU_PRESETS
    from livehmr.stream.camera.gyro import integrate_gyro
    from livehmr.studio.camera_path import GyroNoise, HandheldFollow, WhipPan, simulate_gyro

    path = WhipPan(HandheldFollow(lambda t: np.array([4.0, 0.5 * t, 1.0])), amplitude_deg=70, whip_s=0.4, offset_s=1.0)
    R_cam_imu = IMU_PRESETS["android-landscape"]
    noise = GyroNoise(white=0.0, bias=(0.0, 0.0, 0.0), bias_walk=0.0, clock_offset=0.04)
    samples = simulate_gyro(path.T_world_cam, 3.0, 400.0, R_cam_imu=R_cam_imu, noise=noise)
    t0, t1 = 0.9, 1.5  # across the whip
    R_true = path.T_world_cam(t0)[:3, :3].T @ path.T_world_cam(t1)[:3, :3]

    def error(offset, mount):
        s = samples.copy()
        s[:, 0] -= offset
        R, _, _ = integrate_gyro(s, t0, t1, mount, 0.3, np.zeros(3))
        return np.degrees(rotation_angle(R.T @ R_true))

    assert error(0.04, R_cam_imu) < 0.3
    assert error(0.0, R_cam_imu) > 3.0
    assert error(0.04, np.eye(3)) > 3.0


def test_detector_error_model_recovers_a_known_offset(smoke_sequence, tmp_path):
    from livehmr.core.types import NUM_KEYPOINTS, PersonKeypoints
    from livehmr.training.detector_errors import PAIRS, load_detector_errors, measure_detector_errors

    offset_px = np.array([3.0, -2.0])

    class Oracle:
        """Reports every mapped joint's true projection shifted by offset_px, confidence 0.9."""

        def __init__(self, truth):
            self.truth = truth

        def detect(self, frame):
            kp = np.zeros((NUM_KEYPOINTS, 3))
            for k, j in PAIRS.items():
                kp[KP[k], :2] = self.truth.joints_2d[frame.index, JOINT[j]] + offset_px
                kp[KP[k], 2] = 0.9
            return [PersonKeypoints(keypoints=kp, box=np.zeros(4))]

        def close(self):
            pass

    from livehmr.core.types import KP

    path = measure_detector_errors(smoke_sequence, tmp_path / "errors.json", keypoints=Oracle)
    model = load_detector_errors(path)
    wrist = model["keypoints"]["left_wrist"]
    assert wrist["miss_rate"] == 0.0
    # offsets are in person scales; the scale varies per frame, so compare in pixels at the median
    assert np.allclose(np.array(wrist["mean_offset"]) * model["scale_px_median"], offset_px, rtol=0.25)
    assert wrist["error_p50"] * model["scale_px_median"] == pytest.approx(np.hypot(3, 2), rel=0.25)
