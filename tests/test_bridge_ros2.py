"""The ROS 2 bridge: a Zenoh subscriber on loopback receives rmw_zenoh-keyed CDR messages
with the right frames, stamps and attachments, and sees the liveliness tokens; a bag of a
known run reads back through mcap-ros2-support's own deserialiser."""

import threading
import time

import numpy as np
import pytest

pytest.importorskip("zenoh")
pytest.importorskip("rosbags")

from livehmr.clients.bridges.ros2 import (  # noqa: E402
    BagSink,
    Ros2Bridge,
    RosMessages,
    ZenohSink,
    dds_type_name,
    qos_token,
    typestore,
    zenoh_config,
)


def test_names_follow_rmw_zenoh():
    store = typestore()
    assert dds_type_name("tf2_msgs/msg/TFMessage") == "tf2_msgs::msg::dds_::TFMessage_"
    assert qos_token(10) == "::,:,:,:,," and qos_token(100) == "::,100:,:,:,,"
    # a known Jazzy type hash (std_msgs/msg/String), and the hri types register with their fields
    assert store.hash_rihs01("std_msgs/msg/String") == "RIHS01_df668c740482bbd48fb39d76a70dfd4bd59db1288021743503259e948f6b1a18"
    assert [f[0] for f in store.fielddefs["hri_msgs/msg/Skeleton2D"][1]] == ["header", "skeleton"]


def _results_with_gyro(anny_body):
    from livehmr.stream.sources.gyro_feeds import ArrayGyroFeed
    from livehmr.tests.test_rerun_viewer import _results

    results = list(_results(anny_body))
    t = np.arange(0, 1.0, 0.005)  # 200 Hz
    gyro = ArrayGyroFeed(np.column_stack([t, 0.1 * np.ones_like(t), np.zeros_like(t), 0.3 * np.ones_like(t)]))
    return results, gyro


def test_a_zenoh_subscriber_on_loopback_decodes_frames_stamps_and_attachments(anny_body):
    import zenoh
    from zenoh.ext import Int64, z_deserialize

    from livehmr.tests.conftest import bridge_results
    from livehmr.tests.test_rerun_viewer import FRAMES

    store = typestore()
    results, gyro = _results_with_gyro(anny_body)
    port = 7461
    sink = ZenohSink(connect=[], listen=[f"tcp/127.0.0.1:{port}"], store=store)

    received, tokens = [], []
    lock = threading.Lock()
    with zenoh.open(zenoh_config([f"tcp/127.0.0.1:{port}"])) as session:
        def on_sample(sample):
            with lock:
                received.append((str(sample.key_expr), sample.payload.to_bytes(), sample.attachment))

        subscriber = session.declare_subscriber("0/**", on_sample)
        liveliness = session.liveliness().declare_subscriber("@ros2_lv/0/**", lambda s: tokens.append(str(s.key_expr)))
        time.sleep(1.0)  # the two sessions meet
        bridge = Ros2Bridge([sink], RosMessages(store), gyro=gyro)
        bridge_results(bridge, results, "tcp://127.0.0.1:5674", images=True)
        time.sleep(0.5)
        subscriber.undeclare()
        liveliness.undeclare()

    by_topic: dict[str, list] = {}
    for key, payload, attachment in received:
        domain, *topic, dds_type, type_hash = key.split("/")
        assert domain == "0" and type_hash.startswith("RIHS01_")
        by_topic.setdefault("/" + "/".join(topic), []).append((dds_type, payload, attachment))
    assert len(by_topic["/tf"]) == FRAMES and len(by_topic["/livehmr/skeletons"]) == FRAMES
    assert len(by_topic["/humans/bodies/tracked"]) == FRAMES
    assert len(by_topic["/humans/bodies/b4/skeleton2d"]) == FRAMES and len(by_topic["/humans/bodies/b4/roi"]) == FRAMES
    assert len(by_topic["/livehmr/imu"]) == 200  # every gyro sample, once

    tf_type, payload, attachment = by_topic["/tf"][2]
    assert tf_type == "tf2_msgs::msg::dds_::TFMessage_"
    tf = store.deserialize_cdr(payload, "tf2_msgs/msg/TFMessage")
    body = next(t for t in tf.transforms if t.child_frame_id == "body_b4")
    assert body.header.frame_id == "world"
    np.testing.assert_allclose([body.transform.translation.x, body.transform.translation.y, body.transform.translation.z],
                               results[2].persons[0].joints_world[0], atol=1e-6)  # fmt: skip
    stamps = [store.deserialize_cdr(p, "tf2_msgs/msg/TFMessage").transforms[0].header.stamp for _, p, _ in by_topic["/tf"]]
    stamp_s = [s.sec + s.nanosec / 1e9 for s in stamps]
    assert np.all(np.diff(stamp_s) > 0) and abs(stamp_s[-1] - time.time()) < 60  # capture times, Unix clock
    key, number, key2, source_time, key3, gid = z_deserialize(tuple[str, Int64, str, Int64, str, bytes], attachment)
    assert (key, key2, key3) == ("sequence_number", "source_timestamp", "source_gid") and len(gid) == 16
    assert int(number) == 3  # the third /tf message: sequence numbers count per publisher

    tracked = store.deserialize_cdr(by_topic["/humans/bodies/tracked"][0][1], "hri_msgs/msg/IdsList")
    assert list(tracked.ids) == ["b4"]
    skeleton = store.deserialize_cdr(by_topic["/humans/bodies/b4/skeleton2d"][0][1], "hri_msgs/msg/Skeleton2D")
    nose = results[0].keypoints[0].keypoints[0]
    assert (skeleton.skeleton[0].x, skeleton.skeleton[0].y) == pytest.approx((nose[0] / 640, nose[1] / 480), abs=1e-5)
    imu = store.deserialize_cdr(by_topic["/livehmr/imu"][0][1], "sensor_msgs/msg/Imu")
    assert (imu.angular_velocity.x, imu.angular_velocity.z) == pytest.approx((0.1, 0.3))
    assert imu.orientation_covariance[0] == -1.0

    publishers = [t for t in tokens if "/MP/" in t]
    assert any(t.endswith("/%tf/tf2_msgs::msg::dds_::TFMessage_/" + store.hash_rihs01("tf2_msgs/msg/TFMessage") + "/::,100:,:,:,,")
               for t in publishers), publishers  # fmt: skip
    assert any("/NN/%/%/livehmr" in t for t in tokens)


