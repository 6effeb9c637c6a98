"""The runtime keeps streaming through a failing stage."""

import numpy as np

from livehmr.core.geometry import rotvec_to_rotmat
from livehmr.core.stages import Estimator
from livehmr.core.types import CameraState, Frame
from livehmr.stream.runtime import Pipeline


class _Frames:
    live = False

    def __iter__(self):
        return iter(Frame(i, i / 30, np.zeros((32, 32, 3), np.uint8)) for i in range(4))

    def close(self):
        pass


class _NoPeople:
    def detect(self, frame):
        return []

    def close(self):
        pass


class _CameraFailingOnFrame2:
    R = rotvec_to_rotmat(np.array([0.1, 0.2, 0.3]))

    def update(self, frame, persons):
        if frame.index == 2:
            raise RuntimeError("boom")
        return CameraState(self.R.copy())


class _Nobody(Estimator):
    def estimate(self, frame, camera, persons):
        return []

    def reset(self):
        pass


def test_a_failing_camera_stage_holds_the_last_pose_and_flags_the_frame():
    results = []
    pipeline = Pipeline(_Frames(), _NoPeople(), _CameraFailingOnFrame2(), _Nobody(), on_result=[results.append])
    summary = pipeline.run()
    assert summary.frames == 4 and summary.stage_errors == 1
    assert "stage_error" in results[2].flags and "stage_error" not in results[3].flags
    assert np.allclose(results[2].T_world_cam[:3, :3], _CameraFailingOnFrame2.R)
