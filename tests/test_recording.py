"""Recording, replay and motion exports: every message back, byte for byte, and the motion
in BVH / AMASS npz / CSV re-imports to the joint positions that were published."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from livehmr.clients.recording import RecordingReader, read_recording, record_stream, replay
from livehmr.core.errors import LivehmrError
from livehmr.core.types import FrameResult, PersonState
from livehmr.models.body import SmplParams
from livehmr.models.skeleton import NUM_JOINTS, PARENTS, forward_kinematics
from livehmr.stream.publish.publisher import ZmqPublisher
from livehmr.stream.publish.wire import decode


def _rest(seed: int) -> np.ndarray:
    """A plausible rest skeleton (canon, metres): random bones, spine up, legs down."""
    rng = np.random.default_rng(seed)
    rest = np.zeros((NUM_JOINTS, 3))
    for j in range(1, NUM_JOINTS):
        up = 0.12 if j in (3, 6, 9, 12, 15) else -0.06
        rest[j] = rest[PARENTS[j]] + rng.normal(0, 0.06, 3) + [0, up, 0]
    return rest + [0, 0.9, 0]


def _motion(T: int, person: int):
    """T frames of a smooth random motion: (rotmats, transl, joints, rest)."""
    rng = np.random.default_rng(10 + person)
    phase = rng.uniform(0, 2 * np.pi, (NUM_JOINTS, 3))
    amp = rng.uniform(0.1, 0.6, (NUM_JOINTS, 3))
    rotvecs = amp * np.sin(2 * np.pi * 0.7 * np.arange(T)[:, None, None] / 30 + phase)
    rotvecs[:, 0] += [np.pi / 2, 0, 0]  # canon Y up -> world Z up, roughly
    rotmats = Rotation.from_rotvec(rotvecs.reshape(-1, 3)).as_matrix().reshape(T, NUM_JOINTS, 3, 3)
    transl = np.stack([np.linspace(0, 2, T) + person, np.sin(np.arange(T) / 20), np.full(T, 0.05)], axis=1)
    joints, _ = forward_kinematics(rotmats, _rest(person), transl)
    return rotmats, transl, joints


def _results(T: int, people: int):
    motions = [_motion(T, p) for p in range(people)]
    for i in range(T):
        persons = []
        for p, (R, tr, J) in enumerate(motions):
            rv = Rotation.from_matrix(R[i]).as_rotvec()
            params = SmplParams(global_orient=rv[0], body_pose=rv[1:].reshape(69), transl=tr[i], betas=np.full(10, 0.5))
            flags = {"predicted"} if i == 3 else set()
            persons.append(PersonState(p, params, J[i], np.full(4, 0.5), np.full(24, 0.9), flags))
        yield FrameResult(i, i / 30, time.perf_counter(), np.eye(4), persons)


def _publish_and_record(tmp_path, port: int, T: int = 40, people: int = 2):
    """Publish T frames while ``record_stream`` records them; returns (file, joints per person)."""
    url = f"tcp://127.0.0.1:{port}"
    out = tmp_path / "run.lhmr"
    publisher = ZmqPublisher(url)
    recorder = threading.Thread(target=record_stream, args=(url, out), kwargs={"idle_s": 1.0})
    recorder.start()
    time.sleep(0.5)  # the recorder's subscription reaches the publisher
    for result in _results(T, people):
        publisher.publish(result)
        time.sleep(0.004)
    recorder.join(timeout=10)
    publisher.close()
    return out, {p: _motion(T, p)[2] for p in range(people)}


def test_record_keeps_every_message_in_order(tmp_path):
    out, _ = _publish_and_record(tmp_path, 5611, T=40, people=2)
    records = read_recording(out)
    assert len(records) == 80  # 40 frames x 2 persons
    frames = [(decode(r.frames).header["frame"], decode(r.frames).header["person"]) for r in records]
    assert frames == [(i, p) for i in range(40) for p in range(2)]
    times = [r.t_received for r in records]
    assert all(b >= a for a, b in zip(times, times[1:])) and times[-1] - times[0] > 0.1


def test_a_recording_cut_at_any_byte_reads_back_every_complete_message(tmp_path):
    out, _ = _publish_and_record(tmp_path, 5612, T=15, people=1)
    data = out.read_bytes()
    full = read_recording(out)
    ends, pos = [], 14  # byte offset after each complete record
    for record in full:
        from livehmr.clients.recording import encode_record

        pos += len(encode_record(record))
        ends.append(pos)
    assert ends[-1] == len(data)
    rng = np.random.default_rng(0)
    for cut in [*rng.integers(14, len(data), 40), *ends[:3], len(data) - 1]:
        (tmp_path / "cut.lhmr").write_bytes(data[:cut])
        reader = RecordingReader(tmp_path / "cut.lhmr")
        got = list(reader)
        complete = sum(e <= cut for e in ends)
        assert len(got) == complete, cut
        assert [g.frames for g in got] == [f.frames for f in full[:complete]]
        assert reader.truncated == (cut not in ends)
    corrupt = bytearray(data)
    corrupt[ends[4] + 30] ^= 0xFF  # a flipped byte inside record 5
    (tmp_path / "corrupt.lhmr").write_bytes(bytes(corrupt))
    reader = RecordingReader(tmp_path / "corrupt.lhmr")
    assert len(list(reader)) == 5 and reader.truncated and "record 5" in reader.problem


def test_not_a_recording_is_a_clear_error(tmp_path):
    (tmp_path / "x.lhmr").write_bytes(b"hello world, not a recording")
    with pytest.raises(LivehmrError, match="not a livehmr recording"):
        RecordingReader(tmp_path / "x.lhmr")
    with pytest.raises(LivehmrError, match="not found"):
        RecordingReader(tmp_path / "missing.lhmr")


def test_replay_republishes_the_same_messages_at_the_asked_pace(tmp_path):
    from livehmr.clients.sdk import Subscriber

    out, _ = _publish_and_record(tmp_path, 5613, T=30, people=1)
    recorded = read_recording(out)
    span = recorded[-1].t_received - recorded[0].t_received
    url = "tcp://127.0.0.1:5614"
    received, elapsed = [], {}

    def run():
        t0 = time.perf_counter()
        replay(out, url, speed=0.5, wait_s=0.5)
        elapsed["s"] = time.perf_counter() - t0 - 0.5

    thread = threading.Thread(target=run)
    with Subscriber(url, timeout_s=2.0) as sub:
        thread.start()
        for state in sub:
            received.append(state.message)
    thread.join()
    assert [m.header for m in received] == [decode(r.frames).header for r in recorded]
    assert elapsed["s"] >= 1.8 * span  # paced at half speed, not dumped at once


def _bvh_joints(path) -> np.ndarray:
    """World joint positions (T, 24, 3) of a BVH, by its own hierarchy (file axes -> world)."""
    from livehmr.export.bvh import R_FILE_WORLD
    from livehmr.studio.bvh import read_bvh

    bvh = read_bvh(path)
    T, J = bvh.rotations.shape[:2]
    G = np.zeros((T, J, 3, 3))
    P = np.zeros((T, J, 3))
    for j in range(J):
        p = bvh.parents[j]
        if p < 0:
            G[:, j], P[:, j] = bvh.rotations[:, j], bvh.root
        else:
            G[:, j] = G[:, p] @ bvh.rotations[:, j]
            P[:, j] = P[:, p] + np.einsum("tij,j->ti", G[:, p], bvh.offsets[j])
    order = [bvh.names.index(name) for name in _joint_names()]  # the file lists joints depth first
    return (P[:, order] / 100.0) @ R_FILE_WORLD  # file = R_FILE_WORLD @ world


@pytest.mark.parametrize("fmt", ["npz", "bvh", "csv"])
def test_exports_reimport_to_the_published_joints(tmp_path, fmt):
    """Export each person, read the file back the way its users do, compare joint positions
    (tolerance 1 mm: the wire carries float32, BVH and CSV carry decimals)."""
    from livehmr.clients.recording import export_recording
    from livehmr.export.motion import read_npz_joints

    out, truth = _publish_and_record(tmp_path, 5615 + ["npz", "bvh", "csv"].index(fmt), T=30, people=2)
    files = export_recording(out, fmt, tmp_path / f"motion.{fmt}")
    assert [f.name for f in files] == [f"motion_person0.{fmt}", f"motion_person1.{fmt}"]
    for person, path in enumerate(files):
        if fmt == "npz":
            data = np.load(path)
            assert data["poses"].shape == (30, 72) and data["trans"].shape == (30, 3)
            assert float(data["mocap_framerate"]) == pytest.approx(30.0, rel=1e-3)
            assert str(data["gender"]) == "neutral" and str(data["surface_model_type"]) == "anny"
            joints = read_npz_joints(path)
        elif fmt == "bvh":
            joints = _bvh_joints(path)
        else:
            table = np.genfromtxt(path, delimiter=",", names=True, dtype=None, encoding="utf-8")
            joints = np.stack([[[row[f"{n}_{a}"] for a in "xyz"] for n in _joint_names()] for row in table])
            assert table["flags"][3] == "predicted"
        np.testing.assert_allclose(joints, truth[person], atol=1e-3)
    with pytest.raises(LivehmrError, match="person 7 never"):
        export_recording(out, fmt, tmp_path / "x", person=7)


def _joint_names():
    from livehmr.models.skeleton import JOINT_NAMES

    return JOINT_NAMES


def test_a_recorder_started_before_its_publisher_waits_for_it(tmp_path):
    url = "tcp://127.0.0.1:5619"
    out = tmp_path / "early.lhmr"
    recorder = threading.Thread(target=record_stream, args=(url, out), kwargs={"idle_s": 0.5, "seconds": 10})
    recorder.start()
    time.sleep(1.0)  # longer than the idle timeout, with no publisher yet
    publisher = ZmqPublisher(url)
    # the subscriber reconnects with back-off: announce until it is in (its first record)
    deadline = time.monotonic() + 8.0
    while time.monotonic() < deadline and not read_recording(out):
        publisher.publish_status({"probe": True})
        time.sleep(0.05)
    for result in _results(5, 1):
        publisher.publish(result)
    recorder.join(timeout=10)
    publisher.close()
    topics = [record.frames[0] for record in read_recording(out)]
    assert topics[-5:] == [b"state"] * 5 and set(topics[:-5]) == {b"status"}
