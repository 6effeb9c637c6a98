"""Run inside Blender: import a livehmr export the way a Blender user does (File > Import),
then write the world positions of the SMPL-24 bones' heads at the asked frames, and for a
GLB the skinned mesh's vertices at the first of them, as JSON.

    blender -b --python joints.py -- KIND FILE FRAMES OUT.json     (KIND: glb | bvh; FRAMES: 0,7,23)
"""

import json
import sys

import bpy
import numpy

# Debian bookworm's Blender 3.4 meets newer Pythons and numpys than it was written for:
if not hasattr(numpy, "bool"):  # its glTF importer uses an alias numpy 1.24 removed
    numpy.bool = bool
try:  # its BVH importer opens files in mode "rU", which Python 3.11 refuses
    import builtins

    import io_anim_bvh.import_bvh as _bvh

    _bvh.open = lambda file, mode="r", *args, **kwargs: builtins.open(file, mode.replace("U", ""), *args, **kwargs)
except ImportError:
    pass

JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle", "right_ankle",
    "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)  # fmt: skip

kind, path, frames, out = sys.argv[sys.argv.index("--") + 1 :]
frames = [int(f) for f in frames.split(",")]
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.fps = 30
if kind == "glb":
    bpy.ops.import_scene.gltf(filepath=path)  # glTF's Y up becomes Blender's Z up; key at t s -> frame 30 t
    first = 0
else:
    # livehmr's BVH: Y up, centimetres; Blender's defaults turn Y up into Z up
    bpy.ops.import_anim.bvh(filepath=path, global_scale=0.01, frame_start=1, axis_forward="-Z", axis_up="Y")
    first = 1
armature = next(o for o in bpy.data.objects if o.type == "ARMATURE")
result = {"joints": [], "vertices": None}
for f in frames:
    scene.frame_set(first + f)
    bones = armature.pose.bones
    result["joints"].append([list(armature.matrix_world @ bones[name].head) for name in JOINT_NAMES])
    if kind == "glb" and result["vertices"] is None:
        mesh_object = next(o for o in bpy.data.objects if o.type == "MESH")
        evaluated = mesh_object.evaluated_get(bpy.context.evaluated_depsgraph_get())
        mesh = evaluated.to_mesh()
        result["vertices"] = [list(evaluated.matrix_world @ v.co) for v in mesh.vertices]
        evaluated.to_mesh_clear()
with open(out, "w") as f:
    json.dump(result, f)
