"""Where results go: names built from the input's stem only, inside the output folder, and
written atomically (temp file beside the target, then rename), so that an interrupted run
never leaves a half-written file that a re-run would trust."""
from __future__ import annotations

import errno
import os
import re
import tempfile
from pathlib import Path

from landscape.errors import FatalError, ItemError, UsageError

TEMP_SUFFIX = ".landscape-tmp"
# Errors that no other file of the batch would escape: stop instead of failing each one.
FATAL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}


def prepare_output_dir(folder: Path) -> Path:
    """Create the folder if needed and prove it writable, before any item is touched."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".probe.", suffix=TEMP_SUFFIX)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(f"{folder}: output folder cannot be written ({exc.strerror or exc})") from None
    remove_stale_temps(folder)
    return folder


def remove_stale_temps(folder: Path) -> None:
    """Temp files of runs that were killed (SIGKILL leaves no chance to clean up). A temp
    file names its writer's pid; those of live processes (another shard) are left alone."""
    for entry in folder.glob(f".*{TEMP_SUFFIX}"):
        match = re.search(r"\.pid(\d+)\.", entry.name)
        if match and _alive(int(match.group(1))):
            continue
        entry.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def output_name(stem: str, ext: str, suffix: str = "") -> str:
    """A file name from a stem alone: no separators, no way out of the folder."""
    name = f"{stem}{suffix}.{ext}"
    if "/" in name or "\0" in name or (os.sep != "/" and os.sep in name) or stem in ("", ".", ".."):
        raise ItemError(f"cannot build a safe output name from {stem!r}")
    return name


def _proc_umask() -> int | None:
    """The umask Linux reports in /proc, read without changing it; None elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _set_and_read_umask() -> int:
    """Elsewhere os.umask must set the mask to read it, which is not thread-safe: done at import,
    before any writer thread exists, and again only where the mask is being set anyway."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_known_umask = _proc_umask() is None and _set_and_read_umask()


def umask_set(mask: int) -> None:
    """Say that the process's umask is now `mask` (`landscape serve` runs each command under its
    client's): where /proc cannot tell, the modes of new files follow it."""
    global _known_umask
    _known_umask = mask


def file_mode() -> int:
    """What open() gives a new file under the umask in force now (mkstemp's 0600 is for the temp
    name only): read at each write, since a served command runs under its client's umask."""
    mask = _proc_umask()
    return 0o666 & ~(_known_umask if mask is None else mask)


def atomic_write(path: Path, data: bytes) -> None:
    """`data` lands at `path` whole or not at all, with the mode a plain open() would give it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.pid{os.getpid()}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), file_mode())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            reason = exc.strerror or str(exc)
            if exc.errno in FATAL_ERRNOS:
                raise FatalError(f"{path}: {reason}; stopping (files written so far are complete)") from None
            raise ItemError(f"cannot write {path}: {reason}") from None
        raise
