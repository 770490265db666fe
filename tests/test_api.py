"""The Python API (landscape.api): its outputs equal the command line's on the same inputs,
bad inputs raise the documented exceptions, importing it is quick and torch-free, and an
install adds the one top-level name `landscape`."""
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import landscape
from tests.conftest import random_image, write_png
from tests.test_cli import lines

REPO = Path(__file__).resolve().parents[1]


def run_cli(cli, *args) -> list[Path]:
    res = cli(*args, "--strip-metadata") if args[0] in ("upscale", "inpaint") else cli(*args)
    assert res.exit_code == 0, res.stderr
    return [Path(p) for p in lines(res.stdout)]


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


def test_upscale_equals_the_cli_for_gray_alpha_16bit_and_tiles(tmp_path, cli, models):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(random_image(22, 18, 1, seed=1)[:, :, 0], "L").save(folder / "gray.png")
    Image.fromarray(random_image(20, 26, 4, seed=2), "RGBA").save(folder / "rgba.png")
    cv2.imwrite(str(folder / "deep.png"), random_image(24, 20, 3, seed=3, dtype=np.uint16))
    cv2.imwrite(str(folder / "deep_alpha.png"), random_image(12, 16, 4, seed=4, dtype=np.uint16))
    write_png(folder / "tiled.png", random_image(40, 52, seed=5))
    written = run_cli(cli, "upscale", folder, "-o", tmp_path / "out", "--model", models["upscale"], "--tile", 16,
                      "--tile-pad", 4, "--precision", "fp32")
    assert len(written) == 5
    up = landscape.Upscaler(models["upscale"], tile=16, tile_pad=4, precision="fp32")
    inputs = sorted(folder.iterdir())
    for source, result in zip(inputs, up([landscape.read(p) for p in inputs])):
        assert same(result, landscape.read(tmp_path / "out" / source.name)), source.name
    # A PIL image and a 2-D array give what the file gives; 2-D comes back 2-D.
    gray = Image.open(folder / "gray.png")
    assert same(up(gray), landscape.read(tmp_path / "out" / "gray.png"))
    assert same(up(np.asarray(gray))[:, :, None], landscape.read(tmp_path / "out" / "gray.png"))


def test_upscale_two_passes_equals_the_cli(tmp_path, cli, models):
    write_png(tmp_path / "in" / "a.png", random_image(6, 5))
    (out,) = run_cli(cli, "upscale", tmp_path / "in", "-o", tmp_path / "out", "--model", models["upscale"], "--scale", 16)
    up = landscape.Upscaler(models["upscale"], scale=16)
    assert up.scale == 16 and up.passes == 2
    assert same(up(landscape.read(tmp_path / "in" / "a.png")), landscape.read(out))


@pytest.mark.parametrize("upscale", [False, True])
def test_generate_equals_the_cli(tmp_path, cli, models, upscale):
    extra = ["--upscale", "--upscale-model", models["upscale"]] if upscale else []
    written = run_cli(cli, "generate", "--seeds", "0-2", "-o", tmp_path, "--model", models["generate"], *extra)
    generator = landscape.Generator(models["generate"], upscale_model=models["upscale"], batch_size=2)
    pictures = generator(seeds=[0, 1, 2], upscale=upscale)
    assert len(pictures) == 3
    for path, picture in zip(sorted(written), pictures):
        assert same(picture, landscape.read(path)), path.name


def test_generate_walk_equals_the_cli(tmp_path, cli, models):
    written = run_cli(cli, "generate", "--walk", "3,7", "--frames", "3", "-o", tmp_path, "--model", models["generate"])
    frames = landscape.Generator(models["generate"]).walk([3, 7], frames=3)
    assert len(frames) == len(written) == 4
    for path, frame in zip(sorted(written), frames):
        assert same(frame, landscape.read(path))


