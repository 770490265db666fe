"""LaMa (spandrel's class at random init, seeded, with batch-norm statistics that are not the
identity) imported from IOPaint's TorchScript layout, exported without DFT operators, and run
by the inpainting pipeline: its fills equal PyTorch's inside the holes, and nothing outside
them changes."""
import numpy as np
import onnx
import pytest
import torch

import landscape
from landscape.errors import ItemError
from benchmarks.lama_cpu import seeded_lama
from tests.conftest import random_image, write_png

spandrel = pytest.importorskip("spandrel")
pytestmark = pytest.mark.slow

SIZES = [(60, 84), (100, 70), (45, 133)]  # none a multiple of 8


@pytest.fixture(scope="module")
def lama(tmp_path_factory):
    """(the network, its exported file), the file made from a traced archive as IOPaint ships it."""
    from landscape.export.imported import export_published

    folder = tmp_path_factory.mktemp("lama")
    net = seeded_lama()
    with torch.no_grad():
        torch.jit.trace(net, (torch.rand(1, 3, 32, 32), torch.zeros(1, 1, 32, 32)), check_trace=False).save(
            str(folder / "big-lama.pt"))
    report = export_published(folder / "big-lama.pt", folder / "lama.onnx")
    return net, report.path


def holes(h: int, w: int) -> np.ndarray:
    mask = np.zeros((h, w), bool)
    mask[h // 4 : h // 2, w // 5 : w // 2] = True  # a box
    mask[h - 9 : h - 5, 3 : w - 3] = True  # a stroke
    return mask


def reference(net: torch.nn.Module, pixels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """PyTorch's fill as the pipeline frames it: [0, 1], reflect-padded to multiples of 8."""
    h, w = mask.shape
    ph, pw = -h % 8, -w % 8
    image = torch.from_numpy(pixels.astype(np.float32) / 255).permute(2, 0, 1)[None]
    hole = torch.from_numpy(mask.astype(np.float32))[None, None]
    image = torch.nn.functional.pad(image, (0, pw, 0, ph), mode="reflect")
    hole = torch.nn.functional.pad(hole, (0, pw, 0, ph), mode="reflect")
    with torch.no_grad():
        out = net(image, hole)[0, :, :h, :w].permute(1, 2, 0).numpy()
    return np.clip(out, 0, 1)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def test_the_export_has_no_dft_and_says_what_it_is(lama):
    _, path = lama
    model = onnx.load(str(path), load_external_data=False)
    assert "DFT" not in {node.op_type for node in model.graph.node}
    info = landscape.Inpainter(path, backend="onnxruntime").info
    assert (info.task, info.family, info.size_multiple, info.min_side) == ("inpaint", "LaMa", 8, 16)
    assert info.windows == ((512, 512), (1024, 1024))
    parity = info.raw["parity"]
    assert parity["fp32_max_abs_diff"] <= 2e-3 and "36 as matrix products" in parity["fourier_units"]
    assert [136, 232] in parity["cases"]


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_fills_equal_pytorchs_inside_the_holes(lama, backend):
    net, path = lama
    task = landscape.Inpainter(path, backend=backend, precision="fp32", seamless=False)
    for i, (h, w) in enumerate(SIZES):
        pixels, mask = random_image(h, w, seed=i), holes(h, w)
        out = task(pixels, mask)
        expected = np.round(reference(net, pixels, mask) * 255).astype(np.uint8)
        assert np.array_equal(out[~mask], pixels[~mask]), (h, w)
        assert psnr(out[mask], expected[mask]) >= 40, (h, w)


def test_the_default_precision_holds_40_db_too(lama):
    """On a bf16 CPU `auto` runs LaMa in bf16 (its check passed at export); elsewhere fp32."""
    net, path = lama
    task = landscape.Inpainter(path, seamless=False)
    h, w = SIZES[0]
    pixels, mask = random_image(h, w, seed=9), holes(h, w)
    expected = np.round(reference(net, pixels, mask) * 255).astype(np.uint8)
    assert psnr(task(pixels, mask)[mask], expected[mask]) >= 40, task.describe()


def test_a_picture_under_the_minimum_gets_one_line(lama, tmp_path, cli):
    _, path = lama
    with pytest.raises(ItemError, match="10x12 is under the 16 pixels a side that this model \\(LaMa\\) needs"):
        landscape.Inpainter(path, backend="onnxruntime")(random_image(12, 10), np.ones((12, 10), bool))
    write_png(tmp_path / "in" / "tiny.png", random_image(12, 10))
    write_png(tmp_path / "in" / "fine.png", random_image(40, 48))
    for name, (h, w) in (("tiny", (12, 10)), ("fine", (40, 48))):
        write_png(tmp_path / "masks" / f"{name}.png", (holes(h, w)[:, :, None] * 255).astype(np.uint8))
    res = cli("inpaint", tmp_path / "in", "--masks", tmp_path / "masks", "-o", tmp_path / "out", "--model", path)
    assert res.exit_code == 1 and res.stdout.strip() == str(tmp_path / "out" / "fine.png")
    assert f"{tmp_path / 'in' / 'tiny.png'}: 10x12 is under the 16 pixels" in res.stderr
    assert "Traceback" not in res.stderr


def test_ray_data_inpaints_with_it_as_the_api_does(lama):
    ray = pytest.importorskip("ray", reason="landscape[ray] is not installed")
    import landscape.ray

    _, path = lama
    rows = [{"image": random_image(h, w, seed=i), "mask": holes(h, w)} for i, (h, w) in enumerate(SIZES)]
    kwargs = landscape.ray.Inpaint.checked(path, backend="onnxruntime", seamless=False)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        out = ray.data.from_items(rows).map_batches(landscape.ray.Inpaint, concurrency=1, batch_size=2,
                                                    fn_constructor_kwargs=kwargs).take_all()
    finally:
        ray.shutdown()
    task = landscape.Inpainter(path, backend="onnxruntime", seamless=False)
    by_size = {row["mask"].shape: row for row in rows}  # each size is used once
    assert sorted(row["mask"].shape for row in out) == sorted(by_size)
    for row in out:
        source = by_size[row["mask"].shape]
        assert np.array_equal(row["image"], task(source["image"], source["mask"]))
