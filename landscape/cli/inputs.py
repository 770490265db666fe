"""Turn command-line inputs (files, folders, globs, `-` for stdin) into a sorted, de-duplicated
list of paths, with a reason for every argument that names nothing usable."""
from __future__ import annotations

import glob
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, TextIO

from landscape.errors import UsageError
from landscape.imaging.codec import IMAGE_EXTENSIONS
from landscape.imaging.video import VIDEO_EXTENSIONS


@dataclass
class Collected:
    """A whole scan, materialised (for commands that need every path at once, as inpaint's
    mask pairing does)."""

    paths: list[Path] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (as given, reason)
    notes: list[str] = field(default_factory=list)
    # str(path) -> its --shard key: the path relative to the folder it was found in, or as given.
    keys: dict[str, str] = field(default_factory=dict)

    def key(self, path: Path | str) -> str:
        return self.keys.get(str(path), os.path.normpath(str(path)))


@dataclass(frozen=True)
class Found:
    """One input the scan found: a path to read, or a problem with what was given."""

    label: str  # the path as it will be reported
    key: str  # its --shard key: relative to the folder it was found in, or as given
    path: Path | None = None
    problem: str | None = None
    identity: tuple[int, int] | None = None  # (device, inode) of a path: the same file found twice is read once
    given: bool = False  # the problem is with an argument as given (not a file found in a folder)


def read_stdin_paths(stream: TextIO, null_separated: bool) -> list[str]:
    data = stream.read()
    if null_separated:
        return [p for p in data.split("\0") if p]
    # CRLF from Windows tools: the \r is not part of the name.
    return [line.rstrip("\r") for line in data.split("\n") if line.rstrip("\r")]


def has_input_extension(path: Path | str) -> bool:
    """A picture's or a clip's extension: what a folder scan takes."""
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS


def _inside(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(folder))
        return True
    except ValueError:
        return False


class Scan:
    """Command-line inputs, resolved lazily and in order: files as given, folders sorted by
    name, globs sorted, `-` for the paths on stdin; each file once (by device and inode).

    A folder is listed when the scan reaches it: names only, sorted, so that a folder of
    100,000 files costs a list of names, not a list of paths, stats or headers, before the
    first picture. `total` counts what will be yielded where that is known up front (files,
    globs and folders listed without -r), else None. Special files (FIFOs, sockets,
    devices) are problems, found from the listing or one stat, and never opened."""

    def __init__(self, args: list[str], *, recursive: bool = False, null_separated: bool = False,
                 stdin: TextIO | None = None, exclude: Path | None = None) -> None:
        if args.count("-") > 1:
            raise UsageError("'-' (read paths from stdin) may be given only once")
        self.recursive, self.null_separated, self.exclude = recursive, null_separated, exclude
        self.notes: list[str] = []
        self.args: list[str] = []
        for arg in args:
            self.args.extend(read_stdin_paths(stdin or sys.stdin, null_separated) if arg == "-" else [arg])
        self.total: int | None = 0
        self.listings: dict[int, list[str]] = {}  # arg index -> sorted names of a folder, listed up front
        for index, arg in enumerate(self.args):
            if os.path.isdir(arg):
                if recursive:
                    self.total = None
                else:
                    self.listings[index] = self._listing(Path(arg))
                    if self.total is not None:
                        self.total += len(self.listings[index])
            elif self.total is not None:
                self.total += 1 if not glob.has_magic(arg) or os.path.lexists(arg) else len(glob.glob(arg, recursive=recursive))

    def _listing(self, folder: Path) -> list[str]:
        """Names with an image extension in `folder`, sorted; hidden files left out; the
        others counted in a note."""
        names, skipped = [], 0
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith(".") or entry.is_dir():
                    continue  # hidden files (our own temp files among them) and folders
                if has_input_extension(entry.name):
                    names.append(entry.name)
                elif not entry.is_dir():
                    skipped += 1
        if skipped:
            self.notes.append(f"{folder}: skipped {skipped} file(s) without an image or video extension")
        names.sort()
        return names

    def __iter__(self) -> Iterator[Found]:
        seen: dict[tuple[int, int], str] = {}
        for index, arg in enumerate(self.args):
            for found in self._resolve(index, arg):
                if found.identity is not None:
                    if found.identity in seen:
                        self.notes.append(f"{found.path}: same file as {seen[found.identity]}, processed once")
                        continue
                    seen[found.identity] = found.label
                    if "\n" in found.label and not self.null_separated:
                        found = Found(found.label, found.key, problem="file name contains a newline; pass such names with -0")
                yield found

    def _resolve(self, index: int, arg: str) -> Iterator[Found]:
        path = Path(arg)
        if "\n" in arg and not self.null_separated:
            yield Found(arg, arg, problem="file name contains a newline; pass such names with -0", given=True)
        elif path.is_dir():
            if self.recursive:
                yield from self._walk(path)
            else:
                for name in self.listings[index]:
                    yield self._entry(path / name, path)
        elif os.path.lexists(path):
            yield self._entry(path, None)
        elif glob.has_magic(arg):
            matches = sorted(Path(m) for m in glob.glob(arg, recursive=self.recursive) if not Path(m).is_dir())
            if not matches:
                yield Found(arg, arg, problem="no file matches this pattern", given=True)
            for match in matches:
                yield self._entry(match, None)
        else:
            yield Found(arg, arg, problem="no such file or directory", given=True)

    def _walk(self, folder: Path) -> Iterator[Found]:
        # followlinks=False: a symlink that loops back up the tree cannot trap the walk.
        for root, dirs, _files in os.walk(folder, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _inside(Path(root, d), self.exclude))
            for name in self._listing(Path(root)):
                yield self._entry(Path(root, name), folder)

    @staticmethod
    def _entry(path: Path, folder: Path | None) -> Found:
        """A file found in `folder` (None: given by name), with what is wrong with it."""
        from landscape.imaging.codec import file_kind

        label = str(path)
        key = path.relative_to(folder).as_posix() if folder is not None else os.path.normpath(label)
        given = folder is None
        try:
            info = os.stat(path)
        except FileNotFoundError:
            reason = "broken symbolic link" if os.path.islink(path) else "no such file or directory"
            return Found(label, key, problem=reason, given=given)
        except OSError as exc:
            return Found(label, key, problem=exc.strerror or str(exc), given=given)
        kind = file_kind(info.st_mode)
        if kind is not None:
            return Found(label, key, problem=kind, given=given)
        return Found(label, key, path=path, identity=(info.st_dev, info.st_ino))


def collect(args: list[str], *, recursive: bool = False, null_separated: bool = False,
            stdin: TextIO | None = None, exclude: Path | None = None) -> Collected:
    """The whole scan at once (Scan, materialised)."""
    scan = Scan(args, recursive=recursive, null_separated=null_separated, stdin=stdin, exclude=exclude)
    out = Collected()
    for found in scan:
        if found.path is None:
            out.problems.append((found.label, found.problem or ""))
            if not found.given:  # problems with an argument itself are every shard's to report
                out.keys[found.label] = found.key
        else:
            out.paths.append(found.path)
            out.keys[str(found.path)] = found.key
    out.notes = scan.notes
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
        if not has_input_extension(path) or entry.is_dir():
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
                       if has_input_extension(m) and os.path.realpath(m) not in claimed]
    return out
