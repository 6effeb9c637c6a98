"""A small CPU renderer for synthetic scenes: textured ground, sky, shaded meshes.

Hand-written with numba because the scene is simple (one plane + one or a few
meshes) and must render at camera rate on 2 cores without a GPU or system OpenGL;
pulling in a full renderer (pyrender, Mesa) would add a system dependency for
no gain. Conventions: OpenCV camera (see :mod:`livehmr.core.geometry`), pixel centres at
integer coordinates, images are BGR uint8 (as OpenCV and the sources deliver them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from livehmr.core.geometry import invert_T


@numba.njit(cache=True, inline="always")
def _hash2(ix: int, iy: int, seed: int) -> float:
    h = (ix * 374761393 + iy * 668265263 + seed * 2147483647) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 1274126177) & 0xFFFFFFFF
    h = h ^ (h >> 16)
    return (h & 0xFFFF) / 65535.0


@numba.njit(cache=True, nogil=True)
def _render_ground(img, zbuf, K_inv, R_world_cam, cam_pos, tile, seed):
    """Ray-cast the floor z = 0 (tiles + speckle texture) and a sky gradient."""
    H, W = zbuf.shape
    for v in range(H):
        for u in range(W):
            rx = K_inv[0, 0] * u + K_inv[0, 1] * v + K_inv[0, 2]
            ry = K_inv[1, 0] * u + K_inv[1, 1] * v + K_inv[1, 2]
            rz = 1.0  # depth along the optical axis per unit ray
            dx = R_world_cam[0, 0] * rx + R_world_cam[0, 1] * ry + R_world_cam[0, 2] * rz
            dy = R_world_cam[1, 0] * rx + R_world_cam[1, 1] * ry + R_world_cam[1, 2] * rz
            dz = R_world_cam[2, 0] * rx + R_world_cam[2, 1] * ry + R_world_cam[2, 2] * rz
            if dz < -1e-6:
                s = -cam_pos[2] / dz
                x = cam_pos[0] + s * dx
                y = cam_pos[1] + s * dy
                cx = int(np.floor(x / tile))
                cy = int(np.floor(y / tile))
                base = 0.45 + 0.35 * _hash2(cx, cy, seed)
                fine = _hash2(int(np.floor(x / 0.07)), int(np.floor(y / 0.07)), seed + 1)
                fx = x / tile - cx
                fy = y / tile - cy
                grout = 0.55 if (fx < 0.04 or fy < 0.04) else 1.0
                shade = base * (0.8 + 0.4 * fine) * grout
                fog = min(1.0, s / 60.0)
                r = (1 - fog) * shade * 190 + fog * 200
                g = (1 - fog) * shade * 170 + fog * 205
                b = (1 - fog) * shade * 140 + fog * 215
                img[v, u, 0] = min(255.0, b)
                img[v, u, 1] = min(255.0, g)
                img[v, u, 2] = min(255.0, r)
                zbuf[v, u] = s
            else:
                k = min(1.0, max(0.0, dz * 3.0))
                img[v, u, 0] = 235 - 40 * k
                img[v, u, 1] = 215 - 50 * k
                img[v, u, 2] = 200 - 80 * k
                zbuf[v, u] = np.inf


@numba.njit(cache=True, nogil=True)
def _rasterize(uv, depth, faces, face_colors, img, zbuf):
    """Z-buffered, perspective-correct triangle fill with one colour per face."""
    H, W = zbuf.shape
    for f in range(faces.shape[0]):
        i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
        z0, z1, z2 = depth[i0], depth[i1], depth[i2]
        if z0 < 0.05 or z1 < 0.05 or z2 < 0.05:
            continue
        x0, y0 = uv[i0, 0], uv[i0, 1]
        x1, y1 = uv[i1, 0], uv[i1, 1]
        x2, y2 = uv[i2, 0], uv[i2, 1]
        area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        if abs(area) < 1e-12:
            continue
        xmin = max(int(np.ceil(min(x0, min(x1, x2)))), 0)
        xmax = min(int(np.floor(max(x0, max(x1, x2)))), W - 1)
        ymin = max(int(np.ceil(min(y0, min(y1, y2)))), 0)
        ymax = min(int(np.floor(max(y0, max(y1, y2)))), H - 1)
        for v in range(ymin, ymax + 1):
            for u in range(xmin, xmax + 1):
                w0 = ((x1 - u) * (y2 - v) - (x2 - u) * (y1 - v)) / area
                w1 = ((x2 - u) * (y0 - v) - (x0 - u) * (y2 - v)) / area
                w2 = 1.0 - w0 - w1
                if w0 < 0 or w1 < 0 or w2 < 0:
                    continue
                z = 1.0 / (w0 / z0 + w1 / z1 + w2 / z2)
                if z < zbuf[v, u]:
                    zbuf[v, u] = z
                    img[v, u, 0] = face_colors[f, 0]
                    img[v, u, 1] = face_colors[f, 1]
                    img[v, u, 2] = face_colors[f, 2]


@dataclass
class Mesh:
    """A triangle mesh in world metres: ``vertices`` (V, 3), ``faces`` (F, 3) int32,
    ``vertex_colors`` (V, 3) BGR in [0, 1]."""

    vertices: np.ndarray
    faces: np.ndarray
    vertex_colors: np.ndarray


def draw_meshes(img: np.ndarray, zbuf: np.ndarray, K: np.ndarray, T_world_cam: np.ndarray, meshes: list[Mesh],
                light_dir: tuple[float, float, float] = (0.4, -0.3, 0.86)) -> None:  # fmt: skip
    """Shade and z-buffer ``meshes`` into ``img`` (H, W, 3) BGR and ``zbuf`` (H, W) in place."""
    T_cam_world = invert_T(T_world_cam)
    light = np.asarray(light_dir, dtype=np.float64) / np.linalg.norm(light_dir)
    for mesh in meshes:
        v = mesh.vertices @ T_cam_world[:3, :3].T + T_cam_world[:3, 3]
        depth = v[:, 2]
        uv = (v[:, :2] / np.maximum(depth, 1e-6)[:, None]) * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]
        tri = mesh.vertices[mesh.faces]
        n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
        shade = 0.35 + 0.65 * np.abs(n @ light)  # two-sided Lambert + ambient
        colors = mesh.vertex_colors[mesh.faces].mean(axis=1) * shade[:, None] * 255.0
        _rasterize(uv, depth, mesh.faces, np.clip(colors, 0, 255).astype(np.uint8), img, zbuf)


def overlay_meshes(image: np.ndarray, K: np.ndarray, T_world_cam: np.ndarray, meshes: list[Mesh],
                   opacity: float = 0.6) -> np.ndarray:  # fmt: skip
    """``image`` (H, W, 3) BGR with ``meshes`` drawn over it at ``opacity``; returns a new image."""
    drawn = image.copy()
    zbuf = np.full(image.shape[:2], np.inf)
    draw_meshes(drawn, zbuf, K, T_world_cam, meshes)
    covered = np.isfinite(zbuf)[..., None]
    blended = (opacity * drawn + (1 - opacity) * image.astype(np.float64)).astype(np.uint8)
    return np.where(covered, blended, image)


def render(
    K: np.ndarray, T_world_cam: np.ndarray, size: tuple[int, int], meshes: list[Mesh], seed: int = 7,
    light_dir: tuple[float, float, float] = (0.4, -0.3, 0.86),
) -> tuple[np.ndarray, np.ndarray]:
    """Render the floor, sky and ``meshes``.

    Args:
        K: (3, 3) intrinsics. T_world_cam: (4, 4) camera pose. size: (width, height).
        seed: floor texture. light_dir: world direction towards the light (sun).

    Returns:
        image (H, W, 3) uint8 BGR and depth (H, W) float32 metres along the optical axis.
    """
    W, H = size
    img = np.empty((H, W, 3), np.uint8)
    zbuf = np.empty((H, W), np.float64)
    _render_ground(img, zbuf, np.linalg.inv(K), T_world_cam[:3, :3], T_world_cam[:3, 3].copy(), 0.8, seed)
    draw_meshes(img, zbuf, K, T_world_cam, meshes, light_dir)
    return img, zbuf.astype(np.float32)
