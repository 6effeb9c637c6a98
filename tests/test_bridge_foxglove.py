"""The frame tree every bridge publishes, and the Foxglove bridge: an MCAP recording of a
known run reads back with the mcap library (schemas, channels, counts, values); the live
server advertises the same channels to a WebSocket client."""

import json
import time

import numpy as np
import pytest

from livehmr.clients.scene import scene_frame, transforms
from livehmr.clients.sdk import parse
from livehmr.stream.publish.publisher import TOPIC_FRAME, TOPIC_STATE, frame_message, state_messages
from livehmr.stream.publish.wire import decode, encode

FOXGLOVE_CHANNELS = {
    "/tf": "foxglove.FrameTransforms",
    "/scene": "foxglove.SceneUpdate",
    "/camera/image": "foxglove.CompressedImage",
    "/camera/calibration": "foxglove.CameraCalibration",
    "/camera/annotations": "foxglove.ImageAnnotations",
}


def _frame_messages(result):
    """What a subscriber with images receives for one FrameResult."""
    messages = [parse(decode(encode(TOPIC_FRAME, *frame_message(result, "test"))))]
    return messages + [parse(decode(encode(TOPIC_STATE, h, a))) for h, a in state_messages(result, "test", "anny")]


def _compose(tfs, frame: str) -> np.ndarray:
    """(4, 4) pose of ``frame`` in world, by walking the tree up."""
    by_child = {t.child: t for t in tfs}
    T = np.eye(4)
    while frame != "world":
        t = by_child[frame]
        step = np.eye(4)
        step[:3, :3], step[:3, 3] = t.rotation, t.translation
        T = step @ T
        frame = t.parent
    return T


