"""Camera-motion backends: visual odometry, gyro clock offset and bias from vision, the
fused gyro+vo camera and the DPVO adapter (against a stand-in of DPVO's API)."""

from pathlib import Path

import numpy as np
import pytest

from livehmr.core.errors import LivehmrError
from livehmr.core.geometry import R_WORLD_CAM_LEVEL, intrinsics_from_fov, rotation_angle, rotvec_to_rotmat
from livehmr.core.types import Frame
from livehmr.stream.camera.gyro_align import estimate_offset
from livehmr.studio.camera_path import GyroNoise, HandheldFollow, WhipPan, simulate_gyro
from livehmr.studio.render import render
from livehmr.studio.scene import scatter_props

FAKE_DPVO = Path(__file__).parent / "fake_dpvo"


def _pan_frames(n=60, size=(320, 240), fps=30.0):
    """A textured world seen by a camera whipping around: frames, K, true R_world_cam."""
    path = WhipPan(HandheldFollow(lambda t: np.array([5.0, 0.3 * t, 1.0])), amplitude_deg=40, whip_s=0.5, offset_s=0.4)
    K = intrinsics_from_fov(*size, 70.0)
    props = scatter_props(np.random.default_rng(3), np.array([0.0, 0.0, 0.0]), count=10, clear_radius=3.0)
    frames, Rs = [], []
    for i in range(n):
        T = path.T_world_cam(i / fps)
        image, _ = render(K, T, size, props, seed=3)
        frames.append(Frame(index=i, t=i / fps, image=image, K=K))
        Rs.append(T[:3, :3])
    return frames, K, np.array(Rs), path


def _relative_error_deg(R_est, R_true):
    rel_est = R_est[0].T @ R_est[-1]
    rel_true = R_true[0].T @ R_true[-1]
    return float(np.degrees(rotation_angle(rel_est.T @ rel_true)))


def test_vo_follows_a_whip_pan_and_ignores_the_person_box():
    from livehmr.stream.camera.visual import VoCamera

    frames, K, R_true, _ = _pan_frames()
    cam = VoCamera()
    R_est = np.array([cam.update(f, []).R_world_cam for f in frames])
    turned = np.degrees(rotation_angle(R_true[0].T @ R_true[25]))
    assert turned > 20  # the test does turn the camera
    errs = [np.degrees(rotation_angle((R_est[0].T @ R_est[i]).T @ (R_true[0].T @ R_true[i]))) for i in range(len(frames))]
    assert max(errs) < 1.0, max(errs)


def test_vo_flags_lost_on_a_blank_image_and_recovers():
    from livehmr.stream.camera.visual import VoCamera

    frames, K, R_true, _ = _pan_frames(n=20)
    cam = VoCamera()
    flags = []
    for f in frames[:8]:
        flags.append(cam.update(f, []).flags)
    blank = Frame(index=8, t=8 / 30, image=np.full_like(frames[0].image, 128), K=K)
    assert "vo_lost" in cam.update(blank, []).flags
    later = [cam.update(Frame(index=i, t=i / 30, image=f.image, K=K), []).flags for i, f in enumerate(frames[9:], 9)]
    assert "vo_lost" not in later[-1]


def test_clock_offset_from_vision_rates_within_5ms():
    path = WhipPan(HandheldFollow(lambda t: np.array([4.0, 0.5 * np.sin(t), 1.0]), shake_deg=1.0), period_s=3.0)
    fps, offset = 30.0, 0.037
    noise = GyroNoise(clock_offset=offset, bias=(0.01, -0.02, 0.005))
    samples = simulate_gyro(path.T_world_cam, 8.0, 200.0, noise=noise)
    t = np.arange(int(8 * fps)) / fps
    from livehmr.core.geometry import rotmat_to_rotvec

    vision = np.array([rotmat_to_rotvec(path.T_world_cam(a)[:3, :3].T @ path.T_world_cam(b)[:3, :3]) / (b - a)
                       for a, b in zip(t[:-1], t[1:])])  # fmt: skip
    vision += np.random.default_rng(0).normal(0, 0.01, vision.shape)  # VO noise
    est = estimate_offset(samples, np.eye(3), t[:-1], t[1:], vision)
    assert abs(est.offset_s - offset) < 0.005
    assert np.allclose(est.bias_cam, [0.01, -0.02, 0.005], atol=0.004)


