"""Big or hostile metadata never costs the pixels: text chunks Pillow refuses (over 1 MB
decompressed, bombs, too many) are dropped with a note, what is carried is capped, and a
bomb is read in bounded time and memory."""
import io
import json
import struct
import time
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image

from landscape.cli import provenance
from landscape.errors import ItemError
from landscape.imaging import photo_meta
from landscape.imaging.codec import decode
from tests.conftest import random_image

MB = 2**20


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_with(extra_before: list[bytes], extra_after: list[bytes] = (), *, palette: bool = False) -> bytes:
    """A small PNG with chunks put before its image data and after it."""
    buffer = io.BytesIO()
    pixels = random_image(16, 24)
    img = Image.fromarray(pixels).quantize(16) if palette else Image.fromarray(pixels)
    img.save(buffer, "PNG")
    data = buffer.getvalue()
    idat = data.index(b"IDAT") - 4
    iend = data.index(b"IEND") - 4
    return data[:idat] + b"".join(extra_before) + data[idat:iend] + b"".join(extra_after) + data[iend:]


def ztxt(name: str, text: bytes, level: int = 6) -> bytes:
    return chunk(b"zTXt", name.encode() + b"\0\0" + zlib.compress(text, level))


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_text_chunk_over_pillows_limit_is_dropped_and_the_pixels_kept(tmp_path):
    plain = decode(write(tmp_path, "plain.png", png_with([])), max_pixels=10**8)
    picture = decode(write(tmp_path, "big.png", png_with([ztxt("workflow", b"{" * (2 * MB)), ztxt("prompt", b"a lake")])),
                     max_pixels=10**8)
    assert np.array_equal(picture.pixels, plain.pixels)
    assert picture.meta.text == {"prompt": "a lake"}  # the small one is still carried
    assert picture.notes == ["text chunk 'workflow' dropped: over the 1 MB a text chunk may hold decompressed "
                             "(the picture is read without it)"]


def test_a_big_text_chunk_after_the_image_data_costs_nothing(tmp_path):
    """A palette PNG is decoded by Pillow, whose load() reads the chunks after IDAT (which are
    never carried)."""
    plain = decode(write(tmp_path, "plain.png", png_with([], palette=True)), max_pixels=10**8)
    picture = decode(write(tmp_path, "after.png", png_with([], [ztxt("workflow", b"x" * (2 * MB))], palette=True)),
                     max_pixels=10**8)
    assert np.array_equal(picture.pixels, plain.pixels) and not picture.meta.text


def test_a_200_mb_text_bomb_is_read_in_bounded_time_and_memory(tmp_path):
    path = write(tmp_path, "bomb.png", png_with([ztxt("bomb", b"\0" * (200 * MB), 9)]))
    assert path.stat().st_size < MB
    tracemalloc.start()
    start = time.perf_counter()
    picture = decode(path, max_pixels=10**8)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert seconds < 1.0 and peak < 100 * MB, (seconds, peak)
    assert "'bomb' dropped" in picture.notes[0]


def test_text_past_pillows_total_is_capped_at_what_is_carried(tmp_path):
    """70 chunks of 1 MB each (Pillow refuses past 64 MB in all): the first 16 MB are kept."""
    chunks = [ztxt(f"t{i:02d}", bytes([65 + i % 26]) * (MB - 1024)) for i in range(70)]
    picture = decode(write(tmp_path, "many.png", png_with(chunks)), max_pixels=10**8)
    assert len(picture.meta.text) == 16
    assert sum(len(v) for v in picture.meta.text.values()) <= photo_meta.CARRY_LIMIT
    assert len(picture.notes) == 1 and "and 50 more dropped: past the 16 MB of text carried" in picture.notes[0]


def test_metadata_under_pillows_limits_is_capped_when_carried(tmp_path):
    """20 uncompressed text chunks of 1 MB: Pillow reads them all, 16 MB are carried."""
    chunks = [chunk(b"tEXt", f"t{i:02d}".encode() + b"\0" + b"x" * MB) for i in range(20)]
    picture = decode(write(tmp_path, "tall.png", png_with(chunks)), max_pixels=10**8)
    assert sum(len(v) for v in picture.meta.text.values()) <= photo_meta.CARRY_LIMIT
    assert len(picture.meta.text) == 16
    assert picture.notes[0].endswith("not carried: metadata over 16 MB in all")


