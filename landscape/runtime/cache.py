"""The user's cache folder for landscape: compiled OpenVINO models and bf16 check verdicts.

$LANDSCAPE_CACHE, else $XDG_CACHE_HOME/landscape, else ~/.cache/landscape. A cache that cannot
be created is no cache: start-up is slower, nothing else changes.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional


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
