"""The exported BVH and GLB opened in Blender (Debian's package, headless), as a user's
File > Import does: Blender's bones land on the published joints, and Blender's skinning
of the GLB gives Anny's mesh."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from importlib import resources

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from livehmr.models.body import SmplParams
from livehmr.tests.test_exports import _anny_motion, _record

FRAMES = (0, 7, 23)


def _blender() -> str:
    blender = shutil.which("blender")
    if not blender:
        message = "needs Debian's blender and python3-numpy (apt-get install blender python3-numpy)"
        if os.environ.get("CI"):
            pytest.fail(message + "; .ci/run installs them")
        pytest.skip(message)
    return blender


def _blender_import(kind: str, path, tmp_path) -> dict:
    script = resources.files("livehmr.tests").joinpath("blender", "joints.py")
    out = tmp_path / f"{kind}.json"
    cmd = [_blender(), "-b", "--factory-startup", "--python-exit-code", "1", "--python", str(script), "--", kind, str(path),
           ",".join(map(str, FRAMES)), str(out)]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and out.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize("kind", ["bvh", "glb"])
def test_blender_opens_the_export_on_the_published_motion(tmp_path, anny_body, kind):
    from livehmr.clients.recording import export_recording

    motion = _anny_motion(anny_body, 24, np.random.default_rng(8))
    _record(tmp_path / "run.lhmr", anny_body, motion)
    (path,) = export_recording(tmp_path / "run.lhmr", "gltf" if kind == "glb" else "bvh", tmp_path / f"run.{kind}")
    result = _blender_import(kind, path, tmp_path)

    joints = np.array(result["joints"])  # Blender's world: Z up, metres = livehmr's world
    np.testing.assert_allclose(joints, motion[2][list(FRAMES)], atol=1e-3)
    if kind == "glb":
        rv = Rotation.from_matrix(motion[0][FRAMES[0]]).as_rotvec()
        reference, _ = anny_body.mesh(SmplParams(rv[0], rv[1:].ravel(), motion[1][FRAMES[0]], anny_body.betas))
        vertices = np.array(result["vertices"])
        assert vertices.shape == reference.shape
        error = np.linalg.norm(vertices - reference, axis=1)
        assert error.max() < 0.015 and np.quantile(error, 0.99) < 0.001, (error.max(), np.quantile(error, 0.99))