def test_inpaint_equals_the_cli_with_masks_alpha_and_16bit(tmp_path, cli, models):
    folder = tmp_path / "in"
    hole = np.zeros((24, 28), np.uint8)
    hole[6:14, 8:20] = 255
    write_png(folder / "rgb.png", random_image(24, 28, seed=1))
    write_png(folder / "rgb_mask.png", hole)
    cv2.imwrite(str(folder / "deep.png"), random_image(24, 28, 3, seed=2, dtype=np.uint16))
    write_png(folder / "deep_mask.png", hole)
    rgba = random_image(24, 28, 4, seed=3)
    rgba[:, :, 3] = np.where(hole > 0, 0, 255)
    Image.fromarray(rgba, "RGBA").save(folder / "alpha.png")
    written = run_cli(cli, "inpaint", folder, "-o", tmp_path / "out", "--model", models["inpaint"], "--mask-dilate", 2)
    assert sorted(p.name for p in written) == ["alpha.png", "deep.png", "rgb.png"]
    inpainter = landscape.Inpainter(models["inpaint"], dilate=2)
    for name in ("rgb", "deep"):
        expected = landscape.read(tmp_path / "out" / f"{name}.png")
        assert same(inpainter(landscape.read(folder / f"{name}.png"), landscape.read(folder / f"{name}_mask.png")), expected)
        assert same(inpainter(landscape.read(folder / f"{name}.png"), hole > 0), expected)  # a bool mask
    filled = inpainter(Image.open(folder / "alpha.png"))  # no mask: the alpha marks the holes
    assert filled.shape == (24, 28, 3) and same(filled, landscape.read(tmp_path / "out" / "alpha.png"))
    photos = [landscape.read(folder / "rgb.png")] * 2
    assert all(same(f, landscape.read(tmp_path / "out" / "rgb.png")) for f in inpainter(photos, [hole, hole]))
    raw = run_cli(cli, "inpaint", folder / "rgb.png", "-o", tmp_path / "raw", "--model", models["inpaint"], "--raw-fill")
    raw_fill = landscape.Inpainter(models["inpaint"], seamless=False)(photos[0], hole > 0)
    assert same(raw_fill, landscape.read(raw[0]))
    assert not same(raw_fill, landscape.Inpainter(models["inpaint"])(photos[0], hole > 0))  # seamless by default


def test_translate_equals_the_cli_for_colour_and_index_maps(tmp_path, cli, models):
    maps = REPO / "samples" / "maps"
    written = run_cli(cli, "translate", maps / "lake.png", maps / "lake_index.png", "-o", tmp_path,
                      "--model", models["translate"])
    translator = landscape.Translator(models["translate"])
    for path in written:
        assert same(translator(landscape.read(maps / path.name)), landscape.read(path)), path.name
    index = np.asarray(Image.open(maps / "lake_index.png"))
    assert index.ndim == 2 and same(translator(index), landscape.read(tmp_path / "lake_index.png"))
    (big,) = run_cli(cli, "translate", maps / "lake.png", "--upscale", "-o", tmp_path / "up", "--model",
                     models["translate"], "--upscale-model", models["upscale"])
    upscaling = landscape.Translator(models["translate"], upscale_model=models["upscale"])
    assert same(upscaling(landscape.read(maps / "lake.png"), upscale=True), landscape.read(big))


def test_label_equals_the_cli(tmp_path, cli, models):
    photos = REPO / "samples" / "photos"
    index_maps = run_cli(cli, "label", photos, "--index", "-o", tmp_path / "index", "--model", models["label"])
    colour_maps = run_cli(cli, "label", photos, "-o", tmp_path / "colour", "--model", models["label"])
    labeller = landscape.Labeller(models["label"])
    for index_path, colour_path in zip(sorted(index_maps), sorted(colour_maps)):
        labels = labeller(landscape.read(photos / index_path.name))
        assert labels.ndim == 2 and labels.dtype == np.uint8
        assert same(labels, landscape.read(index_path)[:, :, 0])
        assert same(labeller.colourise(labels), landscape.read(colour_path))


