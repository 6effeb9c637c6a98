"""Gyro parsing, buffering and integration against known rotations."""

import numpy as np
import pytest

from livehmr.core.errors import GyroFormatError
from livehmr.core.geometry import IMU_PRESETS, rotation_angle, rotvec_to_rotmat
from livehmr.core.types import Frame
from livehmr.stream.camera.gyro import GyroCamera, integrate_gyro
from livehmr.stream.camera.static import initial_orientation
from livehmr.stream.sources.gyro_feeds import (
    ArrayGyroFeed,
    CsvGyroFeed,
    GyroBuffer,
    parse_sample_line,
    parse_sample_message,
)


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


# -- UDP, the phone app's format, accelerometer gravity, bias while still ------------------
def test_sensorstream_line_gives_gyro_and_accel():
    from livehmr.stream.sources.gyro_feeds import parse_sensorstream_line

    t, gyro, accel = parse_sensorstream_line("890.71558, 3,   0.076,  9.997,  0.650, 4,  -0.010,  0.020, -0.001, 5, 1, 2, 3")
    assert t == 890.71558 and np.allclose(gyro, [-0.01, 0.02, -0.001]) and np.allclose(accel, [0.076, 9.997, 0.65])
    t, gyro, accel = parse_sensorstream_line("1.5, 3, 0, 9.8, 0")
    assert gyro is None and accel is not None
    with pytest.raises(GyroFormatError):
        parse_sensorstream_line("1.5, 4, nan, 0, 0")
    with pytest.raises(GyroFormatError):
        parse_sensorstream_line("1.5, 4, x, 0, 0")


def test_udp_feed_receives_all_three_formats_and_rejects_garbage():
    import socket
    import time

    from livehmr.stream.sources.gyro_feeds import open_gyro

    feed = open_gyro("udp://127.0.0.1:0")
    try:
        send = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for payload in (b"0.10,0.1,0.2,0.3", b'{"t": 0.105, "w": [0.1, 0.2, 0.3]}',
                        b"0.11, 3, 0.0, 9.81, 0.0, 4, 0.1, 0.2, 0.3", b"\\xff\\xfe garbage", b"0.2,1,2"):  # fmt: skip
            send.sendto(payload, ("127.0.0.1", feed.port))
        deadline = time.time() + 2.0
        while time.time() < deadline and (len(feed.buffer.window(0, 1)) < 3 or feed.buffer.rejected < 2):
            time.sleep(0.02)
        samples = feed.buffer.window(0, 1)
        assert np.allclose(samples[:, 0], [0.10, 0.105, 0.11]) and np.allclose(samples[:, 1:], [0.1, 0.2, 0.3])
        assert len(feed.accel.window(0, 1)) == 1
        assert feed.buffer.rejected == 2
    finally:
        feed.close()


def test_gravity_from_the_accelerometer_tilts_the_first_frame():
    from livehmr.stream.camera.gyro import GyroCamera
    from livehmr.stream.sources.gyro_feeds import ArrayGyroFeed

    feed = ArrayGyroFeed(np.array([[t, 0.0, 0.0, 0.0] for t in np.arange(0, 1, 0.005)]))
    tilt = 0.3  # camera pitched down by 0.3 rad: gravity in cam has a +z (forward) part
    up_cam = -np.array([0.0, np.cos(tilt), np.sin(tilt)])  # accelerometer reads +g "up", i.e. minus gravity
    for t in np.arange(0, 1, 0.01):
        feed.accel.add(t, *(9.81 * up_cam))
    cam = GyroCamera(feed)
    state = cam.update(Frame(index=0, t=0.5, image=np.zeros((4, 4, 3), np.uint8)), [])
    optical_axis_world = state.R_world_cam @ [0.0, 0.0, 1.0]
    assert np.isclose(np.arcsin(-optical_axis_world[2]), tilt, atol=1e-6)


