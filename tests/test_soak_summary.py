"""The soak's summary: the slow subscriber's cost is measured on steady samples of each
phase, and said "not measured" (never printed as NaN) when a phase has none."""

from types import SimpleNamespace

from livehmr.bench.soak import STAGES, report, summarise


def _rows(sample_s: float, slow_period_s: float, minutes: float) -> list[dict]:
    rows = []
    for k in range(1, int(minutes * 60 / sample_s) + 1):
        t = k * sample_s
        slow = int(t // slow_period_s) % 2 == 0
        rows.append({"t_s": t, "rss_mb": 1000.0, "fps": 14.0 if slow else 15.0, "glass_to_publish_p50_ms": 40.0,
                     "slow_connected": int(slow), **{f"{s}_p99_ms": 10.0 for s in STAGES}})  # fmt: skip
    return rows


def _summary(rows, minutes):
    counters = {k: SimpleNamespace(value=0) for k in ("slow", "slow_on", "fast", "reconnects", "empty", "bad")}
    return summarise(rows, SimpleNamespace(frames=100, lost=0, invalid=0), counters, minutes)


def test_each_phase_with_two_samples_in_a_row_gives_the_ratio():
    lines = report(_summary(_rows(5.0, 20.0, 1.5), 1.5))
    assert "frame rate with / without the slow subscriber: 14.00 / 15.00 fps = 0.933" in lines


def test_phases_shorter_than_two_samples_are_said_not_measured():
    lines = report(_summary(_rows(10.0, 15.0, 1.5), 1.5))  # CI's old settings: every sample straddles a switch
    assert not any("nan" in line for line in lines)
    assert any(line.startswith("frame rate with / without the slow subscriber: not measured") for line in lines)
