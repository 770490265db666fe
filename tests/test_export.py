"""Checkpoint -> ONNX: parity, metadata, dynamic axes, fp16, failures that stop the export."""
import json
import pickle

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from landscape.export.exporter import export_checkpoint
from landscape.export.parity import ExportError
from landscape.export.specs import SPECS
from landscape.runtime import model_contract
from landscape.errors import UsageError
from tests.conftest import make_checkpoint
from landscape.trainers.checkpoint import CheckpointError, load_checkpoint, module_state, read_config

FAMILY_TASK = {"dcgan": "generate", "pix2pix": "translate", "glcic": "inpaint", "esrgan": "upscale"}


@pytest.mark.parametrize("fp16", [False, True], ids=["fp32", "fp16"])
@pytest.mark.parametrize("family", sorted(FAMILY_TASK))
def test_export_is_verified_and_carries_metadata(tmp_path, family, fp16):
    ckpt = make_checkpoint(family, tmp_path / "ckpt.safetensors")
    report = export_checkpoint(ckpt, tmp_path / "model.onnx", fp16=fp16)
    assert report.path.exists() and report.max_abs_diff < (SPECS[family].fp16_atol if fp16 else SPECS[family].fp32_atol)
    model = onnx.load(str(report.path))
    props = {p.key: p.value for p in model.metadata_props}
    info = model_contract.parse(props, "model.onnx")
    assert info.task == FAMILY_TASK[family] and info.family == family
    raw = info.raw
    assert raw["precision"] == ("fp16" if fp16 else "fp32")
    assert raw["parity"]["fp32_max_abs_diff"] <= SPECS[family].fp32_atol
    assert ("fp16_max_abs_diff" in raw["parity"]) == fp16
    assert raw["training"]["checkpoint_sha256"]
    # float32 in and out whatever the weights are
    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    assert all(i.type == "tensor(float)" for i in session.get_inputs())
    assert session.get_outputs()[0].type == "tensor(float)"
    if fp16:
        assert any(init.data_type == onnx.TensorProto.FLOAT16 for init in model.graph.initializer)
    assert not list(tmp_path.glob(".*tmp"))


@pytest.mark.parametrize("family", sorted(FAMILY_TASK))
def test_exported_model_has_dynamic_batch_and_size(tmp_path, family):
    ckpt = make_checkpoint(family, tmp_path / "ckpt.safetensors")
    path = export_checkpoint(ckpt, tmp_path / "model.onnx").path
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    info = model_contract.parse(session.get_modelmeta().custom_metadata_map, str(path))
    m = info.size_multiple
    h, w = (m * 3, m * 2) if info.dynamic_hw else (0, 0)
    feeds = {}
    for spec in info.inputs:
        if len(spec.shape) == 2:
            feeds[spec.name] = np.zeros((5, spec.shape[1]), np.float32)
        else:
            feeds[spec.name] = np.zeros((5, 3 if spec.name == "image" else len(info.classes) or 1, h or 8, w or 8), np.float32)
    if family == "glcic":
        feeds["mask"] = np.zeros((5, 1, h, w), np.float32)
    out = session.run(None, feeds)[0]
    assert out.shape[0] == 5
    if info.dynamic_hw:
        scale = info.scale or 1
        assert out.shape[2:] == (h * scale, w * scale)


def test_parity_failure_is_an_error_and_writes_nothing(tmp_path, monkeypatch):
    import dataclasses

    ckpt = make_checkpoint("esrgan", tmp_path / "ckpt.safetensors")
    monkeypatch.setitem(SPECS, "esrgan", dataclasses.replace(SPECS["esrgan"], fp32_atol=0.0))
    with pytest.raises(ExportError, match="differs from PyTorch"):
        export_checkpoint(ckpt, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()
    assert not list(tmp_path.glob(".*tmp"))


def test_fp16_far_from_fp32_is_a_failure(tmp_path, monkeypatch):
    import dataclasses

    import torch

    from landscape.trainers.checkpoint import prefixed, save_checkpoint
    from landscape.trainers.networks import build_network, config_to_dict, make_config

    config = make_config("esrgan", {"num_feat": 8, "num_grow_ch": 4, "num_block": 1})
    net = build_network("esrgan", config)
    with torch.no_grad():  # activations beyond fp16's range (65504) overflow to Inf
        net.conv_first.weight.fill_(1e5)
    # Huge activations also stretch fp32 rounding; the check under test here is fp16's.
    monkeypatch.setitem(SPECS, "esrgan", dataclasses.replace(SPECS["esrgan"], fp32_atol=1e9))
    ckpt = save_checkpoint(tmp_path / "big.safetensors", prefixed("net", net.state_dict()),
                           {"family": "esrgan", "network": config_to_dict(config), "weights": "net"})
    with pytest.raises(ExportError, match="fp16"):
        export_checkpoint(ckpt, tmp_path / "model.onnx", fp16=True)
    assert not (tmp_path / "model.onnx").exists()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_an_output_is_a_failure(bad):
    from landscape.export.parity import max_diff

    out = np.zeros((1, 3, 4, 4), np.float32)
    out[0, 1, 2, 3] = bad
    with pytest.raises(ExportError, match="NaN or Inf"):
        max_diff(out, np.zeros_like(out), "fp16 at (1, 4, 4)")


def test_checkpoint_round_trip_rebuilds_the_network(tmp_path):
    ckpt = make_checkpoint("pix2pix", tmp_path / "p.safetensors")
    tensors, config = load_checkpoint(ckpt)
    assert config["family"] == "pix2pix" and config["network"]["num_downs"] == 3
    assert json.loads((tmp_path / "p.json").read_text())["family"] == "pix2pix"
    assert module_state(tensors, "net")


def test_pickle_files_are_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    bad = tmp_path / "evil.safetensors"
    bad.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError):
        read_config(bad)
    with pytest.raises(UsageError):
        export_checkpoint(bad, tmp_path / "x.onnx")


def test_cli_export_exit_codes(tmp_path, cli, monkeypatch):
    import dataclasses

    ckpt = make_checkpoint("dcgan", tmp_path / "g.safetensors")
    ok = cli("export", ckpt, "-o", tmp_path / "g.onnx", "--fp16")
    assert ok.exit_code == 0, ok.stderr
    assert ok.stdout.strip() == str(tmp_path / "g.onnx")
    assert "max abs diff" in ok.stderr and ok.stderr.count("\n") == 1
    assert cli("export", tmp_path / "missing.safetensors", "-o", tmp_path / "m.onnx").exit_code == 2
    monkeypatch.setitem(SPECS, "dcgan", dataclasses.replace(SPECS["dcgan"], fp32_atol=0.0))
    bad = cli("export", ckpt, "-o", tmp_path / "bad.onnx")
    assert bad.exit_code == 1 and "differs from PyTorch" in bad.stderr
