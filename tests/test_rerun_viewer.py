"""`livehmr view`: a live stream (with --publish-frames) and a recording, logged to an .rrd
file and read back: the camera, the image with the body drawn over it where the body
projects, the keypoints, the mesh (Anny's own, posed), trails and plots."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from livehmr.core.geometry import R_WORLD_CAM_LEVEL, intrinsics_from_fov, invert_T, project, transform_points
from livehmr.core.types import FrameResult, PersonKeypoints, PersonState
from livehmr.models.body import SmplParams, body_joints
from livehmr.tests.conftest import watch_for_subscriber

FRAMES = 6
GREY = 90
K = intrinsics_from_fov(640, 480, 60.0)


def _results(body):
    """FRAMES frame results: a person 4 m in front of a level camera, a grey image."""
    T = np.eye(4)
    T[:3, :3], T[2, 3] = R_WORLD_CAM_LEVEL, 1.5
    facing = Rotation.from_matrix(np.array([[0.0, 0, -1], [-1, 0, 0], [0, 1, 0]])).as_rotvec()
    for i in range(FRAMES):
        body_pose = np.zeros((23, 3))
        body_pose[15, 2] = 0.2 * i  # the left shoulder rises frame by frame
        params = SmplParams(facing, body_pose.ravel(), np.array([4.0, 0.1 * i, 0.05]), body.betas)
        joints = body_joints(body, params)
        kp = np.zeros((23, 3))
        kp[:, :2] = project(transform_points(invert_T(T), joints[:23]), K)
        kp[:, 2] = 0.9
        yield FrameResult(i, 2.0 + i / 30, time.perf_counter(), T.copy(),
                          [PersonState(4, params, joints, np.array([0.9, 0.8, 0.1, 0.0]), np.full(24, 0.7))],
                          keypoints=[PersonKeypoints(kp, np.zeros(4), track_id=4)],
                          image=np.full((480, 640, 3), GREY, np.uint8), K=K)  # fmt: skip


def _read_rrd(path) -> dict[str, list[dict]]:
    """Rows of every entity in an .rrd: entity path -> [{column: value}] (static rows included)."""
    from rerun.chunk import RrdReader

    rows: dict[str, list[dict]] = {}
    for chunk in RrdReader(path).stream():
        batch = chunk.to_record_batch()
        table = {name: batch.column(name).to_pylist() for name in batch.schema.names if not name.startswith("rerun.") and name not in ("log_time", "source_time")}
        for r in range(batch.num_rows):
            rows.setdefault(str(chunk.entity_path), []).append({k: v[r] for k, v in table.items()})
    return rows


def _check(rows: dict[str, list[dict]], body) -> None:
    import cv2

    for entity in ("/world/ground", "/world/camera", "/world/camera_trail", "/world/camera/image",
                   "/world/camera/image/keypoints/4", "/world/people/4/mesh", "/world/people/4/trail",
                   "/world/people/4/skeleton", "/plots/contacts/4/left_ankle", "/plots/confidence/4"):  # fmt: skip
        assert entity in rows, (entity, sorted(rows))
    assert sorted(r["frame"] for r in rows["/world/people/4/trail"]) == list(range(FRAMES))
    pinhole = next(r for r in rows["/world/camera"] if r.get("Pinhole:image_from_camera"))
    np.testing.assert_allclose(np.array(pinhole["Pinhole:image_from_camera"]).reshape(3, 3).T, K, rtol=1e-6)
    contacts = {r["frame"]: r["Scalars:scalars"] for r in rows["/plots/contacts/4/left_ankle"]}
    assert contacts[3] == pytest.approx([0.9], abs=1e-6)

    # The mesh at frame 5 is Anny's own mesh of that pose (up to the skin's four influences).
    results = list(_results(body))
    mesh = next(r for r in rows["/world/people/4/mesh"] if r.get("frame") == 5)
    vertices = np.array(mesh["Mesh3D:vertex_positions"])
    reference, _ = body.mesh(results[5].persons[0].params)
    error = np.linalg.norm(vertices - reference, axis=1)
    assert error.max() < 0.015 and np.quantile(error, 0.99) < 0.001
    faces = next(r for r in rows["/world/people/4/mesh"] if r.get("Mesh3D:triangle_indices"))
    assert len(faces["Mesh3D:triangle_indices"]) == len(body.faces)

    # The image: grey where nothing is, the body drawn where its pelvis and head project.
    image_row = next(r for r in rows["/world/camera/image"] if r.get("frame") == 5)
    image = cv2.imdecode(np.frombuffer(bytes(image_row["EncodedImage:blob"][0]), np.uint8), cv2.IMREAD_COLOR)
    T_cam_world = invert_T(results[5].T_world_cam)
    for joint in (0, 15):  # pelvis, head
        u, v = np.round(project(transform_points(T_cam_world, results[5].persons[0].joints_world[joint]), K)).astype(int)
        assert np.abs(image[v, u].astype(int) - GREY).max() > 25, (joint, image[v, u])
    assert np.abs(image[20, 20].astype(int) - GREY).max() < 8  # a corner: JPEG's grey
    keypoints = next(r for r in rows["/world/camera/image/keypoints/4"] if r.get("frame") == 5)
    np.testing.assert_allclose(np.array(keypoints["Points2D:positions"]), results[5].keypoints[0].keypoints[:, :2], atol=1e-3)


def test_a_live_stream_with_frames_in_rerun(tmp_path, anny_body):
    from livehmr.clients.rerun_viewer import view
    from livehmr.stream.publish.publisher import ZmqPublisher

    url = "tcp://127.0.0.1:5661"
    publisher = ZmqPublisher(url, publish_frames=True)
    subscribed = watch_for_subscriber(publisher.socket)

    def publish():
        subscribed()
        for result in _results(anny_body):
            publisher.publish(result)
            time.sleep(0.02)

    thread = threading.Thread(target=publish)
    thread.start()
    frames = view(url, save=str(tmp_path / "live.rrd"), idle_s=3.0, announce=lambda _: None)
    thread.join()
    publisher.close()
    assert frames == FRAMES
    _check(_read_rrd(tmp_path / "live.rrd"), anny_body)


def test_a_recording_in_rerun_through_the_cli(tmp_path, anny_body):
    from typer.testing import CliRunner

    from livehmr.cli import app
    from livehmr.clients.recording import RecordingWriter
    from livehmr.stream.publish.publisher import frame_message, state_messages
    from livehmr.stream.publish.wire import TOPIC_FRAME, TOPIC_STATE, encode

    with RecordingWriter(tmp_path / "run.lhmr") as writer:
        for result in _results(anny_body):
            writer.write(encode(TOPIC_FRAME, *frame_message(result, "s")))
            for header, arrays in state_messages(result, "s", "anny"):
                writer.write(encode(TOPIC_STATE, header, arrays))
    out = CliRunner().invoke(app, ["view", str(tmp_path / "run.lhmr"), "--save", str(tmp_path / "rec.rrd")])
    assert out.exit_code == 0, out.output
    assert f"logged {FRAMES} frames" in out.output
    _check(_read_rrd(tmp_path / "rec.rrd"), anny_body)

    out = CliRunner().invoke(app, ["view", str(tmp_path / "missing.lhmr"), "--save", str(tmp_path / "x.rrd")])
    assert out.exit_code == 2 and "neither a recording file nor a stream URL" in out.output


def test_malformed_frame_messages_are_clear_errors(anny_body):
    from livehmr.clients.sdk import parse
    from livehmr.stream.publish.publisher import frame_message
    from livehmr.stream.publish.wire import TOPIC_FRAME, WireError, decode, encode

    header, arrays = frame_message(next(_results(anny_body)), "s")
    assert parse(decode(encode(TOPIC_FRAME, header, arrays))).image().shape == (480, 640, 3)
    for bad_header, bad_arrays in (
        ({**header, "persons": [4, 5]}, arrays),  # two ids, one row of keypoints
        ({**header, "persons": ["4"]}, arrays),
        ({**header, "frame": "7"}, arrays),
        (header, {k: v for k, v in arrays.items() if k != "K"}),
        (header, {**arrays, "image": np.zeros((2, 2), np.uint8)}),
    ):
        with pytest.raises(WireError):
            parse(decode(encode(TOPIC_FRAME, bad_header, bad_arrays)))
    not_jpeg = parse(decode(encode(TOPIC_FRAME, header, {**arrays, "image": np.arange(100, dtype=np.uint8)})))
    with pytest.raises(WireError, match="not a (decodable )?JPEG"):
        not_jpeg.image()


def test_without_a_display_view_says_what_to_use_instead(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from livehmr.cli import app

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    out = CliRunner().invoke(app, ["view", "tcp://127.0.0.1:5662", "--count", "1"])
    assert out.exit_code == 2 and "use --web or --save FILE.rrd" in out.output
