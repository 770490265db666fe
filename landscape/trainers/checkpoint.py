"""Checkpoints: tensors in safetensors with the run's JSON config embedded in its header
(and written beside it for people), so one file rebuilds its network. Never pickle."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors import safe_open
from safetensors.torch import save_file

from landscape.errors import first_line

FORMAT = "landscape-checkpoint"
FORMAT_VERSION = 1
CONFIG_KEY = "landscape_config"


class CheckpointError(Exception):
    """A checkpoint that cannot be read or does not describe a landscape network."""


class WeightsError(ValueError):
    """Third-party weights (VGG19, Inception-v3) that cannot be read as plain tensors."""


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from .safetensors, or from a .pth/.ckpt through torch's weights-only
    unpickler, which refuses any pickle that would construct arbitrary objects. What it refuses
    in a zip archive (a TorchScript archive; a checkpoint with foreign objects beside its
    weights) is read by torch_archive.py, which runs nothing in the file."""
    import pickle
    import zipfile

    from safetensors.torch import load_file

    from landscape.trainers import torch_archive

    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        torch_archive.refuse_compressed(path)
        if torch_archive.is_script_archive(path):
            return torch_archive.read_script_weights(path)
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            if not zipfile.is_zipfile(path):
                raise
            return torch_archive.read_checkpoint(path)
    except Exception as exc:  # UnpicklingError for a code-bearing pickle, SafetensorError, OSError, ...
        raise WeightsError(f"{path}: not a plain weights file ({first_line(exc)})") from None


def atomic_write(path: Path, write: "callable[[str], None]") -> None:
    """`write(tmp)` fills a temp file beside `path`, which then replaces it, with the mode a
    plain open() would give it (the umask honoured; mkstemp's 0600 is for the temp name only)."""
    from landscape.imaging.outputs import file_mode

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(path: str | os.PathLike, tensors: dict[str, torch.Tensor], config: dict[str, Any]) -> Path:
    """Write `tensors` and `config` atomically; `config` must hold `family`, `network`
    (the network config) and `weights` (the tensor-name prefix of the inference network)."""
    path = Path(path)
    for key in ("family", "network", "weights"):
        if key not in config:
            raise ValueError(f"checkpoint config needs {key!r}")
    full = {"format": FORMAT, "format_version": FORMAT_VERSION, **config}
    text = json.dumps(full, sort_keys=True)
    contiguous = {name: t.detach().contiguous().cpu() for name, t in tensors.items()}
    atomic_write(path, lambda tmp: save_file(contiguous, tmp, metadata={CONFIG_KEY: text}))
    atomic_write(path.with_suffix(".json"), lambda tmp: Path(tmp).write_text(json.dumps(full, indent=2, sort_keys=True) + "\n"))
    return path


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors checkpoint ({exc})") from None
    if CONFIG_KEY not in meta:
        raise CheckpointError(f"{path}: no landscape config in the checkpoint header")
    config = json.loads(meta[CONFIG_KEY])
    if config.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a landscape checkpoint")
    return config


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, config). Only tensors are read: safetensors cannot carry code."""
    config = read_config(path)
    tensors: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(path), framework="pt") as f:
            for name in f.keys():
                tensors[name] = f.get_tensor(name)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: checkpoint is damaged ({exc})") from None
    return tensors, config


def module_state(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The state dict stored under `prefix.` (e.g. the EMA generator `g_ema`)."""
    head = prefix + "."
    state = {name[len(head):]: t for name, t in tensors.items() if name.startswith(head)}
    if not state:
        raise CheckpointError(f"no tensors under {prefix!r} in the checkpoint")
    return state


def prefixed(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{name}": t for name, t in state.items()}
