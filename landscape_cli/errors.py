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
