"""Weights from PyTorch zip archives that the weights-only unpickler refuses, read without
running anything in them: TorchScript archives (`torch.jit.save`: how IOPaint and lama-cleaner
publish `big-lama.pt`) and checkpoints that carry foreign objects beside their state dict (a
PyTorch Lightning `best.ckpt` with its OmegaConf hyper-parameters). The archive's pickle is
replayed with every class it names stood in for by an inert holder of what it is given, and
tensors are made from the archive's raw storages. No code in the file is compiled or run: the
only callables the pickle can reach are the stand-ins, a tensor view and OrderedDict.

A small file must not cost unbounded time or memory either: entries are read only where the
archive stores them uncompressed (as torch writes them), so nothing read is bigger than the file;
a tensor may not hold more elements than its storage (a stride-0 view of one float would
otherwise stand for terabytes); and what the pickle shares by reference is walked once.
"""
from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

STORAGE_TYPES = {
    "FloatStorage": torch.float32, "HalfStorage": torch.float16, "BFloat16Storage": torch.bfloat16,
    "DoubleStorage": torch.float64, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}


class ArchiveError(ValueError):
    """An archive whose weights cannot be read safely (damaged, hostile, or holding none)."""


class _Module:
    """A scripted module's attributes (parameters, buffers, submodules, flags), and nothing else."""

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise ArchiveError(f"a module whose state is a {type(state).__name__}, not its attributes")
        self.__dict__.update(state)


