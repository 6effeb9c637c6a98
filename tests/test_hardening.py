"""What a new user broke (issue 20): each row of the issue, as it was tried.

Every command's bad input is one line on stderr naming the bad value, exit code 2, before
any model loads; nothing is overwritten without --force; recordings read through the
SDK's checks and say what they skipped; receiving sockets refuse oversized messages; the
wheel holds every package and no tests.
"""

from __future__ import annotations

import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from livehmr.clients.recording import RecordingWriter
from livehmr.core.types import FrameResult, PersonKeypoints, PersonState
from livehmr.models.body import SmplParams
from livehmr.stream.publish.publisher import state_messages
from livehmr.stream.publish.wire import TOPIC_STATE, encode

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "livehmr"]
NATIVE_NOISE = ("XNNPACK", "W0000", "absl::InitializeLog", "Warp CUDA", "inference_feedback_manager")


def _run(*args, timeout=120, cwd=None):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def _one_line_error(proc, *needles: str) -> None:
    """Exit code 2, a single stderr line that names what was wrong, no traceback."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("livehmr: error:"), proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, proc.stderr)


def _state(frame: int, person: int = 0) -> list[bytes]:
    params = SmplParams(global_orient=np.array([np.pi / 2, 0, 0]), transl=np.array([0.0, 0.0, 0.9]))
    joints = np.zeros((24, 3)) + [0, 0, 0.9]
    joints[1:] += np.random.default_rng(frame).normal(0, 0.2, (23, 3))
    state = PersonState(person, params, joints, np.zeros(4), np.ones(24))
    [(header, arrays)] = state_messages(FrameResult(frame, frame / 30, 0.0, np.eye(4), [state]), "test", "anny")
    return encode(TOPIC_STATE, header, arrays)


def _recording(path: Path, messages: list[list[bytes]]) -> Path:
    with RecordingWriter(path) as writer:
        for i, message in enumerate(messages):
            writer.write(message, t_received=100.0 + i / 30)
    return path


def _malformed(good: list[bytes], drop: str | None = None, arrays: dict | None = None) -> list[bytes]:
    """A state message whose header lacks ``drop`` or whose arrays are replaced by ``arrays``."""
    from livehmr.stream.publish.wire import decode

    message = decode(good)
    header = {k: v for k, v in message.header.items() if k not in ("arrays", "schema", "version") and k != drop}
    return encode(TOPIC_STATE, header, {**message.arrays, **(arrays or {})})


# -- packaging -------------------------------------------------------------------------------------
def test_the_wheel_holds_every_package_and_no_tests(tmp_path):
    """A hand-written package list had lost livehmr.stream.refine and livehmr.models.priors."""
    import shutil

    source = tmp_path / "src"  # a copy: an in-tree build would leave build/ in the checkout
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv", ".git", "build", "suites", "runs", "bench_out",
                                                                "*.egg-info", "__pycache__"))  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(source),
                           "-w", str(tmp_path)], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    [wheel] = tmp_path.glob("livehmr-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packages = {str(p.parent.relative_to(source)) for p in source.rglob("__init__.py")
                if "tests" not in p.parts and p.parent != source and "build" not in p.parts}  # fmt: skip
    assert packages >= {"stream/refine", "models/priors", "core"}
    for package in packages:
        assert f"livehmr/{package}/__init__.py" in names, package
    assert "livehmr/testing.py" in names and "livehmr/models/data/prior_humor.pt" in names
    assert not [n for n in names if n.startswith("livehmr/tests/") or n == "livehmr/setup.py"]


# -- option values are checked before anything loads -----------------------------------------------
@pytest.mark.parametrize("args, needles", [
    (["run", "synthetic", "--fov", "-5"], ["--fov", "-5"]),
    (["run", "synthetic", "--fov", "0"], ["--fov", "0"]),
    (["run", "synthetic", "--fov", "nan"], ["--fov", "nan"]),
    (["run", "synthetic", "--max-frames", "-1"], ["--max-frames", "-1"]),
    (["run", "synthetic", "--publish", "notaurl"], ["--publish", "notaurl", "ZeroMQ endpoint"]),
    (["run", "synthetic", "--camera", "bogus"], ["--camera", "bogus"]),
    (["run", "synthetic", "--keypoints", "openpose"], ["--keypoints", "openpose"]),
    (["run", "synthetic", "--estimator", "magic"], ["--estimator", "magic"]),
    (["run", "synthetic", "--body", "smplx"], ["--body", "smplx"]),
    (["run", "synthetic", "--refine", "hmr"], ["--refine", "hmr"]),
    (["run", "synthetic", "--people", "0"], ["--people", "0"]),
    (["run", "synthetic", "--motion-model", "/nonexistent/m.pt"], ["--motion-model", "/nonexistent/m.pt"]),
    (["run", "synthetic", "--imu-to-cam", "1,2,3"], ["--imu-to-cam"]),
    (["demo", "--seconds", "-3"], ["--seconds", "-3"]),
    (["echo", "notaurl"], ["notaurl", "ZeroMQ endpoint"]),
    (["echo", "tcp://127.0.0.1:70000"], ["70000"]),
    (["record", "notaurl", "--out", "x.lhmr"], ["notaurl"]),
    (["record", "--out", "x.lhmr", "--format", "bag"], ["--format", "bag"]),
    (["export", "motion", "missing.lhmr", "--to", "bvh", "--out", "x.bvh"], ["missing.lhmr"]),
    (["replay", "missing.lhmr"], ["missing.lhmr"]),
    (["studio", "make", "--suite", "huge"], ["--suite", "huge"]),
    (["train", "motion", "--config", "tpu"], ["--config", "tpu"]),
    (["bench", "accuracy", "--suite", "nope"], ["--suite", "nope"]),
    (["bench", "accuracy", "--suite-dir", "."], ["--suite-dir", "suite.json"]),
    (["bench", "accuracy", "--suite", "smoke", "--configs", "learned+bogus"], ["learned+bogus"]),
    (["corpus", "import", ".", "--skeleton", "missing.json", "--out", "c"], ["--skeleton", "missing.json"]),
    (["view", "malformed://", "--save", "x.rrd"], ["malformed://"]),
])  # fmt: skip
def test_a_bad_option_value_is_one_line_naming_it(tmp_path, args, needles):
    proc = _run(*args, cwd=tmp_path, timeout=60)
    _one_line_error(proc, *needles)
    assert not list(tmp_path.iterdir()), "a refused command wrote something"


def test_a_bad_gyro_file_is_reported_before_any_model_loads_and_without_native_noise(tmp_path):
    gyro = tmp_path / "g.csv"
    gyro.write_text("0.0,1,2\n")
    proc = _run("run", "synthetic", "--gyro", str(gyro), "--max-frames", "3")
    _one_line_error(proc, "g.csv:1")
    assert not any(n in proc.stderr for n in NATIVE_NOISE)


def test_corpus_import_with_invalid_skeleton_json_is_one_line(tmp_path):
    skeleton = tmp_path / "s.json"
    skeleton.write_text("{not json")
    _one_line_error(_run("corpus", "import", str(tmp_path), "--skeleton", str(skeleton), "--out", str(tmp_path / "c")),
                    "s.json", "not valid JSON")  # fmt: skip
    skeleton.write_text('{"cmu": ["a", "b"]}')
    _one_line_error(_run("corpus", "import", str(tmp_path), "--skeleton", str(skeleton), "--out", str(tmp_path / "c")),
                    "24 joint names")  # fmt: skip


# -- nothing is overwritten unasked ----------------------------------------------------------------
def test_record_refuses_an_existing_recording_and_leaves_it_whole(tmp_path):
    existing = _recording(tmp_path / "run.lhmr", [_state(i) for i in range(10)])
    before = existing.read_bytes()
    proc = _run("record", "--out", str(existing), "--seconds", "0.5")
    _one_line_error(proc, str(existing), "--force")
    assert existing.read_bytes() == before
    proc = _run("record", "--out", str(existing), "--seconds", "0.5", "--force")
    assert proc.returncode == 0, proc.stderr
    assert existing.stat().st_size == 14  # a new, empty recording: asked for


def test_the_recording_writer_refuses_an_existing_file(tmp_path):
    from livehmr.core.errors import OutputExistsError

    path = _recording(tmp_path / "a.lhmr", [_state(0)])
    with pytest.raises(OutputExistsError, match="--force"):
        RecordingWriter(path)
    assert len(list(__import__("livehmr.clients.recording", fromlist=["x"]).RecordingReader(path))) == 1


def test_export_refuses_existing_files_before_writing_any(tmp_path):
    recording = _recording(tmp_path / "run.lhmr", [_state(i, p) for i in range(8) for p in (0, 1)])
    (tmp_path / "out_person1.csv").write_text("mine")
    proc = _run("export", "motion", str(recording), "--to", "csv", "--out", str(tmp_path / "out.csv"))
    _one_line_error(proc, "out_person1.csv", "--force")
    assert not (tmp_path / "out_person0.csv").exists() and (tmp_path / "out_person1.csv").read_text() == "mine"
    proc = _run("export", "motion", str(recording), "--to", "csv", "--out", str(tmp_path / "out.csv"), "--force")
    assert proc.returncode == 0 and (tmp_path / "out_person1.csv").read_text() != "mine"


def test_view_save_and_keys_refuse_to_overwrite(tmp_path):
    recording = _recording(tmp_path / "run.lhmr", [_state(i) for i in range(3)])
    rrd = tmp_path / "x.rrd"
    rrd.write_text("mine")
    _one_line_error(_run("view", str(recording), "--save", str(rrd)), "x.rrd", "--force")
    assert rrd.read_text() == "mine"
    assert _run("keys", "robot", "--out", str(tmp_path / "keys")).returncode == 0
    secret = (tmp_path / "keys" / "robot.key_secret").read_bytes()
    _one_line_error(_run("keys", "robot", "--out", str(tmp_path / "keys")), "robot.key", "--force")
    assert (tmp_path / "keys" / "robot.key_secret").read_bytes() == secret


# -- recordings are read through the SDK's checks --------------------------------------------------
@pytest.mark.parametrize("damage", [dict(drop="person"), dict(arrays={"body_pose": np.zeros(68, np.float32)})])
def test_export_of_malformed_states_is_a_clear_error_not_a_traceback(tmp_path, damage):
    recording = _recording(tmp_path / "bad.lhmr", [_malformed(_state(i), **damage) for i in range(5)])
    proc = _run("export", "motion", str(recording), "--to", "npz", "--out", str(tmp_path / "x.npz"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "skipped 5 malformed message" in proc.stderr and "no person with a body" in proc.stderr


def test_export_skips_malformed_states_and_says_so(tmp_path):
    messages = [_state(i) for i in range(6)] + [_malformed(_state(6), drop="person")]
    recording = _recording(tmp_path / "mixed.lhmr", messages)
    proc = _run("export", "motion", str(recording), "--to", "npz", "--out", str(tmp_path / "x.npz"))
    assert proc.returncode == 0, proc.stderr
    assert "skipped 1 malformed message" in proc.stderr
    assert len(np.load(tmp_path / "x.npz")["frame"]) == 6


def test_export_of_a_truncated_recording_warns(tmp_path):
    recording = _recording(tmp_path / "cut.lhmr", [_state(i) for i in range(6)])
    data = recording.read_bytes()
    recording.write_bytes(data[: len(data) - 50])
    proc = _run("export", "motion", str(recording), "--to", "npz", "--out", str(tmp_path / "x.npz"))
    assert proc.returncode == 0, proc.stderr
    assert "incomplete or corrupt" in proc.stderr and "only what came before" in proc.stderr
    assert len(np.load(tmp_path / "x.npz")["frame"]) == 5


def test_view_of_a_malformed_recording_says_what_it_skipped(tmp_path):
    pytest.importorskip("rerun")
    recording = _recording(tmp_path / "bad.lhmr", [_malformed(_state(i), drop="person") for i in range(4)])
    proc = _run("view", str(recording), "--save", str(tmp_path / "x.rrd"))
    assert proc.returncode == 0, proc.stderr
    assert "skipped 4 malformed message" in proc.stderr


# -- outside files never run code ------------------------------------------------------------------
def test_a_suites_keypoint_cache_is_arrays_and_a_pickle_in_it_is_never_loaded(tmp_path):
    import pickle

    from livehmr.core.errors import LivehmrError
    from livehmr.eval.keypoint_cache import cached_keypoints, load_keypoints, save_keypoints

    recorded = {0: [PersonKeypoints(np.ones((23, 3)), np.array([0.0, 0, 5, 5]), np.full((33, 3), 0.1), np.ones(33), 7)],
                1: [], 2: [PersonKeypoints(np.full((23, 3), 2.0), np.array([1.0, 1, 6, 6]), track_id=3)]}  # fmt: skip
    save_keypoints(tmp_path / "k.npz", recorded)
    back = load_keypoints(tmp_path / "k.npz")
    assert sorted(back) == [0, 1, 2] and back[1] == [] and back[2][0].landmarks_3d is None
    assert back[0][0].track_id == 7 and np.allclose(back[0][0].landmarks_3d, 0.1)

    class Hostile:
        def __reduce__(self):
            return (Path(tmp_path / "pwned").write_text, ("ran",))

    np.save(tmp_path / "obj.npy", np.array([Hostile()], dtype=object), allow_pickle=True)
    hostile = tmp_path / "keypoints.npz"
    with zipfile.ZipFile(hostile, "w") as z:
        for key in ("frame", "track_id", "keypoints", "box", "has_3d", "landmarks_3d", "landmarks_3d_conf", "frames"):
            z.write(tmp_path / "obj.npy", f"{key}.npy")
    with pytest.raises(LivehmrError, match="not a keypoint cache"):
        load_keypoints(hostile)
    # a suite folder from elsewhere with a hostile pickle beside the arrays: the arrays are read
    (tmp_path / "keypoints_blazepose.pkl").write_bytes(pickle.dumps(Hostile()))
    save_keypoints(tmp_path / "keypoints_blazepose.npz", recorded)
    assert sorted(cached_keypoints(tmp_path, truth=None, far_search=False)) == [0, 1, 2]
    assert not (tmp_path / "pwned").exists()


# -- receiving sockets ------------------------------------------------------------------------------
def test_receiving_sockets_refuse_oversized_messages_before_allocating_them():
    import zmq

    from livehmr.clients.sdk import Subscriber
    from livehmr.stream.publish.publisher import PubSocket
    from livehmr.stream.publish.wire import MAX_FRAME_BYTES
    from livehmr.stream.sources.gyro_feeds import MAX_GYRO_MESSAGE_BYTES, ZmqGyroFeed

    pub = PubSocket("tcp://127.0.0.1:0", hwm=100)
    url = pub.socket.getsockopt_string(zmq.LAST_ENDPOINT)
    sub = Subscriber(url, timeout_s=0.3)
    feed = ZmqGyroFeed(url)
    try:
        assert sub.socket.getsockopt(zmq.MAXMSGSIZE) == MAX_FRAME_BYTES
        assert feed._socket.getsockopt(zmq.MAXMSGSIZE) == MAX_GYRO_MESSAGE_BYTES
        time.sleep(0.3)
        pub.socket.send_multipart([TOPIC_STATE, b"{}", b"\0" * (MAX_FRAME_BYTES + 1)])
        assert sub.recv(timeout_s=1.0) is None  # refused by ZeroMQ (the peer is dropped), never decoded
    finally:
        sub.close()
        feed.close()
        pub.close()


# -- native noise and log levels ---------------------------------------------------------------------
def test_the_native_noise_filter_drops_known_lines_and_keeps_the_rest(tmp_path):
    script = (
        "import os, sys\n"
        "from livehmr.core.native import NativeNoiseFilter\n"
        "with NativeNoiseFilter():\n"
        "    os.write(2, b'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n')\n"
        "    os.write(2, b'W0000 00:00:1796052250.884631    2527 inference_feedback_manager.cc:114] x\\n')\n"
        "    os.write(2, b'real native error\\n')\n"
        "    print('python says', file=sys.stderr)\n"
    )  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == ["python says", "real native error"] or sorted(proc.stderr.splitlines()) == [
        "python says", "real native error"]  # fmt: skip


def test_a_run_shows_no_native_noise_and_v_shows_livehmrs_info(tmp_path):
    quiet = _run("run", "synthetic", "--max-frames", "3", "--quiet", "--publish", "tcp://127.0.0.1:0", timeout=300)
    assert quiet.returncode == 0, quiet.stderr
    assert not any(n in quiet.stderr for n in NATIVE_NOISE), quiet.stderr
    assert "livehmr: INFO" not in quiet.stderr
    loud = _run("-v", "run", "synthetic", "--max-frames", "3", "--quiet", "--publish", "tcp://127.0.0.1:0", timeout=300)
    assert loud.returncode == 0, loud.stderr
    assert "livehmr: INFO" in loud.stderr


def test_no_option_value_crashes_the_parser():
    """The fuzz bench's CLI property, a few hundred inputs (see bench/fuzz.py for 10,000)."""
    from livehmr.bench import fuzz

    target = fuzz.TARGETS["cli_options"]
    fuzz.fuzz(target, 200, seed=1)
    assert target.counts["rejected"] > 0 and target.counts["accepted"] > 0



def test_view_refuses_a_file_that_is_not_a_recording_before_writing_its_rrd(tmp_path):
    bogus = tmp_path / "bogus.lhmr"
    bogus.write_bytes(b"not a recording at all")
    _one_line_error(_run("view", str(bogus), "--save", str(tmp_path / "x.rrd")), "not a livehmr recording")
    assert not (tmp_path / "x.rrd").exists()
    _one_line_error(_run("studio", "detector-errors", "--suite-dir", str(tmp_path), "--out", str(tmp_path / "e.json")),
                    "not a rendered suite")  # fmt: skip


def test_every_benchmark_is_a_livehmr_bench_command():
    import ast

    from livehmr.cli import BENCH_MODULES, BENCHES

    modules = {p.stem for p in (ROOT / "bench").glob("*.py")
               if any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in ast.parse(p.read_text()).body)}  # fmt: skip
    assert {BENCH_MODULES.get(name, name) for name in BENCHES} == modules
    listed = _run("bench", "--help").stdout
    assert all(name in listed for name in (*BENCHES, "accuracy"))
    proc = _run("bench", "motion", "--help")
    assert proc.returncode == 0 and "--frames" in proc.stdout
