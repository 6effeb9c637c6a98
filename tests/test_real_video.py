"""`livehmr run VIDEO` on a clip made from a real photograph of a person (shared data)."""

import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from livehmr.clients.sdk import Subscriber
from livehmr.testing import free_port

PHOTO = Path(__file__).resolve().parents[1] / ".." / "shared" / "images" / "lunge_barbell.jpg"


@pytest.mark.skipif(not PHOTO.exists(), reason="../shared/images is not beside this checkout")
def test_run_on_a_real_clip_publishes_bodies(tmp_path):
    photo = cv2.imread(str(PHOTO))
    h, w = photo.shape[:2]
    clip = tmp_path / "lunge.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter.fourcc(*"mp4v"), 30.0, (480, 640))
    for i in range(45):  # a slow pan and zoom across the photo
        s = 1.0 - 0.002 * i
        cw, ch = int(w * s), int(h * s)
        x0, y0 = int((w - cw) * i / 44), int((h - ch) / 2)
        writer.write(cv2.resize(photo[y0 : y0 + ch, x0 : x0 + cw], (480, 640)))
    writer.release()

    url = f"tcp://127.0.0.1:{free_port()}"
    received = []
    sub = Subscriber(url, timeout_s=60)

    def collect():
        for state in sub:
            received.append(state)
            if state.frame >= 44:
                return

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    proc = subprocess.run([sys.executable, "-m", "livehmr", "run", str(clip), "--publish", url, "--quiet"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    reader.join(timeout=10)
    sub.close()
    assert proc.returncode == 0, proc.stderr
    assert "45 frames" in proc.stderr
    bodies = [s for s in received if s.has_body]
    assert len(bodies) >= 20
    for s in bodies:
        assert np.all(np.isfinite(s.joints_world))
        head, ankle = s.joints_world[15], s.joints_world[7]
        assert head[2] - ankle[2] > 0.8  # an upright person, head above feet in the gravity-aligned world
