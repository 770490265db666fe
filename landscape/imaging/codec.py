"""Decode and encode pictures, with every awkward mode made explicit.

A decoded picture is an HxWxC array, C = 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA),
dtype uint8 or uint16, with EXIF orientation applied. Nothing is silently dropped: CMYK and
palette images are converted, 16-bit stays 16-bit, animated images and unknown formats are
refused with the reason.
"""
from __future__ import annotations

import io
import mmap
import os
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from landscape.errors import ItemError
from landscape.imaging.photo_meta import Meta, RunNote, jpeg_with, pillow_with, png_chunks, png_without_big_text, refuses_text
from landscape.imaging.photo_meta import read as read_meta
from landscape.imaging import png
from landscape.imaging.limits import check_pixels
from landscape.imaging.png import encode_png

# Decoding is limited to these on purpose: each further codec is attack surface.
DECODE_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF")
# What each file extension we read and write names as a format.
EXTENSION_FORMAT = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".webp": "webp", ".bmp": "bmp", ".tif": "tif", ".tiff": "tif"}
IMAGE_EXTENSIONS = tuple(EXTENSION_FORMAT)
OUTPUT_FORMATS = ("png", "jpg", "webp", "bmp", "tif")

LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)  # BT.601

# We check the pixel count ourselves, before decoding, with the user's limit.
Image.MAX_IMAGE_PIXELS = None


@dataclass
class Picture:
    pixels: np.ndarray
    format: str  # the source format, e.g. "PNG"
    notes: list[str] = field(default_factory=list)
    meta: Meta = field(default_factory=Meta)  # profile, EXIF, XMP, text: what a photo keeps through upscale and inpaint

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def has_alpha(self) -> bool:
        return self.pixels.shape[2] in (2, 4)

    @property
    def is_gray(self) -> bool:
        return self.pixels.shape[2] in (1, 2)


def exif_orientation(img: Image.Image) -> int:
    try:
        value = int(img.getexif().get(0x0112, 1))
    except Exception:  # a damaged EXIF block must not cost the picture
        return 1
    return value if 1 <= value <= 8 else 1


def orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an HxWxC array, as a viewer would show it."""
    ops = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    return np.ascontiguousarray(ops[orientation](pixels))


def _is_16bit_colour(img: Image.Image, head: bytes) -> bool:
    """16-bit RGB(A) and gray + alpha PNG, 16-bit RGB(A) TIFF: Pillow silently reduces them
    to 8 bits, so they are decoded with OpenCV instead."""
    if img.format == "PNG":
        # IHDR: bit depth at byte 24, colour type at 25 (2 = RGB, 4 = gray + alpha, 6 = RGBA).
        return len(head) > 25 and head[24] == 16 and head[25] in (2, 4, 6)
    if img.format == "TIFF" and img.mode in ("RGB", "RGBA"):
        bits = img.tag_v2.get(258, (8,))
        return max(bits if isinstance(bits, tuple) else (bits,)) > 8
    return False


def _check_png_chunks(data: bytes) -> None:
    """Verify every chunk's CRC: Pillow decodes image data without checking it, and a
    flipped bit in IDAT would otherwise pass as a picture with garbage in it."""
    walked = len(png.SIGNATURE)
    for kind, start, end in png.chunks(data):
        if zlib.crc32(data[start + 4 : end - 4]) != int.from_bytes(data[end - 4 : end], "big"):
            raise ItemError(f"cannot decode PNG: chunk {kind.decode('latin-1')} fails its CRC check (damaged file)")
        if kind == b"IEND":
            return
        walked = end
    # Stopped before IEND: at a chunk that runs past the end, or at the end itself.
    raise ItemError("cannot decode PNG: truncated file" + ("" if walked + 12 <= len(data) else " (no IEND)"))


def _opencv_source(img: Image.Image, data: bytes | mmap.mmap) -> bytes | mmap.mmap | None:
    """What OpenCV decodes for plain 8-bit RGB or gray JPEG and PNG (30-40% faster than Pillow,
    benchmarks/codecs.py), or None where Pillow decodes: other modes (palettes, transparency,
    CMYK, 16 bits), which Pillow knows, and files that libjpeg or libpng would complain about
    on stderr in lines that name no file, which Pillow reads silently or refuses in our words.
    Only complete files: libjpeg in OpenCV fills a truncated JPEG with gray and reports success,
    where Pillow refuses it."""
    if img.mode not in ("RGB", "L") or "transparency" in img.info:
        return None
    if img.format == "JPEG":
        end = len(data)
        while end > 0 and data[end - 1] == 0:  # trailing padding, read from the end only
            end -= 1
        return _jpeg_pixel_segments(data) if data[max(0, end - 2):end] == b"\xff\xd9" else None  # ends with EOI
    if img.format == "PNG":  # chunks, IEND included, verified by _check_png_chunks
        return png.pixel_chunks_only(data)
    return None


# Segments libjpeg reads for pixels: JFIF (APP0) and Adobe (APP14) say how colours are coded.
_JPEG_KEPT_APPS = (0xE0, 0xEE)


def _jpeg_pixel_segments(data: bytes | mmap.mmap) -> bytes | None:
    """The JPEG without its metadata segments (EXIF, XMP, profile, comments), or None where the
    segments before the scan do not chain from marker to marker or the JFIF header is not one
    libjpeg knows (both of which it would print a warning about)."""
    pos, parts, kept_from = 2, [], 0
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: the rest is image data
            return b"".join([*parts, data[kept_from:]]) if parts else data
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2:
            return None
        if marker == 0xE0 and data[pos + 4 : pos + 9] == b"JFIF\0" and data[pos + 9 : pos + 10] != b"\x01":
            return None
        if (0xE0 <= marker <= 0xEF and marker not in _JPEG_KEPT_APPS) or marker == 0xFE:
            parts.append(data[kept_from:pos])
            kept_from = pos + 2 + length
        pos += 2 + length
    return None


def _opencv_pixels(data: bytes, mode: str) -> np.ndarray:
    # Orientation is applied by the caller, from the EXIF that Pillow read, as for every format.
    flags = (cv2.IMREAD_GRAYSCALE if mode == "L" else cv2.IMREAD_COLOR) | cv2.IMREAD_IGNORE_ORIENTATION
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if pixels is None:
        raise ItemError("cannot decode: damaged data")
    if pixels.ndim == 2:
        return pixels[:, :, None]
    return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB, dst=pixels)


def _colour_key_alpha(pixels: np.ndarray, key, bits: int) -> np.ndarray:
    """A PNG's tRNS colour key as an alpha channel appended to `pixels` (gray or RGB): the
    pixels equal to the key are transparent. The key is in the file's sample scale, so for
    gray of 1, 2 or 4 bits (which Pillow scales up to 0..255) it is scaled the same way."""
    top = 65535 if pixels.dtype == np.uint16 else 255
    if isinstance(key, tuple):
        opaque = (pixels[:, :, :3] != np.asarray(key[:3], pixels.dtype)).any(axis=2)
    else:
        if pixels.dtype == np.uint8 and bits < 8:
            key = key * 255 // ((1 << bits) - 1)
        opaque = pixels[:, :, 0] != key
    alpha = np.where(opaque, top, 0).astype(pixels.dtype)[:, :, None]
    return np.concatenate([pixels, alpha], axis=2)


def pillow_pixels(img: Image.Image, notes: list[str], bits: int = 8) -> np.ndarray:
    # A colour key (tRNS) of a gray or RGB PNG: read as alpha, as palettes' transparency is.
    key = img.info.get("transparency") if img.format == "PNG" and img.mode in ("1", "L", "I", "I;16", "I;16B", "RGB") else None
    pixels = _pillow_mode_pixels(img, notes)
    if isinstance(key, (int, tuple)) and not isinstance(key, bool):
        # Pillow gives a 1-bit image's key already as 0 or 255, and 2- and 4-bit keys raw.
        pixels = _colour_key_alpha(pixels, key, 8 if img.mode == "1" else bits)
    return pixels


def _pillow_mode_pixels(img: Image.Image, notes: list[str]) -> np.ndarray:
    mode = img.mode
    if mode == "1":
        img = img.convert("L")
    elif mode in ("P", "PA"):
        img = img.convert("RGBA" if mode == "PA" or "transparency" in img.info else "RGB")
    elif mode == "CMYK":
        img = img.convert("RGB")
        notes.append("converted from CMYK")
    elif mode in ("YCbCr", "LAB", "HSV", "RGBX"):
        img = img.convert("RGB")
    elif mode in ("RGBa", "La"):
        img = img.convert(mode.upper())
    elif mode.startswith("I;16"):
        return np.asarray(img).astype(np.uint16)[:, :, None]
    elif mode == "I":
        arr = np.asarray(img)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise ItemError("32-bit integer images are not supported")
        return arr.astype(np.uint16)[:, :, None]
    elif mode == "F":
        raise ItemError("32-bit float images are not supported")
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.dtype != np.uint8 or arr.shape[2] not in (1, 2, 3, 4):
        raise ItemError(f"unsupported image mode {mode}")
    return arr


# What each accepted format's file starts with: checked on the first bytes, before the rest is read.
MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"BM", "BMP"), (b"II*\x00", "TIFF"),
         (b"MM\x00*", "TIFF"))
# Formats some users will try, named in the refusal rather than called "not an image".
REFUSED_MAGIC = ((b"GIF8", "GIF"), (b"8BPS", "PSD"), (b"\x00\x00\x01\x00", "ICO"), (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
                 (b"P1", "PBM"), (b"P2", "PGM"), (b"P3", "PPM"), (b"P4", "PBM"), (b"P5", "PGM"), (b"P6", "PPM"))
BYTES_PER_PIXEL_BOUND = 8  # 16-bit RGBA, uncompressed: no accepted file needs more per pixel
HEADER_SLACK = 16 << 20  # metadata, thumbnails and container overhead


def default_max_bytes(max_pixels: int) -> int:
    """The largest file a picture of `max_pixels` needs: 8 bytes a pixel (16-bit RGBA,
    uncompressed BMP or TIFF) plus 16 MiB of metadata; 816 MB for the default 100 MP."""
    return max_pixels * BYTES_PER_PIXEL_BOUND + HEADER_SLACK


def sniff(head: bytes) -> str | None:
    """The accepted format a file's first bytes announce, or None."""
    for magic, fmt in MAGIC:
        if head.startswith(magic):
            return fmt
    return "WEBP" if head[:4] == b"RIFF" and head[8:12] == b"WEBP" else None


