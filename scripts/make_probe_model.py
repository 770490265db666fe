"""Write the two tiny graphs the runtime ships beside the models:

- landscape/runtime/data/probe.onnx: a 1x1 Identity the runtime opens to learn whether CUDA really
  works (a listed provider is not proof);
- landscape/runtime/data/rescale.onnx: y = clip(x * scale + shift, low, high), which takes one model's
  output to the next model's input range on the device, so that a chain such as
  `generate --upscale` never copies its pictures to the host between the two models.

Run: python -m scripts.make_probe_model
"""
from pathlib import Path

import onnx
from onnx import TensorProto, helper

OUT = Path(__file__).resolve().parents[1] / "landscape" / "runtime" / "data"


def save(graph, name: str) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="landscape")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, OUT / name)


save(helper.make_graph(
    [helper.make_node("Identity", ["x"], ["y"])], "probe",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])],
), "probe.onnx")

scalar = [1]
save(helper.make_graph(
    [helper.make_node("Mul", ["x", "scale"], ["scaled"]), helper.make_node("Add", ["scaled", "shift"], ["shifted"]),
     helper.make_node("Clip", ["shifted", "low", "high"], ["y"])],
    "rescale",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", "c", "h", "w"])]
    + [helper.make_tensor_value_info(name, TensorProto.FLOAT, scalar if name in ("scale", "shift") else [])
       for name in ("scale", "shift", "low", "high")],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", "c", "h", "w"])],
), "rescale.onnx")
