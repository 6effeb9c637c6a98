"""CURVE-authenticated streams: only subscribers whose public key the publisher allows
receive anything; binding beyond loopback needs keys or an explicit --insecure."""

from __future__ import annotations

import logging
import shutil
import threading
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from livehmr.cli import app
from livehmr.clients.sdk import Subscriber
from livehmr.core.errors import LivehmrError
from livehmr.core.types import FrameResult, PersonState
from livehmr.models.body import SmplParams
from livehmr.stream.publish.publisher import ZmqPublisher
from livehmr.stream.publish.security import CurveClient, CurveServer, check_bind


@pytest.fixture
def keys(tmp_path):
    """server, two clients (one allowed), made with `livehmr keys`."""
    for name in ("server", "alice", "mallory"):
        out = CliRunner().invoke(app, ["keys", name, "--out", str(tmp_path)])
        assert out.exit_code == 0, out.output
    assert (tmp_path / "server.key_secret").stat().st_mode & 0o077 == 0
    (tmp_path / "clients").mkdir()
    shutil.copy(tmp_path / "alice.key", tmp_path / "clients" / "alice.key")
    return tmp_path


def _result(i: int) -> FrameResult:
    person = PersonState(0, SmplParams(), np.zeros((24, 3)), np.zeros(4), np.ones(24))
    return FrameResult(i, i / 30, time.perf_counter(), np.eye(4), [person])


def _received(url: str, curve: CurveClient | None, publisher: ZmqPublisher, seconds: float = 1.5) -> int:
    """States a subscriber with ``curve`` receives while the publisher sends for ``seconds``."""
    got = []
    with Subscriber(url, timeout_s=0.1, curve=curve) as sub:
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            publisher.publish(_result(i))
            i += 1
            state = sub.recv()
            if state is not None:
                got.append(state)
    return len(got)


def test_only_allowed_subscribers_receive_a_curve_stream(keys):
    url = "tcp://127.0.0.1:5671"
    publisher = ZmqPublisher(url, curve=CurveServer(keys / "server.key_secret", keys / "clients"))
    try:
        assert _received(url, None, publisher) == 0  # no keys: the handshake never completes
        assert _received(url, CurveClient(keys / "mallory.key_secret", keys / "server.key"), publisher) == 0
        assert _received(url, CurveClient(keys / "alice.key_secret", keys / "mallory.key"), publisher) == 0  # wrong server
        assert _received(url, CurveClient(keys / "alice.key_secret", keys / "server.key"), publisher) > 5
    finally:
        publisher.close()


def test_the_recorder_authenticates_too(keys, tmp_path):
    from livehmr.clients.recording import read_recording, record_stream

    url = "tcp://127.0.0.1:5672"
    publisher = ZmqPublisher(url, curve=CurveServer(keys / "server.key_secret", keys / "clients"))
    out = tmp_path / "secure.lhmr"
    curve = CurveClient(keys / "alice.key_secret", keys / "server.key")
    recorder = threading.Thread(target=record_stream, args=(url, out), kwargs={"count": 10, "seconds": 10, "curve": curve})
    recorder.start()
    i = 0
    while recorder.is_alive() and i < 500:
        publisher.publish(_result(i))
        i += 1
        time.sleep(0.01)
    recorder.join(5)
    publisher.close()
    assert len(read_recording(out)) == 10


def test_binding_beyond_loopback_needs_keys_or_an_explicit_insecure(keys, caplog):
    curve = CurveServer(keys / "server.key_secret", keys / "clients")
    check_bind("tcp://127.0.0.1:5557", None, insecure=False)
    check_bind("tcp://0.0.0.0:5557", curve, insecure=False)
    with pytest.raises(LivehmrError, match="without authentication"):
        check_bind("tcp://0.0.0.0:5557", None, insecure=False)
    with caplog.at_level(logging.WARNING):
        check_bind("tcp://0.0.0.0:5557", None, insecure=True)
    assert "without authentication" in caplog.text


def test_bad_key_files_are_clear_errors(keys, tmp_path):
    with pytest.raises(LivehmrError, match="holds no secret key"):
        ZmqPublisher("tcp://127.0.0.1:5673", curve=CurveServer(keys / "server.key", keys / "clients"))
    with pytest.raises(LivehmrError, match="not a directory"):
        ZmqPublisher("tcp://127.0.0.1:5674", curve=CurveServer(keys / "server.key_secret", tmp_path / "nope"))
    out = CliRunner().invoke(app, ["echo", "--curve-key", str(keys / "alice.key_secret"), "--timeout", "0.1"])
    assert out.exit_code == 2 and "go together" in out.output
