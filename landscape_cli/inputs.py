"""Turn command-line inputs (files, folders, globs, `-` for stdin) into a sorted, de-duplicated
list of paths, with a reason for every argument that names nothing usable."""
from __future__ import annotations

import glob
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from landscape_cli.errors import UsageError
from landscape_cli.imaging import IMAGE_EXTENSIONS


@dataclass
class Collected:
    paths: list[Path] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (as given, reason)
    notes: list[str] = field(default_factory=list)
    # str(path) -> its --shard key: the path relative to the folder it was found in, or as given.
    keys: dict[str, str] = field(default_factory=dict)

    def key(self, path: Path | str) -> str:
        return self.keys.get(str(path), os.path.normpath(str(path)))


def read_stdin_paths(stream: TextIO, null_separated: bool) -> list[str]:
    data = stream.read()
    if null_separated:
        return [p for p in data.split("\0") if p]
    # CRLF from Windows tools: the \r is not part of the name.
    return [line.rstrip("\r") for line in data.split("\n") if line.rstrip("\r")]


def has_image_extension(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def _inside(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(folder))
        return True
    except ValueError:
        return False


def _walk(folder: Path, recursive: bool, exclude: Path | None, out: Collected) -> None:
    skipped = 0
    if recursive:
        # followlinks=False: a symlink that loops back up the tree cannot trap the walk.
        for root, dirs, files in os.walk(folder, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _inside(Path(root, d), exclude))
            for name in sorted(files):
                skipped += _take(Path(root, name), folder, out)
    else:
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if not entry.is_dir():
                skipped += _take(Path(entry.path), folder, out)
    if skipped:
        out.notes.append(f"{folder}: skipped {skipped} file(s) without an image extension")


def _take(path: Path, folder: Path, out: Collected) -> int:
    """Add a file found in a folder; returns 1 when skipped for its extension."""
    if path.name.startswith("."):
        return 0  # hidden files, our own temp files among them
    if not has_image_extension(path):
        return 1
    out.keys[str(path)] = path.relative_to(folder).as_posix()
    if not path.exists():
        out.problems.append((str(path), "broken symbolic link"))
    else:
        out.paths.append(path)
    return 0


def collect(args: list[str], *, recursive: bool = False, null_separated: bool = False,
            stdin: TextIO | None = None, exclude: Path | None = None) -> Collected:
    """Resolve arguments in order; folders are listed sorted; duplicates kept once.
    `exclude` is the output folder: never read back as input."""
    out = Collected()
    if args.count("-") > 1:
        raise UsageError("'-' (read paths from stdin) may be given only once")
    expanded: list[str] = []
    for arg in args:
        expanded.extend(read_stdin_paths(stdin or sys.stdin, null_separated) if arg == "-" else [arg])
    for arg in expanded:
        path = Path(arg)
        if "\n" in arg and not null_separated:
            out.problems.append((arg, "file name contains a newline; pass such names with -0"))
        elif path.is_dir():
            _walk(path, recursive, exclude, out)
        elif path.exists():
            out.paths.append(path)
        elif os.path.islink(path):
            out.problems.append((arg, "broken symbolic link"))
        elif glob.has_magic(arg):
            matches = sorted(Path(m) for m in glob.glob(arg, recursive=recursive) if not Path(m).is_dir())
            if matches:
                out.paths.extend(matches)
            else:
                out.problems.append((arg, "no file matches this pattern"))
        else:
            out.problems.append((arg, "no such file or directory"))
    seen: dict[str, Path] = {}
    unique: list[Path] = []
    for path in out.paths:
        key = os.path.realpath(path)
        if key in seen:
            out.notes.append(f"{path}: same file as {seen[key]}, processed once")
            continue
        if "\n" in path.name and not null_separated:
            out.problems.append((str(path), "file name contains a newline; pass such names with -0"))
            continue
        seen[key] = path
        unique.append(path)
    out.paths = unique
    return out


MASK_SUFFIX = "_mask"


@dataclass
class Pairing:
    images: list[Path] = field(default_factory=list)
    masks: dict[Path, Path] = field(default_factory=dict)  # image -> its mask
    problems: dict[Path, str] = field(default_factory=dict)  # image -> why it has no usable mask
    companions: list[Path] = field(default_factory=list)  # `<stem>_mask*` files taken as masks
    orphans: list[Path] = field(default_factory=list)  # masks that no image claimed


def _is_companion(path: Path, stems: set[tuple[Path, str]]) -> bool:
    stem = path.stem
    cut = stem.rfind(MASK_SUFFIX)
    return cut > 0 and (path.parent, stem[:cut]) in stems


def _mask_candidates(folder: Path, stem: str) -> list[Path]:
    """Masks for `stem` in `folder`: `<stem>.<ext>` or `<stem>_mask*.<ext>`, by name only."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return []
    found = []
    for entry in entries:
        path = Path(entry.path)
        if not has_image_extension(path) or entry.is_dir():
            continue
        if path.stem == stem or (path.stem.startswith(stem + MASK_SUFFIX)):
            found.append(path)
    return found


def pair_masks(paths: list[Path], masks: Path | None) -> Pairing:
    """Pair each image with its mask by name, never by position.

    masks=None: `<stem>_mask*` beside the image. A folder: `<stem>.*` or `<stem>_mask*`
    inside it. A file: that one mask for every image. Files of the input list that are
    another input's `_mask` companion are masks, not images.
    """
    out = Pairing()
    stems = {(p.parent, p.stem) for p in paths}
    for path in paths:
        (out.companions if _is_companion(path, stems) else out.images).append(path)
    if masks is not None and not masks.exists():
        raise UsageError(f"--masks {masks}: no such file or directory")
    claimed: set[str] = set()
    for image in out.images:
        if masks is not None and masks.is_file():
            out.masks[image] = masks
            continue
        folder = masks if masks is not None else image.parent
        candidates = [c for c in _mask_candidates(folder, image.stem)
                      if os.path.realpath(c) != os.path.realpath(image) and (masks is not None or c.stem != image.stem)]
        if len(candidates) > 1:
            out.problems[image] = f"ambiguous: {len(candidates)} masks match ({', '.join(c.name for c in candidates[:3])})"
        elif candidates:
            out.masks[image] = candidates[0]
            claimed.add(os.path.realpath(candidates[0]))
    if masks is not None and masks.is_dir():
        out.orphans = [m for m in (Path(e.path) for e in sorted(os.scandir(masks), key=lambda e: e.name))
                       if has_image_extension(m) and os.path.realpath(m) not in claimed]
    return out
