"""The user's cache folder for landscape: compiled OpenVINO models, int8 models, and the
records (bf16 and int8 check verdicts, precision rates) that spare a second measurement.

$LANDSCAPE_CACHE, else $XDG_CACHE_HOME/landscape, else ~/.cache/landscape. A cache that cannot
be created or written is no cache: start-up is slower, nothing else changes.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional


def cache_root() -> Path:
    if os.environ.get("LANDSCAPE_CACHE"):
        return Path(os.environ["LANDSCAPE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "landscape"


def cache_dir(name: str) -> Optional[Path]:
    """cache_root()/name, created; None where it cannot be."""
    path = cache_root() / name
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return path if os.access(path, os.W_OK) else None


def cache_file(name: str, file: str) -> Optional[Path]:
    folder = cache_dir(name)
    return folder / file if folder else None


def read_record(path: Optional[Path], required: str) -> Optional[dict[str, Any]]:
    """A JSON object kept in the cache, if it is there, readable and has the `required` key
    (anything else, a half-made or foreign file included, reads as absent: measured again)."""
    if path is None:
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and required in record else None


def write_record(path: Optional[Path], record: dict[str, Any]) -> None:
    """`record` written whole or not at all; a cache that cannot be written costs a new
    measurement next time, nothing more."""
    from landscape.imaging.outputs import atomic_write

    if path is None:
        return
    try:
        atomic_write(path, json.dumps(record).encode())
    except Exception:
        pass