def test_bad_inputs_raise_the_documented_exceptions(tmp_path, models):
    up = landscape.Upscaler(models["upscale"])
    with pytest.raises(landscape.ItemError, match="pixels must be uint8 or uint16, got float32"):
        up(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(landscape.ItemError, match=r"with C in 1-4, got shape \(4, 4, 5\)"):
        up(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(landscape.ItemError, match="expected a numpy array or a PIL image, got str"):
        up("photo.png")
    inpainter = landscape.Inpainter(models["inpaint"])
    with pytest.raises(landscape.ItemError, match="mask is 4x4 but the image is 6x5 .*never resized"):
        inpainter(random_image(5, 6), np.zeros((4, 4), bool))
    with pytest.raises(landscape.ItemError, match="no mask"):
        inpainter(random_image(5, 6))
    with pytest.raises(landscape.ItemError, match="outside the model's 8 classes"):
        landscape.Translator(models["translate"])(np.full((8, 8), 9, np.uint8))
    with pytest.raises(landscape.UsageError, match="tile must be >= 0, got -1"):
        landscape.Upscaler(models["upscale"], tile=-1)
    for bad in (0, -2, 17, "abc", float("nan")):
        with pytest.raises(landscape.UsageError, match=r"^scale .*(not a number|from 1 to 16)"):
            landscape.Upscaler(models["upscale"], scale=bad)
    with pytest.raises(landscape.ItemError, match=r"x3 of 40x30 makes 160x120 = 19,200 pixels in its x4 pass, over the limit of 15,000"):
        landscape.Upscaler(models["upscale"], scale=3, max_pixels=15_000)(np.zeros((30, 40, 3), np.uint8))
    with pytest.raises(landscape.UsageError, match="seeds must be integers"):
        landscape.Generator(models["generate"])(seeds=[-1])
    with pytest.raises(landscape.ModelError, match="no such model file"):
        landscape.Labeller(tmp_path / "missing.onnx")
    with pytest.raises(landscape.ModelError):
        landscape.Labeller(models["upscale"])  # a model of another task
    not_image = tmp_path / "notes.png"
    not_image.write_text("hello")
    with pytest.raises(landscape.ItemError, match=f"{not_image}: not an image"):
        landscape.read(not_image)
    errors = (landscape.UsageError, landscape.ModelError, landscape.ItemError, landscape.FatalError)
    assert all(issubclass(e, landscape.LandscapeError) for e in errors)


def test_read_and_write_round_trip_atomically(tmp_path):
    pixels = random_image(9, 7, 4, dtype=np.uint16)
    landscape.write(tmp_path / "a.png", pixels)
    assert same(landscape.read(tmp_path / "a.png"), pixels)
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]
    with pytest.raises(landscape.UsageError, match="must end in"):
        landscape.write(tmp_path / "a.gif", pixels)


def test_import_is_quick_and_inference_pulls_no_torch(models):
    script = (
        "import sys, time\n"
        "t = time.perf_counter(); import landscape; took = time.perf_counter() - t\n"
        "loaded = sorted(n for n in ('numpy', 'onnxruntime', 'openvino', 'torch') if n in sys.modules)\n"
        "import numpy as np\n"
        f"landscape.Upscaler({str(models['upscale'])!r})(np.zeros((8, 8, 3), np.uint8))\n"
        "print('TOOK', took, 'LOADED', loaded, 'TORCH', 'torch' in sys.modules)\n"
    )
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert res.returncode == 0, res.stderr
    words = res.stdout.split()
    assert float(words[1]) < 0.05 and "LOADED []" in res.stdout and "TORCH False" in res.stdout


@pytest.mark.slow
def test_a_wheel_installs_one_top_level_name(tmp_path):
    import shutil

    # Built from a copy: setuptools writes build/ and *.egg-info beside the sources.
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", ".venv", "runs", ".cpu_data", ".gpu_data", "build",
                                                                "*.egg-info", "__pycache__", "docs", "tests"))
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                          str(tmp_path), str(source)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    (wheel,) = tmp_path.glob("landscape-*.whl")
    names = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {n for n in names if not n.endswith(".dist-info")} == {"landscape"}
    members = zipfile.ZipFile(wheel).namelist()
    assert "landscape/py.typed" in members and "landscape/models/upscale.onnx" in members
    assert any(m.startswith("landscape/trainers/") for m in members) and any(m.startswith("landscape/export/") for m in members)


def readme_example(section: str) -> str:
    """The python block of a README section, as a reader would copy it."""
    text = (REPO / "README.md").read_text().split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return text.split("```python\n", 1)[1].split("```", 1)[0]


def run_example(code: str, folder: Path) -> subprocess.CompletedProcess:
    (folder / "samples").symlink_to(REPO / "samples")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=folder, timeout=600)


