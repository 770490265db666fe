"""A fuzz pass over what reads and carries metadata: the decoder (PNG chunk checks, text chunks
dropped, EXIF orientation, photo_meta), the picture record (provenance), the PNG chunk walker,
and the writers that carry what was read. Mutated files of every format we decode, made from
photos with every kind of metadata (and from real photos in ../shared/data when it is there),
go in; nothing may come out but a result or the one-line ItemError, in bounded time.

LANDSCAPE_FUZZ_EXAMPLES raises the number of examples for a longer hunt (CI runs the default)."""
from __future__ import annotations

import io
import json
import logging
import os
import random
import signal
import struct
import subprocess
import sys
import warnings
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms

from landscape.cli import provenance
from landscape.errors import ItemError
from landscape.imaging import png
from landscape.imaging.codec import decode, encode
from tests.conftest import random_image
from tests.test_hostile_metadata import chunk

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("LANDSCAPE_FUZZ_EXAMPLES", "300"))
SECONDS_PER_FILE = 5  # a hang is a failure, not a stuck suite
REAL_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "landscapes"
RECORD = {"command": "upscale", "version": "0.1.0", "device": "cpu", "backend": "onnxruntime", "precision": "fp32",
          "models": {"upscale": {"file": "upscale.onnx", "sha256": "0" * 64, "bundled": True}}, "scale": 4}


def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotated
    exif[0x010E] = "a lake at dawn"
    exif[0x0131] = "a camera's firmware"
    exif.get_ifd(0x8769)[0x9003] = "2026:01:02 03:04:05"  # the Exif sub-IFD: an offset to follow
    return exif


def _seeds() -> dict[str, bytes]:
    """Small files in each decoded format, each carrying every kind of metadata it can hold."""
    img = Image.fromarray(random_image(16, 24, seed=7))
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    record = json.dumps(RECORD)
    out = {}
    buffer = io.BytesIO()
    img.save(buffer, "PNG", icc_profile=icc, exif=_exif())
    data = buffer.getvalue()
    idat = data.index(b"IDAT") - 4
    texts = (chunk(b"tEXt", provenance.OWN_KEY.encode() + b"\0" + record.encode())
             + chunk(b"zTXt", b"workflow\0\0" + zlib.compress(b'{"nodes": []}'))
             + chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + xmp))
    out["png"] = data[:idat] + texts + data[idat:]
    for fmt, kwargs in (("jpeg", {"quality": 90, "comment": f"{provenance.OWN_KEY}: {record}"}),
                        ("webp", {"quality": 90}), ("tiff", {})):
        buffer = io.BytesIO()
        img.save(buffer, fmt.upper(), icc_profile=icc, exif=_exif(), xmp=xmp, **kwargs)
        out[fmt] = buffer.getvalue()
    if REAL_PHOTOS.is_dir():  # real files as published: EXIF, XMP, Photoshop segments from other tools
        for path in sorted(REAL_PHOTOS.glob("*.jpeg"))[:40]:
            with Image.open(path) as real:
                if "exif" in real.info and "xmp" in real.info:
                    out[f"real {path.name}"] = path.read_bytes()
                    if len(out) >= 7:
                        break
    return out


SEEDS = _seeds()


