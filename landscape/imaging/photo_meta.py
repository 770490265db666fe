"""What a photo carries besides its pixels, read on decode and written on encode: the ICC
colour profile, EXIF (orientation applied to the pixels and cleared, pixel dimensions updated,
thumbnail dropped), XMP, and PNG text chunks (other generators' `parameters`, `prompt` or
`workflow` kept as they were; ours added beside them).

A photo's metadata never costs its pixels: a text chunk Pillow would refuse to decompress (over
its 1 MB limit, or a decompression bomb) is dropped with a note and the picture read without
it, and what is carried to the output is capped (CARRY_LIMIT) with a note when the cap bites.

Each output format holds what it can: PNG all four (iCCP, eXIf, iTXt), JPEG the profile, EXIF,
XMP and text as comments (APP2, APP1, COM segments), WebP and 8-bit TIFF the profile, EXIF and
XMP (through Pillow), BMP none. What a format cannot hold is named once in a note, so colours
never shift silently.
"""
from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass, field

from PIL import Image, PngImagePlugin

from landscape.imaging import png

ORIENTATION = 0x0112
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
TIFF_XMP = 700
# TIFF tags that describe one file's layout (sizes, strips, tiles, samples, compression, the
# profile and XMP carried on their own): never carried to another file.
LAYOUT_TAGS = (254, 255, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 280, 281, 282, 283, 284, 296, 317, 320, 322,
               323, 324, 325, 338, 339, 340, 341, 530, 531, 532, 700, 34675)
PIXEL_X, PIXEL_Y = 0xA002, 0xA003
XMP_KEYWORD = "XML:com.adobe.xmp"
JPEG_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
ICC_CHUNK = 65519  # profile bytes per JPEG APP2 segment
SEGMENT_MAX = 65533  # body bytes of one JPEG segment
OWN_KEY = "landscape"  # the key of landscape.cli.provenance's record
TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
# Pillow refuses a PNG whose one text chunk decompresses past this, or whose text adds up past
# MAX_TEXT_MEMORY; both are read by its header parser, before any pixel.
TEXT_CHUNK_LIMIT = PngImagePlugin.MAX_TEXT_CHUNK
CARRY_LIMIT = 16 * 2**20  # bytes of profile, EXIF, XMP and text carried to an output


class RunNote(str):
    """A note about what the output format cannot hold: the same for every picture of a run,
    so said once, not once per picture."""


@dataclass
class Meta:
    icc: bytes | None = None
    exif: bytes | None = None  # TIFF-structured EXIF, orientation cleared
    xmp: bytes | None = None
    text: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.icc or self.exif or self.xmp or self.text)

    def with_text(self, key: str, value: str) -> "Meta":
        """A copy with `key` added beside the text already there, never over it: a key taken
        (by another tool, or an earlier step of ours) gets the next free `key.N`."""
        name, n = key, 2
        while name in self.text:
            name, n = f"{key}.{n}", n + 1
        return Meta(self.icc, self.exif, self.xmp, {**self.text, name: value})


def refuses_text(exc: Exception) -> bool:
    """Whether Pillow refused a PNG for its text chunks alone (size or total), not its pixels."""
    return isinstance(exc, ValueError) and ("MAX_TEXT_CHUNK" in str(exc) or "MAX_TEXT_MEMORY" in str(exc))


def _text_size(kind: bytes, body: bytes) -> int | None:
    """The decompressed size of a text chunk's text, counted no further than past
    TEXT_CHUNK_LIMIT (a bomb costs at most that much work); None where it is damaged."""
    keyword, _, rest = body.partition(b"\0")
    if kind == b"tEXt":
        return len(rest)
    if kind == b"iTXt":
        if len(rest) < 2:
            return None
        compressed, rest = rest[0] == 1, rest[2:]
        rest = rest.split(b"\0", 2)[-1]  # after the language tag and the translated keyword
        if not compressed:
            return len(rest)
    else:
        rest = rest[1:]  # the compression method
    inflater = zlib.decompressobj()
    try:
        return len(inflater.decompress(rest, TEXT_CHUNK_LIMIT + 1))
    except zlib.error:
        return None


