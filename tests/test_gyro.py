"""Gyro parsing, buffering and integration against known rotations."""

import numpy as np
import pytest

from livehmr.geometry import rotation_angle, rotvec_to_rotmat
from livehmr.stream.camera import GyroCamera, initial_orientation, integrate_gyro
from livehmr.stream.errors import GyroFormatError
from livehmr.stream.gyro import IMU_PRESETS, ArrayGyroFeed, CsvGyroFeed, GyroBuffer, parse_sample_line, parse_sample_message
from livehmr.stream.types import Frame


def _samples(w, t0=0.0, t1=1.0, rate=200.0):
    t = np.arange(t0, t1 + 1e-9, 1 / rate)
    return np.column_stack([t, np.tile(w, (len(t), 1))])


def test_constant_rate_integrates_to_the_known_rotation():
    w = np.array([0.3, -0.2, 0.5])
    R, w_mean, gap = integrate_gyro(_samples(w), 0.1, 0.6, np.eye(3), 0.03, np.zeros(3))
    assert not gap
    assert np.allclose(R, rotvec_to_rotmat(w * 0.5), atol=1e-9)
    assert np.allclose(w_mean, w)


def test_imu_extrinsic_rotates_the_rate_into_the_camera():
    R_cam_imu = IMU_PRESETS["android-portrait"]
    w_imu = np.array([0.0, 1.0, 0.0])
    R, _, _ = integrate_gyro(_samples(w_imu), 0.0, 0.5, R_cam_imu, 0.03, np.zeros(3))
    assert np.allclose(R, rotvec_to_rotmat(R_cam_imu @ w_imu * 0.5), atol=1e-9)


def test_gap_is_flagged_and_bridged_at_the_last_rate():
    s = _samples(np.array([0.0, 0.0, 1.0]))
    s = s[(s[:, 0] < 0.3) | (s[:, 0] > 0.5)]
    R, _, gap = integrate_gyro(s, 0.2, 0.6, np.eye(3), 0.03, np.array([0.0, 0.0, 1.0]))
    assert gap
    assert np.isclose(rotation_angle(R), 0.4, atol=1e-6)


def test_gyro_camera_tracks_a_sinusoidal_rotation():
    t = np.arange(0, 2.0, 1 / 400)
    w = np.column_stack([0.5 * np.sin(3 * t), 0.2 * np.ones_like(t), -0.4 * np.cos(2 * t)])
    cam = GyroCamera(ArrayGyroFeed(np.column_stack([t, w])))
    R_true = np.eye(3)
    frames = np.arange(0, 60) / 30
    for i, tf in enumerate(frames):
        state = cam.update(Frame(index=i, t=tf, image=np.zeros((4, 4, 3), np.uint8)), [])
        if i == 0:
            R0 = state.R_world_cam
        else:  # fine reference: 100 kHz integration of the same signal
            for tt in np.arange(frames[i - 1], tf, 1e-5):
                R_true = R_true @ rotvec_to_rotmat(np.array([0.5 * np.sin(3 * tt), 0.2, -0.4 * np.cos(2 * tt)]) * 1e-5)
            assert rotation_angle((R0 @ R_true).T @ state.R_world_cam) < np.deg2rad(0.2)
            assert "gyro_gap" not in state.flags


def test_initial_orientation_from_gravity_or_level():
    level = initial_orientation(Frame(0, 0.0, np.zeros((2, 2, 3), np.uint8)))
    assert np.allclose(level @ [0, 1, 0], [0, 0, -1])
    pitch = rotvec_to_rotmat(np.array([-0.3, 0.0, 0.0]))  # camera pitched down
    g_cam = pitch.T @ (level.T @ np.array([0, 0, -1.0]))
    R = initial_orientation(Frame(0, 0.0, np.zeros((2, 2, 3), np.uint8), gravity_cam=g_cam))
    assert np.allclose(R @ g_cam, [0, 0, -1], atol=1e-9)
    assert R[2, 2] < -0.2  # optical axis points below the horizon


def test_buffer_sorts_and_deduplicates_out_of_order_samples():
    buf = GyroBuffer()
    for t in (0.02, 0.0, 0.01, 0.01, 0.03):
        buf.add(t, t, 0, 0)
    win = buf.window(0.0, 1.0)
    assert np.allclose(win[:, 0], [0.0, 0.01, 0.02, 0.03]) and buf.duplicates == 1


@pytest.mark.parametrize("line", ["1,2,3", "a,b,c,d", "1,2,3,nan", "0.1,1,2,3,4"])
def test_malformed_lines_raise_clear_errors(line):
    with pytest.raises(GyroFormatError, match="gyro sample"):
        parse_sample_line(line, "x.csv:3")


def test_message_formats():
    assert parse_sample_message(b'{"t": 1.5, "w": [0.1, 0.2, 0.3]}') == (1.5, 0.1, 0.2, 0.3)
    assert parse_sample_message(b"1.5,0.1,0.2,0.3") == (1.5, 0.1, 0.2, 0.3)
    for bad in (b'{"t": 1}', b"\xff\xfe", b'{"t": 1, "w": [1, 2]}', b""):
        with pytest.raises(GyroFormatError):
            parse_sample_message(bad)


def test_csv_feed_reports_the_bad_line(tmp_path):
    path = tmp_path / "gyro.csv"
    path.write_text("t,wx,wy,wz\n0.0,0,0,0\n0.005,0,0,oops\n")
    with pytest.raises(GyroFormatError, match="gyro.csv:3"):
        CsvGyroFeed(path)
    path.write_text("t,wx,wy,wz\n0.0,0,0,0\n0.005,0.1,0,0\n")
    assert len(CsvGyroFeed(path).buffer.window(0, 1)) == 2
