"""The weights of a TorchScript archive (`torch.jit.save`: how IOPaint and lama-cleaner publish
`big-lama.pt`), read without loading TorchScript: its modules' pickle is replayed with every
class stood in for by an inert attribute holder, and tensors are made from the archive's raw
storages. No code in the file is compiled or run, and a pickle naming anything but modules,
storages, tensors and ordered dicts is refused."""
from __future__ import annotations

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
    """Not a TorchScript archive whose weights can be read safely."""


class _Module:
    """A scripted module's attributes (parameters, buffers, submodules, flags), and nothing else."""

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise ArchiveError(f"a module whose state is a {type(state).__name__}, not its attributes")
        self.__dict__.update(state)


def _tensor(storage: torch.Tensor, offset: int, size: tuple, stride: tuple, *_: Any) -> torch.Tensor:
    try:
        return storage.as_strided(size, stride, offset)
    except RuntimeError as exc:  # a view past its storage: a damaged or hostile archive
        raise ArchiveError(f"a tensor outside its storage ({exc})") from None


def is_script_archive(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/constants.pkl") or name.startswith("code/") or "/code/" in name
                       for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def read_script_weights(path: Path) -> dict[str, torch.Tensor]:
    """The archive's parameters and buffers under their state-dict names ("model.model.1.bn_l.weight")."""
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise ArchiveError("no data.pkl at the archive's top level")
        root = pickles[0].split("/")[0]
        byteorder = f"{root}/byteorder"
        if byteorder in archive.namelist() and archive.read(byteorder).strip() != b"little":
            raise ArchiveError("a big-endian archive")
        storages: dict[str, torch.Tensor] = {}

        def storage(key: str, dtype: torch.dtype) -> torch.Tensor:
            if key not in storages:
                data = bytearray(archive.read(f"{root}/data/{key}"))
                storages[key] = torch.frombuffer(data, dtype=dtype) if data else torch.empty(0, dtype=dtype)
            return storages[key]

        class Unpickler(pickle.Unpickler):
            def find_class(self, module: str, name: str) -> Any:
                if module.startswith("__torch__."):
                    return _Module
                if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
                    return _tensor
                if module == "torch" and name in STORAGE_TYPES:
                    return STORAGE_TYPES[name]
                if (module, name) == ("collections", "OrderedDict"):
                    return OrderedDict
                raise ArchiveError(f"its pickle names {module}.{name}, which a weights file has no need of")

            def persistent_load(self, pid: Any) -> torch.Tensor:
                if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], torch.dtype)):
                    raise ArchiveError(f"an unknown persistent reference {str(pid)[:80]}")
                return storage(str(pid[2]), pid[1])

        try:
            top = Unpickler(archive.open(pickles[0])).load()
        except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ArchiveError):
                raise
            raise ArchiveError(f"its pickle does not read ({str(exc)[:120]})") from None
    if not isinstance(top, _Module):
        raise ArchiveError("its pickle holds no module")
    state: dict[str, torch.Tensor] = {}

    def walk(module: _Module, prefix: str, depth: int) -> None:
        if depth > 64:
            raise ArchiveError("modules nested over 64 deep")
        for name, value in module.__dict__.items():
            if isinstance(value, torch.Tensor):
                state[prefix + name] = value
            elif isinstance(value, _Module):
                walk(value, f"{prefix}{name}.", depth + 1)

    walk(top, "", 0)
    if not state:
        raise ArchiveError("no tensors in its modules")
    return state