def file_kind(mode: int) -> str | None:
    """None for a regular file; else what it is, in a few words."""
    import stat

    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory"
    for test, kind in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return f"not a regular file ({kind}); not read"
    return "not a regular file; not read"


def _open_regular(path: Path, max_bytes: int) -> tuple[int, int]:
    """An open descriptor and the size of a regular file of at most `max_bytes`. A FIFO or a
    device is refused from its stat, without being opened (opening a FIFO waits for a writer);
    the descriptor is opened non-blocking and checked again, in case the name changed between."""
    try:
        kind = file_kind(os.stat(path).st_mode)
        if kind is not None:
            raise ItemError(kind)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise ItemError(exc.strerror or str(exc)) from None
    info = os.fstat(fd)
    kind = file_kind(info.st_mode)
    if kind is None and info.st_size > max_bytes:
        kind = (f"{info.st_size:,} bytes is over the limit of {max_bytes:,} for a picture (raise it with --max-bytes "
                "or --max-pixels)")
    elif kind is None and info.st_size == 0:
        kind = "empty file"
    if kind is not None:
        os.close(fd)
        raise ItemError(kind)
    return fd, info.st_size


def decode(path: str | os.PathLike, *, max_pixels: int, max_bytes: int | None = None) -> Picture:
    """Read a picture, or raise ItemError with the reason in a few words. Only regular files
    are read, none larger than `max_bytes` (default: default_max_bytes(max_pixels)), and
    only once their first bytes name an accepted format; the decoders read the file through
    a read-only memory map, not a copy of its bytes."""
    import mmap

    path = Path(path)
    fd, size = _open_regular(path, default_max_bytes(max_pixels) if max_bytes is None else max_bytes)
    with open(fd, "rb") as file:
        head = file.read(16)
        if sniff(head) is None:
            refused = next((fmt for magic, fmt in REFUSED_MAGIC if head.startswith(magic)), None)
            if refused:
                raise ItemError(f"{refused} images are not accepted (only {', '.join(DECODE_FORMATS)})")
            raise ItemError(f"not an image in a supported format ({', '.join(DECODE_FORMATS)})")
        try:
            data = mmap.mmap(file.fileno(), size, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise ItemError(f"cannot read the file ({exc})") from None
        try:
            return _decode_mapped(data, file, max_pixels)
        finally:
            try:
                data.close()
            except BufferError:  # a view still held by an exception's frames: the collector closes it
                pass


def _open(file) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        file.seek(0)
        return Image.open(file)


def _header_error(exc: Exception) -> ItemError:
    if isinstance(exc, UnidentifiedImageError):
        return ItemError(f"not an image in a supported format ({', '.join(DECODE_FORMATS)})")
    return ItemError(f"cannot read the image header ({exc})")


class _TextRefused(Exception):
    """Pillow refused a PNG for its text chunks alone: it is read again without them."""


def _decode_mapped(data: mmap.mmap, file, max_pixels: int) -> Picture:
    """Pillow reads the header (and the modes it alone decodes) from the file; OpenCV and the
    PNG checks read the memory map. A PNG whose text chunks Pillow refuses (a workflow record
    over 1 MB, a decompression bomb) is read from a copy without them, with a note."""
    try:
        return _decode_source(data, file, max_pixels, [])
    except _TextRefused:
        kept, notes = png_without_big_text(data)
        try:
            return _decode_source(kept, io.BytesIO(kept), max_pixels, notes)
        except _TextRefused as exc:
            raise ItemError(f"cannot read the image header ({exc})") from None


def _decode_source(data, file, max_pixels: int, notes: list[str]) -> Picture:
    try:
        img = _open(file)
    except Exception as exc:
        if refuses_text(exc):
            raise _TextRefused(str(exc)) from None
        raise _header_error(exc) from None
    with img:
        if img.format not in DECODE_FORMATS:
            raise ItemError(f"{img.format} images are not accepted (only {', '.join(DECODE_FORMATS)})")
        try:
            # Counting frames walks every IFD of a TIFF: a damaged one fails here, in Pillow's words.
            frames = getattr(img, "n_frames", 1)
        except Exception as exc:
            raise _header_error(exc) from None
        if frames > 1:
            raise ItemError(f"animated or multi-page image ({frames} frames) is refused; extract one frame first")
        width, height = img.size
        check_pixels(width, height, max_pixels)
        orientation = exif_orientation(img)
        meta = read_meta(img, notes)
        if img.format == "PNG":
            _check_png_chunks(data)
        try:
            if _is_16bit_colour(img, data[:32]):
                source = png.pixel_chunks_only(data) if img.format == "PNG" else data
                pixels = None if source is None else cv2.imdecode(np.frombuffer(source, np.uint8), cv2.IMREAD_UNCHANGED)
                if pixels is None or pixels.ndim != 3:
                    raise ItemError(f"cannot decode 16-bit {img.format}: damaged or unusual data")
                if img.format == "PNG" and data[25] == 4:  # gray + alpha: OpenCV expands it to BGRA
                    pixels = np.ascontiguousarray(pixels[:, :, [0, 3]])
                else:
                    pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGBA if pixels.shape[2] == 4 else cv2.COLOR_BGR2RGB)
            elif (source := _opencv_source(img, data)) is not None:
                pixels = _opencv_pixels(source, img.mode)
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    img.load()
                pixels = pillow_pixels(img, notes, bits=data[24] if img.format == "PNG" and len(data) > 24 else 8)
        except ItemError:
            raise
        except Exception as exc:
            if refuses_text(exc):  # text chunks after the image data, read by img.load()
                raise _TextRefused(str(exc)) from None
            reason = str(exc).strip() or type(exc).__name__
            raise ItemError(f"cannot decode {img.format}: {reason}") from None
        fmt = img.format
    if orientation != 1:
        pixels = orient(pixels, orientation)
    return Picture(pixels=pixels, format=fmt, notes=notes, meta=meta)