def test_a_ros2_bag_of_a_known_run_reads_back_with_ros2_deserialisation(tmp_path, anny_body):
    pytest.importorskip("mcap_ros2")
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    from livehmr.tests.conftest import bridge_results
    from livehmr.tests.test_rerun_viewer import FRAMES

    store = typestore()
    results, gyro = _results_with_gyro(anny_body)
    path = tmp_path / "run.mcap"
    bridge_results(Ros2Bridge([BagSink(path, store)], RosMessages(store), gyro=gyro), results, "tcp://127.0.0.1:5675",
                   images=True)  # fmt: skip
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        assert reader.get_header().profile == "ros2"
        decoded = list(reader.iter_decoded_messages())
    topics: dict[str, list] = {}
    for schema, channel, message, ros in decoded:
        assert schema.encoding == "ros2msg" and channel.message_encoding == "cdr"
        topics.setdefault(channel.topic, []).append((schema.name, message, ros))
    assert {t: len(v) for t, v in topics.items()} == {
        "/tf": FRAMES, "/humans/bodies/tracked": FRAMES, "/humans/bodies/b4/roi": FRAMES,
        "/humans/bodies/b4/skeleton2d": FRAMES, "/livehmr/skeletons": FRAMES, "/livehmr/imu": 200}  # fmt: skip
    name, message, tf = topics["/tf"][-1]
    assert name == "tf2_msgs/msg/TFMessage" and len(tf.transforms) == 26
    stamp = tf.transforms[0].header.stamp
    assert message.log_time == stamp.sec * 10**9 + stamp.nanosec
    knee = next(t for t in tf.transforms if t.child_frame_id == "left_knee_b4")
    assert knee.header.frame_id == "left_hip_b4"
    markers = topics["/livehmr/skeletons"][0][2].markers
    assert [m.ns for m in markers] == ["bones", "joints"] and len(markers[0].points) == 46 and len(markers[1].points) == 24
    skeleton = topics["/humans/bodies/b4/skeleton2d"][0][2]
    assert len(skeleton.skeleton) == 18
