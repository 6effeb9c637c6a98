"""Fuzzing every parser of outside input (issue: reliability), on every change.

The properties and input strategies are :mod:`livehmr.bench.fuzz`'s, which runs 10,000
inputs per parser; here each parser gets a few hundred, with a fixed seed so CI is
repeatable, plus the inputs that once broke a parser.
"""

import numpy as np
import pytest

from livehmr.bench import fuzz

EXAMPLES = 150


@pytest.mark.parametrize("name", list(fuzz.TARGETS))
def test_parser_never_crashes_and_every_rejection_says_why(name):
    target = fuzz.TARGETS[name]
    fuzz.fuzz(target, EXAMPLES, seed=0)
    assert sum(target.counts.values()) >= EXAMPLES
    assert target.counts["rejected"] > 0  # the inputs reached the parser's refusals


def test_the_valid_inputs_the_fuzzer_damages_are_accepted():
    for message in fuzz.valid_wire_messages():
        assert fuzz.check(fuzz.TARGETS["wire_message"], message) == "accepted"
    assert fuzz.check(fuzz.TARGETS["recording"], fuzz.valid_recording()) == "accepted"
    assert fuzz.check(fuzz.TARGETS["motion_model_file"], fuzz.valid_motion_model()) == "accepted"
    assert fuzz.check(fuzz.TARGETS["imu_to_cam_spec"], fuzz._rotation_spec([0.3, 0.1, -0.5, 0.2])) == "accepted"


def test_a_sensorstream_datagram_with_an_infinite_sensor_id_is_rejected_not_raised():
    """Found by the fuzzer: int(float('inf')) raised OverflowError past the handler."""
    assert fuzz.check(fuzz.TARGETS["gyro_udp_datagram"], b"0,inf,0,0,0,0") == "rejected"


def test_a_frame_whose_jpeg_claims_another_size_is_refused_before_decoding():
    """A forged JPEG header must not make a viewer allocate gigabytes."""
    from livehmr.clients.sdk import FrameImage, jpeg_size, parse
    from livehmr.stream.publish.wire import TOPIC_FRAME, WireError, decode, encode

    frame = next(m for m in fuzz.valid_wire_messages() if m[0] == b"frame")
    image = parse(decode(frame))
    assert isinstance(image, FrameImage) and image.image().shape == (24, 32, 3)
    jpeg = bytearray(image.jpeg)
    assert jpeg_size(bytes(jpeg)) == (32, 24)
    sof = next(i for i in range(len(jpeg) - 1) if jpeg[i] == 0xFF and jpeg[i + 1] in (0xC0, 0xC2))
    jpeg[sof + 5 : sof + 9] = (60000).to_bytes(2, "big") + (60000).to_bytes(2, "big")  # height, width
    header = {k: v for k, v in image.message.header.items() if k not in ("schema", "version", "arrays")}
    forged = encode(TOPIC_FRAME, header, dict(image.message.arrays, image=np.frombuffer(bytes(jpeg), np.uint8)))
    with pytest.raises(WireError, match="not a JPEG of the header's 32x24"):
        parse(decode(forged)).image()


def test_an_imu_rotation_of_infinities_is_rejected():
    """Found by the fuzzer: a matrix of 1e999 passed the rotation check (NaN compares false)."""
    assert fuzz.check(fuzz.TARGETS["imu_to_cam_spec"], ",".join(["1e999"] * 9)) == "rejected"
