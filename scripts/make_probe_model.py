"""Write landscape_cli/probe.onnx: a 1x1 Identity graph the runtime opens to learn whether
CUDA really works (a listed provider is not proof). Run: python scripts/make_probe_model.py"""
from pathlib import Path

import onnx
from onnx import TensorProto, helper

graph = helper.make_graph(
    [helper.make_node("Identity", ["x"], ["y"])], "probe",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="landscape")
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, Path(__file__).resolve().parents[1] / "landscape_cli" / "probe.onnx")
