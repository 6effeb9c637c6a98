"""livehmr: live, world-grounded human motion capture from one moving camera.

The repository root is this package; its folders are its subpackages:

- ``livehmr.stream``  - runtime, sources, stages, publishing
- ``livehmr.models``  - body models (SMPL-24 skeleton, Anny, SMPL), estimators' networks
- ``livehmr.studio``  - synthetic scenes: motion, cameras, simulated gyroscope, renderer
- ``livehmr.export``  - ONNX / TensorRT export
- ``livehmr.clients`` - subscriber SDK and viewers
"""

__version__ = "0.1.0"