def test_bias_is_learned_while_still_and_removed():
    from livehmr.core.geometry import rotation_angle
    from livehmr.stream.camera.gyro import GyroCamera
    from livehmr.stream.sources.gyro_feeds import ArrayGyroFeed

    rng = np.random.default_rng(0)
    bias = np.array([0.01, -0.02, 0.015])
    t = np.arange(0, 6, 0.005)
    w = bias + 0.003 * rng.normal(size=(len(t), 3))  # a still camera
    feed = ArrayGyroFeed(np.column_stack([t, w]))
    cam = GyroCamera(feed)
    states = [cam.update(Frame(index=i, t=i / 30, image=np.zeros((4, 4, 3), np.uint8)), []) for i in range(170)]
    assert np.allclose(cam.bias_cam, bias, atol=0.002)
    drift = np.degrees(rotation_angle(states[60].R_world_cam.T @ states[-1].R_world_cam))
    raw = np.degrees(np.linalg.norm(bias) * (169 - 60) / 30)
    assert drift < 0.1 * raw  # the learned bias stops the drift a raw integration would have


def _jumps(events):
    from livehmr.stream.sources.gyro_feeds import ClockJumpDetector

    detector = ClockJumpDetector()
    return [(round(arrival, 3), round(jump, 3)) for stamp, arrival in events if (jump := detector.add(stamp, arrival))]


@pytest.mark.parametrize("case, expected", [
    ("steady", []), ("forward", [(5.355, 100.0)]), ("back", [(5.355, -50.0)]),
    ("burst", []), ("falls_behind", []), ("small", []),
])  # fmt: skip
def test_clock_jumps_are_told_from_bursts_and_delays(case, expected):
    """200 Hz samples arriving 50 ms after their moment (plus jitter); at 5 s: the clock jumps
    +100 s or -50 s, or 3 s of samples come at once, or the link falls 3 s behind for good,
    or the clock steps back 0.5 s (under the 1 s threshold). Only the jumps count, 0.35 s later."""
    rng = np.random.default_rng(0)
    t = np.arange(0, 10, 1 / 200)
    arrival = t + 0.05 + 0.005 * rng.random(len(t))
    stamp = t.copy()
    if case == "forward":
        stamp[t >= 5] += 100
    if case == "back":
        stamp[t >= 5] -= 50
    if case == "burst":
        arrival[(t >= 4) & (t < 7)] = 7.05
    if case == "falls_behind":
        arrival[t >= 5] += 3
    if case == "small":
        stamp[t >= 5] -= 0.5
    order = np.argsort(arrival, kind="stable")
    found = _jumps(zip(stamp[order], arrival[order]))
    assert len(found) == len(expected)
    for (when, jump), (when_expected, jump_expected) in zip(found, expected):
        assert when == pytest.approx(when_expected, abs=0.02) and jump == pytest.approx(jump_expected, abs=0.02)