class _Inert:
    """Any other object a checkpoint names (hyper-parameters, callbacks' states): what it was
    given is kept, nothing is done with it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state: Any) -> None:
        self.state = state

    # A dict or list subclass (OmegaConf's containers, OrderedDict-like classes) is filled
    # item by item.
    def __setitem__(self, key: Any, value: Any) -> None:
        self.__dict__.setdefault("items", {})[key] = value

    def append(self, value: Any) -> None:
        self.__dict__.setdefault("values", []).append(value)

    def extend(self, values: Any) -> None:
        self.__dict__.setdefault("values", []).extend(values)


def _inert_class(module: str, name: str) -> type:
    return type(f"Inert[{module}.{name}]", (_Inert,), {})


def _parameter(data: torch.Tensor, *_: Any) -> torch.Tensor:
    return data


def _from_type(func: Any, _type: Any, args: tuple, _state: Any) -> Any:
    return func(*args) if func is _tensor else _Inert(func, args)


def _tensor(storage: torch.Tensor, offset: int, size: tuple, stride: tuple, *_: Any) -> torch.Tensor:
    if not all(isinstance(v, int) and v >= 0 for v in (offset, *size, *stride)):
        raise ArchiveError("a tensor with a negative or non-integer size, stride or offset")
    elements = 1
    for side in size:
        elements *= side
    if elements > storage.numel() - min(offset, storage.numel()):
        raise ArchiveError(f"a tensor of {elements:,} elements on a storage of {storage.numel():,}")
    try:
        return storage.as_strided(size, stride, offset)
    except RuntimeError as exc:  # a view past its storage: a damaged or hostile archive
        raise ArchiveError(f"a tensor outside its storage ({exc})") from None


# The only callables a pickle reaches besides the stand-ins.
_CALLABLES = {("torch._utils", "_rebuild_tensor_v2"): _tensor, ("torch._utils", "_rebuild_parameter"): _parameter,
              ("torch._tensor", "_rebuild_from_type_v2"): _from_type, ("collections", "OrderedDict"): OrderedDict}


def is_script_archive(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/constants.pkl") or name.startswith("code/") or "/code/" in name
                       for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _read_by_loaders(name: str) -> bool:
    """Whether torch.load or this module reads the entry: the pickle, the storages and the small
    records beside them (a TorchScript archive's code/ and debug entries are not read)."""
    parts = name.split("/")
    return len(parts) >= 2 and (parts[1] in ("data.pkl", "byteorder", "version", ".data") or parts[1] == "data")


def refuse_compressed(path: Path) -> None:
    """ArchiveError for a zip archive whose pickle or storages are compressed, before any reader
    (torch.load's own included, which inflates what it is given) opens them: torch writes them
    stored, and a compressed one could inflate to any size."""
    try:
        with zipfile.ZipFile(path) as archive:
            packed = [i.filename for i in archive.infolist()
                      if i.compress_type != zipfile.ZIP_STORED and _read_by_loaders(i.filename)]
    except (zipfile.BadZipFile, OSError):
        return  # not a zip archive: the readers say what it is
    if packed:
        raise ArchiveError(f"{packed[0]} is compressed (torch stores its entries as they are)")


def _stored(archive: zipfile.ZipFile, name: str) -> bytes:
    """An entry's bytes, where the archive stores it as it is: a compressed entry could inflate
    to any size (torch writes none)."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ArchiveError(f"no entry {name} in the archive") from None
    if info.compress_type != zipfile.ZIP_STORED:
        raise ArchiveError(f"{name} is compressed (torch stores its entries as they are)")
    return archive.read(info)


def _load(path: Path, *, inert: bool) -> Any:
    """The archive's top object. `inert`: every class it names becomes an inert stand-in;
    otherwise only TorchScript modules are accepted, and any other class is an ArchiveError."""
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise ArchiveError("no data.pkl at the archive's top level")
        root = pickles[0].split("/")[0]
        byteorder = f"{root}/byteorder"
        if byteorder in archive.namelist() and _stored(archive, byteorder).strip() != b"little":
            raise ArchiveError("a big-endian archive")
        storages: dict[str, torch.Tensor] = {}

        def storage(key: str, dtype: torch.dtype) -> torch.Tensor:
            if key not in storages:
                data = bytearray(_stored(archive, f"{root}/data/{key}"))
                storages[key] = torch.frombuffer(data, dtype=dtype) if data else torch.empty(0, dtype=dtype)
            return storages[key]

        class Unpickler(pickle.Unpickler):
            def find_class(self, module: str, name: str) -> Any:
                if module.startswith("__torch__."):
                    return _Module
                if (module, name) in _CALLABLES:
                    return _CALLABLES[module, name]
                if module == "torch" and name in STORAGE_TYPES:
                    return STORAGE_TYPES[name]
                if inert:
                    return _inert_class(module, name)
                raise ArchiveError(f"its pickle names {module}.{name}, which a weights file has no need of")

            def persistent_load(self, pid: Any) -> torch.Tensor:
                if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], torch.dtype)):
                    raise ArchiveError(f"an unknown persistent reference {str(pid)[:80]}")
                return storage(str(pid[2]), pid[1])

        try:
            top = Unpickler(io.BytesIO(_stored(archive, pickles[0]))).load()
        except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ArchiveError):
                raise
            raise ArchiveError(f"its pickle does not read ({str(exc)[:120]})") from None
    return top


def read_script_weights(path: Path) -> dict[str, torch.Tensor]:
    """A TorchScript archive's parameters and buffers under their state-dict names
    ("model.model.1.bn_l.weight")."""
    top = _load(path, inert=False)
    if not isinstance(top, _Module):
        raise ArchiveError("its pickle holds no module")
    state: dict[str, torch.Tensor] = {}
    seen: set[int] = set()

    def walk(module: _Module, prefix: str, depth: int) -> None:
        if depth > 64:
            raise ArchiveError("modules nested over 64 deep")
        if id(module) in seen:  # a module the pickle shares: its weights are named once
            return
        seen.add(id(module))
        for name, value in module.__dict__.items():
            if isinstance(value, torch.Tensor):
                state[prefix + name] = value
            elif isinstance(value, _Module):
                walk(value, f"{prefix}{name}.", depth + 1)

    walk(top, "", 0)
    if not state:
        raise ArchiveError("no tensors in its modules")
    return state


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A torch.save archive's top dict with its foreign objects left out (the caller takes
    the state dict from it: `state_dict`, `params_ema`, ...). An archive with no tensors
    outside such objects is an ArchiveError naming what they were."""
    top = _load(path, inert=True)
    if not isinstance(top, dict):
        raise ArchiveError(f"its pickle holds a {type(top).__name__}, not a dict")
    foreign: set[str] = set()
    kept = _plain(top, foreign, 0, {})
    if not _has_tensor(kept, 0, set()):
        raise ArchiveError(f"no weights beside objects of {', '.join(sorted(foreign)) or 'other kinds'}")
    return kept


def _plain(value: Any, foreign: set[str], depth: int, done: dict[int, Any]) -> Any:
    """`value` with every inert stand-in dropped from its dicts and lists (their names noted);
    a container the pickle shares is made once (`done`: by identity), so that shared references
    nested deep cost their count, not their paths (2^depth)."""
    if depth > 64:
        raise ArchiveError("containers nested over 64 deep")
    if not isinstance(value, (dict, list)):
        return value
    if id(value) in done:
        return done[id(value)]
    if isinstance(value, dict):
        out: Any = type(value)() if isinstance(value, OrderedDict) else {}
        done[id(value)] = out
        for key, item in value.items():
            if isinstance(item, _Inert):
                foreign.add(type(item).__name__[len("Inert["):-1])
            else:
                out[key] = _plain(item, foreign, depth + 1, done)
        return out
    out = []
    done[id(value)] = out
    out.extend(_plain(item, foreign, depth + 1, done) for item in value if not isinstance(item, _Inert))
    return out


def _has_tensor(value: Any, depth: int, seen: set[int]) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, dict) and depth < 64 and id(value) not in seen:
        seen.add(id(value))
        return any(_has_tensor(item, depth + 1, seen) for item in value.values())
    return False
