"""Fuzzing every parser of outside input, with Hypothesis.

    python -m livehmr.bench.fuzz                    # 10,000 inputs per parser
    python -m livehmr.bench.fuzz --examples 500 --only wire_message

The parsers: a gyro CSV line and a whole CSV file, a gyro message from ZeroMQ, a UDP
datagram (our formats and the Sensor Stream app's; its handler must never raise, and
counts a rejection), a message on the wire as the
subscriber SDK reads it, a recording file, a motion-model file (``--motion-model``: the
only configuration livehmr reads from a file) and the ``--imu-to-cam`` rotation.

Each :class:`Target` says which errors count as a clear rejection; anything else, a
rejection without a reason, or a parser that takes over ``HANG_S`` on one input is a
failure. Inputs are both
blind (random bytes and text) and shaped like the real thing, then damaged: valid
messages, recordings and model files with flipped bytes, cuts and hostile headers.
``tests/test_fuzz.py`` runs the same properties with fewer examples on every change.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, cast

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer import TyperException

from livehmr.bench.soak import rss_mb
from livehmr.core.errors import GyroFormatError, LivehmrError
from livehmr.stream.publish.wire import WireError

HANG_S = 5  # one input may take at most this long


# -- strategies ------------------------------------------------------------------------------------
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=8))
json_value = st.recursive(json_scalar, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                               st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                          max_leaves=12)  # fmt: skip
number_text = st.one_of(st.floats().map(repr), st.integers(-(10**30), 10**30).map(str), st.sampled_from(["nan", "inf", "-inf", "1e999", "0x10", "", " "]),
                        st.text(max_size=6))  # fmt: skip
separators = st.sampled_from([",", ";", " ", "\t", ", ", ",,"])
gyro_line = st.one_of(st.builds(lambda parts, sep: sep.join(parts), st.lists(number_text, max_size=7), separators),
                      st.text(max_size=80))  # fmt: skip


def _damage(data: bytes, flips: list[tuple[int, int]], cut: int | None, insert: bytes) -> bytes:
    """``data`` with bytes overwritten (position mod length), cut, and bytes inserted at the cut."""
    b = bytearray(data)
    for pos, value in flips:
        if b:
            b[pos % len(b)] = value
    if cut is not None and b:
        cut %= len(b) + 1
        b[cut:cut] = insert
        if not insert:
            del b[cut:]
    return bytes(b)


def damaged(valid: list[bytes]) -> st.SearchStrategy[bytes]:
    """Valid inputs with a few bytes flipped, cut short, or with junk inserted."""
    return st.builds(_damage, st.sampled_from(valid), st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 255)), max_size=6),
                     st.none() | st.integers(0, 2**31), st.binary(max_size=16))  # fmt: skip


# -- valid inputs to damage ------------------------------------------------------------------------
@functools.cache
def valid_wire_messages() -> list[list[bytes]]:
    """One of each message kind, as the pipeline encodes it."""
    from livehmr.core.types import FrameResult, PersonKeypoints, PersonState
    from livehmr.models.body import SmplParams
    from livehmr.stream.publish.publisher import frame_message, state_messages
    from livehmr.stream.publish.wire import TOPIC_FRAME, TOPIC_STATE, TOPIC_STATUS, encode

    person = PersonState(3, SmplParams(), np.zeros((24, 3)), np.zeros(4), np.ones(24))
    kp = PersonKeypoints(np.ones((23, 3)), np.array([0.0, 0, 10, 10]), track_id=3)
    image = np.zeros((24, 32, 3), np.uint8)
    body = FrameResult(5, 0.2, 0.0, np.eye(4), [person], keypoints=[kp], image=image, K=np.eye(3))
    nobody = FrameResult(6, 0.23, 0.0, np.eye(4), [])
    messages = [encode(TOPIC_STATE, h, a) for r in (body, nobody) for h, a in state_messages(r, "fuzz", "anny")]
    messages.append(encode(TOPIC_FRAME, *frame_message(body, "fuzz")))
    status = {"uptime_s": 1.0, "frames": 30, "fps": 30.0, "persons": 1, "dropped": 0, "skipped": 0, "stage_errors": 0,
              "withheld": 0, "restarts": {}, "latency_ms": {"keypoints": [30.0, 40.0]}, "flags": {}, "camera": "ok",
              "stalled": False}  # fmt: skip
    messages.append(encode(TOPIC_STATUS, {"stream": "fuzz", "t_publish": 1.0, "status": status, "flags": []}, {}))
    return messages


def _with_header(message: list[bytes], changes: dict, arrays: list | None) -> list[bytes]:
    header = json.loads(message[1])
    header.update(changes)
    if arrays is not None:
        header["arrays"] = arrays
    return [message[0], json.dumps(header).encode(), message[2]]


array_spec = st.fixed_dictionaries({
    "name": st.sampled_from(["joints_world", "transl", "image", "K", "keypoints", "betas"]) | st.text(max_size=4),
    "dtype": st.sampled_from(["<f4", "<f8", "|u1", "<i4", ">f4", "x"]) | json_scalar,
    "shape": st.lists(st.integers(-2, 2**21), max_size=4) | json_value,
    "offset": st.integers(-10, 10**7) | json_scalar,
})  # fmt: skip
header_keys = st.sampled_from(["schema", "version", "frame", "person", "t_source", "flags", "status", "t_publish", "persons",
                               "width", "height", "stream", "latency_ms"])  # fmt: skip


@functools.cache
def wire_frames() -> st.SearchStrategy[list[bytes]]:
    valid = valid_wire_messages()
    hostile_header = st.builds(_with_header, st.sampled_from(valid), st.dictionaries(header_keys, json_value, max_size=4),
                               st.none() | st.lists(array_spec, max_size=5))  # fmt: skip
    damaged_part = st.builds(lambda m, i, part: [*m[:i], part, *m[i + 1 :]], st.sampled_from(valid), st.integers(0, 2),
                             st.binary(max_size=64))  # fmt: skip
    flipped = st.tuples(st.sampled_from(valid), st.integers(0, 2)).flatmap(
        lambda mi: damaged([mi[0][mi[1]]]).map(lambda part: [*mi[0][: mi[1]], part, *mi[0][mi[1] + 1 :]]))
    return st.one_of(hostile_header, damaged_part, flipped, st.lists(st.binary(max_size=64), max_size=4))


@functools.cache
def valid_recording() -> bytes:
    from livehmr.clients.recording import RecordingWriter

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.lhmr"
        with RecordingWriter(path) as writer:
            for i, message in enumerate(valid_wire_messages()):
                writer.write(message, t_received=100.0 + i)
        return path.read_bytes()


@functools.cache
def valid_motion_model() -> bytes:
    import torch

    from livehmr.models.motion.network import MotionNet, NetConfig

    net = NetConfig(hidden=4)
    buffer = io.BytesIO()
    torch.save({"model": MotionNet(net).state_dict(), "net": net.to_dict(), "train": {}, "summary": {}}, buffer)
    return buffer.getvalue()


def _saved(obj) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


# -- targets ---------------------------------------------------------------------------------------
@dataclass
class Target:
    """A parser of outside input: ``strategy`` makes inputs, ``parse`` takes one; ``errors``
    are its clear rejections."""

    name: str
    strategy: Callable[[], st.SearchStrategy]
    parse: Callable[[Any], object]
    errors: tuple[type[BaseException], ...]
    counts: dict[str, int] = field(default_factory=lambda: {"accepted": 0, "rejected": 0})
    inputs: list = field(default_factory=list)  # kept when ``keep``: to replay them for memory
    keep: bool = False


class _Scratch:
    """One temporary file per process that file parsers read their input from."""

    path: Path | None = None

    @classmethod
    def write(cls, data: bytes, suffix: str) -> Path:
        if cls.path is None:
            cls.path = Path(tempfile.mkdtemp(prefix="livehmr-fuzz-"))
        path = cls.path / f"input{suffix}"
        path.write_bytes(data)
        return path


def _csv_file(text: str):
    from livehmr.stream.sources.gyro_feeds import CsvGyroFeed

    return CsvGyroFeed(_Scratch.write(text.encode("utf-8", "surrogatepass"), ".csv"))


def _udp_datagram(payload: bytes):
    from livehmr.stream.sources.gyro_feeds import GyroFeed, UdpGyroFeed

    feed = UdpGyroFeed.__new__(UdpGyroFeed)  # the datagram handler without a socket
    GyroFeed.__init__(feed)
    try:
        feed.handle(payload)
    except Exception as exc:  # the listening thread would die: the handler must never raise
        raise AssertionError(f"the UDP handler raised {exc!r}") from exc
    for buffer in (feed.buffer, feed.accel):
        window = buffer.window(-np.inf, np.inf)
        assert np.isfinite(window).all(), "a non-finite sample was taken in"
    if feed.buffer.rejected:  # counted and logged by the handler, as it should be
        raise GyroFormatError("datagram rejected (counted in the feed's 'rejected')")
    return feed


def _wire_message(frames: list[bytes]):
    from livehmr.clients.sdk import FrameImage, State, Status, parse
    from livehmr.stream.publish.wire import decode

    message = parse(decode(frames))
    if isinstance(message, State):  # everything a client reads must be there and of its type
        _ = (message.frame, message.person, message.flags, message.t_source, message.has_body)
        if message.has_body:
            _ = (message.joints_world + 0, message.contacts + 0)
    elif isinstance(message, FrameImage):
        _ = (message.frame, message.K, message.persons, message.keypoints, message.image())
    elif isinstance(message, Status):
        _ = (message.status["fps"], message.t_publish)
    return message


def _recording(data: bytes):
    from livehmr.clients.recording import RecordingReader

    return list(RecordingReader(_Scratch.write(data, ".lhmr")))


def _motion_model(data: bytes):
    from livehmr.models.motion.network import load_motion_net

    return load_motion_net(_Scratch.write(data, ".pt"))


def _recording_export(data: bytes):
    """A (damaged) recording through ``livehmr export motion``'s path: every file it writes
    holds finite numbers, and what it could not read is a LivehmrError or a warning."""
    import logging

    from livehmr.clients.recording import export_recording

    logging.getLogger("livehmr.export.motion").setLevel(logging.ERROR)  # its warnings about cut files, 10,000 times
    recording = _Scratch.write(data, ".lhmr")
    out = recording.with_name("export.npz")
    for old in out.parent.glob("export*.npz"):
        old.unlink()
    for path in export_recording(recording, "npz", out):
        with np.load(path, allow_pickle=False) as written:
            assert all(np.isfinite(written[k]).all() for k in ("poses", "trans", "joints")), "non-finite export"


#: what the CLI fuzzer types: each command with the options whose values it checks up front
CLI_OPTIONS: dict[str, tuple[str, ...]] = {
    "run": ("--keypoints", "--camera", "--estimator", "--body", "--fov", "--max-frames", "--people", "--publish",
            "--refine", "--refine-lag", "--gyro-offset", "--imu-to-cam", "--device", "--motion-model"),
    "demo": ("--seconds", "--people", "--keypoints", "--camera", "--publish", "--refine"),
    "echo": ("--count", "--timeout"),
    "record": ("--out", "--format", "--count", "--seconds", "--idle"),
    "replay": ("--speed", "--publish"),
    "export motion": ("--to", "--out", "--person"),
    "view": ("--save", "--idle", "--count"),
    "bench accuracy": ("--suite", "--limit", "--refine-every", "--refine-prior-weight"),
    "train motion": ("--config", "--workers", "--max-minutes"),
    "studio make": ("--suite", "--seed"),
}  # fmt: skip
cli_value = st.one_of(number_text, st.text(max_size=12), st.sampled_from(
    ["blazepose", "gyro+vo", "learned", "anny", "humor", "npz", "mcap", "smoke", "cpu", "tcp://127.0.0.1:5557",
     "tcp://127.0.0.1:0", "tcp://:5557", "udp://x:1", "ipc://", "notaurl", "-1", "0", "1e9", "nan", "inf", "--force"]))  # fmt: skip


def _cli_argv() -> st.SearchStrategy[list[str]]:
    def argv(command: str, picks: list[tuple[int, str]], positional: str | None) -> list[str]:
        names = CLI_OPTIONS[command]
        args = command.split() + ([positional] if positional is not None else [])
        for index, value in picks:
            args += [names[index % len(names)], value]
        return args

    return st.builds(argv, st.sampled_from(sorted(CLI_OPTIONS)), st.lists(st.tuples(st.integers(0, 99), cli_value), max_size=4),
                     st.one_of(st.none(), cli_value))  # fmt: skip


def _cli_parse(argv: list[str]):
    """Parse a command line exactly as ``livehmr`` does (types, ranges, choices, endpoint and
    file checks) without running the command: a usage error is the clear rejection."""
    import typer.core
    import typer.main

    from livehmr.cli import app

    group = typer.main.get_command(app)
    context = group.make_context("livehmr", list(argv))
    while context.args and isinstance(context.command, typer.core.TyperGroup):
        name, command, rest = context.command.resolve_command(context, context.args)
        assert name is not None and command is not None
        context = command.make_context(name, rest, parent=context)
    return context.params


def _imu_rotation(spec: str):
    from livehmr.stream.registry import parse_imu_rotation

    return parse_imu_rotation(spec)


def _rotation_spec(q: list[float]) -> str:
    """A rotation matrix (from a quaternion, when not all zero) as the 9 numbers ``--imu-to-cam`` takes."""
    from livehmr.core.geometry import rotvec_to_rotmat

    w, *xyz = q
    v = np.array(xyz)
    angle = 2 * np.arctan2(np.linalg.norm(v), w) if np.any(v) else 0.0
    R = rotvec_to_rotmat(v / (np.linalg.norm(v) or 1.0) * angle)
    return ",".join(repr(float(x)) for x in R.reshape(-1))


def _gyro_line(line: str):
    from livehmr.stream.sources.gyro_feeds import parse_sample_line

    return parse_sample_line(line, "fuzz")


def _gyro_message(payload: bytes):
    from livehmr.stream.sources.gyro_feeds import parse_sample_message

    return parse_sample_message(payload)


def _sensorstream_lines() -> st.SearchStrategy[bytes]:
    group = st.builds(lambda i, xyz: ",".join([i, *xyz]), st.sampled_from(["3", "4", "5", "82", "x", "3.0"]) | number_text,
                      st.lists(number_text, min_size=0, max_size=4))  # fmt: skip
    line = st.builds(lambda t, groups: ",".join([t, *groups]), number_text, st.lists(group, max_size=4))
    return line.map(lambda s: s.encode("utf-8", "surrogatepass"))


def _model_files() -> st.SearchStrategy[bytes]:
    model = valid_motion_model()
    shaped = st.builds(lambda net, extra: _saved({"model": {}, "net": net, **extra}), json_value,
                       st.dictionaries(st.sampled_from(["config", "train", "summary", "model"]), json_value, max_size=2))  # fmt: skip
    return st.one_of(damaged([model]), shaped, st.binary(max_size=200))


TARGETS: dict[str, Target] = {t.name: t for t in [
    Target("gyro_csv_line", lambda: gyro_line, _gyro_line, (GyroFormatError,)),
    Target("gyro_csv_file", lambda: st.lists(gyro_line, max_size=8).map("\n".join), _csv_file, (GyroFormatError,)),
    Target("gyro_zmq_message", lambda: st.one_of(
        gyro_line.map(lambda s: s.encode("utf-8", "surrogatepass")), json_value.map(lambda v: json.dumps(v).encode()),
        st.builds(lambda t, w: json.dumps({"t": t, "w": w}).encode(), json_value, json_value), st.binary(max_size=120)),
        _gyro_message, (GyroFormatError,)),
    Target("gyro_udp_datagram", lambda: st.one_of(_sensorstream_lines(), gyro_line.map(lambda s: s.encode("utf-8", "surrogatepass")),
                                                   st.binary(max_size=120)), _udp_datagram, (GyroFormatError,)),
    Target("wire_message", wire_frames, _wire_message, (WireError,)),
    Target("recording", lambda: st.one_of(damaged([valid_recording()]), st.binary(max_size=300).map(lambda b: valid_recording()[:14] + b),
                                          st.binary(max_size=100)), _recording, (LivehmrError,)),
    Target("motion_model_file", _model_files, _motion_model, (LivehmrError,)),
    Target("recording_export", lambda: st.one_of(damaged([valid_recording()]), st.just(valid_recording()),
                                                 st.binary(max_size=300).map(lambda b: valid_recording()[:14] + b)),
           _recording_export, (LivehmrError,)),
    Target("cli_options", _cli_argv, _cli_parse, (TyperException,)),
    Target("imu_to_cam_spec", lambda: st.one_of(st.text(max_size=40), st.lists(number_text, max_size=10).map(",".join),
                                                st.sampled_from(["identity", "android-portrait", "android-landscape"]),
                                                st.lists(st.floats(-1, 1), min_size=4, max_size=4).map(_rotation_spec)),
           _imu_rotation, (LivehmrError,)),
]}  # fmt: skip


def _timeout(*_) -> None:
    raise TimeoutError(f"one input took over {HANG_S} s")


def check(target: Target, value) -> str:
    """Parse one input: "accepted" or "rejected"; anything else raises (a failure)."""
    old = signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(HANG_S)
    try:
        target.parse(value)
        outcome = "accepted"
    except target.errors as exc:
        if not str(exc).strip():
            raise AssertionError(f"{target.name}: a rejection without a reason: {exc!r}") from exc
        outcome = "rejected"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    target.counts[outcome] += 1
    if target.keep:
        target.inputs.append(value)
    return outcome


def fuzz(target: Target, examples: int, seed: int | None = None) -> None:
    """Run ``examples`` inputs through ``target`` (Hypothesis shrinks and raises a failure)."""

    @settings(max_examples=examples, deadline=None, database=None, derandomize=seed is not None,
              suppress_health_check=cast(list[HealthCheck], list(HealthCheck)))  # (HealthCheck's metaclass hides the element type)  # fmt: skip
    @given(target.strategy())
    def run(value):
        check(target, value)

    run()


def replay_growth_mb(target: Target) -> float:
    """Resident memory added by a second pass of the parser over the inputs it was fuzzed
    with (Hypothesis' own bookkeeping grows while it fuzzes; a parser that keeps memory per
    input grows here)."""
    import gc

    def one_pass() -> None:
        for value in target.inputs:
            try:
                target.parse(value)
            except target.errors:
                pass

    one_pass()
    gc.collect()
    before = rss_mb()
    one_pass()
    gc.collect()
    return rss_mb() - before


def main() -> None:
    from tqdm import tqdm

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=10_000, help="inputs per parser")
    parser.add_argument("--only", nargs="*", choices=list(TARGETS), help="these parsers only")
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)  # rejections are logged one by one; the counts say it here
    rows, failed = [], False
    for name in tqdm(args.only or list(TARGETS), desc="fuzzing"):
        target = TARGETS[name]
        problem, t0, growth = "", time.perf_counter(), float("nan")
        target.keep = True
        try:
            fuzz(target, args.examples)
            growth = replay_growth_mb(target)
        except Exception as exc:  # Hypothesis re-raises the shrunk failing input's error
            problem, failed = f"{type(exc).__name__}: {str(exc)[:300]}", True
        seconds = time.perf_counter() - t0
        total = sum(target.counts.values())
        rows.append((name, total, target.counts["accepted"], target.counts["rejected"], problem or "0",
                     f"{1e3 * seconds / max(total, 1):.2f}", f"{growth:+.1f}"))  # fmt: skip
        target.inputs = []
    print("| parser | inputs | accepted | rejected (clear error) | crashes or hangs | ms / input (fuzzing) "
          "| RSS growth on a replay of its inputs (MiB) |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(v) for v in row) + " |")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