def test_the_frame_tree_composes_to_the_published_joints_and_camera(anny_body):
    from livehmr.models.skeleton import JOINT_NAMES
    from livehmr.tests.test_rerun_viewer import _results

    result = list(_results(anny_body))[3]
    scene = scene_frame(_frame_messages(result))
    tfs = transforms(scene)
    assert len(tfs) == 1 + 1 + 24  # camera, body_b4, 24 joint frames
    person = result.persons[0]
    for j, name in enumerate(JOINT_NAMES):
        np.testing.assert_allclose(_compose(tfs, f"{name}_b4")[:3, 3], person.joints_world[j], atol=1e-5)
    np.testing.assert_allclose(_compose(tfs, "camera"), result.T_world_cam, atol=1e-6)
    # REP-155's body frame: X forward, Z up. The body faces world -X (see _results) and stands upright.
    R_world_body = _compose(tfs, "body_b4")[:3, :3]
    np.testing.assert_allclose(R_world_body[:, 0], [-1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(R_world_body[:, 2], [0, 0, 1], atol=1e-6)
    assert scene.image is not None and scene.bodies[0].keypoints is not None
    assert scene.stamp_ns / 1e9 == pytest.approx(time.time(), abs=60.0)  # capture time on the Unix clock


def _decode_protobuf(schema, data: bytes):
    """A protobuf message from an MCAP schema (a FileDescriptorSet) and its bytes."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    files = descriptor_pb2.FileDescriptorSet.FromString(schema.data)
    pool = descriptor_pool.DescriptorPool()
    for f in files.file:
        pool.Add(f)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName(schema.name))
    return cls.FromString(data)


def test_an_mcap_recording_of_a_known_run_has_every_channel_schema_and_message(tmp_path, anny_body):
    pytest.importorskip("foxglove")
    from mcap.reader import make_reader

    from livehmr.clients.bridges.foxglove import FoxgloveBridge
    from livehmr.tests.conftest import bridge_results
    from livehmr.tests.test_rerun_viewer import FRAMES, _results

    results = list(_results(anny_body))
    path = tmp_path / "run.mcap"
    stats = bridge_results(FoxgloveBridge(port=None, mcap=path), results, "tcp://127.0.0.1:5672", images=True)
    assert stats.frames == FRAMES

    with open(path, "rb") as f:
        reader = make_reader(f)
        summary = reader.get_summary()
        channels = {c.topic: (summary.schemas[c.schema_id].name, c.message_encoding) for c in summary.channels.values()}
        for topic, schema in FOXGLOVE_CHANNELS.items():
            assert channels[topic] == (schema, "protobuf"), topic
        assert channels["/bodies/b4"] == ("livehmr.BodyPlot", "json")
        counts = {summary.channels[k].topic: n for k, n in summary.statistics.channel_message_counts.items()}
        assert counts == {**{t: FRAMES for t in FOXGLOVE_CHANNELS}, "/bodies/b4": FRAMES}
        messages = list(reader.iter_messages(topics=["/tf", "/bodies/b4"]))

    tf_messages = [_decode_protobuf(s, m.data) for s, c, m in messages if c.topic == "/tf"]
    for result, tf in zip(results, tf_messages):
        body = next(t for t in tf.transforms if t.child_frame_id == "body_b4")
        assert body.parent_frame_id == "world"
        np.testing.assert_allclose([body.translation.x, body.translation.y, body.translation.z],
                                   result.persons[0].joints_world[0], atol=1e-5)  # fmt: skip
        assert len(tf.transforms) == 26
    plots = [json.loads(m.data) for s, c, m in messages if c.topic == "/bodies/b4"]
    assert [p["contact_left_ankle"] for p in plots] == pytest.approx([0.9] * FRAMES)
    assert plots[-1]["speed_m_s"] == pytest.approx(0.1 * 30, rel=0.5)  # _results moves the pelvis 0.1 m a frame


def test_the_live_server_advertises_the_channels_to_a_websocket_client(anny_body):
    pytest.importorskip("foxglove")
    import threading

    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from livehmr.clients.bridges.foxglove import FoxgloveBridge
    from livehmr.tests.conftest import bridge_results
    from livehmr.tests.test_rerun_viewer import _results

    bridge = FoxgloveBridge(port=0)
    advertised: set[str] = set()
    binary = []

    def client():
        with connect(f"ws://127.0.0.1:{bridge.port}", subprotocols=["foxglove.sdk.v1"], open_timeout=10) as ws:
            for _ in range(200):
                try:
                    message = ws.recv(timeout=5)
                except (TimeoutError, ConnectionClosed):  # the bridge may close first: the asserts judge
                    return
                if isinstance(message, bytes):
                    binary.append(message)
                    continue
                message = json.loads(message)
                if message.get("op") == "advertise":
                    channels = message["channels"]
                    advertised.update(c["topic"] for c in channels)
                    tf = next((c for c in channels if c["topic"] == "/tf"), None)
                    if tf is not None:  # subscribe to /tf: the server then sends its messages
                        ws.send(json.dumps({"op": "subscribe", "subscriptions": [{"id": 1, "channelId": tf["id"]}]}))
                if binary and advertised >= set(FOXGLOVE_CHANNELS):
                    return

    thread = threading.Thread(target=client)
    thread.start()
    results = list(_results(anny_body)) * 5
    for i, r in enumerate(results):
        r.frame_index = i
    bridge_results(bridge, results, "tcp://127.0.0.1:5673", images=True, period_s=0.1)
    thread.join(10)
    assert advertised >= set(FOXGLOVE_CHANNELS) | {"/bodies/b4"}
    assert binary and binary[0][0] == 1  # a message data frame (opcode 1) of the subscribed /tf


def _recorded_channels(tmp_path, anny_body, without_image: set[int]):
    """An MCAP written by the bridge from a known run, frames ``without_image`` sent with their states only."""
    from livehmr.clients.bridges.foxglove import FoxgloveBridge
    from livehmr.clients.bridges.mcap_check import read_channels
    from livehmr.tests.test_rerun_viewer import _results

    path = tmp_path / f"run-{sorted(without_image)}.mcap"
    bridge = FoxgloveBridge(port=None, mcap=path)
    for i, result in enumerate(_results(anny_body)):
        messages = _frame_messages(result)
        bridge.send(messages[1:] if i in without_image else messages)
    bridge.close()
    return read_channels(str(path))


def test_mcap_check_passes_a_whole_recording_and_one_joined_after_the_first_image(tmp_path, anny_body):
    """A recorder whose connection completes between frame 0's image and its states records
    frame 0 without an image: not a loss. The whole recording passes too."""
    pytest.importorskip("foxglove")
    from livehmr.clients.bridges.mcap_check import problems

    assert problems(_recorded_channels(tmp_path, anny_body, set()), images=True) == []
    assert problems(_recorded_channels(tmp_path, anny_body, {0}), images=True) == []


def test_mcap_check_reports_a_frame_that_lost_its_image_mid_recording(tmp_path, anny_body):
    pytest.importorskip("foxglove")
    from livehmr.clients.bridges.mcap_check import problems
    from livehmr.tests.test_rerun_viewer import FRAMES

    channels = _recorded_channels(tmp_path, anny_body, {2})
    image_topics = ["/camera/image", "/camera/calibration", "/camera/annotations"]
    found = problems(channels, images=True)
    assert [p.split(" (first")[0] for p in found] == [f"{t}: 1 of {FRAMES} frames from its first message on have none"
                                                      for t in image_topics]  # fmt: skip
    assert problems(channels, images=False) == []
    no_images = problems(_recorded_channels(tmp_path, anny_body, set(range(FRAMES))), images=True)
    assert no_images == [f"{t}: missing" for t in image_topics]  # the SDK writes a channel with its first message
