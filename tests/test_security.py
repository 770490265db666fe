"""Files that would run code or reach outside their folder are refused: no unpickling
anywhere, ONNX external data only from the model's own folder, bundled models checked
against their manifest (tests/test_runtime.py), output paths built from stems only
(tests/test_properties.py)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from landscape.errors import ModelError
from landscape.runtime.external_data import check_external_data, external_locations
from tests.conftest import random_image, write_png

REPO = Path(__file__).resolve().parents[1]
SOURCES = ["landscape", "scripts", "evaluation", "benchmarks"]


# The one unpickler of our own: its find_class returns inert stand-ins and a tensor view only
# (tests/test_torch_archive.py runs payloads through it).
OWN_UNPICKLER = Path("landscape/trainers/torch_archive.py")


def test_no_source_file_can_unpickle():
    risky = re.compile(r"\bpickle\.(loads?\(|Unpickler\b)|\bdill\b|\bjoblib\b|allow_pickle\s*=\s*True|"
                       r"torch\.load\((?![^)]*weights_only=True)")
    found = []
    for folder in SOURCES:
        for path in (REPO / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if risky.search(line) and path.relative_to(REPO) != OWN_UNPICKLER:
                    found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)
    assert "def find_class" in (REPO / OWN_UNPICKLER).read_text()


class _Payload:
    """Unpickling this creates a folder: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


@pytest.fixture()
def evil(tmp_path) -> tuple[Path, Path]:
    import torch

    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pt"
    torch.save({"net.weight": _Payload(marker)}, path)
    return path, marker


@pytest.mark.slow  # starts PyTorch in a subprocess
def test_a_malicious_pickle_is_refused_as_checkpoint_and_as_weights(tmp_path, evil):
    from landscape.trainers.checkpoint import WeightsError, read_weights

    path, marker = evil
    disguised = tmp_path / "step_0000010.safetensors"
    disguised.write_bytes(path.read_bytes())
    for candidate in (path, disguised):
        res = subprocess.run([sys.executable, "-m", "landscape", "export", str(candidate), "-o", str(tmp_path / "x.onnx")],
                             capture_output=True, text=True, cwd=REPO, timeout=120)
        # Not our checkpoint, so read as published weights: the weights-only reader refuses it,
        # and our inert reader finds nothing but the payload's stand-in.
        assert res.returncode == 2 and "Traceback" not in res.stderr and res.stderr.count("\n") == 1
        assert "not a plain weights file" in res.stderr
    with pytest.raises(WeightsError, match="not a plain weights file"):
        read_weights(path)
    assert not marker.exists()
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.slow  # starts PyTorch in a subprocess
def test_a_malicious_vgg_file_stops_the_trainer_before_any_work(tmp_path, evil):
    path, marker = evil
    photos = tmp_path / "photos"
    for i in range(4):
        write_png(photos / f"{i}.png", random_image(40, 40, seed=i))
    res = subprocess.run([sys.executable, "-m", "landscape.trainers.esrgan", "--data", str(photos), "--out", str(tmp_path / "run"),
                          "--steps", "2", "--gan-steps", "1", "--vgg-weights", str(path), "--resolution", "8",
                          "--num-feat", "4", "--num-grow-ch", "2", "--num-block", "1", "--batch-size", "2", "--workers", "0",
                          "--device", "cpu"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert res.returncode == 2, res.stderr
    assert "not a plain weights file" in res.stderr and "Traceback" not in res.stderr
    assert not marker.exists()


def _model_with_external_weight(folder: Path, location: str) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((1,), np.float32), "w")
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value=location)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("location,refused", [
    ("weights.bin", False),
    ("sub/weights.bin", False),
    ("../secret.bin", True),
    ("sub/../../secret.bin", True),
    ("/etc/passwd", True),
    ("link.bin", True),  # a symbolic link inside the folder that points out of it
    ("hard.bin", True),  # a hard link: the same file as one outside
])
def test_external_data_must_stay_in_the_models_folder(tmp_path, location, refused):
    folder = tmp_path / "models"
    (folder / "sub").mkdir(parents=True)
    np.ones(1, np.float32).tofile(tmp_path / "secret.bin")
    np.ones(1, np.float32).tofile(folder / "weights.bin")
    np.ones(1, np.float32).tofile(folder / "sub" / "weights.bin")
    (folder / "link.bin").symlink_to(tmp_path / "secret.bin")
    os.link(tmp_path / "secret.bin", folder / "hard.bin")
    path = _model_with_external_weight(folder, location)
    assert external_locations(path.read_bytes()) == [location]
    if refused:
        with pytest.raises(ModelError, match="outside the model's folder|hard link"):
            check_external_data(path)
    else:
        check_external_data(path)


def test_cli_refuses_a_model_reading_outside_its_folder(tmp_path):
    np.ones(1, np.float32).tofile(tmp_path / "secret.bin")
    path = _model_with_external_weight(tmp_path / "m", "../secret.bin")
    write_png(tmp_path / "in" / "a.png", random_image(8, 8))
    res = subprocess.run([sys.executable, "-m", "landscape", "upscale", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                          "--model", str(path)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert res.returncode == 2
    assert "outside the model's folder" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "out" / "a.png").exists()


def test_the_external_data_scan_survives_garbage():
    for blob in (b"", b"\xff" * 20, bytes(range(256)) * 4):
        try:
            external_locations(blob)
        except ValueError:
            pass