def test_a_damaged_compressed_text_chunk_is_dropped(tmp_path):
    """Pillow itself refuses this one only when it is also too big; alone it is skipped."""
    damaged = chunk(b"zTXt", b"broken\0\0" + b"not zlib at all")
    big = ztxt("workflow", b"y" * (2 * MB))
    picture = decode(write(tmp_path, "damaged.png", png_with([damaged, big])), max_pixels=10**8)
    assert any("'broken' dropped: damaged" in n for n in picture.notes)


@pytest.mark.parametrize("name", ["upscale", "info"])
def test_the_commands_go_through(tmp_path, models, cli, name):
    record = {"command": "upscale", "version": "0.1.0", "device": "cpu", "backend": "onnxruntime", "precision": "fp32",
              "models": {"upscale": {"file": "upscale.onnx", "sha256": "0" * 64, "bundled": True}}, "scale": 4}
    text = chunk(b"tEXt", provenance.OWN_KEY.encode() + b"\0" + json.dumps(record).encode())
    src = write(tmp_path, "big.png", png_with([ztxt("workflow", b"z" * (3 * MB)), text]))
    if name == "upscale":
        res = cli("upscale", src, "-o", tmp_path / "out", "--model", models["upscale"])
        assert res.exit_code == 0 and res.stdout.strip() == str(tmp_path / "out" / "big.png")
        assert "text chunk 'workflow' dropped" in res.stderr
    else:
        res = cli("info", src)
        assert res.exit_code == 0 and f"{src}: upscale by landscape 0.1.0" in res.stdout


def _jpeg(**save) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(random_image(16, 24, seed=5)).save(buffer, "JPEG", quality=90, **save)
    return buffer.getvalue()


def test_damaged_metadata_segments_print_nothing_of_the_c_libraries(tmp_path, capfd):
    """libjpeg and libpng (in OpenCV) print their complaints about a damaged header segment or
    profile on stderr, in lines that name no file: such files are decoded without the
    segments they complain about, or by Pillow, to the same pixels as the clean file."""
    clean_jpeg = _jpeg(exif=Image.Exif().tobytes())
    jfif = clean_jpeg.index(b"JFIF\0")
    bad_jfif = clean_jpeg[: jfif + 5] + b"\x03" + clean_jpeg[jfif + 6 :]  # an unknown JFIF revision
    app1 = clean_jpeg.index(b"\xff\xe1")
    unchained = clean_jpeg[: app1 + 3] + bytes([clean_jpeg[app1 + 3] + 7]) + clean_jpeg[app1 + 4 :]  # runs past its end
    profile = b"\0\0\x01\0" + b"x" * 252  # a profile whose tag table points outside it
    with_profile = png_with([chunk(b"iCCP", b"ICC\0\0" + zlib.compress(profile))])
    clean_png = decode(write(tmp_path, "clean.png", png_with([])), max_pixels=10**8).pixels
    expected_jpeg = decode(write(tmp_path, "clean.jpg", clean_jpeg), max_pixels=10**8).pixels
    capfd.readouterr()

    assert np.array_equal(decode(write(tmp_path, "jfif.jpg", bad_jfif), max_pixels=10**8).pixels, expected_jpeg)
    try:
        pixels = decode(write(tmp_path, "unchained.jpg", unchained), max_pixels=10**8).pixels
        assert pixels.shape == expected_jpeg.shape
    except ItemError:
        pass  # Pillow may refuse it: then it is one line of ours
    assert np.array_equal(decode(write(tmp_path, "profile.png", with_profile), max_pixels=10**8).pixels, clean_png)
    assert capfd.readouterr().err == ""


def test_a_tiff_whose_directories_are_damaged_is_one_line(tmp_path):
    """The fuzz pass's find: counting a TIFF's frames walks every directory, and a second one
    without the picture's width made Pillow raise TypeError through the decoder (a traceback)."""
    buffer = io.BytesIO()
    Image.fromarray(random_image(16, 24)).save(buffer, "TIFF")
    data = bytearray(buffer.getvalue())
    ifd = int.from_bytes(data[4:8], "little")
    next_pointer = ifd + 2 + 12 * int.from_bytes(data[ifd : ifd + 2], "little")
    second = len(data)
    data += struct.pack("<H", 1) + struct.pack("<HHII", 262, 3, 1, 2) + struct.pack("<I", 0)  # one tag, no width
    data[next_pointer : next_pointer + 4] = struct.pack("<I", second)
    with pytest.raises(ItemError, match="cannot read the image header"):
        decode(write(tmp_path, "damaged.tif", bytes(data)), max_pixels=10**8)
