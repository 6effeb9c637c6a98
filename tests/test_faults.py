"""Injected faults (issue: reliability): each asserts what the published stream shows.

The scenarios live in :mod:`livehmr.bench.faults` (which also prints their measured
recovery for docs/reliability.md); every one reads the stream as a subscriber decodes it
and fails here if a property breaks: a missing flag, a NaN on the wire, no recovery.
"""

import numpy as np
import pytest

from livehmr.bench import faults


def _check(outcome: faults.Outcome) -> None:
    assert outcome.ok, f"{outcome.fault}: {outcome.shows}; {outcome.recovery}; {outcome.figures}"


def test_a_camera_that_stalls_is_reported_stalled_and_its_return_flagged():
    outcome = faults.camera_stall()
    _check(outcome)
    assert outcome.figures["stalled_statuses"] >= 1 and outcome.figures["reopened"] >= 2


def test_a_camera_that_dies_ends_the_run_with_a_clear_error():
    outcome = faults.camera_dies(give_up_s=1.0)
    _check(outcome)
    assert 1.0 <= outcome.figures["ended_after_s"] < 2.0


def test_unusable_images_are_skipped_and_the_gap_flagged():
    _check(faults.corrupt_frames())


def test_truncated_video_and_corrupt_image_files(tmp_path):
    outcomes = faults.truncated_files(tmp_path)
    assert len(outcomes) == 3
    for outcome in outcomes:
        _check(outcome)


def test_a_resolution_change_mid_stream_keeps_the_body():
    _check(faults.resolution_change(n=60, change_at=30))


@pytest.mark.parametrize("kind", list(faults.GYRO_FAULTS))
def test_gyro_faults(kind):
    outcome = faults.gyro_fault(kind)
    _check(outcome)
    if kind == "burst":  # the held-back second is redone once it arrives
        assert outcome.figures["effect_deg"] < 0.5 and outcome.figures["flagged_frames"] >= 20
    if kind.startswith("clock_jump"):
        assert outcome.figures["recovery_s"] < 0.5


def test_gyro_alone_loses_the_turn_of_a_dropout_and_vision_carries_it():
    alone, fused = faults.gyro_fault("dropout"), faults.gyro_fault("dropout_vo")
    assert alone.figures["effect_deg"] > 2 * fused.figures["effect_deg"]


def test_stages_that_raise_or_return_nan_are_restarted_and_their_frames_flagged():
    outcomes = faults.stage_faults()
    assert len(outcomes) == 6
    for outcome in outcomes:
        _check(outcome)
        assert outcome.figures["recovery_frames"] == 1


def test_nobody_for_three_minutes_then_the_person_again():
    outcome = faults.nobody_for(3.0)
    _check(outcome)
    assert outcome.figures["recovery_frames"] <= 2


def test_sigint_sigterm_and_kill_9_leave_readable_recordings(tmp_path):
    outcomes = faults.signals(tmp_path)  # a hang fails there (each wait is bounded at 30 s)
    assert len(outcomes) == 3  # SIGINT, SIGTERM, and kill -9 of the recorder
    for outcome in outcomes:
        _check(outcome)
        assert outcome.figures["messages"] > 0


def test_the_wire_tap_sees_what_a_subscriber_sees():
    """The harness itself: a NaN state is withheld on the wire and the tap says so."""
    from livehmr.core.types import FrameResult, PersonState
    from livehmr.models.body import SmplParams

    params = SmplParams(transl=np.array([0.0, 0.0, np.nan]))
    person = PersonState(0, params, np.zeros((24, 3)), np.zeros(4), np.ones(24))
    tap = faults.WireTap()
    tap.publish(FrameResult(7, 0.2, 0.0, np.eye(4), [person]))
    (_, state), = tap.states
    assert tap.withheld == 1 and "invalid" in state.flags and not state.has_body and tap.all_finite()


def test_the_stream_ends_with_a_status_carrying_its_final_counts():
    # a period longer than the run: the only status is the closing one, and it counts
    # every frame and restart (a periodic status alone could predate the last fault)
    sc = faults.scene()
    schedule = [(i, i / faults.FPS) for i in range(45)]
    estimator = faults.FaultyEstimator(faults.learned_estimator(), {30: "raise"})
    tap, _ = faults.run(faults.SceneFrames(sc, schedule), faults.TruthKeypoints(), faults.StaticCamera(), estimator,
                        status_period_s=1e6)  # fmt: skip
    assert len(tap.statuses) == 1
    status = tap.statuses[-1][1].status
    assert status["frames"] == 45 and status["restarts"] == {"estimator": 1}
