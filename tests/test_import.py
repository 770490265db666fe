"""Published weights: `landscape export` imports super-resolution and inpainting networks that
spandrel recognises, and the commands run them as they run ours.

Each architecture is built with spandrel's own class at a small width with random weights (LaMa,
which has no width, is tested whole in tests/test_lama.py), and saved in a layout people download: BasicSR's
`params_ema` or `params` wrapper, a bare state dict, or safetensors. Tolerances: the CLI's
8-bit output within 2 levels of spandrel's PyTorch output on the same picture; for the
convolutional SR networks, a tiled run within 3 levels of a one-pass run when the tiles read
24 px of context (`--tile-pad 24`; SPAN's six blocks of 3x3 convolutions see further than the
default 16 px, and its tiles then differ by up to 19 levels at the seams).
"""
from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import write_png

pytestmark = pytest.mark.slow  # published architectures built, exported and checked against PyTorch

spandrel = pytest.importorskip("spandrel")

SR = {
    # name: (builder, layout, scale)
    "esrgan-x4": (lambda: spandrel.architectures.ESRGAN.ESRGAN(num_filters=8, num_blocks=1, scale=4), "params_ema", 4),
    "realesrgan-x2": (lambda: spandrel.architectures.ESRGAN.ESRGAN(num_filters=8, num_blocks=1, scale=2, shuffle_factor=2),
                      "bare", 2),
    "compact-x4": (lambda: spandrel.architectures.Compact.Compact(num_feat=8, num_conv=2, upscale=4), "safetensors", 4),
    "span-x4": (lambda: spandrel.architectures.SPAN.SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=4),
                "params", 4),
}


def save(net: torch.nn.Module, folder: Path, name: str, layout: str) -> Path:
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    if layout == "safetensors":
        from safetensors.torch import save_file

        path = folder / f"{name}.safetensors"
        save_file(state, str(path))
        return path
    path = folder / f"{name}.pth"
    torch.save({"params_ema": state} if layout == "params_ema" else {"params": state} if layout == "params" else state, path)
    return path