def test_fused_camera_estimates_the_offset_on_rendered_frames():
    """The studio's own chain: rendered frames -> VO -> offset; gyro with 30 ms offset and bias."""
    from livehmr.stream.camera.fused import FusedCamera
    from livehmr.stream.sources.gyro_feeds import ArrayGyroFeed

    frames, K, R_true, path = _pan_frames(n=150)
    noise = GyroNoise(clock_offset=0.03, bias=(0.01, 0.0, -0.01))
    feed = ArrayGyroFeed(simulate_gyro(path.T_world_cam, 5.2, 200.0, noise=noise))
    cam = FusedCamera(feed, np.eye(3), clock_offset=None, refit_s=1.0, window_s=5.0)
    R_est = np.array([cam.update(f, []).R_world_cam for f in frames])
    assert cam.offset_estimate is not None
    assert abs(cam.gyro.clock_offset - 0.03) < 0.005
    assert np.allclose(cam.gyro.bias_cam, [0.01, 0.0, -0.01], atol=0.005)
    # before the first fit (1 s) the unknown 30 ms offset costs ~2 deg during the whip; that
    # error stays in the heading, but once calibrated the camera tracks the truth within a degree through the whips
    assert _relative_error_deg(R_est, R_true) < 3.0
    assert _relative_error_deg(R_est[60:], R_true[60:]) < 1.0
    # and it beats the gyro alone, which never learns the offset
    from livehmr.stream.camera.gyro import GyroCamera

    gyro_only = GyroCamera(ArrayGyroFeed(simulate_gyro(path.T_world_cam, 5.2, 200.0, noise=noise)), np.eye(3))
    R_gyro = np.array([gyro_only.update(f, []).R_world_cam for f in frames])
    assert _relative_error_deg(R_est[60:], R_true[60:]) < _relative_error_deg(R_gyro[60:], R_true[60:])


class _FooledVo:
    """Stands in for VisualOdometry as parallax fools it: the true rotation since each
    keyframe (every 30 frames) plus a steady false yaw of ``false_rate`` rad/s."""

    def __init__(self, path, fps=30.0, false_rate=0.1):
        self.path, self.fps, self.false_rate, self.i, self.kf = path, fps, false_rate, 0, 0

    def track(self, image, K, boxes):
        from livehmr.stream.camera.vo import VoEstimate

        R = lambda i: self.path.T_world_cam(i / self.fps)[:3, :3]  # noqa: E731
        dt = (self.i - self.kf) / self.fps
        est = VoEstimate(R(self.kf).T @ R(self.i) @ rotvec_to_rotmat(np.array([0.0, self.false_rate * dt, 0.0])), inliers=100)
        if self.i - self.kf >= 30 or self.i == 0:
            est.new_keyframe, self.kf = True, self.i
        self.i += 1
        return est


def test_fused_camera_ignores_vision_that_parallax_fools():
    """A drone-like shot where vision reports 6 deg/s of yaw that is not there: the fused
    camera must stay with the gyro (the old rate-agreement gate followed vision)."""
    from livehmr.stream.camera.fused import FusedCamera
    from livehmr.stream.camera.gyro import GyroCamera
    from livehmr.stream.sources.gyro_feeds import ArrayGyroFeed

    path = HandheldFollow(lambda t: np.array([5.0, 0.4 * t, 1.0]), shake_deg=0.5)
    K = intrinsics_from_fov(64, 48, 60.0)
    frames = [Frame(index=i, t=i / 30, image=np.zeros((48, 64, 3), np.uint8), K=K) for i in range(300)]
    R_true = np.array([path.T_world_cam(f.t)[:3, :3] for f in frames])
    noise = GyroNoise(clock_offset=0.02)
    fused = FusedCamera(ArrayGyroFeed(simulate_gyro(path.T_world_cam, 10.5, 200.0, noise=noise)), np.eye(3))
    fused.vo.vo = _FooledVo(path)
    gyro = GyroCamera(ArrayGyroFeed(simulate_gyro(path.T_world_cam, 10.5, 200.0, noise=noise)), np.eye(3))
    R_fused = np.array([fused.update(f, []).R_world_cam for f in frames])
    R_gyro = np.array([gyro.update(f, []).R_world_cam for f in frames])
    fooled = np.degrees(0.1 * 10)  # what following vision would cost by the end: 57 deg
    assert _relative_error_deg(R_gyro, R_true) < 3.0
    assert _relative_error_deg(R_fused, R_true) < _relative_error_deg(R_gyro, R_true) + 1.0 < fooled / 10
    assert fused.distrust_until > frames[-1].t - fused.window_s  # and it knows why


