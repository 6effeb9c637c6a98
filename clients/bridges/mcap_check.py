"""Check a Foxglove MCAP recording (``livehmr record --format mcap``) opens with the
``mcap`` reader and carries livehmr's channels with their schemas.

    python -m livehmr.clients.bridges.mcap_check run.mcap [--images]

Prints each channel's schema and message count; exits 1 if a channel is missing, has the
wrong schema, or no ``/tf`` message was written (``--images``: the camera channels too,
one message per frame from the first image on).

Frames before a camera channel's first message are not counted against it: a recorder
joins a ZeroMQ stream whenever its connection completes, which can fall between a frame's
image and its states, so the first frame recorded may come without its image. Any frame
missing its image after that is a loss, and is reported with its time.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

SCENE_CHANNELS = {"/tf": "foxglove.FrameTransforms", "/scene": "foxglove.SceneUpdate"}
IMAGE_CHANNELS = {"/camera/image": "foxglove.CompressedImage", "/camera/calibration": "foxglove.CameraCalibration",
                  "/camera/annotations": "foxglove.ImageAnnotations"}  # fmt: skip


@dataclass
class Channel:
    """One channel of a recording: its schema's name and its messages' log times (ns)."""

    schema: str
    log_times: list[int] = field(default_factory=list)


def read_channels(path: str) -> dict[str, Channel]:
    """topic -> :class:`Channel` of an MCAP file (every message read, so a cut file fails here)."""
    from mcap.reader import make_reader

    channels: dict[str, Channel] = {}
    with open(path, "rb") as f:
        reader = make_reader(f)
        summary = reader.get_summary()
        if summary is None or summary.statistics is None:
            raise ValueError(f"{path} has no summary section (was the recording closed?)")
        for c in summary.channels.values():
            channels[c.topic] = Channel(summary.schemas[c.schema_id].name)
        for _, channel, message in reader.iter_messages(log_time_order=False):
            channels[channel.topic].log_times.append(message.log_time)
    return channels


def problems(channels: dict[str, Channel], images: bool) -> list[str]:
    """What is wrong with a recording's channels ([] when nothing is)."""
    expected = {**SCENE_CHANNELS, **(IMAGE_CHANNELS if images else {})}
    found = [f"{topic}: missing" for topic in expected if topic not in channels]
    found += [f"{topic}: schema {channels[topic].schema}, not {schema}" for topic, schema in expected.items()
              if topic in channels and channels[topic].schema != schema]  # fmt: skip
    frames = sorted(channels["/tf"].log_times) if "/tf" in channels else []
    if not frames:
        found.append("/tf: no messages")
    for topic in IMAGE_CHANNELS if images else ():
        if topic not in channels:
            continue
        times = set(channels[topic].log_times)
        if not times:
            found.append(f"{topic}: no messages for {len(frames)} frames")
            continue
        first = min(times)
        lost = [t for t in frames if t >= first and t not in times]
        if lost:
            found.append(f"{topic}: {len(lost)} of {sum(t >= first for t in frames)} frames from its first message on "
                         f"have none (first at log time {lost[0]} ns)")
    if not any(topic.startswith("/bodies/") and c.schema == "livehmr.BodyPlot" for topic, c in channels.items()):
        found.append("/bodies/b<id>: no person's plot channel")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path")
    parser.add_argument("--images", action="store_true", help="the recording must carry the camera channels too")
    args = parser.parse_args()
    channels = read_channels(args.path)
    for topic, channel in sorted(channels.items()):
        print(f"{topic:24s} {channel.schema:28s} {len(channel.log_times):6d}")
    wrong = problems(channels, args.images)
    for problem in wrong:
        print(f"mcap_check: {problem}", file=sys.stderr)
    sys.exit(1 if wrong else 0)


if __name__ == "__main__":
    main()
