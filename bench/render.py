"""Renderer speed: can the studio be a live 30 fps source on this CPU?

    python -m livehmr.bench.render [--frames 150]

Times, on one studio-like scene (an Anny body, textured floor, six textured props,
handheld camera), per frame: Anny skinning, our numba renderer (floor ray cast + z-buffer
rasterizer, image and depth), and the whole frame (both). If ``moderngl`` is installed
(``pip install moderngl``; it uses the system's Mesa through EGL, llvmpipe on a CPU) the
same meshes are drawn with OpenGL for comparison, read back as image + depth like ours.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np

from livehmr.studio.render import Mesh, render
from livehmr.studio.scene import default_scene, scatter_props


def _percentiles(ms: list[float]) -> str:
    return f"{np.percentile(ms, 50):6.1f} / {np.percentile(ms, 95):6.1f} ms  ({1000 / np.percentile(ms, 50):5.1f} fps)"


def _mesa_renderer(size: tuple[int, int]) -> Callable[[np.ndarray, np.ndarray, list[Mesh]], tuple[np.ndarray, np.ndarray]] | None:
    """An OpenGL (Mesa/EGL) renderer of the same scene content, or None without moderngl."""
    try:
        import moderngl  # pyright: ignore[reportMissingImports]  (optional: the comparison is skipped without it)
    except ImportError:
        return None
    ctx = moderngl.create_standalone_context(backend="egl")
    W, H = size
    fbo = ctx.simple_framebuffer((W, H))
    fbo.use()
    ctx.enable(moderngl.DEPTH_TEST)
    prog = ctx.program(
        vertex_shader="""#version 330
            uniform mat4 mvp; in vec3 in_pos; in vec3 in_color; out vec3 color;
            void main() { gl_Position = mvp * vec4(in_pos, 1.0); color = in_color; }""",
        fragment_shader="""#version 330
            in vec3 color; out vec4 frag; void main() { frag = vec4(color, 1.0); }""",
    )
    floor = ctx.program(
        vertex_shader="""#version 330
            uniform mat4 mvp; in vec3 in_pos; out vec2 xy;
            void main() { gl_Position = mvp * vec4(in_pos, 1.0); xy = in_pos.xy; }""",
        fragment_shader="""#version 330
            in vec2 xy; out vec4 frag;
            float h(vec2 c) { return fract(sin(dot(c, vec2(12.9898, 78.233))) * 43758.5453); }
            void main() { vec2 c = floor(xy / 0.8); float s = 0.45 + 0.35 * h(c);
                          s *= 0.8 + 0.4 * h(floor(xy / 0.07)); frag = vec4(vec3(s), 1.0); }""",
    )
    quad = np.array([[-100, -100, 0], [100, -100, 0], [100, 100, 0], [-100, -100, 0], [100, 100, 0], [-100, 100, 0]], "f4")
    floor_vao = ctx.vertex_array(floor, [(ctx.buffer(quad.tobytes()), "3f", "in_pos")])

    def draw(K: np.ndarray, T_world_cam: np.ndarray, meshes: list[Mesh]) -> tuple[np.ndarray, np.ndarray]:
        near, far = 0.05, 100.0
        P = np.array([[2 * K[0, 0] / W, 0, 1 - 2 * K[0, 2] / W, 0], [0, 2 * K[1, 1] / H, 2 * K[1, 2] / H - 1, 0],
                      [0, 0, -(far + near) / (far - near), -2 * far * near / (far - near)], [0, 0, -1, 0]])  # fmt: skip
        gl_from_cv = np.diag([1.0, -1.0, -1.0, 1.0])
        mvp = (P @ gl_from_cv @ np.linalg.inv(T_world_cam)).astype("f4")
        fbo.clear(0.8, 0.85, 0.92, 1.0, depth=1.0)
        floor["mvp"].write(mvp.T.tobytes())
        floor_vao.render()
        prog["mvp"].write(mvp.T.tobytes())
        for mesh in meshes:
            tri = mesh.vertices[mesh.faces].reshape(-1, 3).astype("f4")
            col = np.repeat(mesh.vertex_colors[mesh.faces].mean(1), 3, axis=0).astype("f4")
            data = np.hstack([tri, col]).tobytes()
            vbo = ctx.buffer(data)
            vao = ctx.vertex_array(prog, [(vbo, "3f 3f", "in_pos", "in_color")])
            vao.render()
            vao.release()
            vbo.release()
        image = np.frombuffer(fbo.read(components=3), np.uint8).reshape(H, W, 3)[::-1]
        depth = np.frombuffer(fbo.read(attachment=-1, components=1, dtype="f4"), np.float32).reshape(H, W)[::-1]
        return image, depth

    return draw


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=150)
    args = parser.parse_args()
    scene = default_scene(duration=args.frames / 30 + 1)
    scene.props = scatter_props(np.random.default_rng(1), np.array([4.3, 0.0, 1.0]), count=6)
    truths = [scene.truth(i) for i in range(args.frames)]
    for t in truths[:3]:
        scene.render(t)  # compile / warm up
    mesh_ms, meshes = [], []
    for t in truths:
        t0 = time.perf_counter()
        meshes.append(scene.body.mesh(t.params))
        mesh_ms.append((time.perf_counter() - t0) * 1e3)
    print(f"scene: Anny body ({len(meshes[0][0])} vertices, {len(meshes[0][1])} faces) + 6 textured props + floor")
    print(f"{'Anny skinning':38s} {_percentiles(mesh_ms)}")
    for size in ((640, 480), (1280, 720)):
        scene.size = size
        scene.__post_init__()
        render_ms = []
        for t, (v, f) in zip(truths, meshes):
            t0 = time.perf_counter()
            render(scene.K, t.T_world_cam, size, [Mesh(v, f, scene.body_colors), *scene.props], seed=7)
            render_ms.append((time.perf_counter() - t0) * 1e3)
        full_ms = []
        for t in truths:
            t0 = time.perf_counter()
            scene.render_with_depth(t)
            full_ms.append((time.perf_counter() - t0) * 1e3)
        print(f"{f'numba render {size[0]}x{size[1]}':38s} {_percentiles(render_ms)}")
        print(f"{f'frame = skinning + numba render {size[0]}x{size[1]}':38s} {_percentiles(full_ms)}")
        draw = _mesa_renderer(size)
        if draw is None:
            print("  (OpenGL comparison skipped: pip install moderngl to measure Mesa/EGL)")
            continue
        first_vertices, first_faces = meshes[0]
        draw(scene.K, truths[0].T_world_cam, [Mesh(first_vertices, first_faces, scene.body_colors)])
        gl_ms = []
        for t, (v, f) in zip(truths, meshes):
            t0 = time.perf_counter()
            draw(scene.K, t.T_world_cam, [Mesh(v, f, scene.body_colors), *scene.props])
            gl_ms.append((time.perf_counter() - t0) * 1e3)
        print(f"{f'Mesa llvmpipe (moderngl) {size[0]}x{size[1]}':38s} {_percentiles(gl_ms)}")


if __name__ == "__main__":
    main()
