"""A published model made ready by name: fetched and verified (landscape.runtime.registry),
imported by `landscape export`'s importer into the models folder as NAME.onnx, and recorded
beside it (NAME.json). `landscape models pull` runs it, and so does a command given
`--model NAME` for a registry model not pulled yet, where the machine is online and the
licence permissive.

One pull of a name at a time (a lock outside the models folder): a second pull of the same
name waits, then finds the model there, so two at once both succeed with one file.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from landscape import __version__
from landscape.errors import LandscapeError, UsageError
from landscape.runtime import registry

INSTALL_HINT = "pip install 'landscape[train]'"


def pull(e: registry.Entry, *, accept_license: bool, note: Callable[[str], None], quiet: bool = False) -> Path:
    """The model's file in the models folder: already pulled, or fetched and imported now."""
    if not e.permissive and not accept_license:
        raise UsageError(f"{e.name}: its licence is {e.license}, not a permissive one; pull it with --accept-license "
                         "if your use is allowed")
    folder = registry.models_dir()
    with _one_pull_of(folder, e.name):
        done = _already(e)
        if done is not None:
            note(f"{e.name}: already pulled ({done})")
            return done
        with _progress_bar(quiet) as bar:
            source = registry.fetch(e, bar, note)
        try:
            from landscape.export.imported import export_published
        except ImportError as exc:
            raise LandscapeError(f"{e.name}: downloaded and checked ({source}); importing it needs PyTorch: "
                                 f"{INSTALL_HINT}, then `landscape models pull {e.name}` again ({exc})") from None
        note(f"{e.name}: importing {e.file} (landscape export: parity against PyTorch)")
        target = folder / f"{e.name}.onnx"
        report = export_published(source, target, task=e.task)
        _write_record(e, source, report)
        source.unlink(missing_ok=True)
        registry._remove_if_empty(source.parent)
        return report.path


def pull_named(spec: Optional[Path], note: Callable[[str], None], quiet: bool) -> Optional[Path]:
    """`--model` as given; a registry name not pulled yet is pulled first where that may happen
    unasked (online, a permissive licence). Otherwise it stays a name, and opening it says in
    one line which `landscape models pull` to run."""
    if spec is None or spec.exists() or not registry.NAME.match(str(spec)) or registry.pulled_path(str(spec)):
        return spec
    known = {e.name: e for e in registry.entries()}
    e = known.get(str(spec))
    if e is None or registry.offline() or not e.permissive:
        return spec
    return pull(e, accept_license=False, note=note, quiet=quiet)


def _already(e: registry.Entry) -> Optional[Path]:
    """The pulled model, where its record says it came from this very file (same hash)."""
    path = registry.pulled_path(e.name)
    if path is None:
        return None
    try:
        record = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return None
    return path if record.get("source_hash") == e.known_hash else None


def _write_record(e: registry.Entry, source: Path, report: Any) -> None:
    from landscape.imaging.outputs import atomic_write
    from landscape.runtime.sessions import sha256_file

    record = {"name": e.name, "task": report.task, "family": report.family, "file": e.file, "source_hash": e.known_hash,
              "size": source.stat().st_size, "license": e.license, "source": e.source, "urls": list(e.urls),
              "hash_source": e.hash_source, "onnx_sha256": sha256_file(report.path), "pulled": time.strftime("%Y-%m-%d"),
              "landscape": __version__}
    atomic_write(report.path.with_suffix(".json"), (json.dumps(record, indent=2) + "\n").encode())


@contextlib.contextmanager
def _one_pull_of(folder: Path, name: str) -> Iterator[None]:
    """An exclusive lock on `name` in `folder`, kept outside it (the models folder holds models
    only): a file named by the folder's path in the temp folder."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; concurrent pulls of one name are not guarded
        yield
        return
    key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    locks = Path(tempfile.gettempdir()) / f"landscape-pulls-{os.getuid()}"
    locks.mkdir(mode=0o700, exist_ok=True)
    with open(locks / f"{key}-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def _progress_bar(quiet: bool) -> Iterator[Any]:
    """A bar of bytes on stderr where it is a terminal (pooch moves it), else False: none."""
    if quiet or not sys.stderr.isatty():
        yield False
        return
    from tqdm import tqdm

    bar = tqdm(unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr, dynamic_ncols=True, leave=False)
    try:
        yield bar
    finally:
        bar.close()
