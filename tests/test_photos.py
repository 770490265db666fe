"""Photos in, photos out: colour profiles, EXIF, XMP and text carried through upscale and
inpaint (and across format changes), files that honour the umask, 16-bit keyed gray kept, and
generated pictures that say how to remake them."""
from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin

from landscape.cli import provenance
from tests.conftest import random_image, write_png

REPO = Path(__file__).resolve().parents[1]


def _tag(kind: bytes, body: bytes) -> bytes:
    data = kind + b"\0\0\0\0" + body
    return data + b"\0" * (-len(data) % 4)


def _xyz(x: float, y: float, z: float) -> bytes:
    return _tag(b"XYZ ", b"".join(struct.pack(">i", round(v * 65536)) for v in (x, y, z)))


def display_p3_profile() -> bytes:
    """An ICC v4 matrix/TRC profile with Display P3's primaries (D50-adapted, Bradford) and
    the sRGB transfer curve: what phones embed in their photos."""
    srgb_curve = _tag(b"para", struct.pack(">HH", 3, 0) + b"".join(
        struct.pack(">i", round(v * 65536)) for v in (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)))
    name = "Display P3".encode("utf-16-be")
    desc = _tag(b"mluc", struct.pack(">II", 1, 12) + b"enUS" + struct.pack(">II", len(name), 28) + name)
    tags = [(b"desc", desc), (b"wtpt", _xyz(0.9642, 1.0, 0.8249)), (b"rXYZ", _xyz(0.5151, 0.2412, -0.0011)),
            (b"gXYZ", _xyz(0.2920, 0.6922, 0.0419)), (b"bXYZ", _xyz(0.1571, 0.0666, 0.7841)),
            (b"rTRC", srgb_curve), (b"gTRC", srgb_curve), (b"bTRC", srgb_curve),
            (b"cprt", _tag(b"mluc", struct.pack(">II", 1, 12) + b"enUS" + struct.pack(">II", 8, 28) + "test".encode("utf-16-be")))]
    table_size = 4 + 12 * len(tags)
    offset, entries, bodies = 128 + table_size, b"", b""
    for sig, body in tags:
        entries += sig + struct.pack(">II", offset + len(bodies), len(body))
        bodies += body
    size = 128 + table_size + len(bodies)
    header = (struct.pack(">I", size) + b"lcms" + bytes([4, 0x40, 0, 0]) + b"mntrRGB XYZ " + bytes(12) + b"acsp"
              + b"APPL" + bytes(4) + bytes(4) + bytes(4) + bytes(8) + bytes(4)
              + b"".join(struct.pack(">i", round(v * 65536)) for v in (0.9642, 1.0, 0.8249)) + b"lcms" + bytes(16) + bytes(28))
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + entries + bodies


def phone_jpeg(path: Path, orientation: int = 6) -> tuple[Path, np.ndarray]:
    """A JPEG as a phone writes it: Display P3 profile, EXIF with camera, date, orientation and
    pixel dimensions, XMP. Returns the path and the stored (unrotated) pixels."""
    pixels = np.zeros((24, 40, 3), np.uint8)
    pixels[:, :20] = (200, 40, 40)  # a left half that tells the orientations apart
    pixels[:8] = (40, 40, 220)
    exif = Image.Exif()
    exif[0x0112], exif[0x010F], exif[0x0110], exif[0x0132] = orientation, "PhoneCo", "Phone 12", "2026:05:06 07:08:09"
    exif.get_ifd(0x8769)[0xA002], exif.get_ifd(0x8769)[0xA003] = 40, 24
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, "JPEG", quality=98, exif=exif, icc_profile=display_p3_profile(),
                                 xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>')
    return path, np.asarray(Image.open(path).convert("RGB"))


def test_the_p3_profile_is_a_real_profile():
    profile = ImageCms.ImageCmsProfile(io.BytesIO(display_p3_profile()))
    assert ImageCms.getProfileDescription(profile).strip() == "Display P3"


