"""glTF 2.0 binary (GLB): the body mesh skinned to the SMPL-24 skeleton, animated.

What the file holds (one person):

- a root node ``livehmr_world`` that turns livehmr's world (Z up) into glTF's (Y up):
  a point ``(x, y, z)`` of the world is at ``(x, z, -y)`` in the file;
- under it the 24 joints, named as :data:`~livehmr.models.skeleton.JOINT_NAMES`, each
  translated from its parent by the rest (T-pose) bone offset, so a joint's local
  rotation is SMPL's local rotation; ``pelvis`` also carries the root translation;
- the mesh (:class:`~livehmr.models.skinned.SkinnedBody`), skinned to those joints;
- with a motion, one animation ``livehmr``: a rotation channel per joint and a
  translation channel on ``pelvis``, keyed at the frames' source times (seconds from
  the first frame), linear.

Without a motion it is the bare rigged body that the web viewer loads and poses.
Written with ``pygltflib``; :func:`read_glb_joints` and :func:`read_glb_skin` read it
back the way a glTF viewer would (node hierarchy, then skinning), for the round-trip tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from livehmr.models.skeleton import JOINT_NAMES, NUM_JOINTS, PARENTS
from livehmr.models.skinned import SkinnedBody

#: livehmr world (Z up) -> glTF (Y up): -90 degrees about X.
R_GLTF_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
#: body colour (linear RGB) of the mesh's material
BODY_COLOUR = (0.85, 0.45, 0.2, 1.0)


def _quat(R: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) -> unit quaternions (..., 4), glTF's x, y, z, w order."""
    return Rotation.from_matrix(R.reshape(-1, 3, 3)).as_quat().reshape(*R.shape[:-2], 4)


class _Buffer:
    """One binary buffer and its views/accessors, built up as arrays are added."""

    def __init__(self, gltf):
        self.gltf = gltf
        self.blob = bytearray()

    def add(self, array: np.ndarray, kind: str, target: int | None = None, bounds: bool = False) -> int:
        import pygltflib as g

        component = {np.dtype("float32"): g.FLOAT, np.dtype("uint8"): g.UNSIGNED_BYTE,
                     np.dtype("uint16"): g.UNSIGNED_SHORT, np.dtype("uint32"): g.UNSIGNED_INT}[array.dtype]  # fmt: skip
        data = np.ascontiguousarray(array).tobytes()
        self.blob.extend(b"\0" * (-len(self.blob) % 4))  # accessors start on 4-byte boundaries
        self.gltf.bufferViews.append(g.BufferView(buffer=0, byteOffset=len(self.blob), byteLength=len(data), target=target))
        self.blob.extend(data)
        count = array.shape[0]
        flat = array.reshape(count, -1)
        accessor = g.Accessor(bufferView=len(self.gltf.bufferViews) - 1, componentType=component, count=count, type=kind,
                              min=flat.min(0).tolist() if bounds else None, max=flat.max(0).tolist() if bounds else None)  # fmt: skip
        self.gltf.accessors.append(accessor)
        return len(self.gltf.accessors) - 1


