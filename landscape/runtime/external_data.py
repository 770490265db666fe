"""Find the external-data files an ONNX model refers to, without the `onnx` package (not a
dependency of inference) and without copying its weights: a walk over the protobuf wire
format that descends only into the messages that can hold tensors.

A model file is trusted like code, but a model must not read files outside its own folder:
ONNX Runtime checks this in recent versions only, so we check it ourselves first.
"""
from __future__ import annotations

import os
from pathlib import Path

from landscape.errors import ModelError

# Field numbers from onnx.proto: message -> {field: (child message, or None for a tensor's
# external_data entry)}.
_CHILDREN = {
    "model": {7: "graph", 25: "function"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "function": {7: "node"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
    "tensor": {13: "entry"},
}
_MAX_DEPTH = 64  # nested subgraphs; deeper is a crafted file


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        byte = buf[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos


def _fields(buf: memoryview):
    """(field number, wire type, value or sub-buffer) for each field of one message."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield field, wire, value
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise ValueError("truncated field")
            yield field, wire, buf[pos : pos + length]
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")


def _locations(buf: memoryview, kind: str, depth: int, out: list[str]) -> None:
    if depth > _MAX_DEPTH:
        raise ValueError("messages nested too deeply")
    children = _CHILDREN.get(kind, {})
    for field, wire, value in _fields(buf):
        child = children.get(field)
        if child is None or wire != 2:
            continue
        if child == "entry":
            entry = {f: bytes(v).decode("utf-8", "replace") for f, w, v in _fields(value) if w == 2}
            if entry.get(1) == "location":
                out.append(entry.get(2, ""))
        else:
            _locations(value, child, depth + 1, out)


def external_locations(data) -> list[str]:
    """Every external-data location named anywhere in a serialized ModelProto."""
    out: list[str] = []
    _locations(memoryview(data), "model", 0, out)
    return out


def _mapped_locations(path: Path) -> list[str]:
    """external_locations over a read-only memory map: a 200 MB model (LaMa) is walked in
    0.05 s instead of first being copied into memory for 0.16 s."""
    import mmap

    with open(path, "rb") as file:
        if os.fstat(file.fileno()).st_size == 0:
            return external_locations(b"")
        mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            return external_locations(mapped)
        finally:
            try:
                mapped.close()
            except BufferError:  # a view still held by an exception's frames: the collector closes it
                pass


def check_external_data(path: Path) -> None:
    """Refuse a model whose external data would be read from outside its folder."""
    try:
        locations = _mapped_locations(path)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: not a readable ONNX model ({exc})") from None
    folder = os.path.realpath(path.parent)
    for location in locations:
        target = os.path.realpath(os.path.join(folder, location))
        if os.path.isabs(location) or not target.startswith(folder + os.sep):
            raise ModelError(f"{path}: refers to external data {location!r} outside the model's folder; refused")
        # A hard link (from an unpacked archive, say) can alias any file on the same disk.
        if os.path.exists(target) and os.stat(target).st_nlink > 1:
            raise ModelError(f"{path}: external data {location!r} is a hard link to another file; refused")
