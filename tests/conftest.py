"""Tiny random-weight models, built and exported once per session, and image helpers."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from landscape.cli.main import app

# Small enough to export in a second each; the same code paths as the full-size networks.
TINY = {
    "dcgan": {"arch": "resup", "resolution": 16, "latent_dim": 8, "width": 4},
    "pix2pix": {"num_downs": 3, "width": 4, "resolution": 32},
    "glcic": {"width": 4, "resolution": 32},
    "esrgan": {"num_feat": 8, "num_grow_ch": 4, "num_block": 1, "resolution": 16},
    "segmenter": {"num_downs": 3, "width": 4, "resolution": 32},
}


def make_checkpoint(family: str, path: Path, seed: int = 0, **overrides) -> Path:
    import torch

    from landscape.trainers.checkpoint import prefixed, save_checkpoint
    from landscape.trainers.networks import build_network, config_to_dict, make_config

    torch.manual_seed(seed)
    config = make_config(family, {**TINY[family], **overrides})
    net = build_network(family, config)
    if family == "esrgan":
        # A random RRDB is near-black; push it towards an identity-like upscaler so that
        # tolerance checks measure tiling, not noise.
        with torch.no_grad():
            net.conv_last.bias.fill_(0.5)
    return save_checkpoint(path, prefixed("net", net.state_dict()),
                           {"family": family, "network": config_to_dict(config), "weights": "net", "step": 0, "data": "test"})


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Compiled models and bf16 verdicts go to a folder of the test session, not the user's
    cache (subprocesses inherit it)."""
    before = os.environ.get("LANDSCAPE_CACHE")
    os.environ["LANDSCAPE_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if before is None:
        os.environ.pop("LANDSCAPE_CACHE", None)
    else:
        os.environ["LANDSCAPE_CACHE"] = before


@pytest.fixture(scope="session", autouse=True)
def commands_run_alone():
    """A `landscape serve` the developer runs is not used by the suite's commands (test_serve
    starts its own)."""
    os.environ["LANDSCAPE_NO_SERVER"] = "1"


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict[str, Path]:
    from landscape.export.exporter import export_checkpoint

    folder = tmp_path_factory.mktemp("models")
    out = {}
    for family, task in (("dcgan", "generate"), ("pix2pix", "translate"), ("glcic", "inpaint"), ("esrgan", "upscale"),
                         ("segmenter", "label")):
        ckpt = make_checkpoint(family, folder / f"{family}.safetensors")
        out[task] = export_checkpoint(ckpt, folder / f"{task}.onnx").path
        out[f"{task}_ckpt"] = ckpt
    return out


@pytest.fixture()
def cli():
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(app, [str(a) for a in args], input=input)

    return invoke


def write_png(path: Path, pixels: np.ndarray) -> Path:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    if pixels.ndim == 3 and pixels.shape[2] == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    elif pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA)
    assert cv2.imwrite(str(path), pixels)
    return path


def random_image(h: int, w: int, c: int = 3, seed: int = 0, dtype=np.uint8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    top = 65535 if dtype == np.uint16 else 255
    return rng.integers(0, top + 1, (h, w, c)).astype(dtype)


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def pytest_addoption(parser):
    parser.addoption("--network", action="store_true", help="also run the tests marked `network` (real downloads)")


def pytest_collection_modifyitems(config, items):
    """Tests marked `network` reach the internet: left out unless --network is given (CI has none)."""
    if config.getoption("--network"):
        return
    kept = [item for item in items if "network" not in item.keywords]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if "network" in item.keywords])
        items[:] = kept