@pytest.mark.parametrize("jump", [100.0, -50.0])
def test_clock_jump_repairs_from_samples_already_there(jump):
    """A live feed whose clock jumps at 2 s, read by a camera that lags the source: while the
    camera waits for a frame's samples, those of the next 5 frames come at once. The frames
    extrapolated before the new clock is confirmed must be redone as soon as the jump is
    taken, from the samples already there, not when something new next arrives."""
    from livehmr.stream.sources.gyro_feeds import GyroFeed

    t = np.arange(0, 4.0, 1 / 200)
    w = np.column_stack([1.5 * np.sin(2 * t), 0.4 * np.ones_like(t), 0.8 * np.cos(3 * t)])  # rad/s: a turning phone
    samples = np.column_stack([t, w])

    class LaggingFeed(GyroFeed):
        live = True

        def __init__(self, shift: float):
            super().__init__()
            self.shift, self.sent, self.frame = shift, 0.0, 0
            wait = self.buffer.wait_until

            def wait_until(t_gyro: float, timeout: float) -> bool:
                self.frame += 1  # the camera waits once a frame, from frame 1 on
                if self.frame / 30 >= self.sent - 1e-9:  # the source's next 5 frames: their samples (5 ms in transit) come now
                    due = samples[(samples[:, 0] >= self.sent) & (samples[:, 0] < self.sent + 5 / 30)]
                    for row in due:
                        stamp = row[0] + (self.shift if row[0] >= 2.0 else 0.0)
                        self.buffer.add(stamp, *row[1:], arrival=row[0] + 0.005)
                    self.sent += 5 / 30
                return wait(t_gyro, timeout)

            self.buffer.wait_until = wait_until

    cams = {"clean": GyroCamera(LaggingFeed(0.0), wait_s=0.0), "jump": GyroCamera(LaggingFeed(jump), wait_s=0.0)}
    states: dict[str, list] = {"clean": [], "jump": []}
    for i in range(100):
        frame = Frame(index=i, t=i / 30, image=np.zeros((4, 4, 3), np.uint8))
        for key, cam in cams.items():
            cam.estimate_bias_when_still = False
            states[key].append(cam.update(frame, []))
    taken = [i for i, s in enumerate(states["jump"]) if "gyro_clock_jump" in s.flags]
    assert len(taken) == 1
    for i in range(taken[0], 100):
        error = np.degrees(rotation_angle(states["jump"][i].R_world_cam.T @ states["clean"][i].R_world_cam))
        assert error < 0.5, f"frame {i}: {error:.2f} deg from the run without the jump"


def test_accelerometer_holds_the_tilt_against_gyro_drift_and_leaves_heading_alone():
    """A still camera pitched down 10 deg whose gyro reads a false pitch rate (0.05 rad/s)
    and a true yaw rate: without an accelerometer the tilt drifts away (24 deg in 10 s);
    with one it settles within 5 deg, and the heading still follows the gyro."""
    pitch = np.radians(10.0)
    g_cam = rotvec_to_rotmat(np.array([pitch, 0.0, 0.0])).T @ np.array([0.0, 1.0, 0.0])  # down in a pitched camera
    yaw_rate = 0.2  # rad/s about the world's vertical, seen in the camera
    fps, seconds = 30.0, 10.0
    t = np.arange(0, seconds, 1 / 200)
    w_true_cam = yaw_rate * -g_cam  # turning about the vertical
    gyro = np.column_stack([t, np.tile(w_true_cam + np.array([0.05, 0.0, 0.0]), (len(t), 1))])
    accel = np.column_stack([t, np.tile(-9.81 * g_cam, (len(t), 1))])  # at rest it reads +g up

    def run(with_accel: bool) -> tuple[float, float]:
        feed = ArrayGyroFeed(gyro)
        if with_accel:
            for row in accel:
                feed.accel.add(*row)
        camera = GyroCamera(feed)
        frames = [Frame(index=i, t=i / fps, image=np.zeros((4, 4, 3), np.uint8), gravity_cam=g_cam if i == 0 else None)
                  for i in range(int(seconds * fps))]  # fmt: skip
        for frame in frames:
            R = camera.update(frame, []).R_world_cam
        tilt_error = np.degrees(np.arccos(np.clip((R.T @ np.array([0.0, 0.0, -1.0])) @ g_cam, -1, 1)))
        forward = R[:, 2]
        heading = np.degrees(np.arctan2(forward[1], forward[0]))
        return float(tilt_error), float(heading)

    drift, heading_free = run(with_accel=False)
    held, heading_held = run(with_accel=True)
    # a proportional pull settles where it cancels the drift: 0.05 rad/s / (0.02 x 30 fps) = 4.8 deg
    assert drift > 20.0 and held < 5.5
    assert abs(((heading_held - heading_free) + 180) % 360 - 180) < 10.0  # the yaw still comes from the gyro
