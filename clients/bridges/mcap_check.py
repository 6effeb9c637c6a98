"""Check a Foxglove MCAP recording (``livehmr record --format mcap``) opens with the
``mcap`` reader and carries livehmr's channels with their schemas.

    python -m livehmr.clients.bridges.mcap_check run.mcap [--images]

Prints each channel's schema and message count; exits 1 if a channel is missing, has the
wrong schema, or no ``/tf`` message was written (``--images``: the camera channels too,
one message per frame).
"""

from __future__ import annotations

import argparse
import sys

SCENE_CHANNELS = {"/tf": "foxglove.FrameTransforms", "/scene": "foxglove.SceneUpdate"}
IMAGE_CHANNELS = {"/camera/image": "foxglove.CompressedImage", "/camera/calibration": "foxglove.CameraCalibration",
                  "/camera/annotations": "foxglove.ImageAnnotations"}  # fmt: skip


def summarise(path: str) -> dict[str, tuple[str, int]]:
    """topic -> (schema name, message count) of an MCAP file."""
    from mcap.reader import make_reader

    with open(path, "rb") as f:
        summary = make_reader(f).get_summary()
    if summary is None or summary.statistics is None:
        raise ValueError(f"{path} has no summary section (was the recording closed?)")
    counts = summary.statistics.channel_message_counts
    return {c.topic: (summary.schemas[c.schema_id].name, counts.get(k, 0)) for k, c in summary.channels.items()}


def problems(channels: dict[str, tuple[str, int]], images: bool) -> list[str]:
    expected = {**SCENE_CHANNELS, **(IMAGE_CHANNELS if images else {})}
    found = [f"{topic}: missing" for topic in expected if topic not in channels]
    found += [f"{topic}: schema {channels[topic][0]}, not {schema}" for topic, schema in expected.items()
              if topic in channels and channels[topic][0] != schema]  # fmt: skip
    frames = channels.get("/tf", ("", 0))[1]
    if frames == 0:
        found.append("/tf: no messages")
    found += [f"{topic}: {channels[topic][1]} messages for {frames} frames" for topic in IMAGE_CHANNELS
              if images and topic in channels and channels[topic][1] != frames]  # fmt: skip
    if not any(topic.startswith("/bodies/") and schema == "livehmr.BodyPlot" for topic, (schema, _) in channels.items()):
        found.append("/bodies/b<id>: no person's plot channel")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path")
    parser.add_argument("--images", action="store_true", help="the recording must carry the camera channels too")
    args = parser.parse_args()
    channels = summarise(args.path)
    for topic, (schema, count) in sorted(channels.items()):
        print(f"{topic:24s} {schema:28s} {count:6d}")
    wrong = problems(channels, args.images)
    for problem in wrong:
        print(f"mcap_check: {problem}", file=sys.stderr)
    sys.exit(1 if wrong else 0)


if __name__ == "__main__":
    main()