def png_without_big_text(data) -> tuple[bytes, list[str]]:
    """A PNG's bytes without the text chunks Pillow would refuse: one over TEXT_CHUNK_LIMIT
    decompressed, a damaged one, or any past CARRY_LIMIT of text in all; a note for each."""
    kept, dropped, total, mark = [], {}, 0, 0
    for kind, start, end in png.chunks(data):
        if kind not in TEXT_CHUNKS:
            continue
        body = bytes(data[start + 8 : end - 4])
        name = body.partition(b"\0")[0].decode("latin-1")[:79]
        size = _text_size(kind, body)
        if size is None:
            reason = "damaged"
        elif size > TEXT_CHUNK_LIMIT:
            reason = f"over the {TEXT_CHUNK_LIMIT // 2**20} MB a text chunk may hold decompressed"
        elif total + size > CARRY_LIMIT:
            reason = f"past the {CARRY_LIMIT // 2**20} MB of text carried"
        else:
            total += size
            continue
        kept.append(data[mark:start])
        mark = end
        dropped.setdefault(reason, []).append(repr(name))
    kept.append(data[mark:])
    notes = [f"text chunk{'s' if len(names) > 1 else ''} {_listed(names)} dropped: {reason} (the picture is read without "
             f"{'them' if len(names) > 1 else 'it'})" for reason, names in dropped.items()]
    return b"".join(bytes(part) for part in kept), notes


def _listed(names: list[str], shown: int = 4) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _capped(meta: "Meta", notes: list[str]) -> "Meta":
    """`meta` within CARRY_LIMIT: the largest texts go first, then XMP and EXIF; the profile,
    which the colours depend on, last."""
    sizes = {("text", k): len(v.encode("utf-8", "surrogatepass")) for k, v in meta.text.items()}
    sizes.update({(part, None): len(getattr(meta, part) or b"") for part in ("xmp", "exif", "icc")})
    total = sum(sizes.values())
    if total <= CARRY_LIMIT:
        return meta
    order = sorted((key for key in sizes if key[0] == "text"), key=lambda key: -sizes[key]) + \
        [("xmp", None), ("exif", None), ("icc", None)]
    text, parts, dropped = dict(meta.text), {"icc": meta.icc, "exif": meta.exif, "xmp": meta.xmp}, []
    for key in order:
        if total <= CARRY_LIMIT:
            break
        if sizes[key]:
            total -= sizes[key]
            if key[0] == "text":
                del text[key[1]]
                dropped.append(f"text {key[1]!r}")
            else:
                parts[key[0]] = None
                dropped.append(key[0].upper())
    notes.append(f"{', '.join(dropped)} not carried: metadata over {CARRY_LIMIT // 2**20} MB in all")
    return Meta(parts["icc"], parts["exif"], parts["xmp"], text)


def read(img: Image.Image, notes: list[str] | None = None) -> Meta:
    """The metadata of an opened picture (before its pixels are oriented), from what its header
    gave: nothing here makes Pillow decode the pixels (a PNG's `.text` and `getexif()` would,
    to reach chunks after the image data, which therefore are not carried). What is over
    CARRY_LIMIT is left out, with a note in `notes`."""
    info = img.info
    exif = None
    try:
        if img.format == "PNG":
            tags = Image.Exif()
            if info.get("exif"):
                tags.load(info["exif"] if info["exif"].startswith(b"Exif") else b"Exif\x00\x00" + info["exif"])
        else:
            tags = img.getexif()
        tags.pop(ORIENTATION, None)  # the pixels are turned upright when decoded
        for tag in LAYOUT_TAGS:  # a TIFF's own layout, which its EXIF lists beside the camera's tags
            tags.pop(tag, None)
        exif = tags.tobytes() if len(tags) else None  # IFD0 and its sub-IFDs: the thumbnail (IFD1) is left out
    except Exception:  # damaged EXIF is dropped, as a viewer would ignore it
        exif = None
    xmp = info.get("xmp") or info.get(XMP_KEYWORD)
    # Pillow puts a PNG's text chunks that come before the image data into `info`, as str.
    text = {k: str(v) for k, v in info.items() if img.format == "PNG" and isinstance(v, str) and k != XMP_KEYWORD}
    meta = Meta(info.get("icc_profile") or None, exif, xmp.encode() if isinstance(xmp, str) else xmp, text)
    return _capped(meta, notes if notes is not None else [])


def _exif_for(meta: Meta, width: int, height: int) -> bytes | None:
    """The EXIF with the output's pixel dimensions."""
    if not meta.exif:
        return None
    tags = Image.Exif()
    tags.load(b"Exif\x00\x00" + meta.exif)
    sub = tags.get_ifd(EXIF_IFD)
    if PIXEL_X in sub or PIXEL_Y in sub:
        sub[PIXEL_X], sub[PIXEL_Y] = width, height
    return tags.tobytes()