def test_dpvo_adapter_against_the_stand_in(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(FAKE_DPVO))
    import dpvo.dpvo as fake

    from livehmr.stream.camera.dpvo import DpvoCamera

    turn = [R_WORLD_CAM_LEVEL @ rotvec_to_rotmat(np.array([0.0, 0.03 * i, 0.0])) for i in range(12)]
    monkeypatch.setattr(fake, "TRAJECTORY", turn)
    weights = tmp_path / "dpvo.pth"
    weights.write_bytes(b"x")
    cam = DpvoCamera(weights=str(weights), device="cpu")
    K = intrinsics_from_fov(130, 100, 60.0)
    states = [cam.update(Frame(index=i, t=i / 30, image=np.zeros((100, 130, 3), np.uint8), K=K), []) for i in range(12)]
    slam = fake.INSTANCES[-1]
    assert (slam.ht, slam.wd) == (96, 128)  # cropped to multiples of 16
    assert np.allclose(slam.calls[0][1].numpy(), [K[0, 0], K[1, 1], K[0, 2], K[1, 2]])
    assert all("vo_lost" in s.flags for s in states[:7]) and "vo_lost" not in states[7].flags
    for i in range(7, 12):
        assert np.degrees(rotation_angle(states[i].R_world_cam.T @ turn[i])) < 1e-3
        assert states[i].t_up_to_scale is not None
    cam.close()
    assert slam.terminated


def test_dpvo_missing_is_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_dpvo(name, *args, **kwargs):
        if name.startswith("dpvo"):
            raise ImportError("No module named 'dpvo'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dpvo)
    from livehmr.stream.camera.dpvo import DpvoCamera

    with pytest.raises(LivehmrError, match="needs the dpvo package"):
        DpvoCamera()


def _real_dpvo_available() -> bool:
    import importlib.util
    import os

    import torch

    return (importlib.util.find_spec("dpvo") is not None and torch.cuda.is_available()
            and os.path.isfile(os.environ.get("LIVEHMR_DPVO_WEIGHTS", "")))  # fmt: skip


@pytest.mark.skipif(not _real_dpvo_available(), reason="needs the dpvo package, CUDA and $LIVEHMR_DPVO_WEIGHTS")
def test_real_dpvo_follows_a_whip_pan():
    from livehmr.stream.camera.dpvo import DpvoCamera

    frames, K, R_true, _ = _pan_frames(n=90, size=(640, 480))
    cam = DpvoCamera()
    states = [cam.update(f, []) for f in frames]
    cam.close()
    R_est = np.array([s.R_world_cam for s in states[10:]])
    assert _relative_error_deg(R_est, R_true[10:]) < 2.0


def test_auto_without_a_gyro_is_visual_odometry_not_a_still_camera(tmp_path):
    """Issue 31: a video without a gyroscope is not assumed to come from a still camera."""
    from livehmr.stream.camera.gyro import GyroCamera
    from livehmr.stream.camera.visual import VoCamera
    from livehmr.stream.registry import make_camera
    from livehmr.stream.sources.files import VideoFileSource
    from livehmr.testing import write_scene_clip

    source = VideoFileSource(write_scene_clip(tmp_path / "clip.mp4", seconds=0.5))
    assert isinstance(make_camera("auto", source, floor_motion=False), VoCamera)
    assert isinstance(make_camera("auto", source).inner, VoCamera)  # with the floor's travel measured
    gyro = tmp_path / "gyro.csv"
    gyro.write_text("t,wx,wy,wz\n0.0,0,0,0\n0.005,0,0,0\n")
    assert isinstance(make_camera("auto", source, str(gyro), floor_motion=False), GyroCamera)