@pytest.mark.parametrize("fmt", ["keep", "png", "webp", "tif"])
def test_a_phone_jpeg_keeps_its_profile_exif_and_xmp(tmp_path, cli, models, fmt):
    src, _ = phone_jpeg(tmp_path / "in" / "phone.jpg")
    res = cli("upscale", src, "-o", tmp_path / "out", "--format", fmt, "--model", models["upscale"])
    assert res.exit_code == 0, res.output
    out = Path(res.stdout.strip())
    with Image.open(out) as img:
        assert img.info.get("icc_profile") == display_p3_profile()
        exif = img.getexif()
        assert exif[0x010F] == "PhoneCo" and exif[0x0132] == "2026:05:06 07:08:09"
        assert 0x0112 not in exif  # applied to the pixels, then cleared
        assert img.size == (24 * 4, 40 * 4)
        if fmt != "tif":  # TIFF: the main EXIF tags only, the Exif sub-IFD named as dropped
            assert (exif.get_ifd(0x8769)[0xA002], exif.get_ifd(0x8769)[0xA003]) == img.size
        assert b"xmpmeta" in (img.info.get("xmp") or b"")
    if out.suffix in (".png", ".jpg"):  # the formats with a place for text
        assert provenance.read(out)["command"] == "upscale"
    dropped = [line for line in res.stderr.splitlines() if "dropped" in line]
    assert dropped == ([] if fmt != "tif" else ["landscape: EXIF Exif sub-IFD dropped: TIFF is written with the main EXIF "
                                                  "tags only"])


def test_bmp_says_once_what_it_drops(tmp_path, cli, models):
    for i in range(3):
        phone_jpeg(tmp_path / "in" / f"p{i}.jpg")
    res = cli("upscale", tmp_path / "in", "-o", tmp_path / "out", "--format", "bmp", "--model", models["upscale"])
    assert res.exit_code == 0
    lines = [line for line in res.stderr.splitlines() if "dropped" in line and "ICC profile" in line]
    assert len(lines) == 1 and "colours may look different" in lines[0]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied_and_cleared(tmp_path, cli, models, orientation):
    from landscape.imaging.codec import orient

    src, stored = phone_jpeg(tmp_path / "in" / "o.jpg", orientation)
    res = cli("inpaint", src, "--masks", _mask_for(tmp_path, orient(stored, orientation).shape[:2]), "-o",
              tmp_path / "out", "--format", "png", "--model", models["inpaint"])
    assert res.exit_code == 0, res.output
    with Image.open(tmp_path / "out" / "o.png") as img:
        upright = orient(stored, orientation)
        assert img.size == (upright.shape[1], upright.shape[0])
        got = np.asarray(img.convert("RGB")).astype(int)
        assert np.abs(got[:2, :2] - upright[:2, :2]).max() <= 2  # outside the hole: the upright pixels
        assert 0x0112 not in img.getexif() and img.getexif()[0x010F] == "PhoneCo"


