"""One error family for library code; the CLI edge turns each into a line and an exit code."""
from __future__ import annotations


class LandscapeError(Exception):
    """Base class. `exit_code` is what the process exits with when this ends the run."""

    exit_code = 1


class UsageError(LandscapeError):
    """Bad option or unusable setup, found before any item is touched."""

    exit_code = 2


class ModelError(UsageError):
    """A model that cannot be used: missing, unreadable, without our metadata, wrong task."""


class ItemError(LandscapeError):
    """One input cannot be processed; the batch goes on."""


class FatalError(LandscapeError):
    """The batch cannot go on (disk full, output folder gone); what was written stays."""


class OpenVinoRefusal(ModelError):
    """OpenVINO cannot read or compile a model that ONNX Runtime may still run. `reason`:
    OpenVINO's own first line."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path}: OpenVINO cannot compile it ({reason})")
        self.reason = reason


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP while a command runs: it stops as it does for a Ctrl-C (the same
    cleanup: temp files removed, what was written stays) and exits 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        import signal

        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def interruption(exc: KeyboardInterrupt) -> str:
    """The line that says why a command stopped before its end."""
    return f"terminated ({exc})" if isinstance(exc, Terminated) else "interrupted"


def interrupted_code(exc: KeyboardInterrupt) -> int:
    """130 for a Ctrl-C; 128 + the signal for SIGTERM and SIGHUP, as a shell reports a process
    they ended."""
    return 128 + exc.signum if isinstance(exc, Terminated) else 130


def first_line(exc: BaseException, limit: int = 200) -> str:
    """An exception's message cut to its first line (libraries raise pages), or its type."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:limit]