def test_the_readme_python_example_runs(tmp_path):
    code = readme_example("Use from Python") + (
        "assert big.shape == (photo.shape[0] * 4, photo.shape[1] * 4, photo.shape[2]) and big.dtype == photo.dtype\n"
        "assert [p.shape for p in pictures] == [(512, 512, 3)] * 3\n"
        "assert filled.shape == photo.shape and index_map.shape == photo.shape[:2] and again.shape[:2] == photo.shape[:2]\n"
        "assert 'torch' not in __import__('sys').modules\n")
    res = run_example(code, tmp_path)
    assert res.returncode == 0, res.stderr
    assert landscape.read(tmp_path / "lake_x4.png").shape == (960, 1280, 3)


def test_inputs_are_never_modified(models):
    photo = random_image(20, 24, 4, seed=9)
    mask = np.zeros((20, 24), bool)
    mask[4:10, 6:14] = True
    kept = photo.copy(), mask.copy()
    landscape.Upscaler(models["upscale"])(photo)
    filled = landscape.Inpainter(models["inpaint"], dilate=2)(photo, mask)
    unchanged = landscape.Inpainter(models["inpaint"])(photo, np.zeros((20, 24), bool))
    landscape.Labeller(models["label"])(photo)
    assert same(photo, kept[0]) and same(mask, kept[1])
    assert unchanged is not photo and same(unchanged, photo)
    assert same(filled[:, :, 3], photo[:, :, 3])  # a mask is given: the alpha is the picture's, untouched


def _ten_gigapixels(channels: int = 3, dtype=np.uint8) -> np.ndarray:
    """A 100000 x 100000 view of one pixel: it costs nothing until something copies it."""
    one = np.zeros((1, 1, channels), dtype)
    return np.lib.stride_tricks.as_strided(one, shape=(100_000, 100_000, channels), strides=(0, 0, one.itemsize))


LIMIT = "100000x100000 = 10,000,000,000 pixels is over the limit of 100,000,000 (raise it with max_pixels)"


@pytest.mark.parametrize("task", ["upscale", "inpaint", "inpaint-mask", "translate", "label"])
def test_the_pixel_limit_holds_before_anything_is_allocated(models, task):
    import time

    huge, small = _ten_gigapixels(), random_image(16, 16)
    calls = {"upscale": lambda: landscape.Upscaler(models["upscale"])(huge),
             "inpaint": lambda: landscape.Inpainter(models["inpaint"])(huge, np.ones((4, 4), bool)),
             "inpaint-mask": lambda: landscape.Inpainter(models["inpaint"])(small, _ten_gigapixels(1)[:, :, 0]),
             "translate": lambda: landscape.Translator(models["translate"])(huge),
             "label": lambda: landscape.Labeller(models["label"])(huge)}
    start = time.perf_counter()
    with pytest.raises(landscape.ItemError) as caught:
        calls[task]()
    assert time.perf_counter() - start < 5  # the model's opening, nothing of the picture's size
    assert str(caught.value).endswith(LIMIT) and ("mask" in str(caught.value)) == (task == "inpaint-mask")


def test_the_pixel_limit_is_each_task_s_to_raise(models, tmp_path):
    picture = random_image(16, 16)
    with pytest.raises(landscape.ItemError, match=r"16x16 = 256 pixels is over the limit of 100 \(raise it with max_pixels\)"):
        landscape.Upscaler(models["upscale"], max_pixels=100)(picture)
    with pytest.raises(landscape.ItemError, match=r"x4 of 16x16 makes 64x64 = 4,096 pixels, over the limit of 4,095 "
                                                  r"\(raise it with max_pixels\)"):
        landscape.Upscaler(models["upscale"], max_pixels=64 * 64 - 1)(picture)  # what it makes counts too
    assert landscape.Upscaler(models["upscale"], max_pixels=64 * 64)(picture).shape == (64, 64, 3)
    with pytest.raises(landscape.UsageError, match="max_pixels must be >= 1"):
        landscape.Labeller(models["label"], max_pixels=0)
    # A PIL image is measured by its header before it is read.
    header_only = tmp_path / "wide.png"
    write_png(header_only, random_image(4, 300))
    with Image.open(header_only) as img, pytest.raises(landscape.ItemError, match="300x4 = 1,200 pixels"):
        landscape.Labeller(models["label"], max_pixels=1000)(img)