def write_glb(path: str | Path, body: SkinnedBody, rotmats: np.ndarray | None = None, transl: np.ndarray | None = None,
              times: np.ndarray | None = None, name: str = "body") -> Path:  # fmt: skip
    """Write ``body`` as a GLB; with ``rotmats`` (T, 24, 3, 3) local (``[:, 0]`` canon -> world),
    ``transl`` (T, 3) metres and ``times`` (T,) seconds, animated by them."""
    import pygltflib as g

    gltf = g.GLTF2(asset=g.Asset(generator="livehmr"), scene=0)
    buf = _Buffer(gltf)

    # Nodes: 0 the world root, 1..24 the joints under it, 25 the skinned mesh (a scene root of
    # its own: a skinned mesh is placed by its joints alone).
    world = g.Node(name="livehmr_world", rotation=_quat(R_GLTF_WORLD).tolist(), children=[1])
    joints = []
    for j, joint_name in enumerate(JOINT_NAMES):
        offset = body.rest_joints[j] - (body.rest_joints[PARENTS[j]] if j else 0.0)
        joints.append(g.Node(name=joint_name, translation=offset.tolist(), children=[]))
    for j in range(1, NUM_JOINTS):
        joints[PARENTS[j]].children.append(j + 1)
    gltf.nodes = [world, *joints, g.Node(name=name, mesh=0, skin=0)]

    vertices = body.bind_vertices.astype(np.float32)
    attributes = g.Attributes(
        POSITION=buf.add(vertices, g.VEC3, g.ARRAY_BUFFER, bounds=True),
        NORMAL=buf.add(body.vertex_normals().astype(np.float32), g.VEC3, g.ARRAY_BUFFER),
        JOINTS_0=buf.add(body.joint_indices.astype(np.uint8), g.VEC4, g.ARRAY_BUFFER),
        WEIGHTS_0=buf.add(body.joint_weights.astype(np.float32), g.VEC4, g.ARRAY_BUFFER),
    )
    index_type = np.uint16 if len(vertices) < 65535 else np.uint32
    indices = buf.add(body.faces.reshape(-1).astype(index_type), g.SCALAR, g.ELEMENT_ARRAY_BUFFER)
    gltf.materials = [g.Material(name="skin", doubleSided=False,
                                 pbrMetallicRoughness=g.PbrMetallicRoughness(baseColorFactor=list(BODY_COLOUR),
                                                                             metallicFactor=0.0, roughnessFactor=0.7))]  # fmt: skip
    gltf.meshes = [g.Mesh(name=name, primitives=[g.Primitive(attributes=attributes, indices=indices, material=0)])]
    # glTF matrices are column-major: write each transposed.
    ibm = buf.add(body.inverse_bind.transpose(0, 2, 1).astype(np.float32), g.MAT4)
    gltf.skins = [g.Skin(name="smpl24", joints=list(range(1, NUM_JOINTS + 1)), skeleton=1, inverseBindMatrices=ibm)]

    if rotmats is not None:
        if transl is None or times is None:
            raise ValueError("an animated GLB needs transl and times beside rotmats")
        T = len(rotmats)
        times = np.asarray(times, dtype=np.float64)
        if len(times) != T or len(transl) != T:
            raise ValueError(f"rotmats, transl and times must have one row per frame ({T}, {len(transl)}, {len(times)})")
        key_times = buf.add((times - times[0]).astype(np.float32), g.SCALAR, bounds=True)
        quats = _quat(np.asarray(rotmats, dtype=np.float64)).astype(np.float32)  # (T, 24, 4)
        samplers, channels = [], []
        for j in range(NUM_JOINTS):
            samplers.append(g.AnimationSampler(input=key_times, output=buf.add(quats[:, j], g.VEC4), interpolation="LINEAR"))
            channels.append(g.AnimationChannel(sampler=j, target=g.AnimationChannelTarget(node=j + 1, path="rotation")))
        root_positions = (body.rest_joints[0] + np.asarray(transl, dtype=np.float64)).astype(np.float32)
        samplers.append(g.AnimationSampler(input=key_times, output=buf.add(root_positions, g.VEC3), interpolation="LINEAR"))
        channels.append(g.AnimationChannel(sampler=NUM_JOINTS, target=g.AnimationChannelTarget(node=1, path="translation")))
        gltf.animations = [g.Animation(name="livehmr", samplers=samplers, channels=channels)]

    gltf.scenes = [g.Scene(name="livehmr", nodes=[0, NUM_JOINTS + 1])]
    gltf.buffers = [g.Buffer(byteLength=len(buf.blob))]
    gltf.set_binary_blob(bytes(buf.blob))
    path = Path(path)
    gltf.save_binary(str(path))
    return path


# -- reading back, as a viewer does -----------------------------------------------------------