def _metadata_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of the bodies of the chunks or segments that hold metadata."""
    if data.startswith(png.SIGNATURE):
        return [(start + 8, end - 4) for kind, start, end in png.chunks(data) if kind not in (b"IHDR", b"IDAT", b"IEND")]
    if data.startswith(b"\xff\xd8"):
        spans, pos = [], 2
        while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] != 0xDA:
            length = int.from_bytes(data[pos + 2 : pos + 4], "big")
            if 0xE0 <= data[pos + 1] <= 0xEF or data[pos + 1] == 0xFE:
                spans.append((pos + 4, pos + 2 + length))
            pos += 2 + length
        return spans
    return [(8, min(len(data), 512))]  # TIFF's IFDs and WebP's first chunks sit near the start


def mutate(data: bytes, rnd: random.Random) -> bytes:
    """A few mutations, most of them aimed at the metadata; a PNG chunk touched keeps a
    valid CRC, so that the mutation reaches the parsers behind the checksum."""
    out = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        spans = _metadata_spans(bytes(out)) or [(0, len(out))]
        start, end = rnd.choice(spans)
        end = max(end, start + 1)
        at = rnd.randrange(start, min(end, len(out))) if start < len(out) else len(out) - 1
        how = rnd.choices(["flip", "bytes", "insert", "cut", "length", "truncate"], [4, 3, 3, 2, 2, 1])[0]
        if how == "flip":
            out[at] ^= 1 << rnd.randrange(8)
        elif how == "bytes":
            out[at : at + 4] = rnd.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff",
                                           rnd.randbytes(4)])
        elif how == "insert":
            out[at:at] = rnd.randbytes(rnd.randint(1, 64)) if rnd.random() < 0.7 else b"\x00" * rnd.randint(1, 5000)
        elif how == "cut":
            del out[at : at + rnd.randint(1, 32)]
        elif how == "length":  # a length field or an IFD count near the span's start
            where = max(0, start - 12 + rnd.randrange(12))
            out[where : where + 2] = rnd.randbytes(2)
        else:
            del out[max(len(out) // 4, at):]
    if out.startswith(png.SIGNATURE):
        out = bytearray(_fix_crcs(bytes(out)))
    return bytes(out)


def _fix_crcs(data: bytes) -> bytes:
    fixed = bytearray(data)
    for kind, start, end in png.chunks(data):
        fixed[end - 4 : end] = struct.pack(">I", zlib.crc32(data[start + 4 : end - 4]))
    return bytes(fixed)


@contextmanager
def time_limit(seconds: int):
    def stop(*_):
        raise TimeoutError(f"over {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def read_and_carry(path: Path) -> None:
    """Everything a command does with a picture's metadata, in process: any exception but
    ItemError is a defect."""
    data = path.read_bytes()
    walked = list(png.chunks(data)) if data.startswith(png.SIGNATURE) else []
    assert all(len(png.SIGNATURE) <= s < e <= len(data) for _, s, e in walked)
    try:
        picture = decode(path, max_pixels=10**8)
    except ItemError:
        picture = None
    try:
        provenance.read(path)
    except ItemError:
        pass
    if picture is not None:
        pixels = picture.pixels
        rgb = np.repeat(pixels[:, :, :1], 3, axis=2) if pixels.shape[2] < 3 else pixels[:, :, :3]
        for fmt in ("png", "jpg", "webp", "tif"):
            written, _ = encode(np.ascontiguousarray(rgb), fmt, meta=picture.meta)
            with Image.open(io.BytesIO(written)) as back:
                back.load()


@seed(20261202)
@settings(max_examples=EXAMPLES, deadline=None, derandomize=False, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(SEEDS)), rnd=st.randoms(use_true_random=False))
def test_mutated_files_give_a_result_or_one_line(tmp_path, capfd, name, rnd):
    """In process, as the command line sets it up (Pillow's warnings and log lines silenced):
    nothing may reach stderr either, where the C libraries would print lines naming no file."""
    path = tmp_path / "mutated.bin"
    path.write_bytes(mutate(SEEDS[name], rnd))
    logging.getLogger("PIL").addHandler(logging.NullHandler())
    with time_limit(SECONDS_PER_FILE), warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"PIL(\.|$)")
        read_and_carry(path)
    assert capfd.readouterr().err == ""


def test_the_commands_over_a_folder_of_mutated_files(tmp_path, models):
    """Through the CLI, in a process of its own (so that what C libraries print on stderr is
    seen): each file gives an output or one line naming it, never a traceback, and stderr
    holds our lines alone."""
    rnd = random.Random(20261202)
    folder = tmp_path / "in"
    folder.mkdir()
    suffix = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "tiff": ".tif"}
    names = sorted(SEEDS)
    for i in range(60):
        name = names[i % len(names)]
        (folder / f"{i:02d}{suffix.get(name, '.jpg')}").write_bytes(mutate(SEEDS[name], rnd))
    inputs = sorted(folder.iterdir())

    res = landscape_run("upscale", folder, "-o", tmp_path / "out", "--model", models["upscale"], "--tile", 0)
    written = res.stdout.splitlines()
    failed = {line.split(": ")[1] for line in res.stderr.splitlines() if line.startswith(f"landscape: {folder}")}
    assert res.returncode in (0, 1)
    assert all(line.startswith("landscape: ") for line in res.stderr.splitlines()), res.stderr
    assert len(written) + len(failed) == len(inputs), res.stderr
    assert 0 < len(written) < len(inputs), "the mutations should leave some files readable and break others"

    res = landscape_run("info", *inputs)
    assert res.returncode in (0, 1)
    assert all(line.startswith("landscape: ") for line in res.stderr.splitlines()), res.stderr
    for path in inputs:
        assert str(path) in res.stdout + res.stderr, path


def landscape_run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "landscape", *map(str, args)], capture_output=True, text=True,
                          timeout=600)
