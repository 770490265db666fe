"""Bad inputs through the real CLI (a subprocess, so a traceback or a hang cannot hide): each
refused file gets one line naming it and the reason, every good file beside it is written,
inputs are never modified, and no temp file is left behind."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from landscape.runtime.sessions import read_info
from tests.bad_inputs import Case, build, corpus
from tests.conftest import tree_digest

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 180


def landscape(*args, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "landscape", *map(str, args)], input=stdin, capture_output=True,
                          text=True, cwd=REPO, timeout=TIMEOUT)


def error_lines(stderr: str, path: Path) -> list[str]:
    prefix = f"landscape: {path}: "
    return [line[len(prefix):] for line in stderr.splitlines() if line.startswith(prefix)]


def check_run(res: subprocess.CompletedProcess, folder: Path, out: Path, cases: dict[str, Case], scale: int) -> None:
    assert "Traceback" not in res.stderr, res.stderr
    refused = [c for c in cases.values() if c.refused]
    assert res.returncode == (1 if refused else 0), res.stderr
    for case in cases.values():
        lines = error_lines(res.stderr, folder / case.name)
        if case.refused:
            assert len(lines) == 1 and re.search(case.refused, lines[0]), (case.name, lines)
            assert not list(out.glob(f"{Path(case.name).stem}.*")), case.name
        else:
            assert not [line for line in lines if "note" not in line and re.search("cannot|refused|error", line)], lines
            written = [p for p in out.iterdir() if p.stem == Path(case.name).stem]
            assert len(written) == 1, (case.name, written)
            with Image.open(written[0]) as img:
                assert img.size == (case.size[0] * scale, case.size[1] * scale), case.name
    assert sorted(res.stdout.split("\n")[:-1]) == sorted(str(p) for p in out.iterdir())
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temp files left"
    assert "not-ours.gif" not in res.stdout and "folder.png" not in res.stdout


BROKEN = [c for c in corpus() if c.refused]


def test_upscale_over_the_whole_corpus(tmp_path, models):
    folder = tmp_path / "in"
    cases = build(folder, corpus())
    before = tree_digest(folder)
    out = tmp_path / "out"
    res = landscape("upscale", folder, "-o", out, "--model", models["upscale"])
    check_run(res, folder, out, cases, scale=4)
    assert tree_digest(folder) == before
    # A re-run writes nothing new, refuses the same files, and changes nothing written.
    written = tree_digest(out)
    again = landscape("upscale", folder, "-o", out, "--model", models["upscale"])
    assert again.returncode == 1 and again.stdout == "" and tree_digest(out) == written


def test_label_over_the_whole_corpus(tmp_path, models):
    folder = tmp_path / "in"
    cases = build(folder, corpus())
    before = tree_digest(folder)
    out = tmp_path / "maps"
    res = landscape("label", folder, "-o", out, "--model", models["label"])
    # Maps are always PNG: every output, whatever its input's format, is NAME.png.
    check_run(res, folder, out, cases, scale=1)
    assert tree_digest(folder) == before and all(p.suffix == ".png" for p in out.iterdir())


def _map(palette, h: int, w: int, seed: int, block: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(palette), (h // block + 1, w // block + 1)).repeat(block, 0).repeat(block, 1)[:h, :w]
    return np.asarray(palette, np.uint8)[labels]


def test_translate_over_broken_files_and_awkward_maps(tmp_path, models):
    palette = read_info(models["translate"]).palette
    n = len(palette)
    folder = tmp_path / "maps"
    colour = _map(palette, 24, 32, 0)
    painted = _map(palette, 48, 64, 0, block=16)  # regions big enough to survive JPEG's chroma subsampling
    off = colour.copy()
    off[:4, :4] = (1, 2, 3)  # a few pixels far from every palette colour
    mostly_off = np.random.default_rng(1).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    index = np.repeat(np.arange(n, dtype=np.uint8), 4)[None].repeat(8, 0)
    unknown = index.copy()
    unknown[0, 0] = n + 3
    makers = {
        Case("colour.png", lambda p: Image.fromarray(colour).save(p), size=(32, 24)): None,
        Case("jpeg-compressed.jpg", lambda p: Image.fromarray(painted).save(p, quality=75), size=(64, 48)): None,
        Case("a-few-off-palette.png", lambda p: Image.fromarray(off).save(p), size=(32, 24)): None,
        Case("noise.png", lambda p: Image.fromarray(mostly_off).save(p), refused="far from every palette colour"): None,
        Case("index.png", lambda p: Image.fromarray(index, "L").save(p), size=(4 * n, 8)): None,
        Case("index-unknown-ids.png", lambda p: Image.fromarray(unknown, "L").save(p), refused=f"class id\\(s\\) {n + 3}"): None,
    }
    cases = build(folder, [*makers, *BROKEN])
    out = tmp_path / "out"
    res = landscape("translate", folder, "-o", out, "--model", models["translate"])
    check_run(res, folder, out, cases, scale=1)
    assert "off-palette, mapped to the nearest class" in res.stderr


def _smooth_scene(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([x / w * 255, y / h * 255, np.full_like(x, 128)], 2).astype(np.uint8)


def _oriented_jpeg(path: Path, pixels: np.ndarray, orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(path, "JPEG", exif=exif.tobytes(), quality=95)


def _changed_outside(out_file: Path, image_file: Path, mask_file: Path, *, invert: bool = False, margin: int = 0) -> float:
    """Share of the pixels outside the hole (grown by `margin`, for JPEG's ringing at its
    edge) that differ by more than 30 levels between the output and the upright input."""
    import cv2

    upright = lambda p, mode: np.asarray(ImageOps.exif_transpose(Image.open(p)).convert(mode), np.int16)  # noqa: E731
    hole = upright(mask_file, "L") >= 128
    if invert:
        hole = ~hole
    if margin:
        hole = cv2.dilate(hole.astype(np.uint8), np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)) > 0
    diff = np.abs(upright(out_file, "RGB") - upright(image_file, "RGB")).max(axis=2)
    return float((diff[~hole] > 30).mean())


def test_inpaint_over_broken_files_and_awkward_masks(tmp_path, models):
    images, masks = tmp_path / "images", tmp_path / "masks"
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    hole = np.zeros((24, 32), np.uint8)
    hole[6:14, 8:20] = 255
    soft = (np.linspace(0, 255, 32)[None].repeat(24, 0)).astype(np.uint8)  # non-binary: thresholded
    cases = [Case(f"{name}.png", lambda p: Image.fromarray(photo).save(p), size=(32, 24))
             for name in ("binary", "soft", "jpeg-mask", "empty", "full")]
    # Each EXIF orientation, with a mask carrying the same orientation tag as its image.
    # A smooth picture (JPEG keeps it within a few levels) with the hole off-centre, so that a
    # mask flipped or turned the wrong way would land elsewhere.
    scene = _smooth_scene(64, 96)
    exif_hole = np.zeros((64, 96), np.uint8)
    exif_hole[8:24, 12:36] = 255
    cases += [Case(f"exif-{o}.jpg", lambda p, o=o: _oriented_jpeg(p, scene, o), size=(64, 96) if o >= 5 else (96, 64))
              for o in range(2, 9)]
    cases += [
        Case("missing.png", lambda p: Image.fromarray(photo).save(p), refused="no mask"),
        Case("wrong-size.png", lambda p: Image.fromarray(photo).save(p), refused="never resized"),
        Case("broken-mask.png", lambda p: Image.fromarray(photo).save(p), refused="mask .*empty file"),
        *BROKEN,
    ]
    built = build(images, cases)
    masks.mkdir()
    Image.fromarray(hole).save(masks / "binary.png")
    Image.fromarray(soft).save(masks / "soft.png")
    Image.fromarray(hole).save(masks / "jpeg-mask.jpg", quality=50)
    Image.fromarray(np.zeros_like(hole)).save(masks / "empty.png")
    Image.fromarray(np.full_like(hole, 255)).save(masks / "full.png")
    for o in range(2, 9):
        _oriented_jpeg(masks / f"exif-{o}.jpg", np.repeat(exif_hole[:, :, None], 3, 2), o)
    Image.fromarray(hole[:10]).save(masks / "wrong-size.png")
    (masks / "broken-mask.png").write_bytes(b"")
    for case in BROKEN:
        Image.fromarray(hole).save(masks / f"{Path(case.name).stem}.png")
    before = tree_digest(images)
    out = tmp_path / "out"
    res = landscape("inpaint", images, "--masks", masks, "-o", out, "--model", models["inpaint"])
    check_run(res, images, out, built, scale=1)
    assert tree_digest(images) == before
    assert "mask is empty: image copied unchanged" in res.stderr
    # Outside the hole nothing changes; with EXIF tags, the mask turned with its image.
    assert _changed_outside(out / "binary.png", images / "binary.png", masks / "binary.png") == 0
    assert _changed_outside(out / "jpeg-mask.png", images / "jpeg-mask.png", masks / "jpeg-mask.jpg") == 0
    for o in range(2, 9):
        assert _changed_outside(out / f"exif-{o}.jpg", images / f"exif-{o}.jpg", masks / f"exif-{o}.jpg", margin=8) == 0, o
    inverted = landscape("inpaint", images / "binary.png", "--masks", masks, "--mask-invert", "-o", tmp_path / "inv",
                         "--model", models["inpaint"])
    assert inverted.returncode == 0, inverted.stderr
    assert _changed_outside(tmp_path / "inv" / "binary.png", images / "binary.png", masks / "binary.png", invert=True) == 0


@pytest.mark.parametrize("command", ["upscale", "translate", "inpaint", "label"])
def test_stdin_paths_duplicates_crlf_and_dangling_links(tmp_path, models, command):
    folder = tmp_path / "in"
    folder.mkdir()
    palette = read_info(models["translate"]).palette
    Image.fromarray(_map(palette, 8, 12, 3)).save(folder / "a b.png")
    Image.fromarray(np.full((8, 12), 255, np.uint8)).save(folder / "a b_mask.png")
    (folder / "dangling.png").symlink_to(folder / "nowhere.png")
    loop = folder / "loop"
    loop.mkdir()
    (loop / "up").symlink_to(folder)
    lines = [str(folder / "a b.png"), str(folder / "a b.png"), str(folder / "dangling.png")]
    stdin = "\r\n".join(lines) + "\r\n"
    out = tmp_path / "out"
    res = landscape(command, "-", "-o", out, "--model", models[command], stdin=stdin)
    assert "Traceback" not in res.stderr
    assert res.returncode == 1, res.stderr
    assert res.stdout.splitlines() == [str(out / "a b.png")]
    assert error_lines(res.stderr, folder / "dangling.png") == ["broken symbolic link"]
    # A recursive walk through a folder that links back to itself ends.
    walk = landscape(command, folder, "-r", "-o", tmp_path / "walk", "--model", models[command])
    assert "Traceback" not in walk.stderr and (tmp_path / "walk" / "a b.png").exists()


def test_output_folder_inside_the_input_folder_is_never_read_back(tmp_path, models):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(np.full((6, 8, 3), 90, np.uint8)).save(folder / "a.png")
    Image.fromarray(np.full((6, 8, 3), 150, np.uint8)).save(folder / "sub" / "b.png")
    out = folder / "big"
    for _ in range(2):
        res = landscape("upscale", folder, "-r", "-o", out, "--model", models["upscale"])
        assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    with Image.open(out / "a.png") as img:
        assert img.size == (32, 24)
