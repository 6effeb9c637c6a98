"""The motion model's step network as ONNX (run by :class:`livehmr.models.motion.onnx_runtime.OnnxStep`).

The exported graph is :meth:`MotionNet.step`: inputs ``x`` (B, num_inputs) float32 features and
``state`` (3, layers, B, hidden) float32; outputs ``out`` (B, 161) and ``new_state``.
Batch is dynamic (one row per tracked person). Opset 17, TorchScript exporter (the GRU
exports as ONNX ``GRU``).
"""

from __future__ import annotations

from pathlib import Path

OPSET = 17


def export_motion_onnx(weights: str | Path, out: str | Path) -> Path:
    import torch

    from livehmr.models.motion.network import load_motion_net

    net = load_motion_net(weights)

    class Step(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x, state):
            return self.net.step(x, state)

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    x = torch.zeros(2, net.config.num_inputs)
    state = net.initial_state(2)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter announces its deprecation and GRU batch_first
        torch.onnx.export(Step(), (x, state), str(out), dynamo=False, opset_version=OPSET,
                          input_names=["x", "state"], output_names=["out", "new_state"],
                          dynamic_axes={"x": {0: "batch"}, "state": {2: "batch"}, "out": {0: "batch"},
                                        "new_state": {2: "batch"}})  # fmt: skip
    return out