def header_size(path: str | os.PathLike) -> tuple[int, int, int]:
    """(height, width, channels) from the file's header alone, without decoding; (1, 1, 3)
    for a file that cannot be read (decoding it will report why). For progress estimates."""
    try:
        with Image.open(path) as img:
            return img.height, img.width, len(img.getbands()) + (1 if "transparency" in img.info else 0)
    except Exception:
        return 1, 1, 3


def max_value(dtype: np.dtype) -> float:
    return 65535.0 if np.dtype(dtype) == np.uint16 else 255.0


def to_unit(pixels: np.ndarray) -> np.ndarray:
    """uint8/uint16 -> float32 in [0, 1]."""
    return pixels.astype(np.float32) * np.float32(1.0 / max_value(pixels.dtype))


def from_unit(unit: np.ndarray, dtype: np.dtype = np.uint8) -> np.ndarray:
    """float in [0, 1] (clipped) -> uint8/uint16, rounded to nearest."""
    scale = max_value(dtype)
    return np.clip(unit * scale + 0.5, 0, scale).astype(dtype)


def to_8bit(pixels: np.ndarray) -> np.ndarray:
    """uint16 -> uint8 rounded to nearest; uint8 unchanged."""
    if pixels.dtype != np.uint16:
        return pixels
    return ((pixels.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def rgb_pixels(pixels: np.ndarray) -> np.ndarray:
    """The colour of decoded pixels (HxWxC, C = 1-4) as HxWx3 of the same integer type; gray is
    replicated, alpha left out (a view when there is nothing to replicate)."""
    if pixels.shape[2] in (1, 2):
        return np.repeat(pixels[:, :, :1], 3, axis=2)
    return pixels[:, :, :3]


def rgb_unit(pixels: np.ndarray) -> np.ndarray:
    """rgb_pixels as HxWx3 float32 in [0, 1]."""
    return to_unit(rgb_pixels(pixels))


def gray_unit(pixels: np.ndarray) -> np.ndarray:
    """Decoded pixels -> HxW float32 in [0, 1]: luma (BT.601) of the colour, premultiplied by
    alpha so that transparent pixels read as black."""
    gray = rgb_unit(pixels) @ LUMA_WEIGHTS
    return gray * to_unit(pixels[:, :, -1]) if pixels.shape[2] in (2, 4) else gray


def encode(pixels: np.ndarray, fmt: str, *, quality: int = 95, consume: bool = False,
           meta: Meta | None = None) -> tuple[bytes, list[str]]:
    """HxWxC uint8/uint16 -> file bytes in `fmt` (png, jpg, webp, bmp, tif), with notes for
    whatever the format could not hold. `meta`: the profile, EXIF, XMP and text to carry
    (landscape.imaging.photo_meta says which format holds what). `consume=True`: the caller is
    done with `pixels`, and the colour order may be swapped in place instead of in a copy (a
    16000x12000 upscale is 576 MB)."""
    notes: list[str] = []
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"unknown output format {fmt!r}")
    meta = meta or Meta()
    height, width, channels = pixels.shape
    if fmt in ("jpg", "bmp") and channels in (2, 4):
        pixels = pixels[:, :, :-1]
        notes.append(f"alpha dropped: {fmt.upper()} has no alpha channel")
    if fmt in ("jpg", "webp", "bmp") and pixels.dtype == np.uint16:
        pixels = to_8bit(pixels)
        notes.append(f"reduced to 8 bits: {fmt.upper()} holds 8 bits per channel")
    if fmt == "png":
        return encode_png(pixels, chunks=png_chunks(meta, width, height)), notes
    if meta and (fmt == "webp" or (fmt == "tif" and pixels.dtype == np.uint8)):
        if pixels.shape[2] == 2:
            pixels = pixels[:, :, [0, 0, 0, 1]]
        data, meta_notes = pillow_with(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels, fmt, meta, quality)
        return data, notes + meta_notes
    if meta and fmt in ("bmp", "tif"):
        what = ", ".join(name for name, value in (("ICC profile", meta.icc), ("EXIF", meta.exif), ("XMP", meta.xmp),
                                                  ("text", meta.text)) if value)
        where = "BMP" if fmt == "bmp" else "16-bit colour TIFF (as written here)"
        notes.append(RunNote(f"{what} dropped: {where} cannot carry it" + ("; colours may look different" if meta.icc else "")))
    if pixels.shape[2] == 2:
        pixels = pixels[:, :, [0, 0, 0, 1]]  # OpenCV has no gray + alpha: written as RGBA
    if pixels.shape[2] == 3:
        in_place = consume and pixels.flags.c_contiguous and pixels.flags.writeable
        bgr = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR, dst=pixels if in_place else None)
    elif pixels.shape[2] == 4:
        bgr = cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA)
    else:
        bgr = pixels[:, :, 0]
    params = {
        "jpg": [cv2.IMWRITE_JPEG_QUALITY, quality],
        "webp": [cv2.IMWRITE_WEBP_QUALITY, quality],
        "bmp": [],
        "tif": [],
    }[fmt]
    ok, buf = cv2.imencode("." + fmt, bgr, params)
    if not ok:
        raise ItemError(f"cannot encode as {fmt}")
    if meta and fmt == "jpg":
        data, meta_notes = jpeg_with(buf.tobytes(), meta, width, height)
        return data, notes + meta_notes
    return buf.tobytes(), notes