def png_chunks(meta: Meta, width: int, height: int) -> list[tuple[bytes, bytes]]:
    """(type, body) of the chunks that carry `meta` in a PNG (before its image data)."""
    chunks = []
    if meta.icc:
        chunks.append((b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(meta.icc)))
    exif = _exif_for(meta, width, height)
    if exif:
        chunks.append((b"eXIf", exif))
    if meta.xmp:
        chunks.append((b"iTXt", XMP_KEYWORD.encode() + b"\x00\x00\x00\x00\x00" + meta.xmp))
    for key, value in meta.text.items():
        keyword = key.encode("latin-1", "replace")[:79]
        try:
            chunks.append((b"tEXt", keyword + b"\x00" + value.encode("latin-1")))
        except UnicodeEncodeError:
            chunks.append((b"iTXt", keyword + b"\x00\x00\x00\x00\x00" + value.encode("utf-8")))
    return chunks


def _segment(marker: int, body: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body


def jpeg_with(data: bytes, meta: Meta, width: int, height: int) -> tuple[bytes, list[str]]:
    """JPEG bytes with `meta`'s segments inserted after SOI and any JFIF header."""
    segments, notes = [], []
    exif = _exif_for(meta, width, height)
    if exif:
        if len(exif) + 6 <= SEGMENT_MAX:
            segments.append(_segment(0xE1, b"Exif\x00\x00" + exif))
        else:
            notes.append(RunNote("EXIF dropped: over the 64 KB a JPEG segment holds"))
    if meta.xmp:
        if len(meta.xmp) + len(JPEG_XMP_HEADER) <= SEGMENT_MAX:
            segments.append(_segment(0xE1, JPEG_XMP_HEADER + meta.xmp))
        else:
            notes.append(RunNote("XMP dropped: over the 64 KB a JPEG segment holds (extended XMP is not written)"))
    if meta.icc:
        parts = [meta.icc[i:i + ICC_CHUNK] for i in range(0, len(meta.icc), ICC_CHUNK)]
        segments += [_segment(0xE2, b"ICC_PROFILE\x00" + bytes([k + 1, len(parts)]) + part) for k, part in enumerate(parts)]
    for key, value in meta.text.items():
        comment = f"{key}: {value}".encode("utf-8")
        if len(comment) <= SEGMENT_MAX:
            segments.append(_segment(0xFE, comment))
        else:
            notes.append(RunNote(f"text '{key}' dropped: over the 64 KB a JPEG comment holds"))
    at = 2
    if data[2:4] == b"\xff\xe0":  # keep JFIF's APP0 first, as readers expect
        at = 4 + struct.unpack(">H", data[4:6])[0]
    return data[:at] + b"".join(segments) + data[at:], notes


def pillow_with(pixels_rgb_or_rgba, fmt: str, meta: Meta, quality: int) -> tuple[bytes, list[str]]:
    """WebP or 8-bit TIFF through Pillow, which writes their profile, EXIF and XMP."""
    img = Image.fromarray(pixels_rgb_or_rgba)
    height, width = pixels_rgb_or_rgba.shape[:2]
    extra = {}
    if meta.icc:
        extra["icc_profile"] = meta.icc
    exif = _exif_for(meta, width, height)
    notes = []
    if fmt == "tif":
        # Pillow writes a TIFF's EXIF as the file's own tags (XMP among them, tag 700), and
        # cannot write the Exif and GPS sub-IFDs there: those are named as dropped.
        tags = Image.Exif()
        if exif:
            tags.load(b"Exif\x00\x00" + exif)
        dropped = [name for pointer, name in ((EXIF_IFD, "Exif"), (GPS_IFD, "GPS")) if tags.pop(pointer, None) is not None]
        if dropped:
            notes.append(RunNote(f"EXIF {' and '.join(dropped)} sub-IFD dropped: TIFF is written with the main EXIF tags only"))
        extra["tiffinfo"] = {**dict(tags), **({TIFF_XMP: meta.xmp} if meta.xmp else {})}
    else:
        if exif:
            extra["exif"] = b"Exif\x00\x00" + exif
        if meta.xmp:
            extra["xmp"] = meta.xmp
    # Our own record is left out where there is no place for it, without a note: it is ours to drop.
    theirs = [key for key in meta.text if not key.startswith(OWN_KEY)]
    if theirs:
        notes.append(RunNote(f"text chunks ({', '.join(theirs)}) dropped: {fmt.upper()} has no place for them"))
    buffer = io.BytesIO()
    if fmt == "webp":
        img.save(buffer, "WEBP", quality=quality, method=4, **extra)
    else:
        img.save(buffer, "TIFF", compression="tiff_adobe_deflate", **extra)
    return buffer.getvalue(), notes
