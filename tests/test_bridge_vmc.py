"""The VMC bridge: livehmr's frames to Unity's, checked on known poses; a full frame of
bones reaches an OSC server on loopback for every frame published."""

import threading
import time

import numpy as np
import pytest

from livehmr.core.geometry import rotvec_to_rotmat

pytest.importorskip("pythonosc")

from livehmr.clients.bridges.vmc import A_UNITY_WORLD, UNITY_BONES, unity_bones  # noqa: E402
from livehmr.models.skeleton import JOINT  # noqa: E402

# canon -> world of a body facing the world's +X (the first camera's heading), upright:
# canon X (its left) -> world +Y, canon Y (up) -> world +Z, canon Z (forward) -> world +X
R_FACING_X = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def _bones(R_world_root=R_FACING_X, local: dict | None = None, pelvis=(1.0, 2.0, 0.9)):
    from livehmr.core.geometry import rotmat_to_rotvec

    body_pose = np.zeros(69)
    for name, rotvec in (local or {}).items():
        body_pose[3 * (JOINT[name] - 1) : 3 * JOINT[name]] = rotvec
    joints = np.random.default_rng(0).normal(size=(24, 3))
    joints[0] = pelvis
    return unity_bones(rotmat_to_rotvec(R_world_root), body_pose, joints)


def test_a_body_facing_the_first_camera_heading_stands_at_rest_in_unity():
    bones = _bones()
    assert len(bones) == 22 and set(bones) == set(UNITY_BONES.values())
    np.testing.assert_allclose(bones["Hips"][1], [0, 0, 0, 1], atol=1e-9)
    np.testing.assert_allclose(bones["Hips"][0], [-2.0, 0.9, 1.0])  # world (x, y, z) -> Unity (-y, z, x)
    for bone, (_, q) in bones.items():
        np.testing.assert_allclose(q, [0, 0, 0, 1], atol=1e-9, err_msg=bone)


def test_turning_left_is_a_negative_yaw_in_left_handed_unity():
    yaw_left = rotvec_to_rotmat(np.array([0.0, 0.0, np.pi / 2]))  # about world up, counter-clockwise from above
    q = _bones(yaw_left @ R_FACING_X)["Hips"][1]
    np.testing.assert_allclose(q, [0, -np.sin(np.pi / 4), 0, np.cos(np.pi / 4)], atol=1e-9)


@pytest.mark.parametrize("axis, expected_axis", [(0, [1, 0, 0]), (1, [0, -1, 0]), (2, [0, 0, -1])])
def test_local_rotations_mirror_across_the_body_x_axis(axis, expected_axis):
    """A canon rotation about X keeps its axis; about Y or Z the axis flips (M R M, M = diag(-1, 1, 1))."""
    theta = 0.7
    rotvec = np.zeros(3)
    rotvec[axis] = theta
    q = _bones(local={"left_elbow": rotvec})["LeftLowerArm"][1]
    np.testing.assert_allclose(q, [*(np.sin(theta / 2) * np.array(expected_axis)), np.cos(theta / 2)], atol=1e-9)


def test_raising_the_left_arm_lifts_unitys_left_upper_arm():
    """Canon +Z rotation of the left shoulder raises the left arm; in Unity the arm (along -X
    at rest) must point up (+Y) after the returned rotation."""
    from scipy.spatial.transform import Rotation

    q = _bones(local={"left_shoulder": np.array([0.0, 0.0, np.pi / 2])})["LeftUpperArm"][1]
    arm = Rotation.from_quat(q).apply([-1.0, 0.0, 0.0])
    np.testing.assert_allclose(arm, [0, 1, 0], atol=1e-9)
    assert np.linalg.det(A_UNITY_WORLD) == pytest.approx(-1.0)


def test_every_published_frame_reaches_an_osc_server_as_a_full_set_of_bones():
    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_server import ThreadingOSCUDPServer

    from livehmr.clients.bridges.vmc import VmcBridge
    from livehmr.models.anny_body import AnnyBody
    from livehmr.tests.conftest import bridge_results
    from livehmr.tests.test_rerun_viewer import _results

    received: list[tuple[str, tuple]] = []
    dispatcher = Dispatcher()
    dispatcher.set_default_handler(lambda address, *args: received.append((address, args)))
    server = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    results = list(_results(AnnyBody()))
    stats = bridge_results(VmcBridge(port=server.server_address[1]), results, "tcp://127.0.0.1:5671")
    time.sleep(0.3)
    server.shutdown()

    assert stats.frames == len(results)
    times = [args[0] for address, args in received if address == "/VMC/Ext/T"]
    assert times == pytest.approx([r.t_source for r in results])
    bones = [args for address, args in received if address == "/VMC/Ext/Bone/Pos"]
    assert len(bones) == 22 * len(results)
    assert [args[0] for address, args in received if address == "/VMC/Ext/OK"] == [1] * len(results)
    hips = [np.array(args[1:4]) for args in bones if args[0] == "Hips"]
    for result, p in zip(results, hips):
        np.testing.assert_allclose(p, A_UNITY_WORLD @ result.persons[0].joints_world[0], atol=1e-5)