def _load_glb(path: str | Path):
    import pygltflib as g

    gltf = g.GLTF2().load_binary(str(path))
    if gltf is None:
        raise ValueError(f"{path}: not a GLB file")
    return gltf


def _accessor(gltf, index: int | None) -> np.ndarray:
    import pygltflib as g

    if index is None:
        raise ValueError("the glTF file lacks an accessor it needs")

    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    dtype = {g.FLOAT: np.float32, g.UNSIGNED_BYTE: np.uint8, g.UNSIGNED_SHORT: np.uint16, g.UNSIGNED_INT: np.uint32}[acc.componentType]
    width = {g.SCALAR: 1, g.VEC3: 3, g.VEC4: 4, g.MAT4: 16}[acc.type]
    blob = gltf.binary_blob()
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    return np.frombuffer(blob, dtype=dtype, count=acc.count * width, offset=start).reshape(acc.count, width)


def _trs(translation, rotation) -> np.ndarray:
    M = np.eye(4)
    if rotation is not None:
        M[:3, :3] = Rotation.from_quat(np.asarray(rotation, dtype=np.float64)).as_matrix()
    if translation is not None:
        M[:3, 3] = translation
    return M


def _node_globals(gltf, overrides: dict[tuple[int, str], np.ndarray]) -> dict[int, np.ndarray]:
    """Global 4x4 of every node from its TRS, with animated values in ``overrides``."""
    out: dict[int, np.ndarray] = {}

    def visit(i: int, parent: np.ndarray) -> None:
        node = gltf.nodes[i]
        t = overrides.get((i, "translation"), node.translation)
        r = overrides.get((i, "rotation"), node.rotation)
        out[i] = parent @ _trs(t, r)
        for c in node.children or []:
            visit(c, out[i])

    for root in gltf.scenes[gltf.scene].nodes:
        visit(root, np.eye(4))
    return out


def _tracks(gltf) -> dict[tuple[int, str], np.ndarray]:
    """The first animation's keyed values (K, n) per (node, "rotation" | "translation")."""
    animation = gltf.animations[0]
    return {(c.target.node, c.target.path): _accessor(gltf, animation.samplers[c.sampler].output) for c in animation.channels}


def read_glb_joints(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Key times (T,) and the skin's joint positions (T, 24, 3) in glTF space (Y up) at each key."""
    gltf = _load_glb(path)
    times = _accessor(gltf, gltf.animations[0].samplers[0].input)[:, 0]
    tracks = _tracks(gltf)
    skin_joints = gltf.skins[0].joints or []
    positions = np.zeros((len(times), len(skin_joints), 3))
    for k in range(len(times)):
        globals_ = _node_globals(gltf, {key: values[k] for key, values in tracks.items()})
        positions[k] = [globals_[n][:3, 3] for n in skin_joints]
    return times, positions


def read_glb_skin(path: str | Path, key: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Skinned vertices (V, 3) in glTF space at animation key ``key`` (or the rest pose when
    None), computed as a glTF viewer does, and the triangle indices (F, 3)."""
    gltf = _load_glb(path)
    overrides = {} if key is None else {track: values[key] for track, values in _tracks(gltf).items()}
    globals_ = _node_globals(gltf, overrides)
    skin = gltf.skins[0]
    ibm = _accessor(gltf, skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1)
    joint_matrices = np.stack([globals_[n] for n in skin.joints or []]) @ ibm
    primitive = gltf.meshes[0].primitives[0]
    v = _accessor(gltf, primitive.attributes.POSITION).astype(np.float64)
    joints = _accessor(gltf, primitive.attributes.JOINTS_0).astype(np.int64)
    weights = _accessor(gltf, primitive.attributes.WEIGHTS_0).astype(np.float64)
    blended = np.einsum("vk,vkij->vij", weights, joint_matrices[joints])
    skinned = np.einsum("vij,vj->vi", blended[:, :3, :3], v) + blended[:, :3, 3]
    return skinned, _accessor(gltf, primitive.indices).reshape(-1, 3)