def _mask_for(tmp_path: Path, shape) -> Path:
    mask = np.zeros(shape, np.uint8)
    mask[shape[0] // 2 - 3:shape[0] // 2 + 3, shape[1] // 2 - 3:shape[1] // 2 + 3] = 255
    return write_png(tmp_path / "mask.png", mask)


def test_other_generators_text_is_kept_and_ours_added_beside(tmp_path, cli, models):
    info = PngImagePlugin.PngInfo()
    for key, value in (("parameters", "a lake, steps 30"), ("prompt", '{"3": {"class_type": "KSampler"}}'),
                       ("workflow", '{"nodes": []}'), ("landscape", "an earlier record")):
        info.add_text(key, value)
    src = tmp_path / "in" / "gen.png"
    src.parent.mkdir()
    Image.fromarray(random_image(20, 24)).save(src, pnginfo=info)
    res = cli("upscale", src, "-o", tmp_path / "out", "--model", models["upscale"])
    assert res.exit_code == 0
    with Image.open(tmp_path / "out" / "gen.png") as img:
        text = img.text
    assert text["parameters"] == "a lake, steps 30" and text["workflow"] == '{"nodes": []}'
    assert text["landscape"] == "an earlier record" and '"command":"upscale"' in text["landscape.2"]
    stripped = cli("upscale", src, "-o", tmp_path / "bare", "--strip-metadata", "--model", models["upscale"])
    assert stripped.exit_code == 0
    with Image.open(tmp_path / "bare" / "gen.png") as img:
        assert not img.text and "icc_profile" not in img.info and not img.getexif()


def test_keyed_16_bit_gray_stays_16_bit_gray_with_alpha(tmp_path, cli, models):
    """PngSuite's tbwn0g16 kind: 16-bit gray with a tRNS colour key."""
    from tests.test_colour_key import gray_case, keyed_png

    samples, key = gray_case(16, seed=4)
    src = keyed_png(tmp_path / "in" / "tbwn0g16.png", samples, 16, key)
    res = cli("upscale", src, "-o", tmp_path / "out", "--model", models["upscale"])
    assert res.exit_code == 0, res.output
    data = (tmp_path / "out" / "tbwn0g16.png").read_bytes()
    assert (data[24], data[25]) == (16, 4)  # IHDR: bit depth 16, colour type 4 (gray + alpha)


def _run(args: list, umask: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "landscape", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, preexec_fn=lambda: os.umask(umask), timeout=300)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_every_file_written_honours_the_umask(tmp_path, models, umask):
    expected = 0o666 & ~umask
    src = write_png(tmp_path / "in" / "a.png", random_image(16, 16))
    runs = [["upscale", src, "-o", tmp_path / "up", "--compare", tmp_path / "sheet.png", "--model", models["upscale"]],
            ["generate", "-n", 2, "-o", tmp_path / "gen", "--grid", tmp_path / "grid.png", "--model", models["generate"]],
            ["export", models["upscale_ckpt"], "-o", tmp_path / "exported.onnx"]]
    for args in runs:
        done = _run(args, umask)
        assert done.returncode == 0, done.stderr
    files = [tmp_path / "up" / "a.png", tmp_path / "sheet.png", tmp_path / "gen" / "seed000000.png", tmp_path / "grid.png",
             tmp_path / "exported.onnx"]
    assert {f.name: oct(f.stat().st_mode & 0o777) for f in files} == {f.name: oct(expected) for f in files}
    checkpoint = subprocess.run([sys.executable, "-c", "import sys, torch; from landscape.trainers.checkpoint import save_checkpoint; "
                                 "save_checkpoint(sys.argv[1], {'net.w': torch.zeros(2)}, {'family': 'esrgan', "
                                 "'network': {}, 'weights': 'net'})", str(tmp_path / "c.safetensors")],
                                cwd=REPO, preexec_fn=lambda: os.umask(umask), capture_output=True, text=True)
    assert checkpoint.returncode == 0, checkpoint.stderr
    for path in (tmp_path / "c.safetensors", tmp_path / "c.json"):
        assert path.stat().st_mode & 0o777 == expected


def test_a_generated_png_is_remade_byte_for_byte_from_what_info_prints(tmp_path, models, cli):
    made = cli("generate", "--seeds", "11", "--upscale", "--model", models["generate"], "--upscale-model",
               models["upscale"], "-o", tmp_path / "first")
    assert made.exit_code == 0, made.output
    picture = tmp_path / "first" / "seed000011.png"
    shown = cli("info", picture)
    assert shown.exit_code == 0, shown.output
    command = next(line.split("remake: ", 1)[1] for line in shown.stdout.splitlines() if "remake: " in line)
    assert f"--model {models['generate'].resolve()}" in command and "--seeds 11" in command
    argv = command.split()
    assert argv[:2] == ["landscape", "generate"] and argv[-2:] == ["-o", "remade"]
    again = cli(*argv[1:-1], tmp_path / "again")
    assert again.exit_code == 0, again.output
    assert (tmp_path / "again" / "seed000011.png").read_bytes() == picture.read_bytes()


def test_info_on_a_picture_without_a_record_says_so(tmp_path, cli):
    src = write_png(tmp_path / "plain.png", random_image(8, 8))
    res = cli("info", src)
    assert res.exit_code == 1 and "no landscape record" in res.stderr
