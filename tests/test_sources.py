"""Sources and feeds: image folders, the live grabber's drop policy, the ZeroMQ gyro feed."""

import time

import cv2
import numpy as np
import pytest
import zmq

from livehmr.core.errors import SourceError
from livehmr.stream.sources import open_source
from livehmr.stream.sources.gyro_feeds import ZmqGyroFeed
from livehmr.stream.sources.live_camera import CameraSource


def _write_video(path, n=60):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 30.0, (64, 48))
    for i in range(n):
        writer.write(np.full((48, 64, 3), i * 4 % 255, np.uint8))
    writer.release()
    return path


def test_image_folder_in_order_and_flags_unreadable_files(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), np.full((8, 8, 3), i, np.uint8))
    (tmp_path / "001b.jpg").write_bytes(b"broken")
    frames = list(open_source(str(tmp_path)))
    assert [f.index for f in frames] == [0, 1, 3]
    assert frames[2].flags == {"frame_missing"} and frames[1].flags == set()
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no images"):
        open_source(str(tmp_path / "empty"))


def test_video_file_delivers_every_frame(tmp_path):
    frames = list(open_source(str(_write_video(tmp_path / "v.mp4"))))
    assert [f.index for f in frames] == list(range(60))
    assert np.allclose(np.diff([f.t for f in frames]), 1 / 30)


def test_a_video_played_realtime_is_a_live_source_paced_at_its_frame_rate(tmp_path):
    source = open_source(str(_write_video(tmp_path / "v.mp4", n=15)), realtime=True)
    assert source.live  # the pipeline drops what it is late for, as with a camera
    t0 = time.perf_counter()
    frames = list(source)
    assert [f.index for f in frames] == list(range(15))
    released = np.array([f.t_captured for f in frames]) - t0
    assert np.all(released >= np.array([f.t for f in frames]) - 0.005)  # never before its time
    assert not open_source(str(tmp_path / "v.mp4")).live


def test_live_grabber_drops_stale_frames_instead_of_queueing(tmp_path):
    # a "camera" much faster than we read (a reopened file restarts, so bound the run)
    source = CameraSource(str(_write_video(tmp_path / "v.mp4", n=120)), max_frames=30)
    assert source.live
    seen = []
    try:
        for frame in source:
            seen.append(frame)
            time.sleep(0.05)
    finally:
        source.close()
    indices = [f.index for f in seen]
    assert len(indices) == 30 and indices == sorted(indices) and indices[-1] > 30
    assert source.dropped > 0 and any("frame_dropped" in f.flags for f in seen)


def test_unknown_camera_is_a_clear_error():
    with pytest.raises(SourceError, match="cannot open camera"):
        CameraSource(97)


def test_zmq_gyro_feed_receives_and_rejects(tmp_path):
    ctx = zmq.Context.instance()
    pub = ctx.socket(zmq.PUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    feed = ZmqGyroFeed(f"tcp://127.0.0.1:{port}")
    try:
        time.sleep(0.3)
        for t in (0.01, 0.0, 0.02):
            pub.send(f"{t},0.1,0.2,0.3".encode())
        pub.send(b'{"t": 0.03, "w": [0.1, 0.2, 0.3]}')
        pub.send(b"garbage")
        assert feed.buffer.wait_until(0.03, timeout=3.0)
        time.sleep(0.2)
        assert np.allclose(feed.buffer.window(0.0, 1.0)[:, 0], [0.0, 0.01, 0.02, 0.03])
        assert feed.buffer.rejected == 1
    finally:
        feed.close()
        pub.close(linger=0)
