"""The wire format and a real ZeroMQ round trip on loopback through the SDK."""

import json
import time

import numpy as np
import pytest

from livehmr.clients.sdk import Subscriber
from livehmr.core.errors import LivehmrError
from livehmr.core.types import FrameResult, PersonState
from livehmr.models.body import SmplParams
from livehmr.stream.publish.publisher import ZmqPublisher, is_loopback
from livehmr.stream.publish.wire import TOPIC_STATE, WireError, decode, encode


def _person(value=0.1):
    p = SmplParams(global_orient=np.full(3, value), body_pose=np.full(69, value), transl=np.array([1.0, 2.0, 0.9]))
    return PersonState(3, p, np.arange(72, dtype=float).reshape(24, 3) / 10, np.array([1, 1, 0, 0.0]), np.full(24, 0.9))


def _connected(pub_url):
    """A subscriber that has joined (PUB drops messages sent before the join completes)."""
    sub = Subscriber(pub_url, timeout_s=2.0)
    time.sleep(0.3)
    return sub


def test_round_trip_over_loopback():
    pub = ZmqPublisher("tcp://127.0.0.1:0")
    sub = _connected(pub.url)
    try:
        result = FrameResult(7, 0.25, time.perf_counter(), np.eye(4), [_person()], {"gyro_gap"})
        pub.publish(result)
        state = sub.recv()
        assert state is not None and state.frame == 7 and state.person == 3
        assert state.flags == ["gyro_gap"] and state.t_source == 0.25
        assert np.allclose(state.joints_world, np.arange(72).reshape(24, 3) / 10)
        assert state.body_pose.shape == (69,) and state.T_world_cam.shape == (4, 4)
        assert np.allclose(state.contacts, [1, 1, 0, 0])
        pub.publish(FrameResult(8, 0.3, time.perf_counter(), np.eye(4), []))
        beat = sub.recv()
        assert beat.frame == 8 and "no_person" in beat.flags and not beat.has_body
    finally:
        sub.close()
        pub.close()


def test_nan_never_reaches_the_wire():
    pub = ZmqPublisher("tcp://127.0.0.1:0")
    sub = _connected(pub.url)
    try:
        bad = _person(np.nan)
        pub.publish(FrameResult(1, 0.0, time.perf_counter(), np.eye(4), [bad]))
        state = sub.recv()
        assert "invalid" in state.flags and not state.has_body
        assert pub.withheld == 1
    finally:
        sub.close()
        pub.close()


def test_encode_refuses_non_finite():
    with pytest.raises(WireError, match="non-finite"):
        encode(TOPIC_STATE, {}, {"x": np.array([1.0, np.inf])})


def test_decoder_rejects_malformed_messages():
    good = encode(TOPIC_STATE, {"frame": 1}, {"x": np.ones(3)})
    assert np.allclose(decode(good).arrays["x"], 1)
    header = json.loads(good[1])
    cases = [
        good[:2],
        [good[0], b"not json", good[2]],
        [good[0], json.dumps({**header, "version": 99}).encode(), good[2]],
        [good[0], json.dumps({**header, "schema": "other"}).encode(), good[2]],
        [good[0], good[1], good[2][:5]],  # truncated payload
        [good[0], json.dumps({**header, "arrays": [{"name": "x", "dtype": "object", "shape": [3], "offset": 0}]}).encode(), good[2]],
        [good[0], good[1].replace(b'"frame":1', b'"frame":NaN'), good[2]],
    ]
    for frames in cases:
        with pytest.raises(WireError):
            decode(frames)


def test_binding_beyond_loopback_must_be_explicit():
    assert is_loopback("tcp://127.0.0.1:5557") and is_loopback("tcp://localhost:1") and is_loopback("ipc:///tmp/x")
    assert not is_loopback("tcp://*:5557") and not is_loopback("tcp://0.0.0.0:5557")
    with pytest.raises(LivehmrError, match="--insecure"):
        ZmqPublisher("tcp://0.0.0.0:5599")


def test_slow_subscriber_does_not_block_the_publisher():
    pub = ZmqPublisher("tcp://127.0.0.1:0", hwm=10)
    sub = _connected(pub.url)  # never reads
    try:
        t0 = time.perf_counter()
        for i in range(2000):
            pub.publish(FrameResult(i, i / 30, time.perf_counter(), np.eye(4), [_person()]))
        assert time.perf_counter() - t0 < 10.0  # bounded queue: sends never wait for the reader
        assert pub.sent > 0
    finally:
        sub.close()
        pub.close()


def test_a_heartbeat_with_a_broken_camera_pose_is_withheld_not_fatal():
    pub = ZmqPublisher("tcp://127.0.0.1:0")
    sub = _connected(pub.url)
    try:
        T = np.eye(4)
        T[0, 3] = np.nan
        pub.publish(FrameResult(2, 0.0, time.perf_counter(), T, []))
        state = sub.recv()
        assert state.frame == 2 and {"invalid", "no_person"} <= set(state.flags)
        assert state.message.arrays == {}
    finally:
        sub.close()
        pub.close()