def picture(h: int, w: int, seed: int = 0) -> np.ndarray:
    import cv2

    small = np.random.default_rng(seed).integers(0, 256, (h // 4 + 1, w // 4 + 1, 3)).astype(np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def given(models_json: str) -> dict:
    """The row of `landscape models FILE --json` for the file given (the bundled ones come first)."""
    return next(row for row in json.loads(models_json) if row["origin"] == "given")


def torch_upscale(path: Path, rgb: np.ndarray) -> np.ndarray:
    """What spandrel's PyTorch model makes of the picture, as 8-bit RGB."""
    from landscape.export.imported import read_state_dict

    descriptor = spandrel.ModelLoader().load_from_state_dict(read_state_dict(path)).eval()
    with torch.no_grad():
        out = descriptor(torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255)
    return (out[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """Each SR architecture: its weights file and its exported ONNX file, through the CLI."""
    from typer.testing import CliRunner

    from landscape.cli.main import app

    folder = tmp_path_factory.mktemp("imported")
    out = {}
    for name, (build, layout, scale) in SR.items():
        torch.manual_seed(0)
        weights = save(build().eval(), folder, name, layout)
        onnx_path = folder / f"{name}.onnx"
        result = CliRunner().invoke(app, ["export", str(weights), "-o", str(onnx_path)])
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == str(onnx_path)
        out[name] = (weights, onnx_path, scale)
    return out


@pytest.mark.parametrize("name", list(SR))
def test_an_imported_upscaler_gives_what_pytorch_gives(name, imported, cli, tmp_path):
    weights, model, scale = imported[name]
    rgb = picture(22, 30)
    src = write_png(tmp_path / "in" / "pic.png", rgb)
    result = cli("upscale", src, "--model", model, "-o", tmp_path / "out", "--tile", 0, "--precision", "fp32")
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "out" / "pic.png") as img:
        out = np.asarray(img.convert("RGB"))
    assert out.shape == (22 * scale, 30 * scale, 3)
    assert np.abs(out.astype(int) - torch_upscale(weights, rgb).astype(int)).max() <= 2


@pytest.mark.parametrize("name", list(SR))
def test_tiles_of_an_imported_upscaler_match_one_pass(name, imported, cli, tmp_path):
    _, model, scale = imported[name]
    src = write_png(tmp_path / "in" / "pic.png", picture(70, 90, seed=1))
    for tile, folder in ((0, "whole"), (32, "tiled")):
        assert cli("upscale", src, "--model", model, "-o", tmp_path / folder, "--tile", tile, "--tile-pad", 24,
                   "--precision", "fp32").exit_code == 0
    whole, tiled = (np.asarray(Image.open(tmp_path / f / "pic.png")).astype(int) for f in ("whole", "tiled"))
    assert whole.shape == (70 * scale, 90 * scale, 3) and np.abs(whole - tiled).max() <= 3


def test_the_metadata_names_the_architecture_and_the_source(imported, cli):
    weights, model, _ = imported["esrgan-x4"]
    result = cli("models", "show", model, "--json")
    assert result.exit_code == 0
    row = given(result.stdout)
    assert row["task"] == "upscale" and row["family"] == "ESRGAN" and row["scale"] == 4
    from landscape.runtime.sessions import sha256_file

    assert row["training"]["source_file"] == weights.name and row["training"]["source_sha256"] == sha256_file(weights)
    assert row["parity"]["exporter"] == "torchscript" and row["parity"]["fp32_max_abs_diff"] < 2e-3


def test_any_scale_with_one_model_runs_the_passes_that_reach_it(imported, cli, tmp_path):
    _, model, _ = imported["realesrgan-x2"]
    src = write_png(tmp_path / "in" / "pic.png", picture(16, 21))
    assert cli("upscale", src, "--model", model, "-o", tmp_path / "x2").exit_code == 0  # default: the model's own
    assert Image.open(tmp_path / "x2" / "pic.png").size == (42, 32)
    for factor, size in ((8, (168, 128)), (3, (63, 48)), (1.5, (32, 24)), (5.5, (116, 88))):
        out = tmp_path / f"x{factor}"
        assert cli("upscale", src, "--model", model, "--scale", factor, "-o", out).exit_code == 0
        assert Image.open(out / "pic.png").size == size, factor  # round(factor x side), halves up
    for bad, reason in (("0", "from 1 to 16"), ("-2", "from 1 to 16"), ("abc", "not a number"), ("inf", "from 1 to 16")):
        refused = cli("upscale", src, "--model", model, "--scale", bad, "-o", tmp_path / "bad")
        assert refused.exit_code == 2 and refused.stderr.strip().count("\n") == 0 and reason in refused.stderr, bad
    assert not (tmp_path / "bad").exists()


def test_generate_chains_an_imported_upscaler(imported, models, cli, tmp_path):
    _, model, _ = imported["realesrgan-x2"]
    result = cli("generate", "--seeds", "1", "--upscale", "--upscale-model", model, "--model", models["generate"],
                 "-o", tmp_path, "--scale", 4)
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "seed000001.png").size == (64, 64)  # 16 px generator, x2 twice


def test_fp16_export_is_checked_against_fp32(imported, cli, tmp_path):
    weights, _, _ = imported["compact-x4"]
    result = cli("export", weights, "-o", tmp_path / "m16.onnx", "--fp16")
    assert result.exit_code == 0, result.output
    row = given(cli("models", "show", tmp_path / "m16.onnx", "--json").stdout)
    assert row["precision"] == "fp16" and row["parity"]["fp16_max_abs_diff"] <= row["parity"]["fp16_atol"]


def test_task_mismatch_is_a_usage_error(imported, cli, tmp_path):
    weights, _, _ = imported["esrgan-x4"]
    result = cli("export", weights, "-o", tmp_path / "m.onnx", "--task", "inpaint")
    assert result.exit_code == 2 and "a upscale network (ESRGAN), not inpaint" in result.stderr
    assert not (tmp_path / "m.onnx").exists()


class Payload:
    """A pickle that would create a file when loaded by an unsafe unpickler."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_runs_code_is_refused_without_running(cli, tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps({"params_ema": Payload(marker)}))
    result = cli("export", evil, "-o", tmp_path / "m.onnx")
    assert result.exit_code == 2 and not marker.exists() and not (tmp_path / "m.onnx").exists()
    assert result.stderr.count("\n") == 1 and "not a plain weights file" in result.stderr


def test_a_truncated_file_gets_one_line(imported, cli, tmp_path):
    weights, _, _ = imported["esrgan-x4"]
    cut = tmp_path / "cut.pth"
    cut.write_bytes(weights.read_bytes()[:300])
    result = cli("export", cut, "-o", tmp_path / "m.onnx")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and str(cut) in result.stderr


def test_an_unknown_network_names_what_was_looked_for(cli, tmp_path):
    path = tmp_path / "mystery.pth"
    torch.save({"encoder.weight": torch.randn(4, 4), "decoder.bias": torch.randn(4)}, path)
    result = cli("export", path, "-o", tmp_path / "m.onnx")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "looked for:" in result.stderr and "ESRGAN" in result.stderr and "LaMa" in result.stderr


def test_a_known_network_that_does_not_export_writes_nothing(cli, tmp_path):
    # SAFMN's adaptive pooling to a size that depends on the input has no ONNX form in either exporter.
    net = spandrel.architectures.SAFMN.SAFMN(dim=8, n_blocks=1, upscaling_factor=4)
    path = save(net.eval(), tmp_path, "safmn", "params_ema")
    result = cli("export", path, "-o", tmp_path / "m.onnx")
    assert result.exit_code == 1 and "does not export to ONNX" in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "m.onnx").exists() and not list(tmp_path.glob(".m.onnx*"))
