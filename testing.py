"""Test doubles for code that uses livehmr: scripted inputs whose answer is known.

``walker_frames``: a person walking past a level camera, as the pipeline's stages would
hand it to an estimator (frame, camera state, BlazePose-like keypoints), made by forward
kinematics of a known skeleton, with no detector or renderer involved. The project's
tests and benchmarks use it; so may anyone testing an estimator or a client.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from livehmr.core.geometry import R_WORLD_CAM_LEVEL, intrinsics_from_fov, rotvec_to_rotmat
from livehmr.core.types import CameraState, Frame, PersonKeypoints

_REST_COEF = Path(__file__).resolve().parent / "models" / "data" / "anny_rest_from_phenotype.npz"


def walker_frames(n: int = 60, confidence: float = 0.9) -> list[tuple[Frame, CameraState, PersonKeypoints]]:
    """``n`` frames (30 fps, 640×480, 60° FOV) of a person in a T-pose gliding along +y at
    1.2 m/s, 4 m in front of a level camera at the world origin looking along +x; pelvis
    0.95 m above the floor. Keypoints are the exact projections, all with ``confidence``."""
    from livehmr.models.motion.features import KEYPOINT_INDEX, KEYPOINT_JOINTS
    from livehmr.models.motion.shape import RestJointsFromPhenotype
    from livehmr.models.skeleton import forward_kinematics

    K = intrinsics_from_fov(640, 480, 60.0)
    J = RestJointsFromPhenotype(np.load(_REST_COEF)["coef"])(np.full(6, 0.5))
    out = []
    for i in range(n):
        rot = np.tile(np.eye(3), (24, 1, 1))
        rot[0] = rotvec_to_rotmat(np.array([np.pi / 2, 0, 0]))  # canon Y up -> world Z up
        joints, _ = forward_kinematics(rot, J, np.array([4.0, -1 + 0.04 * i, 0.95]) - J[0])
        cam = joints @ R_WORLD_CAM_LEVEL  # camera at the origin, level, looking along +x
        px = cam[:, :2] / cam[:, 2:] * K[0, 0] + K[:2, 2]
        kp = np.zeros((23, 3))
        kp[KEYPOINT_INDEX, :2] = px[KEYPOINT_JOINTS]
        kp[KEYPOINT_INDEX, 2] = confidence
        person = PersonKeypoints(keypoints=kp, box=np.array([*px.min(0), *px.max(0)]))
        frame = Frame(index=i, t=i / 30, image=np.zeros((480, 640, 3), np.uint8), K=K)
        out.append((frame, CameraState(R_WORLD_CAM_LEVEL.copy()), person))
    return out


def write_scene_clip(path: str | Path, seconds: float = 4.0, fps: float = 10.0, width: int = 320) -> Path:
    """The embedded synthetic scene (a person walking, the camera moving) as an MP4 file of
    ``seconds`` at ``fps``, ``width`` pixels wide: a small pre-encoded clip for tests and
    benchmarks that need a real video file (decoding included)."""
    import cv2

    from livehmr.stream.sources.synthetic import SyntheticSource

    source = SyntheticSource(duration=seconds)
    step = max(1, int(round(source.scene.fps / fps)))
    writer = None
    for frame in source:
        if frame.index % step:
            continue
        h, w = frame.image.shape[:2]
        size = (width, int(round(h * width / w / 2)) * 2)
        if writer is None:
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), source.scene.fps / step, size)
        writer.write(cv2.resize(frame.image, size, interpolation=cv2.INTER_AREA))
    if writer is None:
        raise ValueError(f"{seconds} s of the scene hold no frame")
    writer.release()
    return Path(path)


def write_scene_y4m(path: str | Path, scene, width: int = 640, fps: int = 30, mark=None) -> Path:
    """``scene``'s frames as the raw YUV 4:2:0 file (.y4m) Chromium's fake camera plays and
    loops (``--use-file-for-fake-video-capture``), ``width`` pixels wide at the scene's
    aspect (so its field of view is kept): the phone page's tests and benchmark.
    ``mark(index, image)``, when given, draws on each BGR frame before it is written."""
    import cv2

    from livehmr.stream.sources.synthetic import SyntheticSource

    w, h = scene.size
    height = int(round(h * width / w / 2)) * 2
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for index, frame in enumerate(SyntheticSource(scene)):
            image = cv2.resize(frame.image, (width, height), interpolation=cv2.INTER_AREA)
            if mark is not None:
                mark(index, image)
            f.write(b"FRAME\n" + cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420).tobytes())
    return Path(path)


def fake_camera_switches(y4m: str | Path) -> tuple[str, ...]:
    """Chromium's switches for the phone page's tests and benchmarks: a fake camera playing
    ``y4m`` (no permission prompt), a self-signed certificate accepted, no background traffic."""
    return ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={y4m}",
            "--ignore-certificate-errors", "--disable-background-networking", "--disable-component-update")  # fmt: skip


def fake_camera_chromium(y4m: str | Path, extra: tuple[str, ...] = ()):
    """Headless Chromium whose camera plays ``y4m``, driven by selenium; ``extra``: more switches."""
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        raise SystemExit("this needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=800,600",
                *fake_camera_switches(y4m), *extra):  # fmt: skip
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service(driver))


def scene_state_errors(truth, T_world_cam: np.ndarray, joints_world: np.ndarray) -> tuple[float, float, float]:
    """How far one published state is from a synthetic scene's truth of its frame, as the
    end-to-end tests judge it: local pose (m: mean joint error, pelvis-relative, in the
    camera), root position (its error over its distance from the camera) and the body's up
    direction (degrees, pelvis -> neck, in the gravity-aligned world)."""
    from livehmr.core.geometry import invert_T, transform_points
    from livehmr.models.skeleton import JOINT

    gt_cam = transform_points(invert_T(truth.T_world_cam), truth.joints_world)
    est_cam = transform_points(invert_T(np.asarray(T_world_cam, float)), np.asarray(joints_world, float))
    pose = float(np.linalg.norm((gt_cam - gt_cam[0]) - (est_cam - est_cam[0]), axis=1).mean())
    root = float(np.linalg.norm(gt_cam[0] - est_cam[0]) / np.linalg.norm(gt_cam[0]))

    def up(j: np.ndarray) -> np.ndarray:
        d = j[JOINT["neck"]] - j[JOINT["pelvis"]]
        return d / np.linalg.norm(d)

    angle = float(np.degrees(np.arccos(np.clip(up(truth.joints_world) @ up(np.asarray(joints_world, float)), -1, 1))))
    return pose, root, angle


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a test's or benchmark's publisher to bind)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
