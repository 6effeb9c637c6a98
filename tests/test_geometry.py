"""Rotation and projection conventions against hand-computed cases."""

import numpy as np
import pytest

from livehmr.core.geometry import (
    R_WORLD_CAM_LEVEL,
    R_WORLD_CANON,
    gravity_aligned_from_cam,
    intrinsics_from_fov,
    invert_T,
    make_T,
    project,
    rodrigues,
    rotation_between,
    rotmat_to_rotvec,
    rotvec_to_rotmat,  # fmt: skip
    transform_points,
    unproject,
)


def test_level_camera_looks_along_world_x_with_image_down_as_gravity():
    assert np.allclose(R_WORLD_CAM_LEVEL @ [0, 0, 1], [1, 0, 0])  # optical axis -> +X
    assert np.allclose(R_WORLD_CAM_LEVEL @ [0, 1, 0], [0, 0, -1])  # image down -> gravity
    assert np.allclose(R_WORLD_CAM_LEVEL @ [1, 0, 0], [0, -1, 0])  # image right -> -Y (right-handed)
    assert np.isclose(np.linalg.det(R_WORLD_CAM_LEVEL), 1.0)


def test_canon_up_is_world_up():
    assert np.allclose(R_WORLD_CANON @ [0, 1, 0], [0, 0, 1])
    assert np.allclose(R_WORLD_CANON @ [0, 0, 1], [0, -1, 0])


def test_rotvec_90_degrees_about_z():
    R = rotvec_to_rotmat(np.array([0, 0, np.pi / 2]))
    assert np.allclose(R @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    assert np.allclose(rodrigues(np.array([0, 0, np.pi / 2])), R)
    assert np.allclose(rotmat_to_rotvec(R), [0, 0, np.pi / 2])


@pytest.mark.parametrize("a,b", [([1, 0, 0], [0, 1, 0]), ([0, 0, 1], [0, 0, -1]), ([1, 2, 3], [-2, 0.5, 1]), ([1, 0, 0], [1, 0, 0])])
def test_rotation_between_maps_a_onto_b(a, b):
    R = rotation_between(np.array(a, float), np.array(b, float))
    assert np.allclose(R @ (np.array(a) / np.linalg.norm(a)), np.array(b) / np.linalg.norm(b), atol=1e-9)
    assert np.allclose(R @ R.T, np.eye(3), atol=1e-9) and np.isclose(np.linalg.det(R), 1.0)


@pytest.mark.parametrize("a,b", [([1, 0, 0], [0, 1, 0]), ([0, 0, 1], [0, 0, -1]), ([1, 2, 3], [-2, 0.5, 1]), ([1, 0, 0], [1, 0, 0])])
def test_rotvec_between_is_rotation_between_as_axis_angle(a, b):
    from livehmr.core.geometry import rotvec_between

    r = rotvec_between(np.array(a, float), np.array(b, float))
    assert np.allclose(rotvec_to_rotmat(r), rotation_between(np.array(a, float), np.array(b, float)), atol=1e-9)
    assert np.isclose(np.linalg.norm(r), np.arccos(np.clip(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b), -1, 1)))


def test_projection_hand_computed():
    K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    assert np.allclose(project(np.array([0.2, -0.1, 2.0]), K), [320 + 50, 240 - 25])
    assert np.all(np.isnan(project(np.array([0.0, 0.0, -1.0]), K)))  # behind the camera
    ray = unproject(np.array([370.0, 215.0]), K)
    assert np.allclose(ray * 2.0, [0.2, -0.1, 2.0])


def test_intrinsics_from_fov():
    K = intrinsics_from_fov(640, 480, 90.0)
    assert np.isclose(K[0, 0], 320.0) and np.allclose(K[:2, 2], [320, 240])


def test_rigid_inverse_and_transform():
    T = make_T(rotvec_to_rotmat(np.array([0.3, -0.2, 0.9])), np.array([1.0, 2.0, 3.0]))
    p = np.array([[0.5, -1.0, 2.0]])
    assert np.allclose(transform_points(invert_T(T), transform_points(T, p)), p)


def test_gravity_aligned_keeps_tilt_and_zeroes_heading():
    tilt = rotvec_to_rotmat(np.array([0.2, 0.0, 0.0]))  # pitch the camera
    yaw = rotvec_to_rotmat(np.array([0.0, 0.0, 1.0]))
    R = gravity_aligned_from_cam(yaw @ R_WORLD_CAM_LEVEL @ tilt)
    assert np.allclose(R, R_WORLD_CAM_LEVEL @ tilt, atol=1e-9)


def test_rotations_between_matches_the_single_vector_version():
    from livehmr.core.geometry import rotation_between, rotations_between

    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(20, 3)), rng.normal(size=(20, 3))
    a[0], b[0] = [1.0, 0.0, 0.0], [-2.0, 0.0, 0.0]  # opposite directions
    R = rotations_between(a, b)
    for i in range(20):
        assert np.allclose(R[i] @ (a[i] / np.linalg.norm(a[i])), b[i] / np.linalg.norm(b[i]), atol=1e-9)
        if i:
            assert np.allclose(R[i], rotation_between(a[i], b[i]), atol=1e-9)


def test_transform_points_per_frame_equals_one_transform_at_a_time(rng=np.random.default_rng(7)):
    T = np.tile(np.eye(4), (5, 1, 1))
    T[:, :3, :3] = rotvec_to_rotmat(rng.normal(size=(5, 3)))
    T[:, :3, 3] = rng.normal(size=(5, 3))
    points = rng.normal(size=(5, 24, 3))
    batched = transform_points(T, points)
    assert batched.shape == (5, 24, 3)
    for i in range(5):
        assert np.allclose(batched[i], transform_points(T[i], points[i]))
    assert np.allclose(transform_points(T[0], points[0, 0]), T[0, :3, :3] @ points[0, 0] + T[0, :3, 3])
