"""The command line: help, clear one-line errors, echo against a live stream."""

import subprocess
import sys
import threading
import time

import numpy as np

from livehmr.core.types import FrameResult
from livehmr.stream.publish.publisher import ZmqPublisher

CLI = [sys.executable, "-m", "livehmr"]


def _run(*args, timeout=120):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def test_help_explains_every_command_and_option():
    out = _run("--help").stdout
    for command in ("run", "demo", "echo", "setup"):
        assert command in out
    run_help = _run("run", "--help").stdout
    for option in ("--keypoints", "--camera", "--gyro", "--imu-to-cam", "--estimator", "--body", "--smpl-model",
                   "--fov", "--publish", "--insecure", "--max-frames"):  # fmt: skip
        assert option in run_help


def test_unreadable_video_is_a_one_line_error(tmp_path):
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"this is not a video")
    proc = _run("run", str(bad), "--max-frames", "1")
    assert proc.returncode == 2
    assert "cannot open video" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_source_and_bad_gyro_are_clear_errors(tmp_path):
    proc = _run("run", str(tmp_path / "nope.mp4"))
    assert proc.returncode == 2 and "neither" in proc.stderr and "Traceback" not in proc.stderr
    gyro = tmp_path / "g.csv"
    gyro.write_text("0.0,1,2\n")
    proc = _run("run", "synthetic", "--gyro", str(gyro), "--max-frames", "1")
    assert proc.returncode == 2 and "g.csv:1" in proc.stderr and "Traceback" not in proc.stderr


def test_remote_bind_needs_the_flag():
    proc = _run("run", "synthetic", "--publish", "tcp://0.0.0.0:5591", "--max-frames", "1")
    assert proc.returncode == 2 and "--insecure" in proc.stderr


def test_echo_prints_live_states():
    pub = ZmqPublisher("tcp://127.0.0.1:0")
    stop = threading.Event()

    def feed():
        i = 0
        while not stop.is_set():
            pub.publish(FrameResult(i, i / 30, time.perf_counter(), np.eye(4), []))
            i += 1
            time.sleep(0.02)

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    try:
        proc = _run("echo", pub.url, "--count", "3", "--timeout", "20", timeout=60)
    finally:
        stop.set()
        thread.join()
        pub.close()
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 3 and all("no_person" in line for line in lines)


def test_echo_times_out_with_an_error():
    proc = _run("echo", "tcp://127.0.0.1:5598", "--timeout", "0.5")
    assert proc.returncode == 1 and "no state arrived" in proc.stderr


def test_the_cli_choices_are_the_registries_names():
    """The option choices are written out as StrEnums (static checkers read them); they must
    name exactly what the registries, suites and trainers accept."""
    from livehmr import cli
    from livehmr.export.motion import FORMATS
    from livehmr.models.motion.trajectory import CAMERA_MODES
    from livehmr.stream import registry
    from livehmr.studio.suite import SUITES
    from livehmr.training.motion.train import TrainConfig

    assert tuple(cli.Keypoints) == registry.KEYPOINT_BACKENDS
    assert tuple(cli.Camera) == registry.CAMERA_BACKENDS
    assert tuple(cli.EstimatorName) == registry.ESTIMATORS
    assert tuple(cli.RefinePrior) == registry.REFINE_PRIORS
    assert tuple(cli.CameraTranslation) == registry.CAMERA_TRANSLATION == CAMERA_MODES
    assert tuple(cli.ExportFormat) == FORMATS
    assert set(cli.SuiteName) == set(SUITES)
    for preset in cli.TrainConfig:
        TrainConfig.preset(preset)


def _command_rows(help_text: str) -> dict[str, list[str]]:
    """The Commands box of a rendered help page: each command's description as the rendered
    lines it took (a row starts with the command's name; its wrapped lines are indented)."""
    rows: dict[str, list[str]] = {}
    inside, current = False, ""
    for line in help_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("╭") and "Commands" in stripped:
            inside = True
            continue
        if not inside:
            continue
        if stripped.startswith("╰"):
            break
        inner = stripped[1:-1]  # between the box's sides
        if inner[1:2].strip():  # a new row: " name   description"
            current, _, text = inner.strip().partition(" ")
            rows[current] = [text.strip()]
        elif inner.strip():
            rows[current].append(inner.strip())
    return rows


def test_every_command_list_reads_as_sentences_at_80_columns():
    """Issue 32: a docstring's hard line breaks no longer cut a command's description in the
    command lists. Each description is its docstring's first paragraph, reflowed: every
    wrapped line but the last fills most of the 80-column box."""
    import inspect

    from typer.testing import CliRunner

    from livehmr.cli import _reflowed, app, reflow_help

    reflow_help(app)
    runner = CliRunner()
    groups = [([], app), *(([g.name], g.typer_instance) for g in app.registered_groups if g.name)]
    checked = 0
    for prefix, group in groups:
        result = runner.invoke(app, [*prefix, "--help"], env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
        assert result.exit_code == 0, result.output
        rows = _command_rows(result.output)
        for info in group.registered_commands:
            name = info.name or info.callback.__name__.replace("_", "-")
            if name not in rows:
                continue
            first_paragraph = _reflowed(inspect.getdoc(info.callback) or "").split("\n\n")[0]
            lines = rows[name]
            assert " ".join(lines).split() == first_paragraph.split(), (prefix, name, lines)
            for line in lines[:-1]:
                assert len(line) > 40, f"{' '.join(prefix + [name])}: a line cut short: {line!r}"
            checked += 1
    assert checked >= 15
