"""Where models run: ONNX Runtime and OpenVINO sessions (sessions), the precision checks
(bf16_check), the CPU's units (cpu), the model contract read from ONNX metadata
(model_contract), the user's cache, external weight files, and the helper graphs in data/."""
